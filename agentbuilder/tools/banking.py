"""Profile, accounts, transactions and fee refunds of the verified caller."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agentbuilder.models import Account, Transaction
from agentbuilder.tools.context import CLIENT_ID_PARAM, Call, money, reference
from agentbuilder.tools.registry import ToolError, param, schema, tool

MAX_FEE_REFUND = Decimal("500")


def transaction_dict(txn: Transaction) -> dict:
    return {
        "transaction_id": txn.transaction_id,
        "merchant": txn.merchant,
        "amount": money(txn.amount),
        "category": txn.category,
        "timestamp": txn.timestamp.isoformat(),
        "location": txn.location,
        "card_last4": txn.card_last4,
        "status": txn.status,
        "risk_score": txn.risk_score,
        "is_fee": txn.is_fee,
    }


@tool(
    name="get_user_profile",
    description="Look up the verified caller's profile: name, relationship tier and preferences.",
    parameters=schema(client_id=CLIENT_ID_PARAM),
    tags=("banking", "profile"),
)
def get_user_profile(call: Call, *, client_id: str | None = None) -> dict:
    user = call.client(client_id)
    intelligence = user.customer_intelligence or {}
    return {
        "success": True,
        "client_id": user.client_id,
        "full_name": user.full_name,
        "institution_name": user.institution_name,
        "relationship_tier": user.relationship_tier,
        "preferred_channel": user.preferred_channel,
        "client_since": intelligence.get("relationship_context", {}).get("client_since"),
        "talking_points": intelligence.get("conversation_context", {}).get(
            "suggested_talking_points", []
        ),
        "message": f"{user.full_name} is a {user.relationship_tier} client.",
    }


@tool(
    name="get_account_summary",
    description="Tell the caller the balances of their checking, savings and credit accounts.",
    parameters=schema(client_id=CLIENT_ID_PARAM),
    tags=("banking", "accounts"),
)
def get_account_summary(call: Call, *, client_id: str | None = None) -> dict:
    user = call.client(client_id)
    accounts = [
        {
            "account_id": a.account_id,
            "type": a.kind,
            "nickname": a.nickname,
            "balance": money(a.balance),
            "available_balance": money(a.available_balance),
            "account_number_last4": a.number_last4,
        }
        for a in user.accounts.order_by("kind", "account_id")
    ]
    spoken = ", ".join(f"{a['nickname']} {a['balance']:,.2f} dollars" for a in accounts)
    return {
        "success": True,
        "accounts": accounts,
        "message": f"Your balances: {spoken}." if accounts else "You have no accounts.",
    }


@tool(
    name="get_recent_transactions",
    description="List the caller's latest account activity and payments.",
    parameters=schema(
        client_id=CLIENT_ID_PARAM,
        limit=param("integer", "how many recent transactions to list", minimum=1, maximum=50),
    ),
    tags=("banking", "transactions"),
)
def get_recent_transactions(call: Call, *, client_id: str | None = None, limit: int = 5) -> dict:
    user = call.client(client_id)
    rows = [transaction_dict(t) for t in user.transactions.all()[:limit]]
    spoken = "; ".join(f"{t['merchant']} {t['amount']:,.2f} dollars" for t in rows[:3])
    return {
        "success": True,
        "transactions": rows,
        "count": len(rows),
        "message": f"Your most recent transactions: {spoken}." if rows else "No transactions.",
    }


@tool(
    name="refund_fee",
    description="Refund a bank fee the caller was charged, such as an overdraft or late fee.",
    parameters=schema(
        required=("amount",),
        client_id=CLIENT_ID_PARAM,
        transaction_id=param("string", "the id of the fee transaction", maxLength=80),
        amount=param(
            "number",
            "the fee amount in dollars to refund",
            ask="How much was the fee?",
            exclusiveMinimum=0,
            maximum=float(MAX_FEE_REFUND),
        ),
        reason=param("string", "why the fee is refunded", maxLength=300),
    ),
    tags=("banking", "fees"),
)
def refund_fee(
    call: Call,
    *,
    amount: float,
    client_id: str | None = None,
    transaction_id: str = "",
    reason: str = "",
) -> dict:
    user = call.client(client_id)
    value = Decimal(str(amount)).quantize(Decimal("0.01"))
    fees = user.transactions.filter(is_fee=True, status=Transaction.Status.POSTED)
    fee = (
        fees.filter(transaction_id=transaction_id).first()
        if transaction_id
        else fees.filter(amount=value).first()
    )
    if fee is None:
        raise ToolError("fee_not_found", "I can't find a fee of that amount to refund.")
    if value > fee.amount:
        raise ToolError("amount_too_high", f"That fee was {money(fee.amount):,.2f} dollars.")
    with transaction.atomic():
        fee.status = Transaction.Status.REFUNDED
        fee.save(update_fields=["status"])
        credit = Transaction.objects.create(
            demo_user=user,
            account=fee.account,
            transaction_id=reference("RFD"),
            merchant=f"Fee refund: {reason or fee.merchant}"[:120],
            amount=-value,
            category="refund",
            timestamp=timezone.now(),
        )
        if fee.account_id:
            Account.objects.filter(pk=fee.account_id).update(
                balance=F("balance") + value, available_balance=F("available_balance") + value
            )
    return {
        "success": True,
        "refund_id": credit.transaction_id,
        "refunded_transaction_id": fee.transaction_id,
        "amount": money(value),
        "message": f"I've refunded the {money(value):,.2f} dollar fee. "
        "You'll see the credit within two business days.",
    }
