"""Private Redis and PostgreSQL servers to stop and restart under a live server, and a
conversation to hold through it (`tests/deploy/test_outages.py`, `bench/outages.py`).

The servers are this run's own, never the machine's shared ones: `redis-server` on a free
port without persistence, and a PostgreSQL cluster initialised in a temporary directory
(`initdb`, `pg_ctl`; run as the `postgres` user when this process is root, since PostgreSQL
refuses to run as root). The app is daphne with fake speech (`testing.settings_fake_speech`)
on them, started as `make run` starts it after `manage.py migrate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import math
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.spoken.client import BrowserCaller, ConversationLog
from bench.spoken.play import http_json
from bench.spoken.server import BenchServer, database_prepare, free_port, server_env, server_start

SETTINGS_MODULE = "testing.settings_fake_speech"
TONE_S = 0.6  # what the caller "says": a tone the energy VAD hears as speech
TURN_TIMEOUT_S = 30.0


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries installed (Debian keeps them off the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _version(path: str) -> tuple[int, ...]:
    part = Path(path).parts[-3]
    return tuple(int(p) for p in part.split(".") if p.isdigit())


def missing_binaries() -> list[str]:
    """What this machine lacks to run the private servers (empty: nothing)."""
    missing = [] if shutil.which("redis-server") else ["redis-server"]
    bin_dir = postgres_bin()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        missing.append("PostgreSQL server (initdb, pg_ctl)")
    if os.geteuid() == 0:
        if not shutil.which("runuser"):
            missing.append("runuser (PostgreSQL refuses to run as root)")
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            missing.append("a postgres user (PostgreSQL refuses to run as root)")
    return missing


class PrivateRedis:
    """`redis-server` on a free loopback port, nothing saved: a restart comes back empty."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.log_path = workdir / f"redis-{self.port}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> float:
        """Start it; the seconds until it answers PING."""
        import redis

        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--daemonize", "no"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        try:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"redis-server exited:\n{self.log_path.read_text()}")
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        return time.monotonic() - started
                if time.monotonic() - started > timeout_s:
                    raise RuntimeError("redis-server did not answer PING")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class PrivatePostgres:
    """A PostgreSQL cluster of its own in a temporary directory, on a free loopback port."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.port = free_port()
        # Not under pytest's directory: the postgres user must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="outage-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres")
        self.data = self.root / "data"
        self.initdb_s = 0.0

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode:
            log = self.root / "postgres.log"
            server_log = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{tool} failed:\n{result.stderr[-2000:]}\n{server_log}")

    def init(self) -> float:
        """`initdb` (trust on loopback: it is this run's own); the seconds it took."""
        started = time.monotonic()
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "-E", "UTF8", "--locale", "C", "--no-sync")  # fmt: skip
        self.initdb_s = time.monotonic() - started
        return self.initdb_s

    def start(self) -> float:
        """Start it and wait until it accepts connections; the seconds it took."""
        started = time.monotonic()
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "postgres.log"), "-w", "-t", "60", "start")  # fmt: skip
        return time.monotonic() - started

    def stop(self, mode: str = "fast") -> None:
        """Stop it (`fast`: its connections are cut, as when the server goes away)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def query(self, sql: str, *params) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url, connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop(mode="immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class OutageStack:
    """A private Redis and PostgreSQL, and the app server on them."""

    workdir: Path
    redis: PrivateRedis
    postgres: PrivatePostgres
    server: BenchServer | None = None
    timings_s: dict[str, float] = field(default_factory=dict)

    @classmethod
    def start(cls, workdir: Path, env: dict[str, str] | None = None) -> OutageStack:
        """Both servers, the database migrated (agents loaded), then daphne on them."""
        stack = cls(workdir, PrivateRedis(workdir), PrivatePostgres())
        try:
            stack.timings_s["redis_start"] = stack.redis.start()
            stack.timings_s["postgres_initdb"] = stack.postgres.init()
            stack.timings_s["postgres_start"] = stack.postgres.start()
            server_environ = server_env(
                stack.postgres.url,
                {
                    "REDIS_URL": stack.redis.url,
                    "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
                    "SERVER_HEARTBEAT_S": "1",
                    **(env or {}),
                },
            )
            started = time.monotonic()
            database_prepare(server_environ)
            stack.timings_s["migrate"] = time.monotonic() - started
            started = time.monotonic()
            stack.server = server_start(server_environ, workdir, warm_timeout_s=60)
            stack.timings_s["server_start"] = time.monotonic() - started
        except BaseException:
            stack.close()
            raise
        return stack

    @property
    def url(self) -> str:
        return self.server.url

    def readiness(self) -> tuple[int, dict]:
        return http_json(f"{self.url}/api/v1/readiness", timeout_s=15)

    def wait_readiness(
        self, *, status: int, timeout_s: float = 30.0, interval_s: float = 0.1
    ) -> tuple[float, dict]:
        """Poll readiness until it answers `status`; (seconds waited, its body)."""
        started = time.monotonic()
        while True:
            code, body = self.readiness()
            if code == status:
                return time.monotonic() - started, body
            if time.monotonic() - started > timeout_s:
                raise AssertionError(f"readiness still answers {code}: {body.get('reason')}")
            time.sleep(interval_s)

    def stored_turns(self, session_id: str) -> list[tuple[int, str]]:
        """(index, user text) of the session's turns in the database, in order."""
        return self.postgres.query(
            "SELECT t.index, t.user_text FROM metrics_turn t "
            "JOIN metrics_conversationsession s ON s.id = t.session_id "
            "WHERE s.session_id = %s ORDER BY t.index",
            session_id,
        )

    def wait_stored(
        self, session_id: str, count: int, timeout_s: float = 30.0, interval_s: float = 0.1
    ) -> float:
        """Until the session has `count` turns with a caller's words stored; seconds waited."""
        started = time.monotonic()
        while True:
            with contextlib.suppress(Exception):  # the database may be starting
                spoken = [t for t in self.stored_turns(session_id) if t[1]]
                if len(spoken) >= count:
                    return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise AssertionError(f"{session_id}: fewer than {count} turns stored")
            time.sleep(interval_s)

    def log(self, chars: int = 8000) -> str:
        return self.server.log(chars) if self.server else ""

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        self.redis.stop()
        self.postgres.close()


