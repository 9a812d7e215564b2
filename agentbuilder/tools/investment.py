"""Retirement accounts: 401(k) details, rollovers, tax impact and IRA routing."""

from __future__ import annotations

from decimal import Decimal

from agentbuilder.models import RetirementAccount
from agentbuilder.tools.context import CLIENT_ID_PARAM, Call, money
from agentbuilder.tools.knowledge import search
from agentbuilder.tools.registry import ToolError, param, schema, tool

# Illustrative rates, stated in every result: this is not tax advice.
FEDERAL_RATE = Decimal("0.22")
EARLY_PENALTY = Decimal("0.10")
DISCLAIMER = "Estimate at a 22% federal rate; not tax advice. Please confirm with a tax adviser."
ROLLOVER_OPTIONS = {
    "direct_rollover_ira": (
        "Roll over directly into an IRA",
        "No taxes or penalty, widest investment choice.",
    ),
    "roth_conversion": (
        "Roll over into a Roth IRA",
        "Taxed now on the pre-tax amount; tax-free growth and withdrawals later.",
    ),
    "new_employer_plan": (
        "Move it into your new employer's plan",
        "Keeps everything in one place; choices depend on the plan.",
    ),
    "leave_in_plan": ("Leave it where it is", "Allowed for balances over 7,000 dollars."),
    "cash_out": (
        "Cash it out",
        "Taxed as income, plus a 10% penalty before age 59 and a half.",
    ),
}


def account_dict(a: RetirementAccount) -> dict:
    return {
        "account_id": a.account_id,
        "type": a.kind,
        "provider": a.provider,
        "employer": a.employer,
        "is_former_employer": a.is_former_employer,
        "balance": money(a.balance),
        "vested_balance": money(a.vested_balance),
    }


@tool(
    name="get_retirement_accounts",
    description="List the caller's retirement accounts: 401(k), 403(b) and IRAs with balances.",
    parameters=schema(client_id=CLIENT_ID_PARAM),
    tags=("investment", "retirement"),
)
def get_retirement_accounts(call: Call, *, client_id: str | None = None) -> dict:
    user = call.client(client_id)
    accounts = [account_dict(a) for a in user.retirement.order_by("account_id")]
    spoken = "; ".join(
        f"{a['type']} at {a['provider']} {a['balance']:,.0f} dollars" for a in accounts
    )
    return {
        "success": True,
        "accounts": accounts,
        "message": f"Your retirement accounts: {spoken}.",
    }


@tool(
    name="get_401k_details",
    description="Explain the caller's 401(k): balance, vesting, contributions and employer match.",
    parameters=schema(
        client_id=CLIENT_ID_PARAM,
        account_id=param("string", "which retirement account", maxLength=60),
    ),
    tags=("investment", "retirement"),
)
def get_401k_details(call: Call, *, client_id: str | None = None, account_id: str = "") -> dict:
    user = call.client(client_id)
    accounts = user.retirement.filter(kind__in=["401k", "403b"])
    if account_id:
        accounts = accounts.filter(account_id=account_id)
    account = accounts.order_by("is_former_employer").first()
    if account is None:
        raise ToolError("account_not_found", "I don't see a 401(k) on your profile.")
    details = account_dict(account)
    details.update(
        ytd_contributions=money(account.ytd_contributions),
        employer_match=account.employer_match,
        allocation=account.allocation,
    )
    return {
        "success": True,
        "account": details,
        "message": f"Your {account.employer or account.provider} 401(k) holds "
        f"{money(account.balance):,.0f} dollars, {money(account.vested_balance):,.0f} vested.",
    }


@tool(
    name="get_rollover_options",
    description="Explain the caller's options for rolling over a 401(k) or other retirement plan.",
    parameters=schema(
        required=("source_account_type",),
        client_id=CLIENT_ID_PARAM,
        source_account_type=param(
            "string",
            "the kind of plan to roll over",
            ask="What kind of plan is it: a 401(k), 403(b), 457, pension or an IRA?",
            enum=["401k", "403b", "457", "pension", "ira"],
        ),
        balance=param("number", "the plan balance in dollars", minimum=0),
    ),
    tags=("investment", "retirement"),
)
def get_rollover_options(
    call: Call,
    *,
    source_account_type: str,
    client_id: str | None = None,
    balance: float | None = None,
) -> dict:
    user = call.client(client_id)
    if balance is None:
        source = user.retirement.filter(is_former_employer=True).first()
        balance = money(source.balance) if source else 0.0
    options = [
        {"option": key, "title": title, "summary": summary}
        for key, (title, summary) in ROLLOVER_OPTIONS.items()
        if not (key == "leave_in_plan" and balance < 7000)
    ]
    return {
        "success": True,
        "source_account_type": source_account_type,
        "balance": balance,
        "options": options,
        "recommended": "direct_rollover_ira",
        "message": "You can roll it directly into an IRA with no tax, convert to a Roth IRA, "
        "move it to your new employer's plan, or cash it out with taxes and a penalty.",
    }


