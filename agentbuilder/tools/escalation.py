"""Hand-overs to people: human agents, emergencies, call-centre transfers, callbacks, complaints.

Each is a stored record operators can see in the admin. On a phone call, with ACS and
`HUMAN_TRANSFER_TARGET` configured, `transfer_to_human` and `escalate_human` also transfer the
call through Call Automation (`calls.services.session_transfer`) and say whether it went
through: a failed transfer is told to the caller and the conversation goes on.
"""

from __future__ import annotations

from agentbuilder.models import Callback, Escalation
from agentbuilder.tools.context import CLIENT_ID_PARAM, Call, reference
from agentbuilder.tools.registry import param, schema, tool

DEPARTMENTS = ["general", "fraud", "loans", "investments", "complaints", "retention"]
REASON = param(
    "string",
    "why the caller needs a person",
    ask="What should I tell my colleague you need help with?",
    minLength=2,
    maxLength=500,
)


def _escalate(call: Call, *, kind: str, reason: str, **fields) -> Escalation:
    return Escalation.objects.create(
        reference=reference("ESC"),
        kind=kind,
        demo_user=call.client_or_none(),
        reason=reason,
        session_id=call.session_id,
        agent_name=call.agent_name,
        **fields,
    )


@tool(
    name="escalate_human",
    description="Transfer the caller to a human agent, a real person, when they ask for one.",
    parameters=schema(
        required=("reason",),
        reason=REASON,
        department=param("string", "which team should take the call", enum=DEPARTMENTS),
        context_summary=param("string", "a short summary of the conversation", maxLength=2000),
        priority=param("string", "how urgent it is", enum=[p.value for p in Escalation.Priority]),
    ),
    tags=("escalation",),
)
def escalate_human(
    call: Call,
    *,
    reason: str,
    department: str = "general",
    context_summary: str = "",
    priority: str = "normal",
) -> dict:
    record = _escalate(
        call,
        kind=Escalation.Kind.HUMAN,
        reason=reason,
        department=department,
        details=context_summary,
        priority=priority,
    )
    result = {
        "success": True,
        "escalation_id": record.reference,
        "department": department,
        "priority": priority,
        "message": f"I'm connecting you with a colleague from our {department} team. "
        "Please stay on the line.",
    }
    return _with_phone_transfer(call, result, reason=reason, summary=context_summary)


def _with_phone_transfer(call: Call, result: dict, *, reason: str, summary: str) -> dict:
    """`result`, with the outcome of transferring the phone call, if this is one."""
    from calls.services import session_transfer

    spoken = summary or f"A caller from the voice agent needs help: {reason}"
    outcome = session_transfer(session_id=call.session_id, summary=spoken)
    if outcome is None:
        return result
    if outcome.state == "failed":
        return {
            **result,
            "success": False,
            "error": "transfer_failed",
            "transferred": False,
            "message": "I'm sorry, I couldn't reach a colleague right now "
            f"({outcome.message.rstrip('.')}). I can keep helping you, or arrange a call back.",
        }
    return {**result, "transferred": outcome.state == "transferred"}


@tool(
    name="transfer_to_human",
    description="Transfer the phone call to a person, a human agent, when the caller asks for "
    "one or the agent cannot help.",
    parameters=schema(
        required=("reason",),
        reason=REASON,
        context_summary=param(
            "string", "what the person taking the call should know", maxLength=1000
        ),
    ),
    tags=("escalation", "telephony"),
)
def transfer_to_human(call: Call, *, reason: str, context_summary: str = "") -> dict:
    record = _escalate(call, kind=Escalation.Kind.TRANSFER, reason=reason, details=context_summary)
    result = {
        "success": True,
        "escalation_id": record.reference,
        "message": "I'm transferring you to a colleague now. Please stay on the line.",
    }
    return _with_phone_transfer(call, result, reason=reason, summary=context_summary)


