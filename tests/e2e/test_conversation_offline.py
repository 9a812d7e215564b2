"""Done-when of the browser: speak to the Concierge on the offline stack and watch it live.

The real `voiceproject.asgi` app runs in daphne with the embedded defaults (pocketsphinx, piper
or espeak-ng, the `rules` dialogue engine, Silero VAD). Chromium's microphone plays a spoken
request; the page must show the user's transcript and the agent's answer, play the answer's
audio, show the turn's latency, and a dashboard in another tab must show the same conversation.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import launch, make_utterance, sign_in

pytestmark = pytest.mark.e2e

REQUEST = "What can you help me with?"


@pytest.fixture(scope="module")
def app_server(stack):
    return stack.start()


@pytest.fixture(scope="module")
def request_browser(playwright_instance, e2e_workdir):
    # The lead silence lets the greeting start before the caller talks over it.
    wav = make_utterance(e2e_workdir / "request.wav", REQUEST, lead_s=2.5, tail_s=3.0)
    browser = launch(playwright_instance, wav)
    yield browser
    browser.close()


def test_spoken_request_is_answered_aloud_and_seen_on_the_dashboard(
    app_server, request_browser, screenshot_dir
):
    context = request_browser.new_context()
    page = context.new_page()
    sign_in(page, app_server.url)
    dashboard = context.new_page()
    dashboard.goto(app_server.url + "/dashboard/")
    dashboard.wait_for_selector("#relay-status.ok", timeout=15000)

    page.goto(app_server.url + "/")
    page.click("#start-btn")
    page.wait_for_selector(".msg.assistant[data-final='1']", timeout=60000)  # the greeting

    user = page.wait_for_selector(".msg.user[data-final='1']", timeout=60000)
    played_at_request = page.evaluate("window.__played")
    # espeak-ng's robotic voice is hard for pocketsphinx: what matters is that speech became text.
    heard = user.query_selector(".text").inner_text().strip()
    assert heard
    turn = user.get_attribute("data-turn")
    answer = page.wait_for_selector(
        f".msg.assistant[data-final='1'][data-turn='{turn}']", timeout=60000
    )
    assert len(answer.inner_text().split()) > 3
    # The answer is heard: at least half a second more audio played since the request.
    page.wait_for_function(f"window.__played > {played_at_request} + 8000", timeout=30000)
    page.wait_for_selector(f"#latency-table tr[data-turn='{turn}']", timeout=30000)
    first_audio = page.inner_text(f"#latency-table tr[data-turn='{turn}'] td:nth-child(5)")
    assert first_audio.endswith(("ms", " s")), first_audio
    # The caller talked over the greeting: the page was told to stop and emptied its queue.
    assert page.evaluate("window.__conversation.bargeIns") >= 1
    assert page.evaluate("window.__playbackClears") >= 1
    page.screenshot(path=str(screenshot_dir / "conversation.png"), full_page=True)

    session_id = page.evaluate("window.__conversation.sessionId")
    dashboard.wait_for_selector(f"#session-list li[data-session='{session_id}']", timeout=15000)
    dashboard.click(f"#session-list li[data-session='{session_id}']")
    seen = dashboard.wait_for_selector(
        "#dashboard-transcript .msg.user[data-final='1']", timeout=15000
    )
    assert seen.query_selector(".text").inner_text().strip() == heard
    dashboard.wait_for_selector("#dashboard-transcript .latency", timeout=15000)
    dashboard.screenshot(path=str(screenshot_dir / "dashboard.png"), full_page=True)
    context.close()


@pytest.mark.parametrize(
    ("path", "ready", "name"),
    [
        ("/calls/", "#call-table tbody tr", "calls"),
        ("/agent-builder/", "#tools-picker label", "agent-builder"),
        ("/dashboard/", "#relay-status.ok", "dashboard-idle"),
    ],
)
def test_management_pages_work_for_a_signed_in_operator(
    app_server, request_browser, screenshot_dir, path, ready, name
):
    context = request_browser.new_context()
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(app_server.url + path)
    assert "/accounts/login/" in page.url  # sign-in first
    page.screenshot(path=str(screenshot_dir / "login.png"))
    sign_in(page, app_server.url)
    page.goto(app_server.url + path)
    page.wait_for_selector(ready, timeout=15000)
    page.screenshot(path=str(screenshot_dir / f"{name}.png"), full_page=True)
    assert not errors, errors
    context.close()
