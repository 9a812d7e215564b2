"""Helpers shared by the agentbuilder API views."""

from __future__ import annotations

import time

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle


class Stopwatch:
    """`response_time_ms` of the original API: time spent answering, in milliseconds."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def ms(self) -> float:
        return round((time.perf_counter() - self.start) * 1000, 2)


class AnonymousCreateThrottle(SimpleRateThrottle):
    """Rate-limits anonymous creation (demo users, session agents); signed-in users are not."""

    scope = "demo_create"

    def get_rate(self):
        # Read at request time so that a changed DEMO_CREATE_RATE setting applies at once.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def as_drf_error(exc: DjangoValidationError) -> serializers.ValidationError:
    """A model ValidationError as a DRF 400 naming the fields at fault."""
    if hasattr(exc, "message_dict"):
        return serializers.ValidationError(exc.message_dict)
    return serializers.ValidationError({"non_field_errors": exc.messages})
