"""`manage.py simulate_call` against a running server, as the README tells a user to run it."""

import re
import wave

import pytest

pytestmark = pytest.mark.e2e


def test_simulate_call_talks_to_the_agent_interrupts_it_and_prints_the_call(stack, tmp_path):
    server = stack.start()
    out = tmp_path / "agent.wav"
    printed = stack.manage(
        "simulate_call",
        "--url",
        f"{server.ws_url}/api/v1/media/stream",
        "--mode",
        "media",
        "--say",
        "I think my card was stolen, please help me",
        "--say",
        "Wait, stop please",
        "--barge-in-after-ms",
        "400",
        "--out",
        str(out),
    )
    assert "end of speech → agent audio" in printed, printed
    latencies = [int(ms) for ms in re.findall(r"end of speech → agent audio (\d+) ms", printed)]
    assert latencies, f"the agent never answered:\n{printed}\n{server.log()}"
    assert re.search(r"caller speech → StopAudio \d+ ms", printed), printed
    assert "agent frames after the stop while the caller spoke: 0" in printed, printed
    assert "transcript (session" in printed and "caller:" in printed, printed
    with wave.open(str(out)) as recording:
        assert recording.getframerate() == 16000
        assert recording.getnframes() > 16000 // 2, "at least half a second of agent audio"
