"""Two daphne processes sharing Redis and a database: a dashboard on one sees a conversation
held on the other (the channel layer carries the relay between processes)."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import re
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import websockets

from tests.e2e.server import PASSWORD

pytestmark = [pytest.mark.e2e, pytest.mark.services]


def session_cookie(base_url: str, username: str = "e2e-admin") -> str:
    """Sign in through the login page; returns the Cookie header of that browser."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base_url}/accounts/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode(
        {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token, "next": "/"}
    ).encode()
    request = urllib.request.Request(
        f"{base_url}/accounts/login/", data=body, headers={"Referer": f"{base_url}/accounts/login/"}
    )
    opener.open(request).read()
    cookies = {cookie.name: cookie.value for cookie in jar}
    assert "sessionid" in cookies, "sign-in failed"
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


async def read_until(socket, predicate, timeout_s: float = 60.0) -> dict:
    async def read():
        while True:
            message = json.loads(await socket.recv())
            if predicate(message):
                return message

    return await asyncio.wait_for(read(), timeout_s)


def test_dashboard_on_one_process_sees_a_conversation_on_another(stack, redis_url):
    env = {"REDIS_URL": redis_url, "CHANNELS_PREFIX": f"e2e-{uuid.uuid4().hex[:8]}"}
    server_a = stack.start(env=env)
    server_b = stack.start(env=env)
    assert server_a.url != server_b.url
    cookie = session_cookie(server_a.url)
    session_id = f"session_multi_{uuid.uuid4().hex[:8]}"

    async def scenario():
        async with websockets.connect(
            f"{server_a.ws_url}/api/v1/browser/dashboard/relay?session_id={session_id}",
            origin=server_a.url,
            additional_headers={"Cookie": cookie},
        ) as dashboard:
            hello = await read_until(dashboard, lambda m: m.get("type") == "status")
            assert hello["payload"]["event"] == "relay_connected"
            async with websockets.connect(
                f"{server_b.ws_url}/api/v1/browser/conversation?session_id={session_id}",
                origin=server_b.url,
                max_size=None,
            ) as conversation:
                await conversation.send("What can you help me with?")
                seen_user = await read_until(
                    dashboard,
                    lambda m: m.get("type") == "event" and m["payload"].get("type") == "user",
                )
                seen_answer = await read_until(
                    dashboard,
                    lambda m: (
                        m.get("type") == "event"
                        and m["payload"].get("type") == "assistant"
                        and m["payload"]["turn_id"] >= 1
                    ),
                )
                seen_metrics = await read_until(
                    dashboard, lambda m: m.get("type") == "turn_metrics"
                )
        return seen_user, seen_answer, seen_metrics

    # Playwright's sync API may hold this thread's event loop: run the clients on their own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        seen_user, seen_answer, seen_metrics = pool.submit(asyncio.run, scenario()).result()
    assert seen_user["session_id"] == session_id
    assert seen_user["payload"]["message"] == "What can you help me with?"
    assert seen_answer["payload"]["message"]
    assert seen_metrics["payload"]["first_audio_ms"] is not None
    server_a.stop()
    server_b.stop()
