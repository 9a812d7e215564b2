"""Real daphne servers for the browser tests, each in its own process, on a database they share.

The servers are started the way `make run` starts one (`daphne voiceproject.asgi:application`)
against a fresh database: a SQLite file, or, when DATABASE_URL names PostgreSQL, a new
PostgreSQL database dropped afterwards. They never touch pytest-django's test database.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import environ

REPO = Path(__file__).resolve().parents[2]
DAPHNE = Path(sys.executable).with_name("daphne")
PASSWORD = "e2e-passphrase-not-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class Stack:
    """A database (migrated, agents loaded, users created) and the servers running on it."""

    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    servers: list[Server] = field(default_factory=list)
    database_url: str = ""
    _pg_admin: dict | None = None
    _pg_name: str = ""

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
            and not key.startswith("PYTEST")
        }
        env.update(
            {
                "DATABASE_URL": self.database_url,
                "DJANGO_DEBUG": "1",
                "CELERY_TASK_ALWAYS_EAGER": "1",
                "PYTHONUNBUFFERED": "1",
                "LOG_LEVEL": "INFO",
            }
        )
        env.update(self.extra_env)
        return env

    def create_database(self) -> None:
        source = os.environ.get("DATABASE_URL", "")
        if source.startswith(("postgres://", "postgresql://")):
            import psycopg

            config = environ.Env.db_url_config(source)
            self._pg_name = f"e2e_{uuid.uuid4().hex[:10]}"
            self._pg_admin = config
            with psycopg.connect(**_pg_kwargs(config), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{self._pg_name}"')
            base, _, _ = source.rpartition("/")
            self.database_url = f"{base}/{self._pg_name}"
        else:
            self.database_url = f"sqlite:///{self.workdir / 'e2e.sqlite3'}"
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("load_agents")
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model as m\n"
            f"m().objects.create_superuser('e2e-admin', password='{PASSWORD}')\n"
            f"m().objects.create_user('e2e-user', password='{PASSWORD}')\n",
        )

    def drop_database(self) -> None:
        if self._pg_admin is None:
            return
        import psycopg

        with psycopg.connect(**_pg_kwargs(self._pg_admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=180,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr[-4000:]}")
        return result.stdout

    def start(
        self, app: str = "voiceproject.asgi:application", env: dict[str, str] | None = None
    ) -> Server:
        port = free_port()
        log_path = self.workdir / f"daphne-{port}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), app],
                cwd=REPO,
                env={**self.env(), **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = Server(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)
        self.servers.append(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"daphne exited:\n{server.log()}")
            health = f"{server.url}/api/v1/health"
            with contextlib.suppress(OSError), urllib.request.urlopen(health, timeout=2) as answer:
                if answer.status == 200:
                    return server
            time.sleep(0.2)
        server.stop()
        raise RuntimeError(f"daphne did not answer /api/v1/health:\n{server.log()}")

    def close(self) -> None:
        for server in self.servers:
            server.stop()
        self.drop_database()


def _pg_kwargs(config: dict) -> dict:
    return {
        "host": config.get("HOST") or "127.0.0.1",
        "port": config.get("PORT") or 5432,
        "user": config.get("USER") or "postgres",
        "password": config.get("PASSWORD") or None,
        "dbname": "postgres",
    }
