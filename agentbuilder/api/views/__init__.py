from agentbuilder.api.views.agents import AgentDetailView, AgentListView
from agentbuilder.api.views.builder import (
    BuilderCreateView,
    BuilderDefaultsView,
    BuilderReloadView,
    BuilderSessionListView,
    BuilderSessionView,
    BuilderTemplateDetailView,
    BuilderTemplateListView,
    BuilderToolListView,
    BuilderVoiceListView,
)
from agentbuilder.api.views.demo import TemporaryUserView

__all__ = [
    "AgentDetailView",
    "AgentListView",
    "BuilderCreateView",
    "BuilderDefaultsView",
    "BuilderReloadView",
    "BuilderSessionListView",
    "BuilderSessionView",
    "BuilderTemplateDetailView",
    "BuilderTemplateListView",
    "BuilderToolListView",
    "BuilderVoiceListView",
    "TemporaryUserView",
]
