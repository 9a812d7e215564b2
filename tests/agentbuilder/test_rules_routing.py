"""The shipped agents work with the offline `rules` dialogue engine (not an LLM): the words of
tool names, descriptions and parameters route a caller's request to the right tool or agent."""

import pytest

from agentbuilder.models import Card
from agentbuilder.selectors import roster_build
from agentbuilder.services import demo_user_create
from media.engine.history import tool_call_message, tool_result_message
from media.engine.snapshot import ToolContext
from media.providers.base import LLMRequest
from media.providers.rules import RulesDialogueEngine

pytestmark = pytest.mark.django_db


def _decide(agent, utterance: str):
    request = LLMRequest(
        session_id="sess-rules",
        agent=agent,
        messages=[
            {"role": "system", "content": agent.instructions},
            {"role": "user", "content": utterance},
        ],
        tools=agent.tools,
    )
    return RulesDialogueEngine().decide(request)


@pytest.mark.parametrize(
    ("utterance", "tool"),
    [
        ("what is my account balance", "get_account_summary"),
        ("my name is Jane Doe and my social is 1 2 3 4", "verify_client_identity"),
        ("I lost my card", "handoff_fraud_agent"),
        ("someone stole my credit card", "handoff_fraud_agent"),
        ("there is a charge I don't recognize", "handoff_fraud_agent"),
        ("I want a new credit card", "handoff_card_recommendation"),
        ("I want to roll over my 401k", "handoff_investment_advisor"),
        ("what are your opening hours", "handoff_general_kb"),
        ("can I talk to a real person", "escalate_human"),
    ],
)
def test_concierge_routes_what_callers_say(library, utterance, tool):
    _, call = _decide(roster_build().get("Concierge"), utterance)
    assert call is not None and call.name == tool


def test_a_missing_parameter_is_asked_as_a_spoken_question(library):
    text, call = _decide(roster_build().get("Concierge"), "please verify my identity")
    assert call is None and text == "What is your full name?"


def _after_handoff(agent, utterance: str):
    """The agent handed over to answers the caller's same utterance."""
    request = LLMRequest(
        session_id="sess-rules",
        agent=agent,
        messages=[
            {"role": "system", "content": agent.instructions},
            {"role": "user", "content": utterance},
            {"role": "tool", "tool_call_id": "call-1", "content": '{"handoff": true}'},
        ],
        tools=agent.tools,
    )
    return RulesDialogueEngine().decide(request)


@pytest.mark.parametrize(
    ("utterance", "tool"),
    [
        # What the offline recognizer (Whisper tiny.en) wrote for what the caller said.
        ("What is the melon song my checking account?", "get_account_summary"),
        ("what's my balance", "get_account_summary"),
        ("I think my current was stolen yesterday.", "handoff_fraud_agent"),
        ("What's up? You're opening our month Saturday.", "handoff_general_kb"),
    ],
)
def test_concierge_routes_what_the_recognizer_wrote(library, utterance, tool):
    _, call = _decide(roster_build().get("Concierge"), utterance)
    assert call is not None and call.name == tool


def test_a_misheard_stolen_card_is_reported_by_the_fraud_team(library):
    _, call = _after_handoff(
        roster_build().get("FraudAgent"), "I think my current was stolen yesterday."
    )
    assert call is not None
    assert (call.name, call.arguments) == ("report_lost_stolen_card", {"lost_or_stolen": "stolen"})


def test_misheard_opening_hours_are_answered_from_the_knowledge_base(library, runner, context):
    _, call = _after_handoff(
        roster_build().get("GeneralKB"), "What's up? You're opening our month Saturday."
    )
    assert call is not None and call.name == "search_knowledge_base"
    result = runner.run(call.name, call.arguments, context)
    assert result["results"][0]["id"] == "hours"
    assert "Saturday" in result["message"]


def test_opening_hours_reach_the_knowledge_base_of_a_specialist(library):
    _, call = _decide(roster_build().get("FraudAgent"), "What are your opening hours on Saturday?")
    assert call is not None and call.name == "search_knowledge_base"


