"""What a person sees of a session's agent and history: the dashboard's agent label follows a
handoff as it happens, the latency charts' axis labels are drawn whole, and reloading the
conversation page brings back the stored transcript and the active agent.

Typed requests on the offline stack: "I think my card was stolen" makes the `rules` engine hand
the caller from the Concierge to the FraudAgent.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.e2e

HANDOFF_REQUEST = "I think my card was stolen"

# Records every y-axis label the charts draw (text, its left and right edges, the canvas width).
RECORD_CHART_LABELS = """
window.__chartLabels = [];
const fillText = CanvasRenderingContext2D.prototype.fillText;
CanvasRenderingContext2D.prototype.fillText = function (text, x, y, ...rest) {
  const width = this.measureText(text).width;
  const left = this.textAlign === "right" ? x - width
    : this.textAlign === "center" ? x - width / 2 : x;
  window.__chartLabels.push({ canvas: this.canvas.id, text: String(text), left,
    right: left + width, canvasWidth: this.canvas.clientWidth, align: this.textAlign });
  return fillText.call(this, text, x, y, ...rest);
};
"""


@pytest.fixture(scope="module")
def app_server(stack):
    return stack.start()


@pytest.fixture(scope="module")
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(
        executable_path="/usr/bin/chromium",
        headless=True,
        args=["--autoplay-policy=no-user-gesture-required"],
    )
    yield browser
    browser.close()


def type_message(page, text: str) -> None:
    page.fill("#message-input", text)
    page.click("#composer button[type=submit]")


def start_conversation(browser, base_url: str, text: str):
    """A signed-in operator's context and conversation page, with `text` typed to the agent."""
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    sign_in(page, base_url)
    page.goto(base_url + "/")
    type_message(page, text)
    return context, page


def stored_turns(page, base_url: str, session_id: str, count: int) -> list[dict]:
    """The session's turns once `count` of them are stored (the metrics writer is async)."""
    deadline = time.monotonic() + 30
    while True:
        answer = page.request.get(
            f"{base_url}/api/v1/metrics/session/{session_id}?include_turns=true"
        )
        turns = (answer.json().get("turns") or []) if answer.ok else []
        if len(turns) >= count or time.monotonic() > deadline:
            return turns
        time.sleep(0.2)


def test_dashboard_agent_label_follows_a_handoff_while_history_loads(
    app_server, browser, screenshot_dir
):
    context, conversation = start_conversation(browser, app_server.url, "hello")
    conversation.wait_for_selector(".msg.user[data-final='1']", timeout=30000)
    session_id = conversation.evaluate("window.__conversation.sessionId")
    assert stored_turns(conversation, app_server.url, session_id, 2)

    # The session's stored history answers slowly (a busy server): the handoff arrives live first.
    held = []

    def hold(route):
        held.append((route, route.fetch()))

    dashboard = context.new_page()
    dashboard.add_init_script(RECORD_CHART_LABELS)
    dashboard.route("**/api/v1/metrics/session/**", hold)
    dashboard.goto(f"{app_server.url}/dashboard/?session_id={session_id}")
    dashboard.wait_for_selector("#relay-status.ok", timeout=15000)
    deadline = time.monotonic() + 15
    while not held and time.monotonic() < deadline:
        dashboard.wait_for_timeout(50)
    assert held, "the dashboard did not ask for the session's history"

    type_message(conversation, HANDOFF_REQUEST)
    dashboard.wait_for_selector(
        "#dashboard-transcript .msg.system:has-text('Handoff: Concierge')", timeout=30000
    )
    # Live events are shown at once, without waiting for the history.
    assert dashboard.inner_text("#selected-agent") == "FraudAgent"

    route, response = held.pop()
    route.fulfill(response=response)
    dashboard.wait_for_selector("#dashboard-transcript .msg.user:has-text('hello')", timeout=10000)
    dashboard.wait_for_timeout(300)
    # The stale stored agent (the Concierge, before the handoff) does not replace the live one,
    # while the FraudAgent is still answering.
    assert dashboard.inner_text("#selected-agent") == "FraudAgent"
    assert not dashboard.query_selector(
        "#dashboard-transcript .msg.assistant[data-agent='FraudAgent'][data-final='1']"
    )
    # History sits above what arrived live.
    texts = dashboard.eval_on_selector_all(
        "#dashboard-transcript .msg", "nodes => nodes.map((n) => n.innerText)"
    )
    first_hello = next(i for i, t in enumerate(texts) if "hello" in t)
    handoff = next(i for i, t in enumerate(texts) if t.startswith("Handoff: Concierge"))
    assert first_hello < handoff, texts

    dashboard.wait_for_selector(
        "#dashboard-transcript .msg.assistant[data-agent='FraudAgent'][data-final='1']",
        timeout=60000,
    )
    assert dashboard.inner_text("#selected-agent") == "FraudAgent"
    dashboard.wait_for_function(
        "window.__chartLabels.some((l) => l.canvas === 'turn-chart' && l.text.endsWith(' ms'))",
        timeout=15000,
    )
    dashboard.screenshot(path=str(screenshot_dir / "dashboard-after-handoff.png"), full_page=True)
    assert_chart_labels_fit(dashboard)
    context.close()


