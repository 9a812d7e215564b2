"""Engine events become the original accelerator's messages."""

import base64
import json

import pytest

from browser.protocol import (
    BROWSER_AUDIO_SAMPLE_RATE_HZ,
    agent_label,
    encode_audio_frame,
    encode_event,
    encode_messages,
    exit_envelope,
    status_envelope,
)
from media.engine.events import (
    AgentChange,
    AssistantDelta,
    AssistantFinal,
    AudioFrame,
    AudioPause,
    BargeIn,
    Event,
    SessionError,
    ToolEnd,
    ToolStart,
    TurnMetrics,
    UserTranscript,
)

ENVELOPE_KEYS = {"type", "topic", "session_id", "call_id", "user_id", "sender", "ts", "payload"}


def _is_envelope(message: dict) -> bool:
    return set(message) >= ENVELOPE_KEYS and "speaker_id" in message


def test_user_partial_and_final_transcripts():
    partial = encode_event(UserTranscript("s1", 3, "book a", False), session_id="s1")
    assert _is_envelope(partial)
    assert partial["type"] == "event"
    assert partial["payload"]["event_type"] == "stt_partial"
    assert partial["payload"]["data"]["content"] == "book a"
    assert partial["payload"]["data"]["is_final"] is False

    final = encode_event(
        UserTranscript("s1", 3, "book a table", True), session_id="s1", user_id=7, call_id="c"
    )
    assert final["payload"] == final["payload"] | {
        "type": "user",
        "message": "book a table",
        "content": "book a table",
        "streaming": False,
        "status": "completed",
        "turn_id": 3,
    }
    assert final["sender"] == "User"
    assert final["user_id"] == 7 and final["call_id"] == "c"


def test_assistant_stream_and_final():
    delta = encode_event(AssistantDelta("s1", 2, "concierge", "Hello "), session_id="s1")
    assert delta["type"] == "assistant_streaming"
    assert delta["payload"]["content"] == "Hello "
    assert delta["payload"]["streaming"] is True
    assert delta["payload"]["active_agent"] == "concierge"
    assert delta["message"] == "Hello " and delta["speaker"] == "concierge"

    final = encode_event(AssistantFinal("s1", 2, "concierge", "Hello there."), session_id="s1")
    assert final["type"] == "event"
    assert final["payload"]["type"] == "assistant"
    assert final["payload"]["message"] == "Hello there."
    assert final["payload"]["status"] == "completed"

    greeting = encode_event(
        AssistantFinal("s1", 0, "concierge", "Hi!", is_greeting=True), session_id="s1"
    )
    assert greeting["type"] == "assistant"

    cut = encode_event(
        AssistantFinal("s1", 4, "concierge", "I can", interrupted=True), session_id="s1"
    )
    assert cut["payload"]["status"] == "interrupted"
    assert cut["payload"]["interrupted"] is True


def test_audio_frame_is_base64_pcm16_at_16k():
    pcm = bytes(range(256)) * 2 + bytes(128)
    text = encode_audio_frame(pcm, frame_index=5, is_final=True, turn_id=9)
    message = json.loads(text)
    assert message["type"] == "audio_data"
    assert base64.b64decode(message["data"]) == pcm
    assert message["sample_rate"] == BROWSER_AUDIO_SAMPLE_RATE_HZ == 16000
    assert message["frame_index"] == 5 and message["is_final"] is True and message["turn_id"] == 9

    via_event = encode_messages(
        AudioFrame("s1", 9, pcm, 16000, index=5, is_last=True), session_id="s1"
    )
    assert via_event == [message]


def test_barge_in_is_two_control_messages():
    messages = encode_messages(BargeIn("s1", 4, reaction_ms=0.4), session_id="s1")
    assert [(m["type"], m["action"]) for m in messages] == [
        ("control", "tts_cancelled"),
        ("control", "audio_stop"),
    ]
    assert all(m["reason"] == "barge_in" and m["turn_id"] == 4 for m in messages)
    assert encode_event(BargeIn("s1", 4), session_id="s1")["action"] == "tts_cancelled"


def test_a_pause_is_one_resumable_audio_stop():
    (message,) = encode_messages(AudioPause("s1", 4, reaction_ms=0.2), session_id="s1")
    assert message["type"] == "control" and message["action"] == "audio_stop"
    assert message["resumable"] is True and message["reason"] == "speech_onset"
    assert message["turn_id"] == 4 and message["reaction_ms"] == 0.2
    barge_in = encode_messages(BargeIn("s1", 4), session_id="s1")
    assert all("resumable" not in m for m in barge_in)


def test_tool_frames_are_flat():
    start = encode_event(
        ToolStart("s1", 1, "concierge", "call-1", "check_balance", {"account": "42"}),
        session_id="s1",
    )
    assert not _is_envelope(start)
    assert start | {"timestamp": None} == start | {
        "type": "tool_start",
        "tool": "check_balance",
        "call_id": "call-1",
        "arguments": {"account": "42"},
        "session_id": "s1",
        "timestamp": None,
    }
    end = encode_event(
        ToolEnd("s1", 1, "concierge", "call-1", "check_balance", "error", {"error": "no account"}),
        session_id="s1",
    )
    assert end["type"] == "tool_end" and end["status"] == "error"
    assert end["error"] == "no account"


def test_agent_change_metrics_and_errors():
    change = encode_event(AgentChange("s1", 2, "concierge", "fraud_agent"), session_id="s1")
    assert change["payload"]["event_type"] == "agent_change"
    assert change["payload"]["agent_name"] == "fraud_agent"
    assert change["payload"]["agent_label"] == "Fraud Agent"
    assert change["payload"]["previous_agent"] == "concierge"

    metrics = encode_event(
        TurnMetrics("s1", 2, "concierge", stt_final_ms=80.0, llm_ttft_ms=5.0, first_audio_ms=300.0),
        session_id="s1",
    )
    assert metrics["type"] == "turn_metrics"
    assert metrics["payload"]["stt_latency_ms"] == 80.0
    assert metrics["payload"]["first_audio_ms"] == 300.0
    assert metrics["payload"]["turn_number"] == 2

    error = encode_event(SessionError("s1", 2, "tts", "voice missing"), session_id="s1")
    assert error["type"] == "error" and error["payload"]["stage"] == "tts"


def test_status_exit_and_unknown():
    assert status_envelope(session_id="s", message="ready")["payload"]["message"] == "ready"
    assert exit_envelope(session_id="s")["payload"]["type"] == "exit"
    assert encode_event(Event("s", 1), session_id="s") is None


@pytest.mark.parametrize(
    ("name", "label"),
    [("FraudAgent", "Fraud Agent"), ("fraud_agent", "Fraud Agent"), ("GeneralKB", "General KB")],
)
def test_agent_labels_read_as_words(name, label):
    assert agent_label(name) == label
