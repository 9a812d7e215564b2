"""The real server for the spoken benchmark: daphne on a free loopback port, this checkout's
settings, a migrated database with the shipped agents loaded.

The database is `DATABASE_URL` when given (used as it is: migrated, agents loaded), else a
SQLite file in the work directory. Speech settings (`STT_PROVIDER`, ...) pass through from the
environment; `DEBUG` is on as in `make run` (anonymous browser conversations, no HTTPS).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DAPHNE = Path(sys.executable).with_name("daphne")
READY_LINES = ("greetings synthesized ahead", "greetings could not be synthesized")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A server as deployed (DEBUG off: no query log kept per connection, production checks), on
# plain HTTP on the loopback interface.
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "bench-only",
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "DJANGO_SECURE_HSTS_SECONDS": "0",
    "BROWSER_ALLOW_ANONYMOUS": "1",  # the public demo page's visitors
}


def server_env(database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE",)}
    env.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_DEBUG": "1",
            "CELERY_TASK_ALWAYS_EAGER": "1",
            "PYTHONUNBUFFERED": "1",
            "LOG_LEVEL": env.get("LOG_LEVEL", "INFO"),
        }
    )
    env.update(extra or {})
    return env


def database_prepare(env: dict[str, str]) -> None:
    for args in (("migrate", "--noinput", "-v", "0"), ("load_agents",)):
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}")


@dataclass
class BenchServer:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_start(env: dict[str, str], workdir: Path, *, warm_timeout_s: float = 90) -> BenchServer:
    """Start daphne and wait until it answers and has loaded its speech models."""
    port = free_port()
    log_path = Path(workdir) / f"daphne-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "voiceproject.asgi:application"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = BenchServer(f"http://127.0.0.1:{port}", process, log_path)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + warm_timeout_s
    healthy = False
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited:\n{server.log()}")
        if not healthy:
            health = f"{server.url}/api/v1/health"
            with contextlib.suppress(OSError), opener.open(health, timeout=2) as answer:
                healthy = answer.status == 200
        if healthy and any(line in server.log(100_000) for line in READY_LINES):
            return server
        time.sleep(0.3)
    if healthy:
        return server  # the models load on the first call instead
    server.stop()
    raise RuntimeError(f"daphne did not answer /api/v1/health:\n{server.log()}")