@pytest.mark.parametrize(
    "utterance",
    [
        "My name is Alice Johnson and the last four digits of my social are 4817.",
        "My name is Alice Johnson and the last four digits of my social are 481 7.",
        "Hi, my name is Alis Jonson and my social ends in 4-8-1-7.",
        "I am Allison Johnston, social security ending in 48 17.",
    ],
)
def test_a_misheard_caller_is_verified_by_the_real_tool(library, runner, context, utterance):
    demo_user_create(full_name="Alice Johnson", email="alice@example.com", codes={"ssn4": "4817"})
    _, call = _decide(roster_build().get("Concierge"), utterance)
    assert call is not None and call.name == "verify_client_identity"
    result = runner.run(call.name, call.arguments, context)
    assert result["verified"] is True and result["caller_name"] == "Alice Johnson"
    assert result["message"] == "Thank you, Alice. You're verified."


def test_a_number_heard_as_a_year_is_read_back_and_corrected(library, runner, context):
    demo_user_create(full_name="Robert Garcia", email="rob@example.com", codes={"ssn4": "2095"})
    concierge = roster_build().get("Concierge")
    engine = RulesDialogueEngine()
    messages = [{"role": "system", "content": concierge.instructions}]

    def say(text: str):
        messages.append({"role": "user", "content": text})
        reply, call = engine.decide(LLMRequest("sess-rules", concierge, list(messages),
                                               concierge.tools))  # fmt: skip
        messages.append({"role": "assistant", "content": reply})
        return reply, call

    assert say("I am Robert Garcia, social security ending in 2019.") == (
        "Did you say 2 0 1 9?",
        None,
    )
    _, call = say("No, two oh nine five.")
    assert call is not None
    assert call.arguments == {"full_name": "Robert Garcia", "ssn_last_4": "2095"}
    assert runner.run(call.name, call.arguments, context)["verified"] is True


# -- spoken calls replayed turn by turn ----------------------------------------------------------


class SpokenCall:
    """A call to the shipped agents as the session runs it, one recognized utterance at a time:
    tool rounds through the real tools, handoffs switch the agent, greet and pass the context."""

    MAX_ROUNDS = 5

    def __init__(self, runner) -> None:
        self.roster = roster_build()
        self.agent = self.roster.entry_agent
        self.engine = RulesDialogueEngine()
        self.runner = runner
        self.tool_state: dict = {}
        self.history: list[dict] = []
        self.calls: list[tuple[str, str, dict, dict]] = []  # agent, tool, arguments, result
        self.replies: list[str] = []

    def say(self, text: str) -> str:
        self.history.append({"role": "user", "content": text})
        handoff = None
        said: list[str] = []
        for _ in range(self.MAX_ROUNDS):
            agent = self.roster.get(self.agent)
            request = LLMRequest(
                session_id="sess-spoken",
                agent=agent,
                messages=[{"role": "system", "content": agent.instructions}, *self.history],
                tools=agent.tools,
                handoff_context=handoff,
                tool_state=self.tool_state,
            )
            reply, call = self.engine.decide(request)
            if call is None:
                self.history.append({"role": "assistant", "content": reply})
                said.append(reply)
                break
            said.append(reply)
            self.history.append(
                tool_call_message(reply, [(call.call_id, call.name, call.arguments)])
            )
            spec = agent.tool(call.name)
            if spec.is_handoff:
                context = {k: v for k, v in call.arguments.items() if v not in (None, "")}
                result = {"success": True, "handoff": True, "target_agent": spec.handoff_target,
                          "handoff_context": context}  # fmt: skip
                self.history.append(tool_result_message(call.call_id, result))
                self.calls.append((agent.name, call.name, dict(call.arguments), result))
                self.agent = spec.handoff_target
                greeting = self.roster.get(self.agent).greeting
                self.history.append({"role": "assistant", "content": greeting})
                said.append(greeting)
                handoff = context or {"from_agent": agent.name}
                continue
            context = ToolContext("sess-spoken", agent.name, self.tool_state)
            result = self.runner.run(call.name, call.arguments, context)
            self.calls.append((agent.name, call.name, dict(call.arguments), result))
            self.history.append(tool_result_message(call.call_id, result))
            if spec.ends_call:
                break
        text = " ".join(s for s in said if s)
        self.replies.append(text)
        return text

    def called(self, name: str) -> list[tuple[str, dict, dict]]:
        return [(agent, args, result) for agent, tool, args, result in self.calls if tool == name]


