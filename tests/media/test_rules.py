"""The rules dialogue engine (not an LLM) completing multi-turn tool flows through the engine."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from media.engine.events import AgentChange, AssistantFinal, CallEnd, ToolStart, UserTranscript
from media.engine.history import tool_call_message, tool_result_message
from media.engine.snapshot import AgentRoster, AgentSnapshot, ToolSpec
from media.engine.tool_calls import DEFAULT_FAREWELL, END_CALL_RESULT
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


async def test_rules_engine_reads_a_doubtful_number_back_in_a_session():
    tools = bank_tools()
    async with Harness(llm=RulesDialogueEngine(), roster=bank_roster(), tool_runner=tools) as h:
        await h.wait_event(AssistantFinal, is_greeting=True)
        reply = await say(h, "My name is Jane Doe, my social security ends in for to three four.")
        assert reply.text == "Did you say 4 2 3 4?"
        assert tools.calls == []
        reply = await say(h, "No, it's 1 2 3 4.")
        assert reply.text == "One moment. Thanks Jane, you are verified."
        assert tools.calls == [
            ("verify_client_identity", {"full_name": "Jane Doe", "ssn_last_4": "1234"})
        ]


async def test_rules_engine_offers_its_tools_when_nothing_matches():
    async with Harness(llm=RulesDialogueEngine(), roster=bank_roster()) as h:
        await h.wait_event(AssistantFinal, is_greeting=True)
        reply = await say(h, "sing me a song")
        assert reply.text == (
            "Sorry, I didn't catch that. "
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


# -- what the speech recognizer writes ---------------------------------------------------------


class Caller:
    """A caller talking to one engine turn by turn; tool calls are answered from `results`."""

    def __init__(self, tools: tuple[ToolSpec, ...], results: dict[str, Any] | None = None):
        self.engine = RulesDialogueEngine()
        self.tools = tools
        self.results = results or {}
        self.messages: list[dict[str, Any]] = [{"role": "system", "content": ""}]
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def say(self, text: str) -> str:
        """The engine's answer, through as many tool rounds as it takes (as the session runs
        them): a tool result may be followed by another call."""
        self.messages.append({"role": "user", "content": text})
        said = []
        reply, call = self.engine.decide(self._request())
        while call is not None:
            said.append(reply)
            self.calls.append((call.name, call.arguments))
            result = self.results.get(call.name, {"success": True, "message": "Done"})
            result = result(call.arguments) if callable(result) else result
            self.messages.append(
                tool_call_message(reply, [(call.call_id, call.name, call.arguments)])
            )
            self.messages.append(tool_result_message(call.call_id, result))
            reply, call = self.engine.decide(self._request())
        self.messages.append({"role": "assistant", "content": reply})
        said.append(reply)
        return " ".join(part for part in said if part)

    def _request(self) -> LLMRequest:
        agent = AgentSnapshot("A", tools=self.tools)
        return LLMRequest("s", agent, list(self.messages), self.tools)


# The shipped tools' words, so callers' phrasings are matched as in a real call.
SSN_ASK = "What are the last four digits of your social security number?"
VERIFY_SPOKEN = ToolSpec(
    "verify_client_identity",
    "Verify the caller's identity with their full name and the last four digits of their "
    "social security number. Do this before looking at any account.",
    _schema(
        ("full_name", "ssn_last_4"),
        full_name={"type": "string", "x-ask": "What is your full name?"},
        ssn_last_4={"type": "string", "description": "the last four digits of the SSN",
                    "x-ask": SSN_ASK, "pattern": r"^\d{4}$"},
    ),
)  # fmt: skip
ACCOUNTS = ToolSpec(
    "get_account_summary",
    "Tell the caller the balances of their checking, savings and credit accounts.",
    _schema((), client_id={"type": "string", "description": "the client id"}),
)


@pytest.mark.parametrize(
    ("utterance", "full_name", "digits"),
    [
        ("My name is Alice Johnson and the last four digits of my social are 4817.",
         "Alice Johnson", "4817"),
        ("My name is Alice Johnson and the last four digits of my social are 481 7.",
         "Alice Johnson", "4817"),
        ("My name is Alice Johnson and the last four digits of my social are 48 17",
         "Alice Johnson", "4817"),
        ("My name is Alice Johnson, my social ends in 4-8-1-7.", "Alice Johnson", "4817"),
        ("My name is Alice Johnson, my social ends in 4, 8, 1, 7.", "Alice Johnson", "4817"),
        ("my name is alice johnson, my social ends in four eight one seven",
         "Alice Johnson", "4817"),
        ("My name is, uh, Alice Johnson. The last four are forty-eight seventeen.",
         "Alice Johnson", "4817"),
        ("I am Robert Garcia, social security ending in 2,095.", "Robert Garcia", "2095"),
        ("I am Robert Garcia, social security ending in two oh nine five.",
         "Robert Garcia", "2095"),
        ("This is Robert Garcia calling, my social security ends in 2095.",
         "Robert Garcia", "2095"),
    ],
)  # fmt: skip
def test_digits_written_or_spoken_any_way_reach_the_tool(utterance, full_name, digits):
    caller = Caller((VERIFY_SPOKEN,))
    assert caller.say(utterance) == "One moment. Done."
    assert caller.calls == [
        ("verify_client_identity", {"full_name": full_name, "ssn_last_4": digits})
    ]


@pytest.mark.parametrize(
    ("utterance", "read_back"),
    [
        ("I am Robert Garcia, social security ending in 2019.", "2 0 1 9"),  # could be a year
        ("I am Robert Garcia, social security ending into 095.", "2 0 9 5"),  # "in two"
        ("I am Robert Garcia, my social ends in for ate one seven.", "4 8 1 7"),  # homophones
        ("I am Robert Garcia, my social is 123 45 4817.", "4 8 1 7"),  # more digits than four
    ],
)
def test_a_doubtful_number_is_read_back_before_the_tool_is_called(utterance, read_back):
    caller = Caller((VERIFY_SPOKEN,))
    assert caller.say(utterance) == f"Did you say {read_back}?"
    assert caller.calls == []
    assert caller.say("Yes, that's right.") == "One moment. Done."
    assert caller.calls == [
        (
            "verify_client_identity",
            {"full_name": "Robert Garcia", "ssn_last_4": read_back.replace(" ", "")},
        )
    ]


def test_a_number_read_back_can_be_corrected():
    caller = Caller((VERIFY_SPOKEN,))
    assert caller.say("I am Robert Garcia, social security ending in 2019.") == (
        "Did you say 2 0 1 9?"
    )
    assert caller.say("No, two oh nine five.") == "One moment. Done."
    assert caller.calls[-1][1] == {"full_name": "Robert Garcia", "ssn_last_4": "2095"}


def test_a_no_to_the_number_asks_for_it_again_and_keeps_the_name():
    caller = Caller((VERIFY_SPOKEN,))
    assert caller.say("I am Robert Garcia, social security ending in 2019.") == (
        "Did you say 2 0 1 9?"
    )
    assert caller.say("No.") == f"Sorry about that. {SSN_ASK}"
    assert caller.say("2 0 9 5") == "One moment. Done."
    assert caller.calls == [
        ("verify_client_identity", {"full_name": "Robert Garcia", "ssn_last_4": "2095"})
    ]


def test_an_unclear_answer_to_the_read_back_repeats_it():
    caller = Caller((VERIFY_SPOKEN,))
    caller.say("My name is Alice Johnson, my social ends in for ate one seven.")
    assert caller.say("Hmm?") == "Sorry, I didn't catch that. Did you say 4 8 1 7?"
    assert caller.say("Yep.") == "One moment. Done."
    assert caller.calls[-1][1]["ssn_last_4"] == "4817"


def test_too_few_digits_are_asked_for_again():
    caller = Caller((VERIFY_SPOKEN,))
    assert caller.say("My name is Alice Johnson and my social ends in 4 8 1.") == (
        f"I only heard 3 digits. {SSN_ASK}"
    )
    assert caller.calls == []
    assert caller.say("4 8 1 7") == "One moment. Done."
    assert caller.calls[-1][1] == {"full_name": "Alice Johnson", "ssn_last_4": "4817"}


def test_a_missing_slot_is_asked_again_without_losing_what_was_said():
    caller = Caller((VERIFY_SPOKEN, ACCOUNTS))
    assert caller.say("verify my identity, my social is 4817") == "What is your full name?"
    assert caller.say("Hmm, what was that?") == (
        "Sorry, I didn't catch that. What is your full name?"
    )
    assert caller.say("Alis Jonson.") == "One moment. Done."
    assert caller.calls == [
        ("verify_client_identity", {"full_name": "Alis Jonson", "ssn_last_4": "4817"})
    ]


def test_after_two_re_asks_the_engine_says_what_it_can_do():
    caller = Caller((VERIFY_SPOKEN, ACCOUNTS))
    assert caller.say("I need to verify my identity") == "What is your full name?"
    assert caller.say("um").startswith("Sorry, I didn't catch that. What is your full name?")
    assert caller.say("what?") == "Sorry, I didn't catch that. What is your full name?"
    assert caller.say("I don't know") == (
        "Sorry, I still didn't catch that. "
        "I can help you verify client identity or get account summary. "
        "What would you like to do?"
    )
    # The question is dropped: the next request is heard afresh.
    assert caller.say("what are my account balances") == "One moment. Done."
    assert caller.calls == [("get_account_summary", {})]


def test_a_clear_new_request_still_wins_over_the_question():
    to_fraud = ToolSpec(TO_FRAUD.name, TO_FRAUD.description, _schema((), reason={"type": "string"}),
                        is_handoff=True, handoff_target="Fraud")  # fmt: skip
    caller = Caller((VERIFY_SPOKEN, ACCOUNTS, to_fraud))
    assert caller.say("I need to verify my identity") == "What is your full name?"
    caller.say("someone stole my card, it is a fraud")
    assert caller.calls == [
        ("handoff_fraud_agent", {"reason": "someone stole my card, it is a fraud"})
    ]


def test_a_failed_verification_takes_the_caller_s_next_try():
    def verify(args: dict[str, Any]) -> dict[str, Any]:
        if args == {"full_name": "Alice Johnson", "ssn_last_4": "4817"}:
            return {"success": True, "message": "Thank you, Alice. You're verified."}
        return {
            "success": False,
            "error": "identity_not_verified",
            "message": "I couldn't match that name and those digits. Could you say them again?",
        }

    caller = Caller((VERIFY_SPOKEN, ACCOUNTS), {"verify_client_identity": verify})
    reply = caller.say("My name is Alice Johnson, my social ends in 4816.")
    assert reply.endswith("Could you say them again?")
    assert caller.say("Alice Johnson, 4817.") == "One moment. Thank you, Alice. You're verified."
    assert caller.calls[-1] == (
        "verify_client_identity",
        {"full_name": "Alice Johnson", "ssn_last_4": "4817"},
    )


def test_an_account_tool_refused_for_an_unverified_caller_leads_to_verification():
    results = {
        "verify_client_identity": {"success": True, "client_id": "C-1", "message": "Verified."},
        "get_account_summary": lambda args: (
            {"success": True, "message": "Done"}
            if "client_id" in args
            else {
                "success": False,
                "error": "identity_not_verified",
                "message": "I need to verify your identity first. What is your full name and the "
                "last four digits of your social security number?",
            }
        ),
    }
    caller = Caller((VERIFY_SPOKEN, ACCOUNTS), results)
    caller.say("what are my account balances")
    # Verified, then the balances asked for first.
    assert caller.say("Alice Johnson, 4817.") == "One moment. Verified. One moment. Done."
    assert caller.calls == [
        ("get_account_summary", {}),
        ("verify_client_identity", {"full_name": "Alice Johnson", "ssn_last_4": "4817"}),
        ("get_account_summary", {"client_id": "C-1"}),
    ]


@pytest.mark.parametrize(
    "utterance",
    ["I'm calling about my identity verification", "I am not sure, verify my identity please"],
)
def test_words_after_i_am_are_not_taken_for_a_name(utterance):
    caller = Caller((VERIFY_SPOKEN,))
    assert caller.say(utterance) == "What is your full name?"


def test_near_miss_words_still_pick_the_tool():
    caller = Caller((VERIFY_SPOKEN, ACCOUNTS))
    caller.say("what are my acount balences")
    assert caller.calls[-1][0] == "get_account_summary"


@pytest.mark.parametrize("utterance", ["sing me a song", "What's the weather like?"])
def test_nothing_understood_is_said_plainly(utterance):
    caller = Caller((VERIFY_SPOKEN, ACCOUNTS))
    assert caller.say(utterance) == (
        "Sorry, I didn't catch that. "
        "I can help you verify client identity or get account summary. "
        "What would you like to do?"
    )


def test_after_a_read_back_the_next_missing_slot_is_asked_plainly():
    caller = Caller((VERIFY_SPOKEN,))
    assert caller.say("verify me, my social security ends in 2019") == "Did you say 2 0 1 9?"
    assert caller.say("yes") == "What is your full name?"
    assert caller.say("Will Smith.") == "One moment. Done."
    assert caller.calls == [
        ("verify_client_identity", {"full_name": "Will Smith", "ssn_last_4": "2019"})
    ]


def test_a_yes_after_a_failed_free_text_tool_does_not_call_it_again():
    knowledge = ToolSpec(
        "search_knowledge_base",
        "Answer general questions about the bank's products, fees, hours and policies.",
        _schema(("query",), query={"type": "string", "description": "the caller's question"}),
    )
    results = {
        "search_knowledge_base": {
            "success": False,
            "error": "no_answer",
            "message": "I don't have an answer to that. Would you like me to find a colleague?",
        }
    }
    caller = Caller((knowledge, ACCOUNTS), results)
    caller.say("what fees do you charge for zebras")
    assert caller.say("yes").startswith("Sorry, I didn't catch that.")
    assert [name for name, _ in caller.calls] == ["search_knowledge_base"]


# -- numbers said for one thing never fill another ----------------------------------------------

CLIENT_ID = {"type": "string",
             "description": "the caller's client id; leave it out after the caller's identity is "
                            "verified"}  # fmt: skip
TRANSACTIONS = ToolSpec(
    "get_recent_transactions",
    "List the caller's latest account activity and payments.",
    _schema((), client_id=CLIENT_ID,
            limit={"type": "integer", "description": "how many recent transactions to list",
                   "minimum": 1, "maximum": 50}),
)  # fmt: skip
REPORT = ToolSpec(
    "report_lost_stolen_card",
    "Report the caller's card lost or stolen and stop it.",
    _schema(("lost_or_stolen",), client_id=CLIENT_ID,
            card_last4={"type": "string", "description": "the last four digits of the card",
                        "x-ask": "What are the last four digits of the card?",
                        "pattern": r"^\d{4}$"},
            lost_or_stolen={"type": "string", "description": "whether the card was lost or stolen",
                            "x-ask": "Was the card lost or stolen?", "enum": ["lost", "stolen"]}),
)  # fmt: skip
SHIP = ToolSpec(
    "ship_replacement_card",
    "Send the caller a replacement for a blocked, lost or stolen card.",
    _schema((), client_id=CLIENT_ID,
            expedited={"type": "boolean", "description": "whether to send it by express delivery"}),
)  # fmt: skip
VERIFY_FIRST = (
    "I need to verify your identity first. What is your full name and the last four digits "
    "of your social security number?"
)
VERIFIED = {"success": True, "client_id": "C-1", "message": "Thank you. You're verified."}


def _needs_verification(args: dict[str, Any]) -> dict[str, Any]:
    if "client_id" not in args:
        return {"success": False, "error": "identity_not_verified", "message": VERIFY_FIRST}
    return {"success": True, "message": "Done"}


@pytest.mark.parametrize(
    ("utterance", "arguments"),
    [
        ("Can you tell me my recent transactions?", {}),
        ("Show me my last 3 transactions.", {"limit": 3}),
        ("What were my last five transactions?", {"limit": 5}),
        ("Show me my last 2093 transactions.", {}),  # no count is that large
    ],
)
def test_a_number_is_a_count_only_when_said_as_one(utterance, arguments):
    caller = Caller((TRANSACTIONS,))
    caller.say(utterance)
    assert caller.calls == [("get_recent_transactions", arguments)]


def test_the_ssn_of_an_earlier_turn_is_no_count_and_the_client_id_is_the_verified_one():
    caller = Caller((VERIFY_SPOKEN, TRANSACTIONS), {"verify_client_identity": VERIFIED})
    caller.say("Hello, this is Robert Miller. The last four of my social security number are 2093.")
    caller.say("Can you tell me my recent transactions?")
    assert caller.calls == [
        ("verify_client_identity", {"full_name": "Robert Miller", "ssn_last_4": "2093"}),
        ("get_recent_transactions", {"client_id": "C-1"}),
    ]


@pytest.mark.parametrize(
    ("verified", "arguments"),
    [
        (True, {"client_id": "C-1", "card_last4": "2250", "lost_or_stolen": "lost"}),
        (False, {"card_last4": "2250", "lost_or_stolen": "lost"}),
    ],
)
def test_card_digits_never_become_the_client_id(verified, arguments):
    caller = Caller((VERIFY_SPOKEN, REPORT), {"verify_client_identity": VERIFIED})
    if verified:
        caller.say("My name is David Brown and the last four digits of my social are 7305.")
    caller.say("I think I lost my credit card, the one ending and 2, 2, 5, 0.")
    assert caller.calls[-1] == ("report_lost_stolen_card", arguments)


@pytest.mark.parametrize(
    ("utterance", "reply"),
    [
        # "ending in two two five oh": the recognizer's "into" is read back before it is used.
        ("I think I lost my credit card, the one ending into 25, 0.", "Did you say 2 2 5 0?"),
        ("I think I lost my credit card, the one ending in 8,",
         "I only heard 1 digit. What are the last four digits of the card?"),
    ],
)  # fmt: skip
def test_card_digits_split_or_too_few_are_checked_with_the_caller(utterance, reply):
    caller = Caller((REPORT,))
    assert caller.say(utterance) == reply
    assert caller.calls == []
    caller.say("Two two five oh.")
    assert caller.calls == [
        ("report_lost_stolen_card", {"lost_or_stolen": "lost", "card_last4": "2250"})
    ]


def test_a_number_of_days_is_not_taken_for_card_digits():
    caller = Caller((REPORT,))
    caller.say("I lost my card 2 days ago.")
    assert caller.calls == [("report_lost_stolen_card", {"lost_or_stolen": "lost"})]


def test_four_heard_as_for_before_the_other_three_digits_is_read_as_said():
    caller = Caller((VERIFY_SPOKEN,))
    reply = caller.say(
        "Hi, my name is Alice Johnson and the last four digits of my social app for 817."
    )
    assert reply == "One moment. Done."
    assert caller.calls == [
        ("verify_client_identity", {"full_name": "Alice Johnson", "ssn_last_4": "4817"})
    ]


@pytest.mark.parametrize(
    ("utterance", "arguments"),
    [
        ("Yes please, send me a replacement card.", {}),
        ("Please ship a replacement card by express delivery.", {"expedited": True}),
        ("Send me a replacement card, no need for express delivery.", {"expedited": False}),
    ],
)
def test_an_option_is_set_only_when_the_caller_names_it(utterance, arguments):
    caller = Caller((SHIP,))
    caller.say(utterance)
    assert caller.calls == [("ship_replacement_card", arguments)]


def test_a_request_refused_before_verification_is_taken_up_after_it():
    caller = Caller(
        (VERIFY_SPOKEN, REPORT),
        {"verify_client_identity": VERIFIED, "report_lost_stolen_card": _needs_verification},
    )
    assert caller.say("Someone stole my debit card, and I need help right away.").endswith(
        VERIFY_FIRST
    )
    reply = caller.say("My name is Sarah Wilson, and the last 4 digits are 1, 9, 6, 4.")
    assert reply == "One moment. Thank you. You're verified. One moment. Done."
    # The SSN digits of the verifying turn are not the card's.
    assert caller.calls[1:] == [
        ("verify_client_identity", {"full_name": "Sarah Wilson", "ssn_last_4": "1964"}),
        ("report_lost_stolen_card", {"lost_or_stolen": "stolen", "client_id": "C-1"}),
    ]


def test_a_card_question_after_a_refusal_keeps_what_was_reported():
    def report(args: dict[str, Any]) -> dict[str, Any]:
        if "card_last4" not in args:
            message = "You have more than one card. What are its last four digits?"
            return {"success": False, "error": "card_ambiguous", "message": message}
        return {"success": True, "message": "Reported."}

    caller = Caller((REPORT,), {"report_lost_stolen_card": report})
    assert caller.say("My card was stolen.").endswith("What are its last four digits?")
    caller.say("8306")
    assert caller.calls[-1] == (
        "report_lost_stolen_card",
        {"lost_or_stolen": "stolen", "card_last4": "8306"},
    )


def test_a_request_said_instead_of_the_digits_waits_for_them():
    caller = Caller((VERIFY_SPOKEN, ACCOUNTS), {"verify_client_identity": VERIFIED})
    caller.say("Hello, this is Robert Miller. The last four of my social security number are 29th.")
    assert caller.say("Sorry, what is my balance?") == (
        "First, what are the last four digits of your social security number?"
    )
    assert caller.calls == []
    caller.say("Two oh nine three.")
    assert caller.calls == [
        ("verify_client_identity", {"full_name": "Robert Miller", "ssn_last_4": "2093"}),
        ("get_account_summary", {"client_id": "C-1"}),
    ]


# -- goodbyes ----------------------------------------------------------------------------------

END_CALL = ToolSpec(
    "end_call",
    "End the call when the caller says goodbye or has nothing more: 'goodbye', 'bye', "
    "'that's all', 'that's everything', 'hang up', 'I'm done'.",
    _schema((), reason={"type": "string", "description": "why the call ends"}),
    ends_call=True,
)
ENDED = {"end_call": END_CALL_RESULT}  # what the engine answers when the call ends


@pytest.mark.parametrize(
    "utterance",
    [
        "No, that's everything. Thank you, goodbye.",
        "bye",
        "Okay, bye bye!",
        "No, that's all, thanks.",
        "I'm done.",
        "You can hang up now.",
        "Nothing else, thank you.",
        "That's all I needed today, thank you so much.",
        # What the offline recognizer wrote for "Thank you, goodbye." in a high voice.
        "Thank you, don't buy.",
        "Okay, by.",
    ],
)
def test_a_goodbye_ends_the_call_with_a_farewell(utterance):
    caller = Caller((VERIFY_SPOKEN, ACCOUNTS, END_CALL), ENDED)
    assert caller.say(utterance) == DEFAULT_FAREWELL
    assert caller.calls == [("end_call", {"reason": "the caller said goodbye"})]


@pytest.mark.parametrize(
    ("utterance", "reply"),
    [
        ("thanks", "You're welcome. Is there anything else I can help you with?"),
        ("Thank you very much.", "You're welcome. Is there anything else I can help you with?"),
        ("Good morning", "Hello! I can help you verify client identity or get account summary. "
                         "What would you like to do?"),
        ("Please don't hang up", None),
        ("Bye the way, what are my account balances?", "One moment. Done."),
        ("I'm done with that, what are my account balances?", "One moment. Done."),
        ("Goodbye, but first what are my account balances?", "One moment. Done."),
        ("Thank you, I don't want to buy a card.", None),
    ],
)  # fmt: skip
def test_thanks_a_greeting_or_a_request_is_not_a_goodbye(utterance, reply):
    caller = Caller((VERIFY_SPOKEN, ACCOUNTS, END_CALL))
    said = caller.say(utterance)
    assert "end_call" not in [name for name, _ in caller.calls]
    assert reply is None or said == reply


def test_a_goodbye_instead_of_an_answer_ends_the_call_but_an_answer_does_not():
    caller = Caller((VERIFY_SPOKEN, END_CALL), ENDED)
    assert caller.say("verify my identity") == "What is your full name?"
    assert caller.say("never mind, goodbye") == DEFAULT_FAREWELL
    caller = Caller((VERIFY_SPOKEN, END_CALL), ENDED)
    assert caller.say("verify me, my name is Will Smith") == SSN_ASK
    assert caller.say("2 0 9 5, bye") == "One moment. Done."
    assert caller.calls == [
        ("verify_client_identity", {"full_name": "Will Smith", "ssn_last_4": "2095"})
    ]


def test_without_an_end_call_tool_a_goodbye_is_only_thanked():
    caller = Caller((VERIFY_SPOKEN, ACCOUNTS))
    assert caller.say("thanks, bye") == (
        "You're welcome. Is there anything else I can help you with?"
    )
    assert caller.calls == []


async def test_the_rules_engine_says_goodbye_and_the_session_ends_the_call():
    roster = bank_roster()
    concierge = roster.get("Concierge")
    agents = {**roster.agents, "Concierge": replace(concierge, tools=(*concierge.tools, END_CALL))}
    roster = AgentRoster(agents, "Concierge")
    async with Harness(llm=RulesDialogueEngine(), roster=roster, tool_runner=bank_tools()) as h:
        await h.wait_event(AssistantFinal, is_greeting=True)
        assert (await say(h, "thanks")).text.startswith("You're welcome.")
        reply = await say(h, "No, that's everything. Thank you, goodbye.")
        assert reply.text == DEFAULT_FAREWELL
        end = await h.wait_event(CallEnd)
        assert (end.turn_id, end.farewell) == (reply.turn_id, DEFAULT_FAREWELL)
        assert h.tools.calls == []


def test_the_count_before_a_number_is_not_one_of_its_digits():
    from media.providers.rules.hearing import digit_runs

    assert [r.digits for r in digit_runs("my name is Ada Lovelace, last four 1234")] == ["1234"]
    assert [r.digits for r in digit_runs("the last four eight one seven")][-1] == "4817"


@pytest.mark.parametrize(
    ("utterance", "reply", "digits"),
    [
        # how Whisper writes digits said by a flat or fast voice: read, then checked
        ("Hi, my name is Alice Johnson and my last four or six, so one nine.",
         "Did you say 6 0 1 9?", "6019"),
        ("Hi, my name is Alice Johnson and my last 4 are fine, fine, 2, 6.",
         "Did you say 5 5 2 6?", "5526"),
    ],
)  # fmt: skip
def test_digits_heard_as_words_that_sound_like_them_are_read_back(utterance, reply, digits):
    caller = Caller((VERIFY_SPOKEN,))
    assert caller.say(utterance) == reply
    assert caller.calls == []
    caller.say("Yes.")
    assert caller.calls == [
        ("verify_client_identity", {"full_name": "Alice Johnson", "ssn_last_4": digits})
    ]


def test_words_that_sound_like_digits_are_no_number_on_their_own():
    from media.providers.rules.hearing import digit_runs

    assert digit_runs("I am fine, so go on.") == []
    assert [(r.digits, r.doubtful) for r in digit_runs("it is 4817 so can you check")][0] == (
        "4817",
        False,
    )
