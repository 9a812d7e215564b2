"""Fixtures for the metrics tests: conversations driven with the engine's TurnMetrics events."""

from __future__ import annotations

import pytest

from media.engine.events import TurnMetrics
from voiceproject.celery import app as celery_app


def turn_metrics(session_id: str, turn_id: int, **fields) -> TurnMetrics:
    """A turn as the engine reports it; latencies in milliseconds."""
    fields.setdefault("agent", "Concierge")
    return TurnMetrics(session_id=session_id, turn_id=turn_id, **fields)


@pytest.fixture
def eager_celery():
    """Run queued Celery tasks in-process (post-call processing) for the duration of a test."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Users are created in many tests here; the production hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
