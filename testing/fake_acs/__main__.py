"""Run the fake ACS on its own: `python -m testing.fake_acs --help`.

    python -m testing.fake_acs serve --port 8765 --access-key <base64>
        # then start the app with ACS_CONNECTION_STRING=endpoint=http://127.0.0.1:8765/;accesskey=...
    python -m testing.fake_acs ring --fake http://127.0.0.1:8765 \\
        --webhook "$(python manage.py acs_urls --event-grid)" --from +14255550177
    python -m testing.fake_acs calls --fake http://127.0.0.1:8765
    python -m testing.fake_acs hangup --fake http://127.0.0.1:8765 <call_connection_id>
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import threading
import urllib.request

from testing.fake_acs.media import open_media_socket
from testing.fake_acs.server import FakeAcsServer
from testing.fake_acs.signing import AcsJwtSigner


def _control(base: str, method: str, path: str, body: dict | None = None) -> dict | None:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        raw = response.read()
    return json.loads(raw) if raw else None


def _serve(args: argparse.Namespace) -> int:
    signer = AcsJwtSigner(audience=args.sign_audience) if args.sign_audience else None
    fake = FakeAcsServer(
        access_key=args.access_key,
        host=args.host,
        port=args.port,
        jwt_signer=signer,
        on_media_stream=None if args.no_media else open_media_socket,
    )
    fake.start()
    print(f"fake ACS Call Automation listening on {fake.endpoint}")
    print(f"ACS_CONNECTION_STRING={fake.connection_string}")
    if signer:
        print(f"ACS_JWKS_URL={fake.jwks_url}")
        print(f"ACS_JWT_AUDIENCE={args.sign_audience}")
    print("Ctrl-C to stop.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    fake.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m testing.fake_acs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the fake Call Automation service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--access-key", help="base64 HMAC key (random when omitted)")
    serve.add_argument("--sign-audience", help="sign callbacks and media sockets with a JWT")
    serve.add_argument("--no-media", action="store_true", help="never open media sockets")

    ring = commands.add_parser("ring", help="a caller dials in: Event Grid IncomingCall")
    ring.add_argument("--fake", default="http://127.0.0.1:8765")
    ring.add_argument("--webhook", required=True, help="the app's Event Grid URL with its token")
    ring.add_argument("--from", dest="from_number", default="+14255550177")
    ring.add_argument("--to", dest="to_number", default="+14255550100")

    calls = commands.add_parser("calls", help="list the calls the fake holds")
    calls.add_argument("--fake", default="http://127.0.0.1:8765")

    hangup = commands.add_parser("hangup", help="the caller hangs up")
    hangup.add_argument("--fake", default="http://127.0.0.1:8765")
    hangup.add_argument("call_connection_id")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.command == "serve":
        return _serve(args)
    if args.command == "ring":
        body = {"webhook_url": args.webhook, "from": args.from_number, "to": args.to_number}
        print(json.dumps(_control(args.fake, "POST", "/_fake/incoming", body)))
    elif args.command == "calls":
        print(json.dumps(_control(args.fake, "GET", "/_fake/calls"), indent=2))
    elif args.command == "hangup":
        _control(args.fake, "POST", f"/_fake/calls/{args.call_connection_id}/hangup", {})
    return 0


if __name__ == "__main__":
    sys.exit(main())
