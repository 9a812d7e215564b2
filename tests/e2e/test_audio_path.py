"""The conversation page's microphone capture, playback and barge-in, against an echo socket.

Chromium's fake microphone plays a spoken WAV; the echo server (tests/e2e/echo_asgi.py) measures
the frames, answers with the same audio, and sends a tone and a barge-in on request.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import launch, make_utterance

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def echo_server(stack):
    return stack.start("tests.e2e.echo_asgi:application")


@pytest.fixture(scope="module")
def echo_browser(playwright_instance, e2e_workdir):
    wav = make_utterance(
        e2e_workdir / "echo-utterance.wav",
        "Hello, I would like to check my account balance.",
        lead_s=0.5,
        tail_s=1.5,
    )
    browser = launch(playwright_instance, wav)
    yield browser
    browser.close()


def test_microphone_frames_reach_the_server_and_the_answer_is_played(echo_server, echo_browser):
    page = echo_browser.new_page()
    page.goto(echo_server.url + "/")
    page.click("#start-btn")

    # The server saw speech (not just frames of silence) in 640-byte 16 kHz frames.
    user = page.wait_for_selector(".msg.user[data-final='1']", timeout=15000)
    heard = re.search(r"heard (\d+) ms of speech, (\d+) bytes per frame", user.inner_text())
    assert heard, user.inner_text()
    assert int(heard.group(1)) >= 1500  # the WAV holds about 2.5 s of speech
    assert int(heard.group(2)) == 640

    # Its audio comes back and is played through the playback worklet.
    page.wait_for_function("window.__played >= 16000", timeout=15000)
    assert page.inner_text(".msg.assistant[data-final='1']").endswith("Here is what you said.")
    page.close()


def test_barge_in_clears_playback_at_once(echo_server, echo_browser):
    page = echo_browser.new_page()
    page.goto(echo_server.url + "/")
    page.fill("#message-input", "tone")
    page.click("#composer button[type=submit]")  # 4 s of tone, sent at once, queued in the page
    page.wait_for_function("window.__played > 1600 && window.__queued > 16000", timeout=15000)

    page.fill("#message-input", "barge")
    page.click("#composer button[type=submit]")
    page.wait_for_function("window.__playbackClears >= 1", timeout=5000)
    assert page.evaluate("window.__queued") == 0
    assert page.evaluate("window.__conversation.bargeIns") == 1
    played_at_clear = page.evaluate("window.__played")
    page.wait_for_timeout(500)
    # Nothing of the cancelled tone is heard after the stop (one render quantum at most).
    assert page.evaluate("window.__played") - played_at_clear <= 128
    assert page.locator(".msg.system", has_text="Agent interrupted").count() == 1
    page.close()
