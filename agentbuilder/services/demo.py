"""Synthetic demo users and their banking data (`/api/v1/demo-env/temporary-user`).

The secrets (verification and MFA codes) exist in clear only in the value this returns to the
creator; the database keeps salted HMACs.
"""

from __future__ import annotations

import random
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agentbuilder.codes import code_new
from agentbuilder.models import (
    Account,
    Card,
    DemoUser,
    RetirementAccount,
    SecretCode,
    Transaction,
)

DEMO_USER_TTL = timedelta(seconds=settings.DEMO_USER_TTL_SECONDS)
IDENTITY_MAX_ATTEMPTS = 5
CODE_MAX_ATTEMPTS = 3
SAFETY_NOTICE = (
    "Demo data only. Never enter real personal or financial information. The codes above are "
    "shown once: they are stored only as hashes."
)

PROFILES = [
    {
        "suffix": "cfs",
        "institution_name": "Contoso Financial Services",
        "company_code": "CFS-12345",
        "relationship_tier": "Platinum",
        "max_transaction_limit": Decimal("50000000"),
        "mfa_required_threshold": Decimal("10000"),
        "phone_number": "+15551234567",
        "address": "1 Harbor Way, Seattle, WA 98101",
        "client_since": "2016-03-14",
        "merchants": ["Delta Air Lines", "Whole Foods", "Marriott"],
    },
    {
        "suffix": "gca",
        "institution_name": "Global Capital Advisors",
        "company_code": "GCA-48210",
        "relationship_tier": "Gold",
        "max_transaction_limit": Decimal("20000000"),
        "mfa_required_threshold": Decimal("5000"),
        "phone_number": "+15559876543",
        "address": "200 Market Street, San Francisco, CA 94105",
        "client_since": "2019-09-02",
        "merchants": ["Amazon", "Shell", "Starbucks"],
    },
]


@dataclass(frozen=True)
class DemoUserCreated:
    user: DemoUser
    codes: dict[str, str]  # shown once to the creator


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:60] or "guest"


def _client_id(full_name: str, suffix: str) -> str:
    base = f"{_slug(full_name)}_{suffix}"
    if not DemoUser.objects.filter(client_id=base).exists():
        return base
    return f"{base}_{secrets.token_hex(2)}"


def _intelligence(profile: dict, rng: random.Random) -> dict:
    return {
        "relationship_context": {
            "tier": profile["relationship_tier"],
            "client_since": profile["client_since"],
            "lifetime_value": rng.randint(250_000, 2_000_000),
            "satisfaction_score": rng.randint(80, 98),
            "previous_interactions": rng.randint(3, 40),
        },
        "spending_patterns": {
            "common_merchants": profile["merchants"],
            "usual_spending_range": "50 to 2,500 dollars",
        },
        "memory_score": {
            "communication_style": rng.choice(["direct", "detailed", "friendly"]),
            "preferred_resolution_style": rng.choice(["fast", "thorough"]),
        },
        "fraud_context": {"risk_profile": "low", "security_preferences": ["sms alerts"]},
        "conversation_context": {
            "suggested_talking_points": [
                "travel rewards card upgrade",
                "rollover of a former employer's 401k",
            ]
        },
        "active_alerts": ["two unusual card charges this week"],
    }


def _banking_data(user: DemoUser, profile: dict, rng: random.Random) -> None:
    now = timezone.now()
    cid = user.client_id
    checking = Account.objects.create(
        demo_user=user,
        account_id=f"CHK-{cid}",
        kind=Account.Kind.CHECKING,
        nickname="Checking",
        balance=Decimal(rng.randint(8_000, 40_000)),
        available_balance=Decimal(0),
        number_last4=code_new(4),
    )
    checking.available_balance = checking.balance
    checking.save(update_fields=["available_balance"])
    savings_balance = Decimal(rng.randint(50_000, 250_000))
    Account.objects.create(
        demo_user=user,
        account_id=f"SAV-{cid}",
        kind=Account.Kind.SAVINGS,
        nickname="Savings",
        balance=savings_balance,
        available_balance=savings_balance,
        number_last4=code_new(4),
    )
    credit = Card.objects.create(
        demo_user=user,
        card_id=f"CRD-{cid}-1",
        product_name="Travel Rewards",
        kind="credit",
        last4=code_new(4),
    )
    Card.objects.create(
        demo_user=user,
        card_id=f"CRD-{cid}-2",
        product_name="Debit card",
        kind="debit",
        last4=code_new(4),
    )
    m1, m2, m3 = profile["merchants"]
    rows = [
        # merchant, amount, category, days ago, risk, fee, location
        (m1, "642.18", "travel", 1, 12, False, "Seattle, WA"),
        (m2, "86.40", "groceries", 2, 5, False, "Seattle, WA"),
        ("ElectroMart Online", "1299.99", "electronics", 0, 92, False, "Lagos, NG"),
        ("QuickPay Gift Cards", "500.00", "gift_cards", 0, 85, False, "unknown"),
        (m3, "212.75", "dining", 4, 8, False, "San Francisco, CA"),
        ("Overdraft fee", "35.00", "fees", 6, 0, True, ""),
        ("City Utilities", "148.22", "utilities", 9, 3, False, ""),
        ("Streamly subscription", "15.99", "entertainment", 12, 10, False, "online"),
    ]
    Transaction.objects.bulk_create(
        Transaction(
            demo_user=user,
            account=checking if fee else None,
            transaction_id=f"TXN-{cid}-{i:03d}",
            merchant=merchant,
            amount=Decimal(amount),
            category=category,
            location=location,
            card_last4="" if fee else credit.last4,
            timestamp=now - timedelta(days=days, hours=i),
            risk_score=risk,
            is_fee=fee,
        )
        for i, (merchant, amount, category, days, risk, fee, location) in enumerate(rows, 1)
    )
    RetirementAccount.objects.bulk_create(
        [
            RetirementAccount(
                demo_user=user,
                account_id=f"401K-{cid}-{code_new(4)}",
                kind=RetirementAccount.Kind.K401,
                provider="Fidelity",
                employer="Northwind Traders",
                is_former_employer=True,
                balance=Decimal(rng.randint(80_000, 300_000)),
                vested_balance=Decimal(0),
                employer_match="100% of the first 4%",
                allocation={"target_date_2050": 70, "bond_index": 30},
            ),
            RetirementAccount(
                demo_user=user,
                account_id=f"401K-{cid}-{code_new(4)}",
                kind=RetirementAccount.Kind.K401,
                provider=profile["institution_name"],
                employer="Fabrikam",
                balance=Decimal(rng.randint(10_000, 60_000)),
                vested_balance=Decimal(0),
                ytd_contributions=Decimal(rng.randint(4_000, 15_000)),
                employer_match="50% of the first 6%",
                allocation={"sp500_index": 80, "international_index": 20},
            ),
            RetirementAccount(
                demo_user=user,
                account_id=f"IRA-{cid}-{code_new(4)}",
                kind=RetirementAccount.Kind.ROTH_IRA,
                provider=profile["institution_name"],
                balance=Decimal(rng.randint(15_000, 90_000)),
                vested_balance=Decimal(0),
            ),
        ]
    )
    for account in user.retirement.all():
        account.vested_balance = account.balance
        account.save(update_fields=["vested_balance"])


