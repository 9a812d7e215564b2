"""Identity verification and MFA. Codes are checked against their hashes and never returned."""

from __future__ import annotations

from difflib import SequenceMatcher

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
from media.providers.name_hints import edit_distance, name_words

MAX_IDENTITY_FAILURES_PER_SESSION = 3

NAME_QUESTION = "What is your full name?"
SSN_QUESTION = "What are the last four digits of your social security number?"
FULL_NAME = param(
    "string",
    "the caller's full name, first and last",
    ask=NAME_QUESTION,
    minLength=2,
    maxLength=120,
)
METHOD = param(
    "string",
    "how to send the code: text message (sms), phone call (voice) or email",
    ask="Should I send the code by text message, phone call or email?",
    enum=["sms", "voice", "email"],
)


# A spoken name part matches the one on file within this share of its letters ("Jonson" for
# "Johnson"), or within the looser share when the two sound alike ("Alis" for "Alice").
NAME_EDIT_RATIO = 0.25
NAME_SOUND_ALIKE_EDIT_RATIO = 0.6
# With the last name right, a first name the recognizer broke ("air Wilson" for "Sarah Wilson":
# "is Sarah" heard as "is air") still matches when the whole name reads this close.
WHOLE_NAME_MIN_SIMILARITY = 0.75
_SOUNDEX = {
    **dict.fromkeys("bfpv", "1"), **dict.fromkeys("cgjkqsxz", "2"), **dict.fromkeys("dt", "3"),
    "l": "4", **dict.fromkeys("mn", "5"), "r": "6",
}  # fmt: skip


def _edit_ratio(a: str, b: str) -> float:
    """Levenshtein distance over the longer length: 0 the same, 1 nothing alike."""
    return edit_distance(a, b) / max(len(a), len(b), 1)


def _soundex(part: str) -> str:
    """American Soundex without the zero padding: "alice" -> "a42", "allison" -> "a425"."""
    code, last = part[:1], _SOUNDEX.get(part[:1], "")
    for letter in part[1:]:
        digit = _SOUNDEX.get(letter, "")
        if digit and digit != last:
            code += digit
        if letter not in "hw":
            last = digit
    return code[:4]


def _sounds_alike(a: str, b: str) -> bool:
    a, b = sorted((_soundex(a), _soundex(b)), key=len)
    return a == b or (len(a) >= 3 and b.startswith(a))


def _name_part_matches(said: str, on_file: str) -> bool:
    ratio = _edit_ratio(said, on_file)
    return ratio <= NAME_EDIT_RATIO or (
        ratio <= NAME_SOUND_ALIKE_EDIT_RATIO and _sounds_alike(said, on_file)
    )


def names_match(said: str, on_file: str) -> bool:
    """The spoken full name is the one on file, allowing for how speech recognition spells it.

    First and last names are compared on their own ("Alis Jonson", "Robert Garsia" match
    "Alice Johnson", "Robert Garcia"); a middle name may be left out. A first name broken by
    the recognizer ("Air Wilson" for "Sarah Wilson") matches when the last name does and the
    whole name is close as a string; "Bob Johnson" for "Alice Johnson" does not.
    """
    spoken, known = name_words(said), name_words(on_file)
    if len(spoken) < 2 or len(known) < 2:
        return spoken == known and bool(known)
    if not _name_part_matches(spoken[-1], known[-1]):
        return False
    if _name_part_matches(spoken[0], known[0]):
        return True
    whole = SequenceMatcher(None, " ".join(spoken), " ".join(known)).ratio()
    return whole >= WHOLE_NAME_MIN_SIMILARITY


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
        full_name=FULL_NAME,
        ssn_last_4=param(
            "string",
            "the last four digits of the caller's social security number",
            ask=SSN_QUESTION,
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
    # The digits are checked exactly; the name as speech recognition may have spelled it. A
    # wrong try counts against every profile whose name matched, so a near name is no way
    # around the attempt limit. The closest name is tried first.
    closeness = {
        pk: _edit_ratio(" ".join(name_words(full_name)), " ".join(name_words(on_file)))
        for pk, on_file in DemoUser.objects.active().values_list("pk", "full_name")
        if names_match(full_name, on_file)
    }
    codes = sorted(
        SecretCode.objects.select_related("demo_user").filter(
            purpose=SecretCode.Purpose.SSN4, demo_user__in=list(closeness)
        ),
        key=lambda code: closeness[code.demo_user_id],
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
    if not remaining:
        return _not_verified(
            0, "I couldn't verify your identity. Let me connect you with a colleague."
        )
    # Asked again one at a time, the one that matched nothing first: a name misheard in a long
    # sentence ("game with Brown" for "David Brown") is mostly heard right said on its own.
    asks = "ssn_last_4" if closeness else "full_name"
    question = NAME_QUESTION if asks == "full_name" else SSN_QUESTION
    return {
        **_not_verified(remaining, f"I couldn't match that name and those digits. {question}"),
        "asks": asks,
    }


def _not_verified(remaining: int, message: str) -> dict:
    return {
        "success": False,
        "verified": False,
        "error": "identity_not_verified",
        "attempts_remaining": remaining,
        "message": message,
    }


KEYPAD_PROMPT = "Please enter the last four digits of your social security number on your keypad."


@tool(
    name="verify_identity_by_keypad",
    description=(
        "On a phone call: verify the caller with their full name and the last four digits of "
        "their social security number pressed on the keypad, so they never say them aloud."
    ),
    parameters=schema(
        required=("full_name",),
        full_name=FULL_NAME,
    ),
    tags=("auth", "telephony"),
)
def verify_identity_by_keypad(call: Call, *, full_name: str) -> dict:
    """The digits go from ACS's keypad recognition straight into the check: neither the
    arguments nor the result (what the LLM sees) hold them."""
    from calls.services import session_keypad_collect

    keys = session_keypad_collect(session_id=call.session_id, prompt=KEYPAD_PROMPT, max_digits=4)
    if keys is None:
        raise ToolError(
            "no_keypad",
            "The keypad works on a phone call only: please tell me the last four digits.",
        )
    if keys.state != "received" or len(keys.digits) != 4:
        raise ToolError(
            "no_keys",
            "I didn't get four digits from your keypad. You can try again, or tell me them.",
        )
    return verify_client_identity(call, full_name=full_name, ssn_last_4=keys.digits)


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
