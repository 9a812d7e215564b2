"""The scenarios' fixtures in the server's database: demo customers with known codes, call
records for the media socket, a staff token, and the cards' state after a call.

It runs as a small process next to the server, on the server's database and settings, and
answers one JSON request per line (the client that plays the callers stays free of Django):

    python -m bench.spoken.customers serve        # reads {"op": ...} lines, writes answers

Requests: `customer` (full_name, email, ssn_last4, credit_last4, debit_last4: replaces any
earlier bench customer with that email), `state` (client_id: its cards), `call` (a connected
simulated call: id, session id and the media socket's token), `call_end`, `staff_token`.
:class:`FixtureDesk` starts it and asks it things.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
STAFF_USERNAME = "spoken-bench"


# --- in the fixture process (Django) -----------------------------------------------------------


def customer_create(
    *, full_name: str, email: str, ssn_last4: str, credit_last4: str, debit_last4: str
) -> dict[str, Any]:
    from django.db import transaction

    from agentbuilder.models import Card, DemoUser
    from agentbuilder.services import demo_user_create

    with transaction.atomic():
        DemoUser.objects.filter(email=email.lower()).delete()
        created = demo_user_create(full_name=full_name, email=email, codes={"ssn4": ssn_last4})
        cards = Card.objects.filter(demo_user=created.user)
        cards.filter(kind="credit").update(last4=credit_last4)
        cards.filter(kind="debit").update(last4=debit_last4)
    return {"client_id": created.user.client_id}


def customer_state(*, client_id: str) -> dict[str, Any]:
    from agentbuilder.models import Card

    cards = []
    for card in Card.objects.filter(demo_user__client_id=client_id, replaces__isnull=True):
        replacement = Card.objects.filter(replaces=card).first()
        cards.append(
            {
                "last4": card.last4,
                "kind": card.kind,
                "status": card.status,
                "replaced": replacement is not None,
                "expedited": replacement.expedited if replacement else None,
            }
        )
    return {"client_id": client_id, "cards": cards}


def call_create() -> dict[str, Any]:
    from calls.auth import callback_secret
    from calls.services import call_simulated_create

    call_connection_id, session_id = call_simulated_create(streaming_mode="media")
    return {
        "call_connection_id": call_connection_id,
        "session_id": session_id,
        "token": callback_secret(),
    }


def call_end(*, call_connection_id: str) -> dict[str, Any]:
    from calls.services import call_simulated_end

    call_simulated_end(call_connection_id=call_connection_id)
    return {}


def staff_token() -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    user, _ = get_user_model().objects.get_or_create(
        username=STAFF_USERNAME, defaults={"is_staff": True}
    )
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    token, _ = Token.objects.get_or_create(user=user)
    return {"token": token.key}


OPS = {
    "customer": customer_create,
    "state": customer_state,
    "call": call_create,
    "call_end": call_end,
    "staff_token": staff_token,
}


def serve() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
    import django

    django.setup()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            op = OPS[request.pop("op")]
            answer = {"ok": True, **op(**request)}
        except Exception as exc:  # noqa: BLE001 - every failure goes back to the asker
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)


# --- in the client process ----------------------------------------------------------------------


class FixtureDesk:
    """The fixture process for one server's database. Thread-safe; each call blocks."""

    def __init__(self, env: dict[str, str]) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "bench.spoken.customers", "serve"],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()
        first = self._process.stdout.readline()
        if not first.strip():
            raise RuntimeError("the fixture process did not start (see its stderr)")

    def ask(self, op: str, **fields: Any) -> dict[str, Any]:
        with self._lock:
            self._process.stdin.write(json.dumps({"op": op, **fields}) + "\n")
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the fixture process ended")
        answer = json.loads(line)
        if not answer.pop("ok"):
            raise RuntimeError(f"{op}: {answer['error']}")
        return answer

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        sys.exit("usage: python -m bench.spoken.customers serve")
    serve()
