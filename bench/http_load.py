"""HTTP throughput of one server process: concurrent liveness probes and signed-in call lists.

    .venv/bin/python bench/http_load.py                      # starts daphne on a temp SQLite
    .venv/bin/python bench/http_load.py --base-url http://127.0.0.1:8000 --token <key>

Without `--base-url` it starts the real server as `make run` does (daphne, this checkout's
settings, DEBUG on) on a free loopback port with a fresh migrated SQLite database, a user with
an API token and `--calls` calls in it. Then, from this process (asyncio, one keep-alive HTTP/1.1
connection per client, no HTTP library in the way), it sends `GET /api/v1/health` from
`--health-clients` clients at once and `GET /api/v1/calls/` with the token from
`--calls-clients` clients at once, each client one request after another, and prints requests
per second and latency percentiles (p50, p99) of each. A warm-up round precedes each.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.spoken.server import REPO, database_prepare, server_env, server_start

SEED_SCRIPT = """
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from calls.models import Call
user, _ = get_user_model().objects.get_or_create(username="http-load")
for i in range({calls}):
    Call.objects.create(
        call_connection_id=f"load-{{i}}", direction="outbound", status="disconnected",
        from_number="+14255550100", to_number=f"+1425555{{i:04d}}", session_id=f"load-{{i}}",
    )
print(Token.objects.get_or_create(user=user)[0].key)
"""


@dataclass
class LoadResult:
    path: str
    clients: int
    latencies_s: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0

    def line(self) -> str:
        done = len(self.latencies_s)
        ms = np.array(self.latencies_s) * 1000 if done else np.array([0.0])
        return (
            f"{self.path:<18} {self.clients:>4} clients  {done:>6} requests  "
            f"{done / self.elapsed_s:>7.0f} req/s  p50 {np.percentile(ms, 50):6.1f} ms  "
            f"p99 {np.percentile(ms, 99):6.1f} ms  max {ms.max():6.1f} ms  errors {self.errors}"
        )


async def _client(host, port, request: bytes, count: int, result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            if status == 200:
                result.latencies_s.append(time.perf_counter() - started)
            else:
                result.errors += 1
    finally:
        writer.close()


async def load(base_url: str, path: str, *, clients: int, per_client: int, token: str = ""):
    url = urlsplit(base_url)
    auth = f"Authorization: Token {token}\r\n" if token else ""
    request = f"GET {path} HTTP/1.1\r\nHost: {url.netloc}\r\n{auth}\r\n".encode()
    result = LoadResult(path, clients)
    started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(_client(url.hostname, url.port, request, per_client, result) for _ in range(clients)),
        return_exceptions=True,
    )
    result.elapsed_s = time.perf_counter() - started
    result.errors += sum(1 for outcome in outcomes if isinstance(outcome, Exception))
    return result


def _server_with_data(workdir: Path, calls: int):
    env = server_env(f"sqlite:///{workdir / 'load.sqlite3'}", {"LOG_LEVEL": "WARNING"})
    database_prepare(env)
    seeded = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SEED_SCRIPT.format(calls=calls)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return server_start(env, workdir), seeded.stdout.strip().splitlines()[-1]


async def run(args) -> None:
    rounds = [
        ("/api/v1/health", args.health_clients, args.health_requests, ""),
        ("/api/v1/calls/", args.calls_clients, args.calls_requests, args.token),
    ]
    for path, clients, per_client, token in rounds:
        if path == "/api/v1/calls/" and not token:
            print(f"{path}: skipped (no --token)")
            continue
        await load(args.base_url, path, clients=clients, per_client=2, token=token)  # warm-up
        result = await load(
            args.base_url, path, clients=clients, per_client=per_client, token=token
        )
        print(result.line(), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running server (else daphne is started)")
    parser.add_argument("--token", default="", help="API token for /calls/ with --base-url")
    parser.add_argument("--health-clients", type=int, default=200)
    parser.add_argument("--health-requests", type=int, default=25, help="per client")
    parser.add_argument("--calls-clients", type=int, default=50)
    parser.add_argument("--calls-requests", type=int, default=20, help="per client")
    parser.add_argument("--calls", type=int, default=30, help="calls in the started server")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    server = None
    if not args.base_url:
        workdir = Path(tempfile.mkdtemp(prefix="http-load-"))
        server, args.token = _server_with_data(workdir, args.calls)
        args.base_url = server.url
    try:
        asyncio.run(run(args))
    finally:
        if server is not None:
            server.stop()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
