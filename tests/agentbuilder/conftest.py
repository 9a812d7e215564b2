"""Fixtures: the shipped library, a demo customer, and a tool runner with a session context."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from agentbuilder.services import DatabaseToolRunner, demo_user_create, library_load
from media.engine.snapshot import ToolContext


@pytest.fixture
def library(db):
    return library_load()


@pytest.fixture
def demo(db):
    """A demo customer; `.codes` holds the secrets shown once at creation."""
    return demo_user_create(full_name="Jane Doe", email="jane@example.com", session_id="sess-jane")


@pytest.fixture
def runner() -> DatabaseToolRunner:
    return DatabaseToolRunner()


@pytest.fixture
def context() -> ToolContext:
    return ToolContext(session_id="sess-jane", agent_name="Concierge")


@pytest.fixture
def verified(runner, context, demo) -> ToolContext:
    result = runner.run(
        "verify_client_identity",
        {"full_name": "Jane Doe", "ssn_last_4": demo.codes["ssn4"]},
        context,
    )
    assert result["success"] is True
    return context


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Signing in is not under test here; the default hasher costs a second per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _private_throttle_cache(settings):
    """Rate-limit counters in a cache of this test alone: in CI the default cache is a Redis
    shared with other test runs, whose anonymous requests come from the same address."""
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "agentbuilder-tests",
        },
    }
    cache.clear()
