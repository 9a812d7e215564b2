import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from jsonschema import Draft202012Validator

from agentbuilder.models import (
    Callback,
    Card,
    CardApplication,
    DemoUser,
    Dispute,
    Escalation,
    FraudCase,
    SecretCode,
    Transaction,
)
from agentbuilder.selectors import roster_build
from agentbuilder.services import DatabaseToolRunner, demo_user_create
from agentbuilder.tools import registry as registry_module
from agentbuilder.tools.registry import Tool, registry

pytestmark = pytest.mark.django_db


def test_every_tool_schema_is_valid_and_speaks_plain_words():
    for tool in registry().values():
        Draft202012Validator.check_schema(tool.parameters)
        assert len(tool.description.split()) >= 5, tool.name
        for name, prop in tool.parameters["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name}"
        for name in tool.parameters["required"]:
            ask = tool.parameters["properties"][name].get("x-ask", "")
            assert ask.endswith("?"), f"{tool.name}.{name} needs a spoken question"


def test_every_tool_executes_against_demo_data(library, demo, runner, verified):
    user = demo.user
    credit = user.cards.get(kind="credit")
    debit = user.cards.get(kind="debit")
    risky = user.transactions.filter(risk_score__gte=70).first()
    fee = user.transactions.get(is_fee=True)
    results = {}

    def case_id():
        return FraudCase.objects.get(demo_user=user).case_id

    steps = [
        ("send_mfa_code", {"method": "sms"}),
        ("resend_mfa_code", {"method": "email"}),
        ("verify_mfa_code", {"code": demo.codes["mfa"]}),
        ("get_user_profile", {}),
        ("get_account_summary", {}),
        ("get_recent_transactions", {"limit": 3}),
        ("refund_fee", {"amount": 35, "reason": "first overdraft"}),
        ("search_card_products", {"preferences": "travel rewards with no foreign fees"}),
        ("get_card_details", {"product_id": "travel-rewards"}),
        ("send_card_agreement", {"card_product_id": "Travel Rewards"}),
        ("verify_esignature", {"verification_code": demo.codes["esign"]}),
        ("finalize_card_application", {"card_product_id": "travel-rewards"}),
        ("analyze_recent_transactions", {"days_back": 30}),
        ("check_suspicious_activity", {}),
        ("create_fraud_case", {"dispute_reason": "charges I did not make"}),
        ("send_fraud_case_email", lambda: {"case_id": case_id()}),
        ("block_card_emergency", {"card_last4": credit.last4, "reason": "fraud"}),
        ("report_lost_stolen_card", {"card_last4": debit.last4, "lost_or_stolen": "stolen"}),
        ("ship_replacement_card", {"expedited": True}),
        (
            "create_transaction_dispute",
            {
                "transaction_ids": [risky.transaction_id],
                "dispute_type": "unauthorized",
                "description": "I never bought this",
            },
        ),
        ("provide_fraud_education", {"fraud_type": "phishing"}),
        ("escalate_human", {"reason": "wants a person", "department": "fraud"}),
        ("escalate_emergency", {"emergency_type": "fraud_in_progress", "description": "now"}),
        ("transfer_call_to_call_center", {"reason": "complex request"}),
        ("transfer_to_human", {"reason": "wants a person"}),
        ("schedule_callback", {"reason": "mortgage", "preferred_time": "tomorrow at 10"}),
        ("submit_complaint", {"complaint_type": "fees", "description": "too many fees"}),
        ("get_retirement_accounts", {}),
        ("get_401k_details", {}),
        ("get_rollover_options", {"source_account_type": "401k"}),
        ("calculate_tax_impact", {"action_type": "withdrawal", "amount": 10000, "age": 45}),
        ("search_rollover_guidance", {"query": "how do I roll over my old 401k"}),
        ("get_account_routing_info", {"account_type": "roth_ira"}),
        ("get_client_data", {"include_history": True}),
        ("check_compliance_status", {"check_type": "aml"}),
        ("search_knowledge_base", {"query": "what is the overdraft fee"}),
        ("end_call", {"reason": "the caller said goodbye"}),
    ]
    # The keypad verification needs a phone call: tests/calls/test_keypad.py.
    keypad = {"verify_identity_by_keypad"}
    assert {name for name, _ in steps} | {"verify_client_identity"} | keypad == set(registry())
    for name, arguments in steps:
        args = arguments() if callable(arguments) else arguments
        result = runner.run(name, args, verified)
        assert result["success"] is True, (name, result)
        assert result.get("message"), name
        results[name] = result

    # What the tools did is in the database.
    fee.refresh_from_db()
    assert fee.status == Transaction.Status.REFUNDED
    assert user.transactions.filter(category="refund", amount=-35).exists()
    assert CardApplication.objects.get(demo_user=user).status == "approved"
    credit.refresh_from_db()
    debit.refresh_from_db()
    assert credit.status == Card.Status.BLOCKED and debit.status == Card.Status.STOLEN
    assert Card.objects.filter(replaces__isnull=False, demo_user=user).count() == 1
    assert FraudCase.objects.get(demo_user=user).email_sent_at is not None
    dispute = Dispute.objects.get(demo_user=user)
    assert float(dispute.provisional_credit) == float(risky.amount)
    assert Escalation.objects.filter(demo_user=user).count() == 5
    assert Callback.objects.get(demo_user=user).phone_number == user.phone_number
    assert results["calculate_tax_impact"]["early_withdrawal_penalty"] == 1000.0
    assert "35 dollars" in results["search_knowledge_base"]["message"]
    assert verified.state["mfa_verified"] is True

    # No secret ever reaches what the LLM sees.
    text = json.dumps(results)
    for code in (demo.codes["mfa"], demo.codes["esign"]):
        assert not re.search(rf"\b{code}\b", text)


def test_codes_are_stored_hashed(demo):
    for secret in SecretCode.objects.filter(demo_user=demo.user):
        stored = f"{secret.salt}{secret.code_hash}"
        assert demo.codes[secret.purpose] not in stored or secret.purpose == "phone4"
        assert secret.matches(demo.codes[secret.purpose])


def test_account_tools_need_a_verified_caller(demo, runner, context):
    result = runner.run("get_account_summary", {}, context)
    assert result == {
        "success": False,
        "error": "identity_not_verified",
        "message": result["message"],
    }
    assert "full name" in result["message"]
    # Naming a client id does not bypass verification.
    result = runner.run("get_account_summary", {"client_id": demo.user.client_id}, context)
    assert result["error"] == "identity_not_verified"


def test_a_verified_caller_cannot_reach_another_client(demo, runner, verified):
    result = runner.run("get_account_summary", {"client_id": "someone_else_cfs"}, verified)
    assert result["error"] == "not_verified_for_client"


def test_identity_verification_is_case_and_space_tolerant(demo, runner, context):
    result = runner.run(
        "verify_client_identity",
        {"full_name": "  jane   DOE ", "ssn_last_4": " ".join(demo.codes["ssn4"])},
        context,
    )
    assert result["verified"] is True
    assert demo.codes["ssn4"] not in json.dumps(result)
    assert context.state["client_id"] == demo.user.client_id


def test_identity_attempts_are_limited_per_session(demo, runner, context):
    wrong = "0000" if demo.codes["ssn4"] != "0000" else "1111"
    for remaining in (2, 1, 0):
        result = runner.run(
            "verify_client_identity", {"full_name": "Jane Doe", "ssn_last_4": wrong}, context
        )
        assert result["success"] is False and result["attempts_remaining"] == remaining
    result = runner.run(
        "verify_client_identity",
        {"full_name": "Jane Doe", "ssn_last_4": demo.codes["ssn4"]},
        context,
    )
    assert result["error"] == "too_many_attempts"


def test_mfa_code_locks_after_three_wrong_tries(demo, runner, verified):
    wrong = "000000" if demo.codes["mfa"] != "000000" else "111111"
    errors = [runner.run("verify_mfa_code", {"code": wrong}, verified)["error"] for _ in range(3)]
    assert errors == ["code_incorrect", "code_incorrect", "code_locked"]
    result = runner.run("verify_mfa_code", {"code": demo.codes["mfa"]}, verified)
    assert result["error"] == "code_locked"
    assert "mfa_verified" not in verified.state


def test_expired_demo_user_cannot_verify(demo, runner, context):
    DemoUser.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    result = runner.run(
        "verify_client_identity",
        {"full_name": "Jane Doe", "ssn_last_4": demo.codes["ssn4"]},
        context,
    )
    assert result["success"] is False


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"full_name": "Jane Doe"}, "ssn_last_4"),
        ({"full_name": "Jane Doe", "ssn_last_4": "12a4"}, "ssn_last_4"),
        ({"full_name": "J", "ssn_last_4": "1234"}, "full_name"),
        ({"full_name": "Jane Doe", "ssn_last_4": "1234", "pin": "9"}, "arguments"),
    ],
)
def test_arguments_are_validated_against_the_schema(runner, context, arguments, field):
    result = runner.run("verify_client_identity", arguments, context)
    assert result["success"] is False and result["error"] == "invalid_arguments"
    assert field in result["fields"]
    assert "12a4" not in result["message"]


