"""The production topology on one machine, without containers: `manage.py serve` (`make serve`).

N daphne processes (one per core by default) on consecutive loopback ports, HAProxy in front
of them on the public port (its configuration rendered from `deploy/haproxy.cfg.j2`), and, with
a broker, a Celery worker and Celery beat. A small supervisor starts them, prefixes their output
with their name (`web.1 | ...`), restarts one that exits (after a pause that doubles up to 30 s)
and stops them all on SIGINT or SIGTERM. What runs, with pids and ports, is written to
`<workdir>/processes.json` after every (re)start.

The same HAProxy template, rendered for Docker's DNS (`--haproxy-config compose`), is the
load balancer of `compose.yaml` (deploy/haproxy.compose.cfg).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from jinja2 import Environment, FileSystemLoader, StrictUndefined

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = REPO / "deploy"
BIN = Path(sys.executable).parent
RESTART_PAUSE_S = (1.0, 30.0)  # first pause, longest pause
STOP_GRACE_S = 10.0


@dataclass(frozen=True, slots=True)
class Backend:
    name: str
    address: str  # host:port


@dataclass(frozen=True, slots=True)
class ServerTemplate:
    """Backends found through DNS (Docker's: one address per replica of a scaled service)."""

    prefix: str
    count: int
    address: str


def haproxy_config(
    *,
    bind: str,
    backends: list[Backend] = (),
    server_template: ServerTemplate | None = None,
    stats_bind: str = "",
    check_interval_ms: int = 2000,
    check_fall: int = 2,
    check_rise: int = 2,
    maxconn: int = 20000,
    log_level: str = "info",
    check_host: str = "localhost",
    origin: str = "manage.py serve",
) -> str:
    """HAProxy's configuration: `backends` listed, or found by `server_template`."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("haproxy.cfg.j2").render(
        bind=bind,
        servers=list(backends),
        server_template=server_template,
        stats_bind=stats_bind,
        check_interval_ms=check_interval_ms,
        check_fall=check_fall,
        check_rise=check_rise,
        maxconn=maxconn,
        log_level=log_level,
        check_host=check_host,
        origin=origin,
    )


def compose_haproxy_config(max_servers: int = 16) -> str:
    """The configuration of compose.yaml's load balancer: up to `max_servers` replicas of
    the `web` service, found through Docker's DNS."""
    return haproxy_config(
        bind=":8000",
        server_template=ServerTemplate("web", max_servers, "web:8000"),
        stats_bind=":8404",
        origin="compose.yaml; regenerate with `manage.py serve --haproxy-config compose`",
    )


@dataclass(slots=True)
class ProcessSpec:
    name: str
    argv: list[str]
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Topology:
    processes: list[ProcessSpec]
    haproxy_cfg: str


def topology(
    *,
    servers: int,
    host: str,
    port: int,
    base_port: int,
    workdir: Path,
    celery: bool,
    stats_port: int = 0,
    check_interval_ms: int = 2000,
) -> Topology:
    """The processes of the topology and HAProxy's configuration (written to `workdir`)."""
    haproxy = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")
    if haproxy is None:
        raise RuntimeError("haproxy is not installed (apt-get install haproxy; make serve does)")
    specs = [
        ProcessSpec(
            name=f"web.{i + 1}",
            argv=[
                str(BIN / "daphne"),
                "-b",
                "127.0.0.1",
                "-p",
                str(base_port + i),
                "voiceproject.asgi:application",
            ],  # fmt: skip
            port=base_port + i,
        )
        for i in range(servers)
    ]
    # HAProxy needs two descriptors a connection (client and server side), and a few more.
    open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    config = haproxy_config(
        bind=f"{host}:{port}",
        maxconn=max(min(20000, (open_files - 200) // 2), 256),
        backends=[Backend(spec.name, f"127.0.0.1:{spec.port}") for spec in specs],
        stats_bind=f"127.0.0.1:{stats_port}" if stats_port else "",
        check_interval_ms=check_interval_ms,
    )
    cfg_path = workdir / "haproxy.cfg"
    cfg_path.write_text(config)
    specs.append(
        ProcessSpec(name="lb", argv=[haproxy, "-W", "-db", "-f", str(cfg_path)], port=port)
    )
    if celery:
        celery_bin = str(BIN / "celery")
        specs.append(
            ProcessSpec(
                name="worker",
                argv=[
                    celery_bin,
                    "-A",
                    "voiceproject",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "2",
                    "--hostname",
                    f"worker-{port}@%h",
                ],  # fmt: skip
            )
        )
        specs.append(
            ProcessSpec(
                name="beat",
                argv=[
                    celery_bin,
                    "-A",
                    "voiceproject",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    str(workdir / "celerybeat-schedule"),
                ],  # fmt: skip
            )
        )
    return Topology(specs, config)


@dataclass(slots=True)
class _Running:
    spec: ProcessSpec
    process: subprocess.Popen | None = None
    restarts: int = 0
    restart_at: float | None = None
    pause_s: float = RESTART_PAUSE_S[0]


class Supervisor:
    """Starts the processes, restarts the ones that exit, stops them all on a signal.

    Each child runs in its own session, so a Ctrl-C in the terminal reaches only the
    supervisor, which then stops the children in order (servers last drained by HAProxy
    first: the load balancer is stopped before them).
    """

    def __init__(self, specs: list[ProcessSpec], *, workdir: Path, out: TextIO, env: dict) -> None:
        self.workdir = workdir
        self.out = out
        self.env = env
        self.running = [_Running(spec) for spec in specs]
        self._stopping = threading.Event()
        self._out_lock = threading.Lock()
        self._width = max(len(spec.name) for spec in specs)

    def say(self, name: str, line: str) -> None:
        with self._out_lock:
            self.out.write(f"{name:<{self._width}} | {line}\n")
            self.out.flush()

    def _spawn(self, entry: _Running) -> None:
        spec = entry.spec
        process = subprocess.Popen(
            spec.argv,
            cwd=REPO,
            env={**self.env, **spec.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        entry.process = process
        entry.restart_at = None
        threading.Thread(
            target=self._pump, args=(spec.name, process), name=f"out-{spec.name}", daemon=True
        ).start()
        where = f", port {spec.port}" if spec.port else ""
        self.say("serve", f"{spec.name} started (pid {process.pid}{where})")
        self._write_state()

    def _pump(self, name: str, process: subprocess.Popen) -> None:
        for raw in process.stdout:
            self.say(name, raw.decode(errors="replace").rstrip())

    def _write_state(self) -> None:
        state = [
            {
                "name": e.spec.name,
                "pid": e.process.pid if e.process else None,
                "port": e.spec.port,
                "restarts": e.restarts,
                "running": e.process is not None and e.process.poll() is None,
            }
            for e in self.running
        ]
        path = self.workdir / "processes.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"supervisor_pid": os.getpid(), "processes": state}, indent=1))
        tmp.replace(path)

    def run(self) -> int:
        """Start everything and supervise until a signal; the exit code."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self._stopping.set())
        for entry in self.running:
            self._spawn(entry)
        while not self._stopping.wait(0.2):
            now = time.monotonic()
            for entry in self.running:
                if entry.restart_at is not None:
                    if now >= entry.restart_at:
                        entry.restarts += 1
                        self._spawn(entry)
                    continue
                code = entry.process.poll()
                if code is None:
                    continue
                name, pause_s = entry.spec.name, entry.pause_s
                self.say("serve", f"{name} exited with code {code}; restarting in {pause_s:.0f} s")
                entry.restart_at = now + entry.pause_s
                entry.pause_s = min(entry.pause_s * 2, RESTART_PAUSE_S[1])
                self._write_state()
        self.stop()
        return 0

    def stop(self) -> None:
        self.say("serve", "stopping")
        # The load balancer first: no new connection reaches a server that is stopping.
        order = sorted(self.running, key=lambda e: e.spec.name != "lb")
        for entry in order:
            if entry.process is not None and entry.process.poll() is None:
                entry.process.terminate()
                if entry.spec.name == "lb":
                    _wait(entry.process, STOP_GRACE_S)
        deadline = time.monotonic() + STOP_GRACE_S
        for entry in order:
            if entry.process is not None:
                _wait(entry.process, max(deadline - time.monotonic(), 0.1))
        self._write_state()
        self.say("serve", "stopped")


def _wait(process: subprocess.Popen, timeout_s: float) -> None:
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
