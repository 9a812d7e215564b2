"""Credit card products, comparison and the application with e-signature."""

from __future__ import annotations

import re
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from agentbuilder.codes import code_new
from agentbuilder.models import Card, CardApplication, CardProduct, SecretCode
from agentbuilder.tools.auth import _fail_attempt, _mfa_code
from agentbuilder.tools.context import CLIENT_ID_PARAM, Call, mask_email, money, reference
from agentbuilder.tools.registry import ToolError, param, schema, tool

CATEGORIES = ["travel", "dining", "groceries", "gas", "online_shopping", "everyday", "business"]
PRODUCT_PARAM = param(
    "string",
    "the card's product id or name",
    ask="Which card are you interested in?",
    minLength=2,
    maxLength=80,
)


def product_dict(product: CardProduct) -> dict:
    return {
        "product_id": product.product_id,
        "name": product.name,
        "tier": product.tier,
        "annual_fee": money(product.annual_fee),
        "apr": product.apr,
        "foreign_transaction_fee": product.foreign_transaction_fee,
        "rewards": product.rewards,
        "categories": product.categories,
        "benefits": product.benefits,
    }


def find_product(text: str) -> CardProduct:
    product = CardProduct.objects.filter(product_id__iexact=text.strip()).first()
    if product is None:
        words = [w for w in re.findall(r"[a-z]+", text.lower()) if w not in {"card", "the"}]
        for candidate in CardProduct.objects.all():
            name = candidate.name.lower()
            if words and all(w in name for w in words):
                product = candidate
                break
    if product is None:
        raise ToolError("product_not_found", "I don't know that card. Shall I list our cards?")
    return product


@tool(
    name="search_card_products",
    description=(
        "Recommend credit cards that fit what the caller wants: travel rewards, cash back, "
        "no annual fee, a low rate, and where they spend most."
    ),
    parameters=schema(
        required=("preferences",),
        preferences=param(
            "string",
            "what the caller wants from a new credit card",
            ask="What matters most to you in a card: travel rewards, cash back, "
            "no annual fee or a low interest rate?",
            minLength=2,
            maxLength=300,
        ),
        spending_categories=param(
            "array",
            "where the caller spends most",
            items={"type": "string", "enum": CATEGORIES},
            maxItems=len(CATEGORIES),
        ),
        customer_profile=param("string", "anything else known about the caller", maxLength=300),
    ),
    tags=("cards", "products"),
)
def search_card_products(
    call: Call,
    *,
    preferences: str,
    spending_categories: list[str] | None = None,
    customer_profile: str = "",
) -> dict:
    wanted = set(re.findall(r"[a-z]+", f"{preferences} {customer_profile}".lower()))
    wanted |= {c.replace("_", " ") for c in spending_categories or []}
    if {"no", "fee"} <= wanted or "free" in wanted:
        wanted.add("no_annual_fee")
    scored = []
    for product in CardProduct.objects.all():
        text = " ".join(
            [product.name, product.rewards, product.description, *product.benefits]
            + [c.replace("_", " ") for c in product.categories]
        ).lower()
        score = sum(1 for w in wanted if len(w) > 2 and w in text)
        if "no_annual_fee" in wanted and product.annual_fee == 0:
            score += 3
        scored.append((score, product))
    scored.sort(key=lambda pair: (-pair[0], pair[1].annual_fee))
    best = [product_dict(p) for score, p in scored[:3] if score > 0] or [
        product_dict(p) for _, p in scored[:3]
    ]
    names = ", ".join(p["name"] for p in best)
    return {
        "success": True,
        "cards": best,
        "message": f"Cards that fit: {names}." if best else "We have no cards to offer.",
    }


@tool(
    name="get_card_details",
    description="Explain one credit card's fees, rate, rewards and benefits.",
    parameters=schema(
        required=("product_id",),
        product_id=PRODUCT_PARAM,
        query=param("string", "what the caller wants to know about the card", maxLength=200),
    ),
    tags=("cards", "products"),
)
def get_card_details(call: Call, *, product_id: str, query: str = "") -> dict:
    product = find_product(product_id)
    details = product_dict(product)
    details["description"] = product.description
    return {
        "success": True,
        "card": details,
        "message": f"The {product.name} has a {money(product.annual_fee):,.0f} dollar annual "
        f"fee, {product.apr} APR, and earns {product.rewards}.",
    }


