"""The rules dialogue engine (not an LLM) completing multi-turn tool flows through the engine."""

from __future__ import annotations

from typing import Any

import pytest

from media.engine.events import AgentChange, AssistantFinal, ToolStart, UserTranscript
from media.engine.snapshot import AgentRoster, AgentSnapshot, ToolSpec
from media.providers.base import LLMRequest, TextDelta, ToolCallRequest
from media.providers.rules import RulesDialogueEngine
from tests.media.conftest import Harness, RecordingToolRunner


def _schema(required: tuple[str, ...], **props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required)}


VERIFY = ToolSpec(
    "verify_client_identity",
    "Verify the caller's identity with their full name and the last four digits of their SSN.",
    _schema(
        ("full_name", "ssn_last_4"),
        full_name={"type": "string", "x-ask": "What is your full name?"},
        ssn_last_4={"type": "string", "description": "the last four digits of the SSN",
                    "pattern": r"^\d{4}$"},
    ),
)  # fmt: skip
SUMMARY = ToolSpec(
    "get_account_summary",
    "Get the balances of the caller's accounts.",
    _schema(("client_id",), client_id={"type": "string", "description": "the client id"}),
)
TO_FRAUD = ToolSpec(
    "handoff_fraud_agent",
    "Transfer to the fraud team for suspicious activity.",
    _schema(("client_id",), client_id={"type": "string"}, reason={"type": "string"}),
    is_handoff=True,
    handoff_target="Fraud",
)
BLOCK = ToolSpec(
    "block_card",
    "Block the caller's card at once when it is lost or stolen.",
    _schema(
        ("client_id", "reason"),
        client_id={"type": "string"},
        reason={"type": "string", "description": "why the card is blocked"},
        method={"type": "string", "enum": ["sms", "email"]},
    ),
)


def bank_roster() -> AgentRoster:
    concierge = AgentSnapshot(
        "Concierge", greeting="Welcome to the bank.", tools=(VERIFY, SUMMARY, TO_FRAUD)
    )
    fraud = AgentSnapshot("Fraud", greeting="Fraud team here.", tools=(BLOCK,))
    return AgentRoster({"Concierge": concierge, "Fraud": fraud}, "Concierge")


def bank_tools() -> RecordingToolRunner:
    def verify(args: dict[str, Any], context: Any) -> dict[str, Any]:
        ok = args == {"full_name": "Jane Doe", "ssn_last_4": "1234"}
        if ok:
            context.state["client_id"] = "C-100"
            return {
                "success": True,
                "client_id": "C-100",
                "message": "Thanks Jane, you are verified.",
            }
        return {"success": False, "error": "not_verified", "message": "I could not verify you."}

    return RecordingToolRunner(
        {
            "verify_client_identity": verify,
            "get_account_summary": {"success": True, "checking_balance": "1,250 dollars"},
            "block_card": lambda args, ctx: {"success": True, "message": "Your card is blocked."},
        }
    )


async def say(h: Harness, text: str) -> AssistantFinal:
    await h.session.send_text(text)
    turn_id = (await h.wait_event(UserTranscript, is_final=True, text=text)).turn_id
    finals = await h.wait_for(
        lambda: [e for e in h.of(AssistantFinal) if e.turn_id == turn_id] or None
    )
    return finals[-1]


async def test_rules_engine_multi_turn_verify_then_summary_then_handoff():
    tools = bank_tools()
    async with Harness(llm=RulesDialogueEngine(), roster=bank_roster(), tool_runner=tools) as h:
        await h.wait_event(AssistantFinal, is_greeting=True)
        assert (await say(h, "I need to verify my identity")).text == "What is your full name?"
        reply = await say(h, "jane doe")
        assert reply.text == "Could you tell me the last four digits of the SSN?"
        reply = await say(h, "one two three four")
        assert reply.text == "One moment. Thanks Jane, you are verified."
        assert tools.calls[-1] == (
            "verify_client_identity",
            {"full_name": "Jane Doe", "ssn_last_4": "1234"},
        )
        reply = await say(h, "what are my account balances")
        assert tools.calls[-1] == ("get_account_summary", {"client_id": "C-100"})
        assert reply.text == "One moment. Done: checking balance 1,250 dollars."

        reply = await say(h, "my card was stolen")
        change = await h.wait_event(AgentChange)
        assert (change.previous_agent, change.agent) == ("Concierge", "Fraud")
        # The fraud agent greeted and then acted on the same utterance.
        assert reply.agent == "Fraud"
        assert reply.text == "Fraud team here. One moment. Your card is blocked."
        assert tools.calls[-1] == (
            "block_card",
            {"client_id": "C-100", "reason": "my card was stolen"},
        )
        handoff_start = next(e for e in h.of(ToolStart) if e.tool == "handoff_fraud_agent")
        assert handoff_start.arguments["client_id"] == "C-100"


async def test_rules_engine_offers_its_tools_when_nothing_matches():
    async with Harness(llm=RulesDialogueEngine(), roster=bank_roster()) as h:
        await h.wait_event(AssistantFinal, is_greeting=True)
        reply = await say(h, "sing me a song")
        assert reply.text == (
            "I can help you verify client identity or get account summary. "
            "What would you like to do?"
        )


def request(messages: list[dict[str, Any]], tools: tuple[ToolSpec, ...]) -> LLMRequest:
    return LLMRequest(
        "s", AgentSnapshot("A", tools=tools), [{"role": "system", "content": ""}, *messages], tools
    )


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        ("please block it and email me", {"method": "email"}),
        ("block it, send a text by sms", {"method": "sms"}),
    ],
)
def test_rules_engine_fills_enum_values(utterance, expected):
    engine = RulesDialogueEngine()
    text, call = engine.decide(
        request(
            [{"role": "user", "content": f"my client id is client 7, {utterance}"}],
            (BLOCK,),
        )
    )
    assert call is not None and call.name == "block_card"
    assert call.arguments["method"] == expected["method"]
    assert call.arguments["client_id"] == "client 7" or call.arguments["client_id"] == "client7"


async def test_rules_engine_streams_like_an_llm():
    engine = RulesDialogueEngine()
    events = [
        e
        async for e in engine.stream(
            request(
                [{"role": "user", "content": "my email is jo@x.io, verify identity"}], (VERIFY,)
            )
        )
    ]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "What is your full name?"
    assert not [e for e in events if isinstance(e, ToolCallRequest)]
