"""What a tool function receives besides its arguments, and helpers shared by the tools."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from agentbuilder.models import DemoUser
from agentbuilder.tools.registry import ToolError

# Keys of the session's tool memory (`ToolContext.state`).
CLIENT_ID = "client_id"
CALLER_NAME = "caller_name"
MFA_VERIFIED = "mfa_verified"
IDENTITY_FAILURES = "identity_failures"

CLIENT_ID_PARAM = {
    "type": "string",
    "description": ("the caller's client id; leave it out after the caller's identity is verified"),
    "maxLength": 80,
}

VERIFY_FIRST = (
    "I need to verify your identity first. What is your full name and the last four digits "
    "of your social security number?"
)


@dataclass(slots=True)
class Call:
    """One tool call: the session it belongs to and the session's tool memory."""

    session_id: str = ""
    agent_name: str = ""
    state: dict[str, Any] = field(default_factory=dict)

    def client(self, client_id: str | None = None) -> DemoUser:
        """The verified caller. A client id other than the verified one is refused."""
        verified = self.state.get(CLIENT_ID)
        if not verified:
            raise ToolError("identity_not_verified", VERIFY_FIRST)
        if client_id and client_id != verified:
            raise ToolError(
                "not_verified_for_client",
                "I can only help with the account verified on this call.",
            )
        user = DemoUser.objects.active().filter(client_id=verified).first()
        if user is None:
            raise ToolError("client_not_found", "I can no longer find that profile.")
        return user

    def client_or_none(self, client_id: str | None = None) -> DemoUser | None:
        try:
            return self.client(client_id)
        except ToolError:
            return None


def reference(prefix: str) -> str:
    """A short unique reference a caller can read out, e.g. FRD-7C2A91."""
    return f"{prefix}-{secrets.token_hex(3).upper()}"


def money(value: Decimal | float | int) -> float:
    return float(round(Decimal(value), 2))


def mask_email(email: str) -> str:
    name, _, domain = email.partition("@")
    return f"{name[:1]}***@{domain}" if domain else "***"


def mask_phone(phone: str) -> str:
    return f"number ending {phone[-4:]}" if len(phone) >= 4 else "number on file"


def first_name(full_name: str) -> str:
    return full_name.split()[0] if full_name.split() else full_name