@tool(
    name="escalate_emergency",
    description="Raise an emergency: fraud in progress, a security threat, a safety concern "
    "or elder abuse.",
    parameters=schema(
        required=("emergency_type", "description"),
        client_id=CLIENT_ID_PARAM,
        emergency_type=param(
            "string",
            "what kind of emergency",
            ask="What kind of emergency is it: fraud in progress, a security threat, a safety "
            "concern or elder abuse?",
            enum=["fraud_in_progress", "security_threat", "safety_concern", "elder_abuse", "other"],
        ),
        description=param(
            "string",
            "what is happening",
            ask="What is happening right now?",
            minLength=2,
            maxLength=2000,
        ),
    ),
    tags=("escalation", "emergency"),
)
def escalate_emergency(
    call: Call, *, emergency_type: str, description: str, client_id: str | None = None
) -> dict:
    record = _escalate(
        call,
        kind=Escalation.Kind.EMERGENCY,
        reason=description,
        category=emergency_type,
        department="fraud" if emergency_type == "fraud_in_progress" else "security",
        priority=Escalation.Priority.URGENT,
    )
    return {
        "success": True,
        "escalation_id": record.reference,
        "priority": record.priority,
        "message": "I've raised this as an emergency and a specialist is joining now. "
        "If anyone is in danger, call 911.",
    }


@tool(
    name="transfer_call_to_call_center",
    description="Transfer the phone call to the call center queue.",
    parameters=schema(
        required=("reason",),
        reason=REASON,
        queue_id=param("string", "which call center queue", maxLength=60),
    ),
    tags=("escalation", "transfer"),
)
def transfer_call_to_call_center(call: Call, *, reason: str, queue_id: str = "general") -> dict:
    record = _escalate(call, kind=Escalation.Kind.TRANSFER, reason=reason, department=queue_id)
    return {
        "success": True,
        "transfer_requested": True,
        "escalation_id": record.reference,
        "queue_id": queue_id,
        "message": "I'm transferring you to our call center now.",
    }


@tool(
    name="schedule_callback",
    description="Schedule a call back to the caller at a time that suits them.",
    parameters=schema(
        required=("reason",),
        client_id=CLIENT_ID_PARAM,
        phone_number=param(
            "string", "the number to call back", pattern=r"^\+?\d{7,15}$", maxLength=16
        ),
        preferred_time=param(
            "string",
            "when the caller would like us to call",
            ask="When would you like us to call you back?",
            maxLength=80,
        ),
        reason=param(
            "string",
            "what the call back is about",
            ask="What should the call be about?",
            minLength=2,
            maxLength=500,
        ),
        department=param("string", "which team should call", enum=DEPARTMENTS),
    ),
    tags=("escalation", "callback"),
)
def schedule_callback(
    call: Call,
    *,
    reason: str,
    client_id: str | None = None,
    phone_number: str = "",
    preferred_time: str = "",
    department: str = "general",
) -> dict:
    user = call.client(client_id)
    record = Callback.objects.create(
        reference=reference("CBK"),
        demo_user=user,
        phone_number=phone_number or user.phone_number,
        preferred_time=preferred_time,
        reason=reason,
        department=department,
        session_id=call.session_id,
    )
    when = preferred_time or "within one business day"
    return {
        "success": True,
        "callback_id": record.reference,
        "preferred_time": preferred_time,
        "message": f"Done: our {department} team will call you back {when}.",
    }


@tool(
    name="submit_complaint",
    description="Record a formal complaint about our service, fees, a product or an employee.",
    parameters=schema(
        required=("complaint_type", "description"),
        client_id=CLIENT_ID_PARAM,
        complaint_type=param(
            "string",
            "what the complaint is about",
            ask="Is your complaint about our service, fees, a product, an employee or a policy?",
            enum=["service", "fees", "product", "employee", "policy", "other"],
        ),
        description=param(
            "string",
            "what went wrong",
            ask="What went wrong?",
            minLength=2,
            maxLength=2000,
        ),
        desired_resolution=param("string", "what the caller would like us to do", maxLength=500),
    ),
    tags=("escalation", "complaints"),
)
def submit_complaint(
    call: Call,
    *,
    complaint_type: str,
    description: str,
    client_id: str | None = None,
    desired_resolution: str = "",
) -> dict:
    call.client(client_id)
    record = _escalate(
        call,
        kind=Escalation.Kind.COMPLAINT,
        reason=description,
        category=complaint_type,
        department="complaints",
        details=desired_resolution,
    )
    return {
        "success": True,
        "complaint_id": record.reference,
        "message": f"I've recorded your complaint as {record.reference}. "
        "We reply to every complaint within five business days.",
    }