@tool(
    name="calculate_tax_impact",
    description="Estimate the taxes and penalties of a retirement withdrawal, Roth conversion, "
    "rollover or required minimum distribution.",
    parameters=schema(
        required=("action_type", "amount"),
        client_id=CLIENT_ID_PARAM,
        action_type=param(
            "string",
            "what the caller wants to do with the money",
            ask="Are you thinking of a withdrawal, a Roth conversion, a rollover or a required "
            "minimum distribution?",
            enum=["withdrawal", "roth_conversion", "rollover", "rmd"],
        ),
        amount=param(
            "number", "the amount in dollars", ask="How much money is involved?", minimum=0
        ),
        age=param("integer", "the caller's age", ask="How old are you?", minimum=18, maximum=120),
    ),
    tags=("investment", "tax"),
)
def calculate_tax_impact(
    call: Call,
    *,
    action_type: str,
    amount: float,
    client_id: str | None = None,
    age: int | None = None,
) -> dict:
    if age is None:
        user = call.client_or_none(client_id)
        if user is None:
            raise ToolError("age_required", "How old are you?")
        age = user.age
    value = Decimal(str(amount))
    taxable = Decimal(0) if action_type == "rollover" else value
    tax = taxable * FEDERAL_RATE
    penalty = value * EARLY_PENALTY if action_type == "withdrawal" and age < 60 else Decimal(0)
    return {
        "success": True,
        "action_type": action_type,
        "amount": money(value),
        "age": age,
        "estimated_federal_tax": money(tax),
        "early_withdrawal_penalty": money(penalty),
        "net_amount": money(value - tax - penalty)
        if action_type in ("withdrawal", "rmd")
        else money(value),
        "disclaimer": DISCLAIMER,
        "message": f"Estimated federal tax {money(tax):,.0f} dollars"
        + (f" plus a {money(penalty):,.0f} dollar early withdrawal penalty" if penalty else "")
        + ". "
        + DISCLAIMER,
    }


@tool(
    name="search_rollover_guidance",
    description="Answer questions about 401(k) rollovers, IRAs and retirement rules.",
    parameters=schema(
        required=("query",),
        query=param(
            "string",
            "the caller's retirement question",
            ask="What would you like to know?",
            minLength=2,
            maxLength=500,
        ),
    ),
    tags=("investment", "knowledge"),
)
def search_rollover_guidance(call: Call, *, query: str) -> dict:
    results = search(query, collection="retirement", top_k=3)
    if not results:
        raise ToolError("no_answer", "I don't have guidance on that. Shall I book an adviser?")
    return {"success": True, "results": results, "message": results[0]["answer"]}


@tool(
    name="get_account_routing_info",
    description="Give the routing and account details to send money into the caller's IRA.",
    parameters=schema(
        required=("account_type",),
        client_id=CLIENT_ID_PARAM,
        account_type=param(
            "string",
            "the kind of IRA",
            ask="Is it a traditional, Roth, SEP or SIMPLE IRA?",
            enum=["traditional_ira", "roth_ira", "sep_ira", "simple_ira"],
        ),
    ),
    tags=("investment", "accounts"),
)
def get_account_routing_info(
    call: Call, *, account_type: str, client_id: str | None = None
) -> dict:
    user = call.client(client_id)
    account = user.retirement.filter(kind=account_type).first()
    if account is None:
        raise ToolError(
            "account_not_found", "You don't have that kind of IRA with us yet. Shall I open one?"
        )
    routing = user.accounts.values_list("routing_number", flat=True).first() or "021000021"
    return {
        "success": True,
        "account_type": account_type,
        "account_id": account.account_id,
        "routing_number": routing,
        "account_number_last4": account.account_id[-4:],
        "message": f"Use routing number {routing} and your IRA account ending "
        f"{account.account_id[-4:]}.",
    }
