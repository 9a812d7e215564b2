"""Identity verification and MFA. Codes are checked against their hashes and never returned."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agentbuilder.models import DemoUser, SecretCode
from agentbuilder.tools.context import (
    CALLER_NAME,
    CLIENT_ID,
    CLIENT_ID_PARAM,
    IDENTITY_FAILURES,
    MFA_VERIFIED,
    Call,
    first_name,
    mask_email,
    mask_phone,
)
from agentbuilder.tools.registry import ToolError, param, schema, tool

MAX_IDENTITY_FAILURES_PER_SESSION = 3

METHOD = param(
    "string",
    "how to send the code: text message (sms), phone call (voice) or email",
    ask="Should I send the code by text message, phone call or email?",
    enum=["sms", "voice", "email"],
)


def _normalize_name(name: str) -> str:
    return " ".join(name.split())


def _fail_attempt(code: SecretCode) -> None:
    SecretCode.objects.filter(pk=code.pk, failed_attempts__lt=F("max_attempts")).update(
        failed_attempts=F("failed_attempts") + 1
    )


@tool(
    name="verify_client_identity",
    description=(
        "Verify the caller's identity with their full name and the last four digits of their "
        "social security number. Do this before looking at any account."
    ),
    parameters=schema(
        required=("full_name", "ssn_last_4"),
        full_name=param(
            "string",
            "the caller's full name, first and last",
            ask="What is your full name?",
            minLength=2,
            maxLength=120,
        ),
        ssn_last_4=param(
            "string",
            "the last four digits of the caller's social security number",
            ask="What are the last four digits of your social security number?",
            pattern=r"^\d{4}$",
        ),
    ),
    tags=("auth",),
)
def verify_client_identity(call: Call, *, full_name: str, ssn_last_4: str) -> dict:
    failures = int(call.state.get(IDENTITY_FAILURES, 0))
    if failures >= MAX_IDENTITY_FAILURES_PER_SESSION:
        raise ToolError(
            "too_many_attempts",
            "I couldn't verify your identity after several tries. "
            "Let me connect you with a colleague who can help.",
        )
    name = _normalize_name(full_name)
    codes = SecretCode.objects.select_related("demo_user").filter(
        purpose=SecretCode.Purpose.SSN4,
        demo_user__in=DemoUser.objects.active().filter(full_name__iexact=name),
    )
    for code in codes:
        if code.is_locked or code.is_expired:
            continue
        if code.matches(ssn_last_4):
            user = code.demo_user
            SecretCode.objects.filter(pk=code.pk).update(
                failed_attempts=0, last_used_at=timezone.now()
            )
            call.state[CLIENT_ID] = user.client_id
            call.state[CALLER_NAME] = user.full_name
            call.state[IDENTITY_FAILURES] = 0
            return {
                "success": True,
                "verified": True,
                "client_id": user.client_id,
                "caller_name": user.full_name,
                "institution_name": user.institution_name,
                "relationship_tier": user.relationship_tier,
                "message": f"Thank you, {first_name(user.full_name)}. You're verified.",
            }
        _fail_attempt(code)
    call.state[IDENTITY_FAILURES] = failures + 1
    remaining = MAX_IDENTITY_FAILURES_PER_SESSION - failures - 1
    return {
        "success": False,
        "verified": False,
        "error": "identity_not_verified",
        "attempts_remaining": remaining,
        "message": "I couldn't match that name and those digits. Could you say them again?"
        if remaining
        else "I couldn't verify your identity. Let me connect you with a colleague.",
    }


def _mfa_code(user: DemoUser, purpose: str = SecretCode.Purpose.MFA) -> SecretCode:
    code = SecretCode.objects.filter(demo_user=user, purpose=purpose).first()
    if code is None or code.is_expired:
        raise ToolError(
            "code_expired",
            "Your verification code has expired. Please create a new demo profile.",
        )
    if code.is_locked:
        raise ToolError(
            "code_locked",
            "That code is locked after too many wrong tries. Let me connect you with a colleague.",
        )
    return code


def _send(call: Call, client_id: str | None, method: str, resent: bool) -> dict:
    user = call.client(client_id)
    _mfa_code(user)
    destination = mask_email(user.email) if method == "email" else mask_phone(user.phone_number)
    how = {"sms": "by text message", "voice": "by phone call", "email": "by email"}[method]
    verb = "sent again" if resent else "sent"
    return {
        "success": True,
        "code_sent": True,
        "method": method,
        "destination": destination,
        "message": f"I've {verb} a six-digit code {how} to the {destination}. "
        "Please read it to me when it arrives.",
        "demo_note": "Demo: the code is the MFA code shown when the demo profile was created.",
    }


@tool(
    name="send_mfa_code",
    description="Send the caller a one-time security code (multi-factor authentication).",
    parameters=schema(client_id=CLIENT_ID_PARAM, method=METHOD),
    tags=("auth", "mfa"),
)
def send_mfa_code(call: Call, *, client_id: str | None = None, method: str = "sms") -> dict:
    return _send(call, client_id, method, resent=False)


@tool(
    name="resend_mfa_code",
    description="Send the caller's one-time security code again when it did not arrive.",
    parameters=schema(client_id=CLIENT_ID_PARAM, method=METHOD),
    tags=("auth", "mfa"),
)
def resend_mfa_code(call: Call, *, client_id: str | None = None, method: str = "sms") -> dict:
    return _send(call, client_id, method, resent=True)


@tool(
    name="verify_mfa_code",
    description="Check the six-digit security code the caller reads back.",
    parameters=schema(
        required=("code",),
        client_id=CLIENT_ID_PARAM,
        code=param(
            "string",
            "the six-digit security code the caller received",
            ask="What is the six-digit code you received?",
            pattern=r"^\d{6}$",
        ),
    ),
    tags=("auth", "mfa"),
)
def verify_mfa_code(call: Call, *, code: str, client_id: str | None = None) -> dict:
    user = call.client(client_id)
    with transaction.atomic():
        secret = _mfa_code(user)
        if secret.matches(code):
            SecretCode.objects.filter(pk=secret.pk).update(
                failed_attempts=0, last_used_at=timezone.now()
            )
            call.state[MFA_VERIFIED] = True
            return {"success": True, "verified": True, "message": "Thank you, that code is right."}
        _fail_attempt(secret)
    secret.refresh_from_db()
    remaining = secret.max_attempts - secret.failed_attempts
    return {
        "success": False,
        "verified": False,
        "error": "code_incorrect" if remaining else "code_locked",
        "attempts_remaining": remaining,
        "message": "That code doesn't match. Could you read it again?"
        if remaining
        else "That code is now locked after too many wrong tries.",
    }
