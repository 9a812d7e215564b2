"""The banking tools. Importing this package registers every tool module."""

from agentbuilder.tools import (  # noqa: F401
    auth,
    banking,
    cards,
    compliance,
    escalation,
    fraud,
    investment,
    knowledge,
)
