"""Spoken banking calls through a real server's ACS media socket and browser socket.

The CI subset of `bench/spoken_conversations.py`: three scenarios (balance, a lost card handed
to the fraud desk, the SSN keyed in on the keypad) over both sockets, each spoken by piper's
joe on one socket and by espeak-ng `en-us+m3` at 170 wpm on the other, rendered now into a
temp dir and played at real time. Each call must get its task done: the
expected tool calls with their key arguments, the caller verified, the handoff, and the cards'
final state in the database. No timing is asserted.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.spoken.customers import FixtureDesk
from bench.spoken.play import play_conversation, recording_load
from bench.spoken.render import render, voices_get
from bench.spoken.scenarios import scenarios_get
from bench.spoken.server import server_start

pytestmark = pytest.mark.e2e

CASES = [
    ("balance", "piper-joe", "acs"),
    ("balance", "espeak-m3", "browser"),
    ("lost_card", "piper-joe", "acs"),
    ("lost_card", "espeak-m3", "browser"),
    ("keypad", "piper-joe", "acs"),
    ("keypad", "espeak-m3", "browser"),
]


async def _play_all(base_url: str, desk: FixtureDesk, token: str, out_dir) -> dict:
    """Every case; the cases of one scenario one after the other (they share a customer)."""
    results: dict = {}

    async def chain(scenario_key: str) -> None:
        (scenario,) = scenarios_get([scenario_key])
        for key, voice, transport in CASES:
            if key != scenario_key:
                continue
            results[(key, voice, transport)] = await play_conversation(
                base_url=base_url,
                desk=desk,
                staff_token=token,
                scenario=scenario,
                recording=recording_load(out_dir, voice, key),
                transport=transport,
            )

    await asyncio.gather(*(chain(key) for key in dict.fromkeys(k for k, _, _ in CASES)))
    return results


@pytest.fixture(scope="module")
def spoken_calls(stack, tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("spoken")
    voices = voices_get(sorted({voice for _, voice, _ in CASES}))
    render(voices, scenarios_get(list(dict.fromkeys(k for k, _, _ in CASES))), out_dir)
    env = stack.env()
    server = server_start(env, stack.workdir)
    desk = FixtureDesk(env)
    try:
        token = desk.ask("staff_token")["token"]
        # Playwright's sync API may hold this thread's event loop: play on a thread of its own.
        with ThreadPoolExecutor(max_workers=1) as pool:
            results = pool.submit(asyncio.run, _play_all(server.url, desk, token, out_dir)).result()
        yield results, server
    finally:
        desk.close()
        server.stop()


@pytest.mark.parametrize(("scenario", "voice", "transport"), CASES)
def test_spoken_call_gets_the_callers_task_done(spoken_calls, scenario, voice, transport):
    results, server = spoken_calls
    result, log = results[(scenario, voice, transport)]
    heard = "\n".join(f"  said {t.said!r}\n  heard {t.heard!r}" for t in result.turns)
    assert result.task_done, (
        f"{scenario} in {voice} over {transport}:\n- "
        + "\n- ".join(result.failures())
        + f"\n{heard}\nserver log:\n{server.log(1500)}"
    )
    assert len(result.turns) == len(log.turns) > 1
