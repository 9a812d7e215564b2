"""Fixtures for the calls tests: the fake ACS service and settings that point the app at it.

The fake runs in manual mode (`auto_deliver=False`): its callbacks and media sockets wait for
`fake_acs.flush()`, so they never reach the live server while the test thread is using the
database (SQLite test databases share one connection between the two threads).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from testing.fake_acs import FakeAcsServer, MediaStreamRequest

SOURCE_NUMBER = "+14255550100"
CALLBACK_SECRET = "test-callback-secret"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The shared `user` fixture hashes a password; the default hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def media_streams() -> list[MediaStreamRequest]:
    """Media streams the fake was asked to open (the hook records them and opens nothing)."""
    return []


@pytest.fixture
def fake_acs(media_streams):
    with FakeAcsServer(auto_deliver=False, on_media_stream=media_streams.append) as fake:
        yield fake


@pytest.fixture
def acs_settings(settings, fake_acs):
    """The app configured for the fake ACS, with the shared-secret callback scheme."""
    settings.ACS_CONNECTION_STRING = fake_acs.connection_string
    settings.ACS_ENDPOINT = ""
    settings.ACS_SOURCE_PHONE_NUMBER = SOURCE_NUMBER
    settings.ACS_CALLBACK_SECRET = CALLBACK_SECRET
    settings.ACS_JWKS_URL = ""
    settings.ACS_JWT_AUDIENCE = ""
    settings.ACS_STREAMING_MODE = "media"
    return settings


@pytest.fixture
def live_acs(acs_settings, live_server, transactional_db):
    """ACS callbacks reach the app: BASE_URL is a live server."""
    acs_settings.BASE_URL = live_server.url
    return acs_settings


def requests_to(fake: FakeAcsServer, method: str, path_suffix: str) -> list:
    return [r for r in fake.requests if r.method == method and r.path.endswith(path_suffix)]


def run_while_acs_answers(
    fake: FakeAcsServer, request_suffix: str, work: Callable[[], dict], answer: Callable[[], None]
) -> dict:
    """Run `work` (a tool waiting for ACS's callbacks, as in a conversation's worker thread) in
    a thread; once its `POST …{request_suffix}` reached the fake, `answer()` and deliver the
    callbacks. Returns what `work` returned."""
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(work()))
    worker.start()
    deadline = time.monotonic() + 10
    while not requests_to(fake, "POST", request_suffix):
        assert time.monotonic() < deadline, f"nothing asked ACS for {request_suffix}"
        time.sleep(0.02)
    answer()
    fake.flush()
    worker.join(15)
    return result