@tool(
    name="send_card_agreement",
    description="Email the caller the cardholder agreement to sign for the card they chose.",
    parameters=schema(
        required=("card_product_id",), client_id=CLIENT_ID_PARAM, card_product_id=PRODUCT_PARAM
    ),
    tags=("cards", "applications"),
)
def send_card_agreement(call: Call, *, card_product_id: str, client_id: str | None = None) -> dict:
    user = call.client(client_id)
    product = find_product(card_product_id)
    application = CardApplication.objects.create(
        demo_user=user,
        application_id=reference("APP"),
        product=product,
        status=CardApplication.Status.AGREEMENT_SENT,
    )
    return {
        "success": True,
        "application_id": application.application_id,
        "card": product.name,
        "sent_to": mask_email(user.email),
        "message": f"I've emailed the {product.name} agreement to {mask_email(user.email)}. "
        "To sign, read me the six-digit signing code.",
        "demo_note": "Demo: the signing code is the e-signature code shown at profile creation.",
    }


@tool(
    name="verify_esignature",
    description="Sign the card agreement with the six-digit signing code the caller reads back.",
    parameters=schema(
        required=("verification_code",),
        client_id=CLIENT_ID_PARAM,
        verification_code=param(
            "string",
            "the six-digit signing code of the agreement",
            ask="What is the six-digit signing code?",
            pattern=r"^\d{6}$",
        ),
    ),
    tags=("cards", "applications"),
)
def verify_esignature(call: Call, *, verification_code: str, client_id: str | None = None) -> dict:
    user = call.client(client_id)
    application = (
        user.applications.filter(status=CardApplication.Status.AGREEMENT_SENT)
        .order_by("-created_at")
        .first()
    )
    if application is None:
        raise ToolError("no_agreement", "There is no agreement waiting for a signature.")
    secret = _mfa_code(user, SecretCode.Purpose.ESIGN)
    if not secret.matches(verification_code):
        _fail_attempt(secret)
        return {
            "success": False,
            "signed": False,
            "error": "code_incorrect",
            "message": "That signing code doesn't match. Could you read it again?",
        }
    application.status = CardApplication.Status.SIGNED
    application.signed_at = timezone.now()
    application.save(update_fields=["status", "signed_at", "updated_at"])
    return {
        "success": True,
        "signed": True,
        "application_id": application.application_id,
        "message": "Thank you, the agreement is signed.",
    }


@tool(
    name="finalize_card_application",
    description="Submit the signed credit card application and open the new card.",
    parameters=schema(
        required=("card_product_id",),
        client_id=CLIENT_ID_PARAM,
        card_product_id=PRODUCT_PARAM,
        card_name=param("string", "the name to print on the card", maxLength=80),
    ),
    tags=("cards", "applications"),
)
def finalize_card_application(
    call: Call, *, card_product_id: str, client_id: str | None = None, card_name: str = ""
) -> dict:
    user = call.client(client_id)
    product = find_product(card_product_id)
    application = (
        user.applications.filter(product=product, status=CardApplication.Status.SIGNED)
        .order_by("-created_at")
        .first()
    )
    if application is None:
        raise ToolError(
            "not_signed", "The agreement for that card must be signed before I can submit it."
        )
    with transaction.atomic():
        application.status = CardApplication.Status.APPROVED
        application.card_name = card_name or user.full_name
        application.save(update_fields=["status", "card_name", "updated_at"])
        card = Card.objects.create(
            demo_user=user,
            card_id=reference("CRD"),
            product_name=product.name,
            last4=code_new(4),
            status=Card.Status.SHIPPING,
            ship_to=user.mailing_address,
            estimated_delivery=(timezone.now() + timedelta(days=7)).date(),
        )
    return {
        "success": True,
        "application_id": application.application_id,
        "status": application.status,
        "card_id": card.card_id,
        "message": f"Congratulations, your {product.name} is approved. "
        "It will arrive within seven to ten days.",
    }
