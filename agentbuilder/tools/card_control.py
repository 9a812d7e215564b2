"""Card control: block a card at once, report it lost or stolen, ship a replacement."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from agentbuilder.codes import code_new
from agentbuilder.models import Card, DemoUser
from agentbuilder.tools.context import CLIENT_ID_PARAM, Call, reference
from agentbuilder.tools.registry import ToolError, param, schema, tool

CARD_LAST4 = param(
    "string",
    "the last four digits of the card",
    ask="What are the last four digits of the card?",
    pattern=r"^\d{4}$",
)


def _card(user: DemoUser, last4: str, statuses: tuple[str, ...]) -> Card:
    cards = user.cards.filter(status__in=statuses)
    if last4:
        cards = cards.filter(last4=last4)
    matches = list(cards[:2])
    if not matches and last4:
        # Said with its digits, so the caller hears what was looked for and can say them again.
        raise ToolError(
            "card_not_found",
            f"I can't find a card ending in {' '.join(last4)} on your account. "
            "What are its last four digits?",
            asks="card_last4",
        )
    if not matches:
        raise ToolError("card_not_found", "I can't find that card on your account.")
    if len(matches) > 1 and not last4:
        raise ToolError(
            "card_ambiguous",
            "You have more than one card. What are its last four digits?",
            asks="card_last4",
        )
    return matches[0]


@tool(
    name="block_card_emergency",
    description="Block the caller's card right away so no one can use it.",
    parameters=schema(
        required=("reason",),
        client_id=CLIENT_ID_PARAM,
        card_last4=CARD_LAST4,
        reason=param(
            "string",
            "why the card must be blocked",
            ask="Why should I block the card?",
            minLength=2,
            maxLength=300,
        ),
    ),
    tags=("fraud", "cards"),
)
def block_card_emergency(
    call: Call, *, reason: str, client_id: str | None = None, card_last4: str = ""
) -> dict:
    user = call.client(client_id)
    card = _card(user, card_last4, (Card.Status.ACTIVE,))
    card.status = Card.Status.BLOCKED
    card.status_reason = reason
    card.save(update_fields=["status", "status_reason", "updated_at"])
    return {
        "success": True,
        "card_last4": card.last4,
        "status": card.status,
        "message": f"Your card ending {card.last4} is blocked. No new charges will go through.",
    }


@tool(
    name="report_lost_stolen_card",
    description="Report the caller's card lost or stolen and stop it.",
    parameters=schema(
        required=("lost_or_stolen",),
        client_id=CLIENT_ID_PARAM,
        card_last4=CARD_LAST4,
        lost_or_stolen=param(
            "string",
            "whether the card was lost or stolen",
            ask="Was the card lost or stolen?",
            enum=["lost", "stolen"],
        ),
        last_legitimate_use=param(
            "string", "when the caller last used the card themselves", maxLength=120
        ),
    ),
    tags=("fraud", "cards"),
)
def report_lost_stolen_card(
    call: Call,
    *,
    lost_or_stolen: str,
    client_id: str | None = None,
    card_last4: str = "",
    last_legitimate_use: str = "",
) -> dict:
    user = call.client(client_id)
    card = _card(user, card_last4, (Card.Status.ACTIVE, Card.Status.BLOCKED))
    card.status = lost_or_stolen
    card.status_reason = (
        f"last legitimate use: {last_legitimate_use}" if last_legitimate_use else ""
    )
    card.save(update_fields=["status", "status_reason", "updated_at"])
    return {
        "success": True,
        "card_last4": card.last4,
        "status": card.status,
        "message": f"I've reported your card ending {card.last4} as {lost_or_stolen}. "
        "It can't be used any more. Shall I send you a replacement?",
    }


@tool(
    name="ship_replacement_card",
    description="Send the caller a replacement for a blocked, lost or stolen card.",
    parameters=schema(
        client_id=CLIENT_ID_PARAM,
        expedited=param("boolean", "whether to send it by express delivery"),
        ship_to_address=param(
            "string", "where to send the card if not the address on file", maxLength=200
        ),
    ),
    tags=("fraud", "cards"),
)
def ship_replacement_card(
    call: Call, *, client_id: str | None = None, expedited: bool = False, ship_to_address: str = ""
) -> dict:
    user = call.client(client_id)
    stopped = (Card.Status.BLOCKED, Card.Status.LOST, Card.Status.STOLEN)
    old = user.cards.filter(status__in=stopped).order_by("-updated_at").first()
    if old is None:
        raise ToolError(
            "no_card_to_replace", "None of your cards is blocked. Should I block one first?"
        )
    if Card.objects.filter(replaces=old).exists():
        raise ToolError("already_replaced", "A replacement for that card is already on its way.")
    days = 2 if expedited else 7
    card = Card.objects.create(
        demo_user=user,
        card_id=reference("CRD"),
        product_name=old.product_name,
        kind=old.kind,
        last4=code_new(4),
        status=Card.Status.SHIPPING,
        replaces=old,
        expedited=expedited,
        ship_to=ship_to_address or user.mailing_address,
        estimated_delivery=(timezone.now() + timedelta(days=days)).date(),
    )
    return {
        "success": True,
        "replacement_card_id": card.card_id,
        "replaces_card_last4": old.last4,
        "expedited": expedited,
        "estimated_delivery": card.estimated_delivery.isoformat(),
        "message": f"Your new card is on its way and should arrive within {days} business days.",
    }