# --- a conversation on the browser socket ---------------------------------------------------


def _tone_pcm(seconds: float = TONE_S, sample_rate_hz: int = 16000) -> bytes:
    import numpy as np

    t = np.arange(int(seconds * sample_rate_hz)) / sample_rate_hz
    return (np.sin(2 * math.pi * 440.0 * t) * 12000).astype("<i2").tobytes()


class Conversation:
    """A browser conversation over the real socket; each turn a tone the server hears."""

    def __init__(self, caller: BrowserCaller) -> None:
        self.caller = caller
        self.turn_frames = caller.encode_turn(_tone_pcm())

    @classmethod
    async def open(cls, base_url: str, session_id: str) -> Conversation:
        log = ConversationLog("browser", "tone", "outage", session_id)
        caller = await BrowserCaller.open(log, base_url=base_url.replace("http://", "ws://"))
        self = cls(caller)
        if await caller.wait_audio(after=0.0, timeout_s=TURN_TIMEOUT_S) is None:
            raise AssertionError("no greeting")
        return self

    @property
    def session_id(self) -> str:
        return self.caller.log.session_id

    def answered_turns(self) -> list[dict]:
        """The caller's turns answered so far (`turn_metrics` payloads with the words heard)."""
        return [
            e.message["payload"]
            for e in self.caller.log.events
            if e.message.get("type") == "turn_metrics" and e.message["payload"].get("user_text")
        ]

    async def turn(self) -> dict:
        """Speak, and wait for the answer's metrics (the answer has been sent)."""
        before = len(self.answered_turns())
        await self.caller.wait_quiet()
        await self.caller.speak(self.turn_frames)
        deadline = asyncio.get_running_loop().time() + TURN_TIMEOUT_S
        while len(self.answered_turns()) <= before:
            if self.caller.closed.is_set():
                raise AssertionError(f"{self.session_id}: the socket closed mid-call")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.session_id}: no answer")
            await asyncio.sleep(0.05)
        return self.answered_turns()[before]

    async def hang_up(self) -> None:
        await self.caller.hang_up()
