"""Fraud: suspicious activity, cases, disputes, card blocks and replacements."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from agentbuilder.models import DemoUser, Dispute, FraudCase, Transaction
from agentbuilder.tools.banking import transaction_dict
from agentbuilder.tools.context import CLIENT_ID_PARAM, Call, mask_email, money, reference
from agentbuilder.tools.registry import ToolError, param, schema, tool

HIGH_RISK = 70
TRANSACTION_IDS = param(
    "array",
    "the ids of the transactions concerned",
    items={"type": "string", "maxLength": 80},
    maxItems=20,
)
EDUCATION = {
    "card_fraud": [
        "Turn on transaction alerts so you hear about every charge at once.",
        "Never share your card number, PIN or security code with anyone who calls you.",
        "Use contactless or chip payments rather than swiping.",
    ],
    "phishing": [
        "We will never ask for your password or a code by email, text or phone.",
        "Check the sender's address and hover over links before you click.",
        "Report suspicious messages to our fraud team and delete them.",
    ],
    "account_takeover": [
        "Use a unique, long password and turn on multi-factor authentication.",
        "Review the devices signed in to your account regularly.",
        "Tell us at once if you stop receiving our messages.",
    ],
    "identity_theft": [
        "Place a fraud alert or a credit freeze with the credit bureaus.",
        "Review your credit report for accounts you did not open.",
        "File a report with the Federal Trade Commission at identitytheft.gov.",
    ],
    "general": [
        "Be wary of anyone who creates urgency or asks you to move money.",
        "Keep your contact details up to date so we can reach you.",
        "Call the number on the back of your card if anything looks wrong.",
    ],
}


def _transactions(user: DemoUser, ids: list[str] | None) -> list[Transaction]:
    if not ids:
        return []
    found = list(user.transactions.filter(transaction_id__in=ids))
    missing = set(ids) - {t.transaction_id for t in found}
    if missing:
        raise ToolError(
            "transaction_not_found",
            f"I can't find transaction {', '.join(sorted(missing))} on your account.",
        )
    return found


@tool(
    name="analyze_recent_transactions",
    description="Review the caller's recent transactions for unusual or risky charges.",
    parameters=schema(
        client_id=CLIENT_ID_PARAM,
        days_back=param("integer", "how many days back to look", minimum=1, maximum=365),
    ),
    tags=("fraud", "transactions"),
)
def analyze_recent_transactions(
    call: Call, *, client_id: str | None = None, days_back: int = 30
) -> dict:
    user = call.client(client_id)
    since = timezone.now() - timedelta(days=days_back)
    rows = list(user.transactions.filter(timestamp__gte=since))
    flagged = [transaction_dict(t) for t in rows if t.risk_score >= HIGH_RISK]
    total = sum((t.amount for t in rows if t.amount > 0), Decimal(0))
    return {
        "success": True,
        "days_back": days_back,
        "transaction_count": len(rows),
        "total_spent": money(total),
        "flagged_transactions": flagged,
        "message": f"I found {len(flagged)} unusual charge"
        f"{'' if len(flagged) == 1 else 's'} in the last {days_back} days."
        + (
            " " + "; ".join(f"{t['merchant']} {t['amount']:,.2f} dollars" for t in flagged)
            if flagged
            else ""
        ),
    }


@tool(
    name="check_suspicious_activity",
    description="Check the caller's account for suspicious activity, blocked cards and open cases.",
    parameters=schema(client_id=CLIENT_ID_PARAM),
    tags=("fraud",),
)
def check_suspicious_activity(call: Call, *, client_id: str | None = None) -> dict:
    user = call.client(client_id)
    flagged = [
        transaction_dict(t) for t in user.transactions.filter(risk_score__gte=HIGH_RISK)[:10]
    ]
    cards = [{"last4": c.last4, "status": c.status} for c in user.cards.all()]
    open_cases = list(
        user.fraud_cases.exclude(status=FraudCase.Status.CLOSED).values_list("case_id", flat=True)
    )
    return {
        "success": True,
        "suspicious_activity": bool(flagged),
        "flagged_transactions": flagged,
        "cards": cards,
        "open_cases": open_cases,
        "message": f"I see {len(flagged)} suspicious charge{'' if len(flagged) == 1 else 's'}."
        if flagged
        else "I don't see anything suspicious on your account.",
    }


@tool(
    name="create_fraud_case",
    description="Open a fraud case for charges the caller did not make.",
    parameters=schema(
        required=("dispute_reason",),
        client_id=CLIENT_ID_PARAM,
        transaction_ids=TRANSACTION_IDS,
        dispute_reason=param(
            "string",
            "why the caller reports fraud",
            ask="Which charges don't you recognise, and what happened?",
            minLength=2,
            maxLength=500,
        ),
        customer_statement=param("string", "the caller's own account of events", maxLength=2000),
    ),
    tags=("fraud", "cases"),
)
def create_fraud_case(
    call: Call,
    *,
    dispute_reason: str,
    client_id: str | None = None,
    transaction_ids: list[str] | None = None,
    customer_statement: str = "",
) -> dict:
    user = call.client(client_id)
    txns = _transactions(user, transaction_ids)
    if not txns:
        txns = list(user.transactions.filter(risk_score__gte=HIGH_RISK))
    with transaction.atomic():
        case = FraudCase.objects.create(
            demo_user=user,
            case_id=reference("FRD"),
            reason=dispute_reason,
            customer_statement=customer_statement,
            status=FraudCase.Status.INVESTIGATING,
            session_id=call.session_id,
        )
        case.transactions.set(txns)
    return {
        "success": True,
        "case_id": case.case_id,
        "transaction_ids": [t.transaction_id for t in txns],
        "status": case.status,
        "message": f"I've opened fraud case {case.case_id}. "
        "Our investigators will contact you within two business days.",
    }


@tool(
    name="create_transaction_dispute",
    description="Dispute a charge: unauthorized, duplicate, wrong amount or goods not received.",
    parameters=schema(
        required=("dispute_type", "description"),
        client_id=CLIENT_ID_PARAM,
        transaction_ids=TRANSACTION_IDS,
        dispute_type=param(
            "string",
            "the kind of problem with the charge",
            ask="Is the charge unauthorized, a duplicate, the wrong amount, or for something "
            "you never received?",
            enum=[k.value for k in Dispute.Kind],
        ),
        description=param(
            "string",
            "what went wrong with the charge",
            ask="What went wrong with the charge?",
            minLength=2,
            maxLength=2000,
        ),
    ),
    tags=("fraud", "disputes"),
)
def create_transaction_dispute(
    call: Call,
    *,
    dispute_type: str,
    description: str,
    client_id: str | None = None,
    transaction_ids: list[str] | None = None,
) -> dict:
    user = call.client(client_id)
    txns = _transactions(user, transaction_ids)
    if not txns:
        raise ToolError("transaction_required", "Which charge would you like to dispute?")
    with transaction.atomic():
        credit = (
            sum((t.amount for t in txns), Decimal(0))
            if dispute_type == Dispute.Kind.UNAUTHORIZED
            else Decimal(0)
        )
        dispute = Dispute.objects.create(
            demo_user=user,
            dispute_id=reference("DSP"),
            kind=dispute_type,
            description=description,
            provisional_credit=credit,
        )
        dispute.transactions.set(txns)
        user.transactions.filter(pk__in=[t.pk for t in txns]).update(
            status=Transaction.Status.DISPUTED
        )
    return {
        "success": True,
        "dispute_id": dispute.dispute_id,
        "provisional_credit": money(credit),
        "message": f"I've opened dispute {dispute.dispute_id}."
        + (
            f" A provisional credit of {money(credit):,.2f} dollars is on its way."
            if credit
            else ""
        ),
    }


@tool(
    name="send_fraud_case_email",
    description="Email the caller the details and next steps of their fraud case.",
    parameters=schema(
        required=("case_id",),
        client_id=CLIENT_ID_PARAM,
        case_id=param(
            "string", "the fraud case number", ask="What is the case number?", maxLength=40
        ),
        include_steps=param("boolean", "whether to include the next steps"),
    ),
    tags=("fraud", "cases"),
)
def send_fraud_case_email(
    call: Call, *, case_id: str, client_id: str | None = None, include_steps: bool = True
) -> dict:
    user = call.client(client_id)
    case = user.fraud_cases.filter(case_id__iexact=case_id.strip()).first()
    if case is None:
        raise ToolError("case_not_found", "I can't find that case number on your account.")
    case.email_sent_at = timezone.now()
    case.save(update_fields=["email_sent_at"])
    return {
        "success": True,
        "case_id": case.case_id,
        "sent_to": mask_email(user.email),
        "included_steps": include_steps,
        "message": f"I've emailed the details of case {case.case_id} to {mask_email(user.email)}.",
    }


@tool(
    name="provide_fraud_education",
    description="Give the caller tips to protect themselves from fraud, phishing and scams.",
    parameters=schema(
        required=("fraud_type",),
        fraud_type=param(
            "string",
            "the kind of fraud to explain",
            ask="Which kind of fraud: card fraud, phishing, account takeover or identity theft?",
            enum=list(EDUCATION),
        ),
    ),
    tags=("fraud", "education"),
)
def provide_fraud_education(call: Call, *, fraud_type: str) -> dict:
    tips = EDUCATION[fraud_type]
    return {"success": True, "fraud_type": fraud_type, "tips": tips, "message": " ".join(tips)}
