"""Compliance desk: the client's KYC, AML, sanctions and PEP standing."""

from __future__ import annotations

from agentbuilder.tools.context import CLIENT_ID_PARAM, Call
from agentbuilder.tools.registry import param, schema, tool

CHECKS = {
    "kyc": ("kyc_verified", "Know-your-customer verification"),
    "aml": ("aml_cleared", "Anti-money-laundering screening"),
    "sanctions": ("sanctions_clear", "Sanctions screening"),
    "pep": ("pep_clear", "Politically exposed person screening"),
}


@tool(
    name="get_client_data",
    description="Look up the verified client's compliance file: client type, limits and reviews.",
    parameters=schema(
        client_id=CLIENT_ID_PARAM,
        include_history=param("boolean", "whether to include past reviews"),
    ),
    tags=("compliance",),
)
def get_client_data(call: Call, *, client_id: str | None = None, include_history=False) -> dict:
    user = call.client(client_id)
    data = {
        "success": True,
        "client_id": user.client_id,
        "full_name": user.full_name,
        "client_type": user.client_type,
        "authorization_level": user.authorization_level,
        "relationship_tier": user.relationship_tier,
        "max_transaction_limit": float(user.max_transaction_limit),
        "compliance": user.compliance,
        "message": f"{user.full_name} is an {user.client_type} client, risk rating "
        f"{user.compliance.get('risk_rating', 'unknown')}.",
    }
    if include_history:
        data["history"] = [{"review_date": user.compliance.get("last_review_date"), "result": "ok"}]
    return data


@tool(
    name="check_compliance_status",
    description="Check the client's compliance status: KYC, AML, sanctions or PEP screening.",
    parameters=schema(
        client_id=CLIENT_ID_PARAM,
        check_type=param(
            "string",
            "which compliance check",
            ask="Which check: know your customer, anti money laundering, sanctions or PEP?",
            enum=[*CHECKS, "general"],
        ),
    ),
    tags=("compliance",),
)
def check_compliance_status(
    call: Call, *, client_id: str | None = None, check_type: str = "general"
) -> dict:
    user = call.client(client_id)
    wanted = CHECKS if check_type == "general" else {check_type: CHECKS[check_type]}
    results = {name: bool(user.compliance.get(key, True)) for name, (key, _label) in wanted.items()}
    failing = [CHECKS[name][1] for name, ok in results.items() if not ok]
    return {
        "success": True,
        "check_type": check_type,
        "results": results,
        "compliant": not failing,
        "risk_rating": user.compliance.get("risk_rating", "unknown"),
        "last_review_date": user.compliance.get("last_review_date"),
        "message": "All compliance checks are clear."
        if not failing
        else f"Needs review: {', '.join(failing)}.",
    }
