"""Event Grid's side of incoming calls: webhook deliveries of Event Grid-schema arrays (§3)."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from testing.fake_acs import events as ev

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Delivery:
    """One POST made to the app (a callback or an Event Grid delivery) and its answer."""

    url: str
    events: list[dict]
    status: int  # 0 when the app could not be reached
    response: Any


def post_events(
    url: str, events: list[dict], headers: dict[str, str], timeout_s: float = 30
) -> Delivery:
    """POST a JSON array of events and record the answer."""
    request = urllib.request.Request(url, data=json.dumps(events).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except OSError as exc:
        status, raw = 0, str(exc).encode()
        logger.warning("could not deliver events to %s: %s", url, exc)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Delivery(url=url, events=events, status=status, response=parsed)


class EventGridFake:
    """Delivers to an Event Grid webhook the way an Event Grid subscription does."""

    def __init__(self, webhook_url: str) -> None:
        self.webhook_url = webhook_url
        self.deliveries: list[Delivery] = []

    def _deliver(self, events: list[dict], event_type_header: str) -> Delivery:
        delivery = post_events(self.webhook_url, events, {"aeg-event-type": event_type_header})
        self.deliveries.append(delivery)
        return delivery

    def validate(self, validation_code: str | None = None) -> Delivery:
        """The subscription handshake: the app must answer 200 `{validationResponse: code}`."""
        event = ev.subscription_validation_event(validation_code)
        return self._deliver([event], "SubscriptionValidation")

    def deliver(self, events: list[dict]) -> Delivery:
        """A notification delivery (e.g. `[invite.event]` from `FakeAcsServer.ring`)."""
        return self._deliver(events, "Notification")

    def validation_succeeded(self, delivery: Delivery) -> bool:
        sent = delivery.events[0]["data"]["validationCode"]
        response = delivery.response if isinstance(delivery.response, dict) else {}
        return delivery.status == 200 and response.get("validationResponse") == sent
