"""The production topology as `make serve` runs it: `manage.py serve` (daphne processes behind
HAProxy, a Celery worker and beat) on a fresh database and the environment's Redis."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.server import REPO, Stack, free_port

READY_TIMEOUT_S = 120.0


def http_get(url: str, token: str = "", timeout_s: float = 10.0) -> tuple[int, bytes]:
    """GET `url` without a proxy; (status, body)."""
    headers = {"Authorization": f"Token {token}"} if token else {}
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=timeout_s) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def http_json(url: str, token: str = "") -> tuple[int, dict]:
    status, body = http_get(url, token)
    return status, json.loads(body or b"{}")


@dataclass
class Served:
    """`manage.py serve` running: the load balancer's URL and what its supervisor reports."""

    process: subprocess.Popen
    workdir: Path
    log_path: Path
    port: int
    stats_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self, chars: int = 8000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def processes(self) -> dict[str, dict]:
        state = json.loads((self.workdir / "processes.json").read_text())
        return {entry["name"]: entry for entry in state["processes"]}

    def server_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.processes()[name]['port']}"

    def backend_states(self) -> dict[str, str]:
        """HAProxy's view of each server process: UP, DOWN, ... (its stats page as CSV)."""
        _, body = http_get(f"http://127.0.0.1:{self.stats_port}/;csv")
        rows = csv.DictReader(io.StringIO(body.decode().lstrip("# ")))
        return {row["svname"]: row["status"] for row in rows if row["pxname"] == "servers"}

    def wait_backends(self, wanted: dict[str, str], timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            states = self.backend_states()
            if all(states.get(name, "").startswith(status) for name, status in wanted.items()):
                return
            time.sleep(0.2)
        reasons = {
            name: http_json(f"{self.server_url(name)}/api/v1/readiness")[1].get("reason")
            for name in wanted
        }
        raise AssertionError(f"HAProxy shows {self.backend_states()}, not {wanted}: {reasons}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def deploy_stack(tmp_path_factory, request):
    redis_url = request.getfixturevalue("redis_url_module")
    workdir = tmp_path_factory.mktemp("deploy")
    stack = Stack(
        workdir=workdir,
        extra_env={
            "REDIS_URL": redis_url,
            # This run's channel groups and Celery queue: other runs may share the Redis.
            "CHANNELS_PREFIX": f"deploy-{uuid.uuid4().hex[:8]}",
            "CELERY_QUEUE": f"deploy-{uuid.uuid4().hex[:8]}",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "SERVER_HEARTBEAT_S": "1",
        },
    )
    try:
        stack.create_database()
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def redis_url_module() -> str:
    from tests.conftest import REQUIRE_SERVICES

    url = os.environ.get("REDIS_URL", "")
    if not url:
        if REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but REDIS_URL is not set")
        pytest.skip("REDIS_URL is not set (CI runs this against a real Redis)")
    return url


def serve_start(stack: Stack, *, processes: int, env: dict[str, str]) -> Served:
    """`manage.py serve` on free ports; returns once every server process is UP in HAProxy."""
    port, stats_port = free_port(), free_port()
    base_port = free_port()
    workdir = stack.workdir / f"serve-{port}"
    log_path = stack.workdir / f"serve-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--processes", str(processes),
             "--port", str(port), "--base-port", str(base_port), "--stats-port",
             str(stats_port), "--check-interval-ms", "500", "--workdir", str(workdir)],
            cwd=REPO, env={**stack.env(), **env}, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    served = Served(process, workdir, log_path, port, stats_port)
    deadline = time.monotonic() + READY_TIMEOUT_S
    names = [f"web.{i + 1}" for i in range(processes)]
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"manage.py serve exited:\n{served.log()}")
        if (workdir / "processes.json").exists():
            try:
                served.wait_backends(dict.fromkeys(names, "UP"), timeout_s=1)
                return served
            except (AssertionError, OSError):
                pass
        time.sleep(0.5)
    served.stop()
    raise RuntimeError(f"the server processes did not come up:\n{served.log()}")
