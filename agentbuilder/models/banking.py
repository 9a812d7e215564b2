"""Synthetic banking data of demo users: what the banking tools read and write.

Everything here is demo data created by `/api/v1/demo-env/temporary-user` and expires with
its demo user.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from agentbuilder.codes import code_hash, code_matches, salt_new

MONEY = {"max_digits": 14, "decimal_places": 2}


class DemoUserQuerySet(models.QuerySet):
    def active(self):
        return self.filter(expires_at__gt=timezone.now())


class DemoUser(models.Model):
    """A synthetic bank customer the agents can verify and serve."""

    class Channel(models.TextChoices):
        EMAIL = "email", "Email"
        SMS = "sms", "SMS"

    client_id = models.CharField(max_length=80, unique=True)
    entry_id = models.CharField(max_length=40, unique=True)
    full_name = models.CharField(max_length=120, db_index=True)
    email = models.EmailField(db_index=True)
    phone_number = models.CharField(max_length=16, blank=True)
    preferred_channel = models.CharField(
        max_length=8, choices=Channel.choices, default=Channel.EMAIL
    )
    institution_name = models.CharField(max_length=120)
    company_code = models.CharField(max_length=20)
    relationship_tier = models.CharField(max_length=20)
    client_type = models.CharField(max_length=20, default="institutional")
    authorization_level = models.CharField(max_length=40, default="senior_advisor")
    max_transaction_limit = models.DecimalField(**MONEY)
    mfa_required_threshold = models.DecimalField(**MONEY)
    mailing_address = models.CharField(max_length=200, blank=True)
    age = models.PositiveSmallIntegerField(default=45)
    compliance = models.JSONField(default=dict, blank=True)
    customer_intelligence = models.JSONField(default=dict, blank=True)
    session_id = models.CharField(max_length=120, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    objects = DemoUserQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.client_id})"


class SecretCode(models.Model):
    """A demo secret, stored as a salted HMAC with an expiry and an attempt limit."""

    class Purpose(models.TextChoices):
        SSN4 = "ssn4", "SSN last four"
        EMPLOYEE_ID4 = "employee_id4", "Employee id last four"
        PHONE4 = "phone4", "Phone last four"
        MFA = "mfa", "MFA code"
        ESIGN = "esign", "E-signature code"

    demo_user = models.ForeignKey(DemoUser, on_delete=models.CASCADE, related_name="codes")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    salt = models.CharField(max_length=32)
    code_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()
    max_attempts = models.PositiveSmallIntegerField(default=3)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["demo_user", "purpose"], name="agentbuilder_one_code_per_purpose"
            ),
            models.CheckConstraint(
                condition=Q(failed_attempts__lte=models.F("max_attempts")),
                name="agentbuilder_code_attempts_within_limit",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_purpose_display()} of {self.demo_user_id}"

    @classmethod
    def build(cls, *, demo_user: DemoUser, purpose: str, code: str, expires_at, max_attempts=3):
        salt = salt_new()
        return cls(
            demo_user=demo_user,
            purpose=purpose,
            salt=salt,
            code_hash=code_hash(code, salt),
            expires_at=expires_at,
            max_attempts=max_attempts,
        )

    @property
    def is_locked(self) -> bool:
        return self.failed_attempts >= self.max_attempts

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    def matches(self, code: str) -> bool:
        return code_matches(code, salt=self.salt, digest=self.code_hash)


class Account(models.Model):
    class Kind(models.TextChoices):
        CHECKING = "checking", "Checking"
        SAVINGS = "savings", "Savings"
        CREDIT = "credit", "Credit card"

    demo_user = models.ForeignKey(DemoUser, on_delete=models.CASCADE, related_name="accounts")
    account_id = models.CharField(max_length=60, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    nickname = models.CharField(max_length=60)
    balance = models.DecimalField(**MONEY)
    available_balance = models.DecimalField(**MONEY)
    number_last4 = models.CharField(max_length=4)
    routing_number = models.CharField(max_length=9, default="021000021")

    def __str__(self) -> str:
        return self.account_id


class Transaction(models.Model):
    class Status(models.TextChoices):
        POSTED = "posted", "Posted"
        PENDING = "pending", "Pending"
        DISPUTED = "disputed", "Disputed"
        REFUNDED = "refunded", "Refunded"

    demo_user = models.ForeignKey(DemoUser, on_delete=models.CASCADE, related_name="transactions")
    account = models.ForeignKey(Account, null=True, blank=True, on_delete=models.SET_NULL)
    transaction_id = models.CharField(max_length=80, unique=True)
    merchant = models.CharField(max_length=120)
    amount = models.DecimalField(**MONEY)
    category = models.CharField(max_length=40)
    location = models.CharField(max_length=80, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    timestamp = models.DateTimeField()
    risk_score = models.PositiveSmallIntegerField(default=0)
    is_fee = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.POSTED)

    class Meta:
        ordering = ["-timestamp"]
        constraints = [
            models.CheckConstraint(
                condition=Q(risk_score__lte=100), name="agentbuilder_risk_score_max_100"
            ),
        ]

    def __str__(self) -> str:
        return self.transaction_id


class Card(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        BLOCKED = "blocked", "Blocked"
        LOST = "lost", "Reported lost"
        STOLEN = "stolen", "Reported stolen"
        SHIPPING = "shipping", "Replacement shipping"

    demo_user = models.ForeignKey(DemoUser, on_delete=models.CASCADE, related_name="cards")
    card_id = models.CharField(max_length=80, unique=True)
    product_name = models.CharField(max_length=80)
    kind = models.CharField(max_length=10, default="credit")
    last4 = models.CharField(max_length=4)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=200, blank=True)
    replaces = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    expedited = models.BooleanField(default=False)
    ship_to = models.CharField(max_length=200, blank=True)
    estimated_delivery = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.product_name} ending {self.last4}"


class FraudCase(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        INVESTIGATING = "investigating", "Investigating"
        CLOSED = "closed", "Closed"

    demo_user = models.ForeignKey(DemoUser, on_delete=models.CASCADE, related_name="fraud_cases")
    case_id = models.CharField(max_length=40, unique=True)
    reason = models.TextField()
    customer_statement = models.TextField(blank=True)
    transactions = models.ManyToManyField(Transaction, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    session_id = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.case_id


class Dispute(models.Model):
    class Kind(models.TextChoices):
        UNAUTHORIZED = "unauthorized", "Unauthorized"
        DUPLICATE = "duplicate", "Duplicate charge"
        INCORRECT_AMOUNT = "incorrect_amount", "Incorrect amount"
        NOT_RECEIVED = "merchandise_not_received", "Merchandise not received"
        OTHER = "other", "Other"

    demo_user = models.ForeignKey(DemoUser, on_delete=models.CASCADE, related_name="disputes")
    dispute_id = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    description = models.TextField()
    transactions = models.ManyToManyField(Transaction, blank=True)
    provisional_credit = models.DecimalField(**MONEY, default=0)
    status = models.CharField(max_length=16, default="open")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.dispute_id


class CardProduct(models.Model):
    """A credit card the bank offers (shipped catalogue, loaded with the agent library)."""

    product_id = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    tier = models.CharField(max_length=20)
    annual_fee = models.DecimalField(**MONEY)
    apr = models.CharField(max_length=30)
    foreign_transaction_fee = models.CharField(max_length=20)
    rewards = models.CharField(max_length=200)
    categories = models.JSONField(default=list, blank=True)
    benefits = models.JSONField(default=list, blank=True)
    description = models.TextField()

    class Meta:
        ordering = ["annual_fee", "product_id"]

    def __str__(self) -> str:
        return self.name


class CardApplication(models.Model):
    class Status(models.TextChoices):
        AGREEMENT_SENT = "agreement_sent", "Agreement sent"
        SIGNED = "signed", "Signed"
        APPROVED = "approved", "Approved"

    demo_user = models.ForeignKey(DemoUser, on_delete=models.CASCADE, related_name="applications")
    application_id = models.CharField(max_length=40, unique=True)
    product = models.ForeignKey(CardProduct, on_delete=models.PROTECT)
    status = models.CharField(max_length=16, choices=Status.choices)
    card_name = models.CharField(max_length=80, blank=True)
    signed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.application_id


class RetirementAccount(models.Model):
    class Kind(models.TextChoices):
        K401 = "401k", "401(k)"
        K403B = "403b", "403(b)"
        TRADITIONAL_IRA = "traditional_ira", "Traditional IRA"
        ROTH_IRA = "roth_ira", "Roth IRA"

    demo_user = models.ForeignKey(DemoUser, on_delete=models.CASCADE, related_name="retirement")
    account_id = models.CharField(max_length=60, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    provider = models.CharField(max_length=80)
    employer = models.CharField(max_length=80, blank=True)
    is_former_employer = models.BooleanField(default=False)
    balance = models.DecimalField(**MONEY)
    vested_balance = models.DecimalField(**MONEY)
    ytd_contributions = models.DecimalField(**MONEY, default=0)
    employer_match = models.CharField(max_length=60, blank=True)
    allocation = models.JSONField(default=dict, blank=True)

    def __str__(self) -> str:
        return self.account_id


class Escalation(models.Model):
    """A hand-over to people: human agent, emergency, call-centre transfer or complaint."""

    class Kind(models.TextChoices):
        HUMAN = "human", "Human agent"
        EMERGENCY = "emergency", "Emergency"
        TRANSFER = "transfer", "Call-centre transfer"
        COMPLAINT = "complaint", "Complaint"

    class Priority(models.TextChoices):
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    reference = models.CharField(max_length=40, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    demo_user = models.ForeignKey(DemoUser, null=True, blank=True, on_delete=models.CASCADE)
    department = models.CharField(max_length=30, blank=True)
    category = models.CharField(max_length=40, blank=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    reason = models.TextField()
    details = models.TextField(blank=True)
    session_id = models.CharField(max_length=120, blank=True)
    agent_name = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, default="queued")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reference


class Callback(models.Model):
    """A callback the caller asked for."""

    reference = models.CharField(max_length=40, unique=True)
    demo_user = models.ForeignKey(DemoUser, on_delete=models.CASCADE, related_name="callbacks")
    phone_number = models.CharField(max_length=20)
    preferred_time = models.CharField(max_length=80, blank=True)
    reason = models.TextField()
    department = models.CharField(max_length=30, default="general")
    session_id = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=16, default="scheduled")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reference
