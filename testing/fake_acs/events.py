"""Payloads ACS sends: CloudEvents callbacks and Event Grid events (azure-protocols §3, §4)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

EVENT_PREFIX = "Microsoft.Communication."


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def phone_identifier(number: str) -> dict:
    """CommunicationIdentifierModel of a phone number, as Event Grid sends it."""
    return {"kind": "phoneNumber", "rawId": f"4:{number}", "phoneNumber": {"value": number}}


def identifier(value: str) -> dict:
    """A phone number (E.164) or an ACS user raw id as an identifier model."""
    if value.startswith("+"):
        return phone_identifier(value)
    return {"kind": "communicationUser", "rawId": value, "communicationUser": {"id": value}}


def cloud_event(
    name: str,
    *,
    call_connection_id: str,
    server_call_id: str,
    correlation_id: str,
    operation_context: str | None = None,
    **data,
) -> dict:
    """One Call Automation callback event (CloudEvents 1.0) named e.g. `CallConnected`."""
    source = f"calling/callConnections/{call_connection_id}"
    body = {
        "callConnectionId": call_connection_id,
        "serverCallId": server_call_id,
        "correlationId": correlation_id,
        **data,
    }
    if operation_context is not None:
        body["operationContext"] = operation_context
    return {
        "id": str(uuid.uuid4()),
        "source": source,
        "type": EVENT_PREFIX + name,
        "subject": source,
        "time": now_iso(),
        "specversion": "1.0",
        "datacontenttype": "application/json",
        "data": body,
    }


def result_information(code: int = 200, sub_code: int = 0, message: str = "") -> dict:
    return {"code": code, "subCode": sub_code, "message": message or "Action completed."}


ACS_TOPIC = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/local"
    "/providers/Microsoft.Communication/communicationServices/fake-acs"
)


def event_grid_event(event_type: str, data: dict, *, subject: str = "") -> dict:
    """One Event Grid-schema event (the body of a delivery is an array of these)."""
    return {
        "id": str(uuid.uuid4()),
        "topic": ACS_TOPIC,
        "subject": subject,
        "eventType": event_type,
        "eventTime": now_iso(),
        "data": data,
        "dataVersion": "1.0",
        "metadataVersion": "1",
    }


def subscription_validation_event(validation_code: str | None = None) -> dict:
    code = validation_code or str(uuid.uuid4()).upper()
    return event_grid_event(
        "Microsoft.EventGrid.SubscriptionValidationEvent",
        {
            "validationCode": code,
            "validationUrl": "https://rp-local.eventgrid.azure.net:553/eventsubscriptions/"
            f"fake/validate?id={code}&token=fake",
        },
    )


def incoming_call_event(
    *,
    from_number: str,
    to_number: str,
    incoming_call_context: str,
    server_call_id: str,
    correlation_id: str,
    caller_display_name: str = "",
) -> dict:
    caller, callee = identifier(from_number), identifier(to_number)
    return event_grid_event(
        EVENT_PREFIX + "IncomingCall",
        {
            "to": callee,
            "from": caller,
            "serverCallId": server_call_id,
            "callerDisplayName": caller_display_name,
            "incomingCallContext": incoming_call_context,
            "correlationId": correlation_id,
        },
        subject=f"/caller/{caller['rawId']}/recipient/{callee['rawId']}",
    )