def _customer(full_name: str, ssn_last4: str, credit_last4: str, debit_last4: str) -> str:
    """A demo customer with known codes and cards, as the spoken benchmark creates them."""
    created = demo_user_create(
        full_name=full_name, email="caller@example.com", codes={"ssn4": ssn_last4}
    )
    cards = Card.objects.filter(demo_user=created.user)
    cards.filter(kind="credit").update(last4=credit_last4)
    cards.filter(kind="debit").update(last4=debit_last4)
    return created.user.client_id


def _cards(client_id: str) -> dict[str, tuple[str, bool, bool | None]]:
    """Each original card's status, whether a replacement was shipped, and if by express."""
    out = {}
    for card in Card.objects.filter(demo_user__client_id=client_id, replaces__isnull=True):
        replacement = Card.objects.filter(replaces=card).first()
        out[card.last4] = (card.status, replacement is not None,
                           replacement.expedited if replacement else None)  # fmt: skip
    return out


def _succeeded(call: SpokenCall, name: str) -> list[tuple[str, dict]]:
    return [(agent, args) for agent, args, result in call.called(name) if result.get("success")]


# What Whisper tiny.en wrote for the spoken benchmark's callers (bench/spoken/scenarios.py).


def test_transactions_take_no_number_from_the_turn_that_gave_the_ssn(library, runner):
    client_id = _customer("Robert Miller", "2093", "7714", "6028")
    call = SpokenCall(runner)
    call.say("Hello, this is Robert Miller. The last four of my social security number are 2093.")
    call.say("Can you tell me my recent transactions?")
    call.say("Sorry, what is my balance?")
    assert _succeeded(call, "verify_client_identity") == [
        ("Concierge", {"full_name": "Robert Miller", "ssn_last_4": "2093"})
    ]
    # The SSN digits are no count, and an unstated count stays unset (the tool's default).
    assert [args for _, args, _ in call.called("get_recent_transactions")] == [
        {"client_id": client_id}
    ]
    assert _succeeded(call, "get_recent_transactions")
    assert _succeeded(call, "get_account_summary") == [("Concierge", {"client_id": client_id})]


def test_too_few_ssn_digits_are_asked_again_and_the_request_waits_for_them(library, runner):
    client_id = _customer("Robert Miller", "2093", "7714", "6028")
    call = SpokenCall(runner)
    reply = call.say(
        "Hello, this is Robert Miller. The last four of my social security number are 29th."
    )
    assert reply == (
        "I only heard 2 digits. What are the last four digits of your social security number?"
    )
    call.say("Can you tell me my recent transactions?")
    assert [args for _, args, _ in call.called("get_recent_transactions")] == [{}]
    assert call.say("Sorry, what is my balance?") == (
        "What are the last four digits of your social security number?"
    )
    # The digits again: verified with the name said first, then the waiting question answered.
    reply = call.say("Two oh nine three.")
    assert _succeeded(call, "verify_client_identity") == [
        ("Concierge", {"full_name": "Robert Miller", "ssn_last_4": "2093"})
    ]
    assert _succeeded(call, "get_account_summary") == [("Concierge", {"client_id": client_id})]
    assert reply.startswith("One moment. Thank you, Robert. You're verified. One moment. Your")


