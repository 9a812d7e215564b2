"""Ending the call from the agent's side."""

from __future__ import annotations

from agentbuilder.tools.context import Call
from agentbuilder.tools.registry import param, schema, tool

FAREWELL = "Thank you for calling. Goodbye."


@tool(
    name="end_call",
    description=(
        "End the call when the caller says goodbye or has nothing more: 'goodbye', 'bye', "
        "'that's all', 'that's everything', 'hang up', 'I'm done'. Say a short farewell in the "
        "same answer. Not for thanks alone, nor while a request is still open."
    ),
    parameters=schema(
        reason=param("string", "why the call ends, e.g. the caller said goodbye", maxLength=200),
    ),
    tags=("call",),
    ends_call=True,
)
def end_call(call: Call, *, reason: str = "") -> dict:
    # The speech engine ends the call itself and never runs this; a realtime service that
    # calls it gets the farewell to say.
    return {
        "success": True,
        "ends_call": True,
        "reason": reason or "the caller said goodbye",
        "message": FAREWELL,
    }
