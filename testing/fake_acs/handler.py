"""HTTP side of the fake ACS: parsing, HMAC and api-version checks, JSON answers, and the
operator routes under `/_fake/` used by `python -m testing.fake_acs`."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from testing.fake_acs.signing import hmac_check

if TYPE_CHECKING:
    from testing.fake_acs.server import FakeAcsServer

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20


class AcsError(Exception):
    """An error answer of the service: `{error: {code, message}}` with an HTTP status."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class RestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeACS/1.0"

    def log_message(self, fmt: str, *args) -> None:
        logger.debug("fake ACS: " + fmt, *args)

    def _respond(self, status: int, body: Any = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if raw:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if raw:
            self.wfile.write(raw)

    def _dispatch(self) -> None:
        fake: FakeAcsServer = self.server.fake  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._respond(413, {"error": {"code": "TooLarge", "message": "Body too large."}})
            return
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            self._respond(400, {"error": {"code": "BadRequest", "message": "Malformed JSON."}})
            return
        headers = dict(self.headers.items())
        fake.record_request(self.command, parts.path, parts.query, headers, body)
        try:
            if parts.path.startswith("/_fake/"):
                status, out = _control(fake, self.command, parts.path, body)
            else:
                if parts.path != "/calling/keys":
                    if "api-version=" not in parts.query:
                        raise AcsError(400, "MissingApiVersion", "api-version is required.")
                    if fake.verify_hmac:
                        problem = hmac_check(
                            access_key=fake.access_key,
                            method=self.command,
                            path_and_query=self.path,
                            headers=headers,
                            body=raw,
                        )
                        if problem:
                            raise AcsError(401, "Unauthorized", problem)
                status, out = fake.handle(self.command, parts.path, body)
        except AcsError as exc:
            status, out = exc.status, {"error": {"code": exc.code, "message": exc.message}}
        self._respond(status, out)

    do_GET = do_POST = do_DELETE = _dispatch


def _control(fake: FakeAcsServer, method: str, path: str, body: Any) -> tuple[int, Any]:
    """Operator routes for the command line: ring the app, hang up as the caller, list calls."""
    body = body if isinstance(body, dict) else {}
    if method == "GET" and path == "/_fake/calls":
        return 200, {"calls": fake.call_properties(), "recordings": fake.recording_properties()}
    if method == "POST" and path == "/_fake/incoming":
        if not body.get("webhook_url"):
            raise AcsError(400, "BadRequest", "webhook_url is required.")
        invite = fake.ring(
            from_number=str(body.get("from") or "+14255550100"),
            to_number=str(body.get("to") or "+14255550199"),
            caller_display_name=str(body.get("caller_display_name") or ""),
        )
        threading.Thread(
            target=fake.post_event_grid, args=(body["webhook_url"], [invite.event]), daemon=True
        ).start()
        return 202, {"incomingCallContext": invite.incoming_call_context}
    if method == "POST" and path.startswith("/_fake/calls/") and path.endswith("/hangup"):
        fake.hang_up_from_caller(path.split("/")[3])
        return 202, None
    raise AcsError(404, "NotFound", f"No route {method} {path}.")
