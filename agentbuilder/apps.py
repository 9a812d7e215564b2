from django.apps import AppConfig


class AgentBuilderConfig(AppConfig):
    name = "agentbuilder"
    verbose_name = "Agents"

    def ready(self) -> None:
        # Every tool module registers its tools when imported (agentbuilder.tools.registry).
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