@pytest.mark.parametrize(
    "heard",
    [
        "Hi, my name is Alice Johnson and the last four digits of my social app for 817.",
        "Hi, my name is Alice Johnson and the last four digits of my social are 4817.",
    ],
)
def test_a_four_heard_as_for_before_the_other_digits_verifies(library, runner, heard):
    client_id = _customer("Alice Johnson", "4817", "3392", "5160")
    call = SpokenCall(runner)
    assert call.say(heard) == "One moment. Thank you, Alice. You're verified."
    call.say("Thanks. What is the balance on my accounts?")
    assert _succeeded(call, "verify_client_identity") == [
        ("Concierge", {"full_name": "Alice Johnson", "ssn_last_4": "4817"})
    ]
    assert _succeeded(call, "get_account_summary") == [("Concierge", {"client_id": client_id})]


def test_a_lost_card_is_reported_for_the_verified_client_and_replaced(library, runner):
    client_id = _customer("David Brown", "7305", "2250", "9471")
    call = SpokenCall(runner)
    call.say("Hi, my name is David Brown and the last four digits of my social or 7305.")
    call.say("I think I lost my credit card, the one ending and 2, 2, 5, 0.")
    call.say("Yes please, send me a replacement card.")
    assert [args for _, args, _ in call.called("handoff_fraud_agent")][0]["client_id"] == client_id
    assert _succeeded(call, "report_lost_stolen_card") == [
        ("FraudAgent", {"client_id": client_id, "card_last4": "2250", "lost_or_stolen": "lost"})
    ]
    assert _succeeded(call, "ship_replacement_card") == [("FraudAgent", {"client_id": client_id})]
    assert _cards(client_id) == {"2250": ("lost", True, False), "9471": ("active", False, None)}


def test_card_digits_split_by_the_recognizer_are_read_back_then_the_request_follows(
    library, runner
):
    client_id = _customer("David Brown", "7305", "2250", "9471")
    call = SpokenCall(runner)
    call.say("Hi, my name is David Brown and the last four digits of my social or 7305.")
    reply = call.say("I think I lost my credit card, the one ending into 25, 0.")
    assert reply.endswith("Did you say 2 2 5 0?")
    assert call.called("report_lost_stolen_card") == []
    # The yes settles the digits; the replacement asked for in the same breath comes next.
    call.say("Yes please, send me a replacement card.")
    assert _succeeded(call, "report_lost_stolen_card") == [
        ("FraudAgent", {"client_id": client_id, "lost_or_stolen": "lost", "card_last4": "2250"})
    ]
    assert _succeeded(call, "ship_replacement_card") == [("FraudAgent", {"client_id": client_id})]


def test_too_few_card_digits_are_asked_again(library, runner):
    client_id = _customer("David Brown", "7305", "2250", "9471")
    call = SpokenCall(runner)
    call.say("Hi, my name is David Brown and the last four digits of my social or 7305.")
    reply = call.say("I think I lost my credit card, the one ending in 8,")
    assert reply.endswith("I only heard 1 digit. What are the last four digits of the card?")
    assert call.called("report_lost_stolen_card") == []
    call.say("Two two five oh.")
    assert _succeeded(call, "report_lost_stolen_card") == [
        ("FraudAgent", {"client_id": client_id, "lost_or_stolen": "lost", "card_last4": "2250"})
    ]


def test_a_card_not_found_by_misheard_digits_is_asked_for_again(library, runner):
    client_id = _customer("David Brown", "7305", "2250", "9471")
    call = SpokenCall(runner)
    call.say("Hi, my name is David Brown and the last four digits of my social are 7305.")
    reply = call.say("I think I lost my credit card, the one ending in 2254.")
    assert reply.endswith(
        "I can't find a card ending in 2 2 5 4 on your account. What are its last four digits?"
    )
    call.say("No. It's two two five oh.")
    assert _succeeded(call, "report_lost_stolen_card") == [
        ("FraudAgent", {"client_id": client_id, "lost_or_stolen": "lost", "card_last4": "2250"})
    ]
    assert _cards(client_id)["2250"][0] == "lost"