def test_enum_errors_list_the_allowed_values(runner, context):
    result = runner.run("provide_fraud_education", {"fraud_type": "aliens"}, context)
    assert result["error"] == "invalid_arguments"
    assert "phishing" in result["message"]


def test_json_string_arguments_are_accepted_and_garbage_is_refused(runner, context):
    ok = runner.run("provide_fraud_education", '{"fraud_type": "card_fraud"}', context)
    assert ok["success"] is True
    bad = runner.run("provide_fraud_education", "{nope", context)
    assert bad["error"] == "invalid_arguments"


def test_unknown_tool(runner, context):
    assert runner.run("teleport", {}, context)["error"] == "unknown_tool"


def test_a_crashing_tool_becomes_a_structured_error(monkeypatch, runner, context):
    def explode(call, **kwargs):
        raise RuntimeError("secret internals")

    parameters = {"type": "object", "properties": {}}
    monkeypatch.setitem(
        registry_module._REGISTRY,
        "explode",
        Tool(
            name="explode",
            description="x",
            parameters=parameters,
            func=explode,
            validator=Draft202012Validator(parameters),
        ),
    )
    result = runner.run("explode", {}, context)
    assert result["success"] is False and result["error"] == "tool_failed"
    assert "secret internals" not in json.dumps(result)


