"""Shared fixtures.

`REQUIRE_SERVICES=1` (set by `.ci/run`) turns a missing PostgreSQL or Redis into a failure:
tests that need them never silently skip in CI.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import sys

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"
# The interpreter's exit joins worker threads (asgiref's loops, executors): one stuck forever
# would hold the finished run until CI's time limit. After this long the stacks of all threads
# are printed and the process exits with status 1.
EXIT_GRACE_S = 120


@pytest.fixture
def redis_url() -> str:
    """The Redis server of the environment; skipped locally without one, required in CI."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        if REQUIRE_SERVICES:
            pytest.fail("REQUIRE_SERVICES=1 but REDIS_URL is not set")
        pytest.skip("REDIS_URL is not set (CI runs this against a real Redis)")
    return url


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user(username="operator", password="a-long-passphrase")


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(
        username="staff", password="a-long-passphrase", is_staff=True, is_superuser=True
    )


@pytest.fixture
def auth_client(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def staff_client(staff_user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=staff_user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def fresh_tts_pool(settings):
    """The process's TTS pool configured anew (counts from zero; it builds synthesizers from the
    test's settings when asked), the previous one put back after."""
    import media.tts_pool
    from media.speech import configure_tts_pool

    previous = media.tts_pool.default_pool()
    yield configure_tts_pool(force=True)
    media.tts_pool._default = previous


def pytest_configure(config):
    """The test process is no server: it keeps no heartbeat (`voiceproject.processes`) in the
    test database. The servers the tests start as processes do, on their own databases."""
    from django.conf import settings

    if settings.configured:
        settings.SERVER_HEARTBEAT_S = 0


def pytest_unconfigure(config):
    """Remove the SQLite test database's WAL side files (Django deletes only the main file);
    arm the exit watchdog (`EXIT_GRACE_S`)."""
    from django.conf import settings

    faulthandler.dump_traceback_later(EXIT_GRACE_S, exit=True, file=sys.__stderr__)

    if not settings.configured:
        return
    test_name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if test_name and settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{test_name}{suffix}")