def assert_chart_labels_fit(page) -> None:
    labels = page.evaluate("window.__chartLabels")
    assert labels
    clipped = [
        label
        for label in labels
        if label["text"] and (label["left"] < 0 or label["right"] > label["canvasWidth"])
    ]
    assert not clipped, clipped


def test_chart_axis_labels_are_drawn_whole_for_long_values(app_server, browser):
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(RECORD_CHART_LABELS)
    sign_in(page, app_server.url)
    page.goto(app_server.url + "/dashboard/")
    page.wait_for_selector("#relay-status.ok", timeout=15000)
    page.evaluate(
        """async () => {
          const { Chart } = await import("/static/js/chart.js");
          window.__chartLabels = [];
          const canvas = document.createElement("canvas");
          canvas.id = "probe-chart";
          canvas.style.cssText = "width: 320px; height: 160px; display: block";
          document.body.prepend(canvas);
          const chart = new Chart(canvas, { series: [{ key: "v", label: "v", color: "#000" }] });
          chart.setData([1, 2, 3], [{ v: 900 }, { v: 23456 }, { v: 120 }]);
        }"""
    )
    labels = [
        label for label in page.evaluate("window.__chartLabels") if label["canvas"] == "probe-chart"
    ]
    assert "25000 ms" in {label["text"] for label in labels}
    assert_chart_labels_fit(page)
    context.close()


def test_reloaded_conversation_shows_its_stored_turns_and_active_agent(
    app_server, browser, screenshot_dir
):
    context, page = start_conversation(browser, app_server.url, HANDOFF_REQUEST)
    page.wait_for_selector(
        "#transcript .msg.assistant[data-agent='FraudAgent'][data-final='1']", timeout=60000
    )
    session_id = page.evaluate("window.__conversation.sessionId")
    turns = stored_turns(page, app_server.url, session_id, 2)
    assert any(turn["agent"] == "FraudAgent" for turn in turns), turns
    answer = next(t for t in turns if t["agent"] == "FraudAgent")["assistant_text"]

    page.reload()
    assert page.evaluate("window.__conversation.sessionId") == session_id
    page.wait_for_selector(f"#transcript .msg.user:has-text('{HANDOFF_REQUEST}')", timeout=15000)
    transcript = page.inner_text("#transcript")
    assert answer[:40] in transcript
    assert "Handoff: Concierge → FraudAgent" in transcript
    assert page.query_selector("#transcript .msg.assistant .latency")  # the turn's latency
    # Not connected yet: the agent shown is the session's stored active agent.
    assert page.inner_text("#conn-status") == "not connected"
    assert page.inner_text("#active-agent") == "FraudAgent"
    page.screenshot(path=str(screenshot_dir / "conversation-after-reload.png"), full_page=True)

    # Talking again resumes the session: the socket's status names the agent, history stays.
    type_message(page, "thank you")
    page.wait_for_selector("#transcript .msg.system:has-text('Session resumed')", timeout=30000)
    assert page.inner_text("#active-agent") == "FraudAgent"
    texts = page.eval_on_selector_all("#transcript .msg", "nodes => nodes.map((n) => n.innerText)")
    stored = next(i for i, t in enumerate(texts) if HANDOFF_REQUEST in t)
    resumed = next(i for i, t in enumerate(texts) if "Session resumed" in t)
    assert stored < resumed, texts
    context.close()


def test_an_anonymous_visitors_session_is_theirs_alone(app_server, browser):
    """Reloaded, the visitor's page shows their turns and resumes (with the session's token);
    another visitor who puts the same session id in their page gets neither."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(app_server.url + "/")
    type_message(page, HANDOFF_REQUEST)
    page.wait_for_selector(
        "#transcript .msg.assistant[data-agent='FraudAgent'][data-final='1']", timeout=60000
    )
    session_id = page.evaluate("window.__conversation.sessionId")
    assert page.evaluate("sessionStorage.getItem('voice.session_token')")
    deadline = time.monotonic() + 30
    while (
        time.monotonic() < deadline
        and len(
            page.evaluate(
                """async (id) => {
              const r = await fetch(`/api/v1/metrics/session/${id}?include_turns=true`,
                { headers: { "X-Session-Token": sessionStorage.getItem("voice.session_token") } });
              return r.ok ? (await r.json()).turns : [];
            }""",
                session_id,
            )
        )
        < 2
    ):
        time.sleep(0.2)

    page.reload()
    page.wait_for_selector(f"#transcript .msg.user:has-text('{HANDOFF_REQUEST}')", timeout=15000)
    type_message(page, "thank you")
    page.wait_for_selector("#transcript .msg.system:has-text('Session resumed')", timeout=30000)
    context.close()

    intruder = browser.new_context()
    intruder.add_init_script(f"sessionStorage.setItem('voice.session_id', '{session_id}')")
    page = intruder.new_page()
    page.goto(app_server.url + "/")
    assert page.evaluate("window.__conversation.sessionId") == session_id
    type_message(page, "what did I say before?")
    page.wait_for_selector("#transcript :text('belongs to another visitor')", timeout=15000)
    transcript = page.inner_text("#transcript")
    assert HANDOFF_REQUEST not in transcript
    assert not page.query_selector("#transcript .msg.assistant")
    intruder.close()