def test_knowledge_base_without_an_answer_says_so(runner, context):
    result = runner.run("search_knowledge_base", {"query": "zebra xylophone"}, context)
    assert result["error"] == "no_answer"


def test_handoff_tools_answer_with_the_handoff_shape(library, context):
    for runner in (DatabaseToolRunner(), DatabaseToolRunner(roster_build())):
        result = runner.run(
            "handoff_fraud_agent", {"reason": "stolen card", "client_id": ""}, context
        )
        assert result["handoff"] is True and result["target_agent"] == "FraudAgent"
        assert result["handoff_summary"] == "stolen card"
        assert "client_id" not in result["handoff_context"]


@pytest.mark.parametrize(
    ("on_file", "said"),
    [
        ("Alice Johnson", "Alis Jonson"),
        ("Alice Johnson", "Allison Johnston"),
        ("Alice Johnson", "alice marie johnson"),
        ("Robert Garcia", "Robert Garsia"),
    ],
)
def test_identity_verification_accepts_a_misspelled_name(db, runner, context, on_file, said):
    demo = demo_user_create(full_name=on_file, email="caller@example.com")
    result = runner.run(
        "verify_client_identity", {"full_name": said, "ssn_last_4": demo.codes["ssn4"]}, context
    )
    assert result["verified"] is True
    assert result["caller_name"] == on_file
    assert context.state["client_id"] == demo.user.client_id


@pytest.mark.parametrize("said", ["Alice Jackson", "Alice Thompson", "Bob Smith", "Johnson"])
def test_identity_verification_refuses_a_different_name(db, runner, context, said):
    demo = demo_user_create(full_name="Alice Johnson", email="alice@example.com")
    result = runner.run(
        "verify_client_identity", {"full_name": said, "ssn_last_4": demo.codes["ssn4"]}, context
    )
    assert result["verified"] is False
    assert "client_id" not in context.state


def test_a_misspelled_name_still_needs_the_exact_digits(db, runner, context):
    demo = demo_user_create(full_name="Alice Johnson", email="alice@example.com")
    right = demo.codes["ssn4"]
    near = right[:3] + str((int(right[3]) + 1) % 10)
    result = runner.run(
        "verify_client_identity", {"full_name": "Alis Jonson", "ssn_last_4": near}, context
    )
    assert result["verified"] is False
    # The wrong try counts against the profile, as it would with the exact name.
    code = SecretCode.objects.get(demo_user=demo.user, purpose=SecretCode.Purpose.SSN4)
    assert code.failed_attempts == 1


def test_the_closest_name_is_verified_when_two_profiles_sound_alike(db, runner, context):
    jane = demo_user_create(full_name="Jane Doe", email="jane@example.com")
    demo_user_create(full_name="Jean Doe", email="jean@example.com")
    result = runner.run(
        "verify_client_identity",
        {"full_name": "Jane Doe", "ssn_last_4": jane.codes["ssn4"]},
        context,
    )
    assert result["verified"] is True and result["caller_name"] == "Jane Doe"


@pytest.mark.parametrize("said", ["Air Wilson", "Sara Wilson", "Sarah Willson"])
def test_a_first_name_broken_by_the_recognizer_matches_with_the_last_name(
    db, runner, context, said
):
    # "My name is Sarah Wilson" heard as "My name is air Wilson".
    demo = demo_user_create(full_name="Sarah Wilson", email="sarah@example.com")
    result = runner.run(
        "verify_client_identity", {"full_name": said, "ssn_last_4": demo.codes["ssn4"]}, context
    )
    assert result["verified"] is True and result["caller_name"] == "Sarah Wilson"


@pytest.mark.parametrize("said", ["Tom Wilson", "Ann Wilson", "Sarah Watson", "Wilson"])
def test_another_first_name_with_the_same_last_name_is_refused(db, runner, context, said):
    demo = demo_user_create(full_name="Sarah Wilson", email="sarah@example.com")
    result = runner.run(
        "verify_client_identity", {"full_name": said, "ssn_last_4": demo.codes["ssn4"]}, context
    )
    assert result["verified"] is False
    assert "client_id" not in context.state


def test_a_broken_first_name_still_needs_the_exact_digits(db, runner, context):
    demo = demo_user_create(full_name="Sarah Wilson", email="sarah@example.com")
    right = demo.codes["ssn4"]
    near = right[:3] + str((int(right[3]) + 1) % 10)
    result = runner.run(
        "verify_client_identity", {"full_name": "Air Wilson", "ssn_last_4": near}, context
    )
    assert result["verified"] is False
