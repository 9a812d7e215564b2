"""`/api/v1/agents`: the loaded agents, their handoff graph, and model/voice updates."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from agentbuilder import selectors, services
from agentbuilder.api.serializers import (
    AgentDetailQuerySerializer,
    AgentDetailResponseSerializer,
    AgentListQuerySerializer,
    AgentListResponseSerializer,
    AgentUpdateRequestSerializer,
    AgentUpdateResponseSerializer,
)
from agentbuilder.api.views.common import MODEL_REQUEST_FIELDS, Stopwatch, as_drf_error
from agentbuilder.voices import voice_catalogue

TAGS = ["agents"]
# Model fields -> the PUT body's fields.
UPDATE_REQUEST_FIELDS = {
    **MODEL_REQUEST_FIELDS,
    "voice_name": "voice.voice_name",
    "voice_style": "voice.voice_style",
    "voice_rate": "voice.voice_rate",
}


class AgentListView(APIView):
    """Every agent with its tools, the handoff map, the start agent and the voice catalogue."""

    @extend_schema(
        operation_id="agents_list",
        tags=TAGS,
        parameters=[AgentListQuerySerializer],
        responses=AgentListResponseSerializer,
    )
    def get(self, request):
        watch = Stopwatch()
        AgentListQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
        agents = list(selectors.agent_list())
        enabled = [a for a in agents if a.enabled]
        triggers = selectors.handoff_map(enabled)
        body = {
            "status": "success",
            "agents_count": len(agents),
            "agents": agents,
            "summaries": enabled,
            "handoff_map": triggers,
            "start_agent": selectors.entry_agent_name(enabled),
            "scenario": None,
            "connections": selectors.handoff_edges(enabled),
            "available_voices": voice_catalogue(),
        }
        body["response_time_ms"] = watch.ms
        return Response(AgentListResponseSerializer(body, context={"triggers": triggers}).data)


class AgentDetailView(APIView):
    """One agent by name (case-insensitive); PUT changes its model and voice settings."""

    def _agent(self, name: str):
        agent = selectors.agent_get(name=name)
        if agent is None:
            raise NotFound(f"No agent named {name!r}.")
        return agent

    @extend_schema(
        operation_id="agents_retrieve",
        tags=TAGS,
        parameters=[AgentDetailQuerySerializer],
        responses=AgentDetailResponseSerializer,
    )
    def get(self, request, name: str):
        watch = Stopwatch()
        query = AgentDetailQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        agent = self._agent(name)
        session_id = query.validated_data.get("session_id", "")
        context = {
            "triggers": selectors.handoff_map(),
            "variables": selectors.session_variables(session_id=session_id),
        }
        body = {"status": "success", "agent": agent}
        body["response_time_ms"] = watch.ms
        return Response(AgentDetailResponseSerializer(body, context=context).data)

    @extend_schema(
        operation_id="agents_update",
        tags=TAGS,
        request=AgentUpdateRequestSerializer,
        responses=AgentUpdateResponseSerializer,
    )
    def put(self, request, name: str):
        watch = Stopwatch()
        agent = self._agent(name)
        data = AgentUpdateRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            changed = services.agent_update(
                agent=agent,
                model=data.validated_data.get("model"),
                voice=data.validated_data.get("voice"),
            )
        except ValidationError as exc:
            raise as_drf_error(exc, request_fields=UPDATE_REQUEST_FIELDS) from exc
        body = {
            "status": "success",
            "agent_name": agent.name,
            "updated_fields": changed,
            "message": f"Updated {', '.join(changed)}." if changed else "Nothing changed.",
            "note": "persisted; conversations started from now on use it",
            "response_time_ms": watch.ms,
        }
        return Response(AgentUpdateResponseSerializer(body).data)
