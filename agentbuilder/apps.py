from django.apps import AppConfig


class AgentBuilderConfig(AppConfig):
    name = "agentbuilder"
    verbose_name = "Agents"