def test_a_misheard_name_is_asked_for_alone_and_the_digits_kept(library, runner):
    client_id = _customer("David Brown", "7305", "2250", "9471")
    call = SpokenCall(runner)
    reply = call.say(
        "Hi, my name is game with brown and the last four get some my social seven three oh five"
    )
    assert reply.endswith("I couldn't match that name and those digits. What is your full name?")
    call.say("My name is David Brown.")
    assert _succeeded(call, "verify_client_identity") == [
        ("Concierge", {"full_name": "David Brown", "ssn_last_4": "7305"})
    ]
    assert call.tool_state["client_id"] == client_id


def test_wrong_digits_for_a_known_name_are_asked_for_alone(library, runner):
    _customer("David Brown", "7305", "2250", "9471")
    call = SpokenCall(runner)
    reply = call.say("Hi, my name is David Brown and the last four of my social are 7 3 0 6.")
    assert reply.endswith(
        "I couldn't match that name and those digits. "
        "What are the last four digits of your social security number?"
    )
    call.say("Seven three oh five.")
    assert _succeeded(call, "verify_client_identity") == [
        ("Concierge", {"full_name": "David Brown", "ssn_last_4": "7305"})
    ]


def test_a_stolen_card_before_verifying_is_reported_once_the_caller_is_verified(library, runner):
    client_id = _customer("Sarah Wilson", "1964", "4583", "8306")
    call = SpokenCall(runner)
    reply = call.say("Someone stole my debit card, and I need help right away.")
    assert call.agent == "FraudAgent"
    assert reply.endswith("What is your full name and the last four digits of your social "
                          "security number?")  # fmt: skip
    # "is Sarah" heard as "is air": the last name and the digits carry it.
    reply = call.say("My name is air Wilson, and the last 4 digits are 1, 9, 6, 4.")
    assert _succeeded(call, "verify_client_identity") == [
        ("FraudAgent", {"full_name": "Air Wilson", "ssn_last_4": "1964"})
    ]
    # Back to the stolen card, without taking the SSN digits for the card's.
    assert call.called("report_lost_stolen_card")[-1][1] == {
        "lost_or_stolen": "stolen",
        "client_id": client_id,
    }
    assert reply.endswith("you have more than one card. What are its last four digits?")
    call.say("My debit card, ending in 8306, was stolen yesterday.")
    call.say("Please ship a replacement card by express delivery.")
    assert _succeeded(call, "report_lost_stolen_card") == [
        ("FraudAgent", {"lost_or_stolen": "stolen", "client_id": client_id, "card_last4": "8306"})
    ]
    assert _succeeded(call, "ship_replacement_card") == [
        ("FraudAgent", {"client_id": client_id, "expedited": True})
    ]
    assert _cards(client_id) == {"8306": ("stolen", True, True), "4583": ("active", False, None)}


def test_a_goodbye_heard_as_dont_buy_ends_the_call_and_names_no_agent(library, runner):
    # "goodbye" heard as "don't buy": "don't" is in the fraud desk's "a charge they don't
    # recognize", but names nothing; "buy" last after thanks is the goodbye.
    _customer("Maria Garcia", "5526", "1179", "3048")
    call = SpokenCall(runner)
    call.say("Good morning, my name is Maria Garcia and my last four are five five two six.")
    call.say("No, that's everything. Thank you, don't buy.")
    assert [tool for _, tool, _, _ in call.calls] == ["verify_client_identity", "end_call"]
    assert call.agent == "Concierge"


def test_a_negation_alone_names_no_agent(library, runner):
    _customer("Maria Garcia", "5526", "1179", "3048")
    call = SpokenCall(runner)
    call.say("Good morning, my name is Maria Garcia and my last four are five five two six.")
    call.say("Thank you, I don't.")
    assert [tool for _, tool, _, _ in call.calls] == ["verify_client_identity"]
    assert call.agent == "Concierge"
