"""Helpers shared by the agentbuilder API views."""

from __future__ import annotations

import time
from collections.abc import Mapping

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from voiceproject.throttling import ClientRateThrottle


class Stopwatch:
    """`response_time_ms` of the original API: time spent answering, in milliseconds."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def ms(self) -> float:
        return round((time.perf_counter() - self.start) * 1000, 2)


class AnonymousCreateThrottle(ClientRateThrottle):
    """Rate-limits anonymous demo-user creation; signed-in users are not limited."""

    scope = "demo_create"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class AnonymousSessionAgentThrottle(AnonymousCreateThrottle):
    """Rate-limits anonymous session-agent writes, in a bucket of their own."""

    scope = "session_agent_write"


MODEL_REQUEST_FIELDS = {
    "model_deployment": "model.deployment_id",
    "temperature": "model.temperature",
    "top_p": "model.top_p",
    "max_tokens": "model.max_tokens",
}


def as_drf_error(
    exc: DjangoValidationError, *, request_fields: Mapping[str, str] | None = None
) -> serializers.ValidationError:
    """A model ValidationError as a DRF 400 naming the fields at fault.

    `request_fields` maps a model field to the request field it came from, dotted for a
    nested one (`voice_name` -> `voice.name`), so the error names what the client sent.
    """
    if not hasattr(exc, "message_dict"):
        return serializers.ValidationError({"non_field_errors": exc.messages})
    detail: dict = {}
    for name, messages in exc.message_dict.items():
        *parents, leaf = (request_fields or {}).get(name, name).split(".")
        node = detail
        for part in parents:
            node = node.setdefault(part, {})
        node.setdefault(leaf, []).extend(messages)
    return serializers.ValidationError(detail)
