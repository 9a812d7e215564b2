"""The banking tools. Importing this package registers every tool module."""

from agentbuilder.tools import (  # noqa: F401
    auth,
    banking,
    call_control,
    card_control,
    cards,
    compliance,
    escalation,
    fraud,
    investment,
    knowledge,
)
