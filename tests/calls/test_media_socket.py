"""The media socket: its URL, its authentication, and the fake ACS dialling it like ACS does."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve

from calls.auth import media_socket_authorize, media_socket_authorize_async, media_stream_url
from testing.fake_acs import AcsJwtSigner, FakeAcsServer, open_media_socket
from tests.calls.conftest import CALLBACK_SECRET

AUDIENCE = "acs-resource-immutable-id"


def _scope(url: str, headers: dict[str, str] | None = None) -> dict:
    parts = urlsplit(url)
    return {
        "type": "websocket",
        "path": parts.path,
        "query_string": parts.query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }


def test_media_stream_url_follows_base_url_and_carries_the_secret(acs_settings):
    acs_settings.BASE_URL = "https://voice.example.com"
    url = urlsplit(media_stream_url("call-123"))

    assert (url.scheme, url.netloc, url.path) == (
        "wss",
        "voice.example.com",
        "/api/v1/media/stream",
    )
    assert parse_qs(url.query) == {"token": [CALLBACK_SECRET], "call_connection_id": ["call-123"]}
    acs_settings.BASE_URL = "http://127.0.0.1:8000"
    assert media_stream_url().startswith("ws://127.0.0.1:8000/api/v1/media/stream?token=")


def test_media_socket_secret(acs_settings):
    assert media_socket_authorize(_scope(media_stream_url())) == (True, "callback token accepted")
    ok, reason = media_socket_authorize(_scope("ws://h/api/v1/media/stream"))
    assert not ok and "token" in reason
    ok, reason = media_socket_authorize(_scope("ws://h/api/v1/media/stream?token=nope"))
    assert not ok and reason == "wrong callback token"


async def test_media_socket_jwt(acs_settings, fake_acs):
    signer = AcsJwtSigner(audience=AUDIENCE)
    fake_acs.jwt_signer = signer
    acs_settings.ACS_JWKS_URL = fake_acs.jwks_url
    acs_settings.ACS_JWT_AUDIENCE = AUDIENCE
    url = "ws://h/api/v1/media/stream"

    good = await media_socket_authorize_async(
        _scope(url, {"Authorization": f"Bearer {signer.token()}"})
    )
    wrong_audience = await media_socket_authorize_async(
        _scope(url, {"Authorization": f"Bearer {signer.token(aud='x')}"})
    )
    secret_only = await media_socket_authorize_async(_scope(media_stream_url()))

    assert good.ok
    assert not wrong_audience.ok and "audience" in wrong_audience.reason
    assert not secret_only.ok and "bearer" in secret_only.reason


class MediaEndpoint:
    """A stand-in for the app's media socket that checks credentials with the real check."""

    def __init__(self) -> None:
        self.connections: list[dict] = []
        self.closed = threading.Event()
        self._server = serve(self._handle, "127.0.0.1", 0)
        self.port = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handle(self, ws) -> None:
        request = ws.request
        seen = {"headers": dict(request.headers.raw_items()), "path": request.path}
        self.connections.append(seen)
        ok, reason = media_socket_authorize(_scope("ws://h" + request.path, seen["headers"]))
        seen["authorized"] = ok
        if not ok:
            ws.close(4401, reason)
            self.closed.set()
            return
        seen["first"] = json.loads(ws.recv(timeout=5))
        ws.send(json.dumps({"kind": "AudioData", "audioData": {"data": "AAAA"}}))
        with contextlib.suppress(ConnectionClosed):  # the caller hanging up is the expected end
            ws.recv(timeout=10)
        seen["close_code"] = ws.close_code
        self.closed.set()

    def stop(self) -> None:
        self._server.shutdown()


@pytest.fixture
def media_endpoint():
    endpoint = MediaEndpoint()
    yield endpoint
    endpoint.stop()


def test_fake_acs_opens_the_media_socket_like_acs(auth_client, acs_settings, media_endpoint):
    signer = AcsJwtSigner(audience=AUDIENCE)
    with FakeAcsServer(
        auto_deliver=False, on_media_stream=open_media_socket, jwt_signer=signer
    ) as fake:
        acs_settings.ACS_CONNECTION_STRING = fake.connection_string
        acs_settings.ACS_JWKS_URL = fake.jwks_url
        acs_settings.ACS_JWT_AUDIENCE = AUDIENCE
        acs_settings.BASE_URL = f"http://127.0.0.1:{media_endpoint.port}"
        call_id = auth_client.post(
            "/api/v1/calls/initiate", {"target_number": "+14255550123"}, format="json"
        ).json()["call_id"]

        fake.flush()
        (stream,) = fake.get_call(call_id).media_streams
        assert stream.opened.wait(10)
        deadline = time.monotonic() + 10
        while not stream.received and time.monotonic() < deadline:
            time.sleep(0.01)
        fake.hang_up_from_caller(call_id)
        fake.flush()
        assert stream.closed.wait(10) and media_endpoint.closed.wait(10)

    (seen,) = media_endpoint.connections
    assert seen["authorized"] is True
    assert seen["headers"]["x-ms-call-connection-id"] == call_id
    assert seen["headers"]["Authorization"].startswith("Bearer ")
    assert seen["first"]["kind"] == "AudioMetadata"
    assert seen["first"]["audioMetadata"]["sampleRate"] == 16000
    assert seen["first"]["audioMetadata"]["length"] == 640
    assert seen["close_code"] == 1000
    assert stream.received == [{"kind": "AudioData", "audioData": {"data": "AAAA"}}]


def test_media_socket_refused_without_credentials(acs_settings, media_endpoint):
    from testing.fake_acs import MediaStreamRequest

    request = MediaStreamRequest(
        url=f"ws://127.0.0.1:{media_endpoint.port}/api/v1/media/stream",
        call_connection_id="c1",
        correlation_id="k1",
        kind="media",
        audio_format="pcm16KMono",
        sample_rate_hz=16000,
        bidirectional=True,
        headers={"x-ms-call-connection-id": "c1"},
    )

    open_media_socket(request)

    assert request.close_code == 4401
    assert "token" in request.close_reason