@transaction.atomic
def demo_user_create(
    *,
    full_name: str,
    email: str,
    phone_number: str = "",
    preferred_channel: str = "",
    session_id: str = "",
    created_by=None,
    codes: Mapping[str, str] | None = None,
) -> DemoUserCreated:
    """Create a demo customer with accounts, cards, transactions and fresh secret codes.

    `codes` (purpose → code, e.g. ``{"ssn4": "4817"}``) replaces generated codes, for callers
    that must know them in advance (a scripted caller, a benchmark). It is never exposed to API
    clients: codes a client could choose would not be secrets.
    """
    chosen = _chosen_codes(codes or {})
    rng = random.Random(secrets.randbits(64))
    profile = rng.choice(PROFILES)
    now = timezone.now()
    DemoUser.objects.filter(expires_at__lte=now).delete()
    user = DemoUser.objects.create(
        client_id=_client_id(full_name, profile["suffix"]),
        entry_id=f"demo-entry-{secrets.randbelow(10**6):06d}-{secrets.token_hex(2)}",
        full_name=" ".join(full_name.split()),
        email=email.lower(),
        phone_number=phone_number or profile["phone_number"],
        preferred_channel=preferred_channel or DemoUser.Channel.EMAIL,
        institution_name=profile["institution_name"],
        company_code=profile["company_code"],
        relationship_tier=profile["relationship_tier"],
        max_transaction_limit=profile["max_transaction_limit"],
        mfa_required_threshold=profile["mfa_required_threshold"],
        mailing_address=profile["address"],
        age=rng.randint(30, 64),
        compliance={
            "kyc_verified": True,
            "aml_cleared": True,
            "sanctions_clear": True,
            "pep_clear": True,
            "last_review_date": (now - timedelta(days=rng.randint(30, 300))).date().isoformat(),
            "risk_rating": "low",
        },
        customer_intelligence=_intelligence(profile, rng),
        session_id=session_id,
        created_by=created_by if getattr(created_by, "is_authenticated", False) else None,
        expires_at=now + DEMO_USER_TTL,
    )
    generated = {
        SecretCode.Purpose.SSN4: code_new(4),
        SecretCode.Purpose.EMPLOYEE_ID4: code_new(4),
        SecretCode.Purpose.PHONE4: user.phone_number[-4:],
        SecretCode.Purpose.MFA: code_new(6),
        SecretCode.Purpose.ESIGN: code_new(6),
    }
    final = {str(purpose): chosen.get(str(purpose), code) for purpose, code in generated.items()}
    SecretCode.objects.bulk_create(
        SecretCode.build(
            demo_user=user,
            purpose=purpose,
            code=code,
            expires_at=user.expires_at,
            max_attempts=CODE_MAX_ATTEMPTS if len(code) == 6 else IDENTITY_MAX_ATTEMPTS,
        )
        for purpose, code in final.items()
    )
    _banking_data(user, profile, rng)
    return DemoUserCreated(user=user, codes=final)


_CODE_DIGITS = {
    SecretCode.Purpose.SSN4: 4,
    SecretCode.Purpose.EMPLOYEE_ID4: 4,
    SecretCode.Purpose.MFA: 6,
    SecretCode.Purpose.ESIGN: 6,
}


def _chosen_codes(codes: Mapping[str, str]) -> dict[str, str]:
    """Validated chosen codes: known purposes, digits of the purpose's length (the phone code
    follows the phone number)."""
    chosen = {}
    for purpose, code in codes.items():
        digits = _CODE_DIGITS.get(purpose)
        if digits is None:
            raise ValueError(f"unknown code purpose {purpose!r}")
        if not (isinstance(code, str) and code.isdigit() and len(code) == digits):
            raise ValueError(f"the {purpose} code must be {digits} digits")
        chosen[str(purpose)] = code
    return chosen


def demo_users_purge_expired() -> int:
    _, per_model = DemoUser.objects.filter(expires_at__lte=timezone.now()).delete()
    return per_model.get(DemoUser._meta.label, 0)
