"""The fake realtime server: the WebSocket listener, one connection object per client."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from media.realtime.protocol import Dialect, dialect_for_path
from testing.fake_realtime.connection import FakeRealtimeConnection
from testing.fake_realtime.replies import (
    Responder,
    Transcriber,
    default_respond,
    default_transcribe,
)

logger = logging.getLogger(__name__)


class FakeRealtimeServer:
    """The fake realtime service on 127.0.0.1 (port 0 picks a free one).

    Args:
        respond: scripts the model's replies (see :func:`default_respond`).
        transcribe: scripts the transcription of a committed utterance; the default pops
            `transcripts` in order.
        api_key: when set, the `api-key` header or `Authorization: Bearer` must carry it.
        chunk_interval_s: pause between 100 ms audio deltas (the service sends faster than
            real time; 0.02 s is five times real time).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        respond: Responder = default_respond,
        transcribe: Transcriber = default_transcribe,
        transcripts: list[str] | None = None,
        api_key: str = "",
        chunk_interval_s: float = 0.02,
        tone_hz: float = 330.0,
    ) -> None:
        self.host = host
        self.port = port
        self.respond = respond
        self.transcribe = transcribe
        self.transcripts = list(transcripts or [])
        self.api_key = api_key
        self.chunk_interval_s = chunk_interval_s
        self.tone_hz = tone_hz
        self.connections: list[FakeRealtimeConnection] = []
        self.connected = asyncio.Event()
        self._server: Any = None

    @property
    def base_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def http_url(self) -> str:
        """The endpoint as configured for Azure (`http` is mapped to `ws` by the client)."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeRealtimeServer:
        from websockets.asyncio.server import serve

        self._server = await serve(
            self._handler, self.host, self.port, process_request=self._check, compression=None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeRealtimeServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _check(self, connection: Any, request: Any) -> Any:
        if dialect_for_path(request.path) is None:
            return connection.respond(HTTPStatus.NOT_FOUND, "no realtime endpoint here\n")
        if self.api_key:
            given = request.headers.get("api-key") or ""
            auth = request.headers.get("Authorization") or ""
            if auth.lower().startswith("bearer "):
                given = given or auth[7:]
            if given != self.api_key:
                return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid api key\n")
        return None

    async def _handler(self, ws: Any) -> None:
        path, _, query = ws.request.path.partition("?")
        conn = FakeRealtimeConnection(self, ws, dialect_for_path(path) or Dialect.PREVIEW, path)
        conn.query = dict(parse_qsl(query))
        conn.headers = dict(ws.request.headers.raw_items())
        self.connections.append(conn)
        self.connected.set()
        try:
            await conn.run()
        except Exception as exc:  # noqa: BLE001 - a closed socket ends the session
            logger.debug("fake realtime connection ended: %r", exc)

    async def wait_for_connection(self, timeout_s: float = 5.0) -> FakeRealtimeConnection:
        await asyncio.wait_for(self.connected.wait(), timeout_s)
        return self.connections[-1]


async def _serve_forever(port: int) -> None:
    server = await FakeRealtimeServer(port=port).start()
    print(f"fake realtime server on {server.base_url} (/voice-live/realtime, /openai/v1/realtime)")
    await asyncio.Future()


def main() -> None:
    from testing import fake_realtime

    parser = argparse.ArgumentParser(
        prog="python -m testing.fake_realtime",
        description=fake_realtime.__doc__.splitlines()[0],
    )
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args.port))


if __name__ == "__main__":
    main()
