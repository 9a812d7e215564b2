"""`/api/v1/agent-builder/*`: catalogues, templates, per-session dynamic agents, reload."""

from __future__ import annotations

from collections import Counter

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from agentbuilder import selectors, services
from agentbuilder.api.serializers import (
    DefaultsResponseSerializer,
    DynamicAgentConfigSerializer,
    ReloadResponseSerializer,
    SessionAgentDeleteResponseSerializer,
    SessionAgentListResponseSerializer,
    SessionAgentResponseSerializer,
    TemplateDetailResponseSerializer,
    TemplateListResponseSerializer,
    ToolListQuerySerializer,
    ToolListResponseSerializer,
    VoiceListQuerySerializer,
    VoiceListResponseSerializer,
)
from agentbuilder.api.views.common import (
    MODEL_REQUEST_FIELDS,
    AnonymousSessionAgentThrottle,
    Stopwatch,
    as_drf_error,
)
from agentbuilder.models import AgentTemplate, SessionAgent
from agentbuilder.models.agents import DEFAULT_DEPLOYMENT, DEFAULT_VOICE
from agentbuilder.services import LibraryError
from agentbuilder.voices import voice_catalogue
from browser.api.sessions import SESSION_TOKEN_PARAMETER, request_session_access, request_user
from browser.selectors import SessionAccess
from browser.services import new_session_id, session_claim
from voiceproject.schema import error_response

TAGS = ["agent-builder"]
SESSION_ID = OpenApiParameter(
    "session_id", str, description="The conversation session the agent is for."
)
# SessionAgent fields -> the builder body's fields.
CONFIG_REQUEST_FIELDS = {
    **MODEL_REQUEST_FIELDS,
    "instructions": "prompt",
    "voice_name": "voice.name",
    "voice_style": "voice.style",
    "voice_rate": "voice.rate",
}
DEFAULT_PROMPT = (
    "You are {{ agent_name }}, a helpful voice assistant for {{ institution_name }}. "
    "Answer in one to three short spoken sentences. "
    "{% if caller_name %}The caller is {{ caller_name }}.{% endif %}"
)


class BuilderToolListView(APIView):
    """Tools an agent may use: registered tools, then the agents' handoff tools."""

    @extend_schema(
        tags=TAGS,
        parameters=[ToolListQuerySerializer],
        responses=ToolListResponseSerializer,
    )
    def get(self, request):
        watch = Stopwatch()
        query = ToolListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        tools = selectors.tool_catalogue(
            include_handoffs=query.validated_data["include_handoffs"],
            category=query.validated_data.get("category", ""),
        )
        categories = Counter(tag for t in tools for tag in t["tags"])
        body = {
            "status": "success",
            "total": len(tools),
            "tools": tools,
            "categories": dict(sorted(categories.items())),
            "response_time_ms": watch.ms,
        }
        return Response(ToolListResponseSerializer(body).data)


class BuilderVoiceListView(APIView):
    """Voices an agent may speak with: Azure voices by category and the local offline voices."""

    @extend_schema(
        tags=TAGS,
        parameters=[VoiceListQuerySerializer],
        responses=VoiceListResponseSerializer,
    )
    def get(self, request):
        query = VoiceListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        category = query.validated_data.get("category", "")
        voices = [
            {
                "name": v.name,
                "display_name": v.display_name,
                "category": v.category,
                "language": v.language,
                "provider": v.provider,
            }
            for v in voice_catalogue()
            if not category or v.category == category
        ]
        by_category: dict[str, list] = {}
        for voice in voices:
            by_category.setdefault(voice["category"], []).append(voice)
        body = {
            "status": "success",
            "total": len(voices),
            "voices": voices,
            "by_category": by_category,
            "default_voice": DEFAULT_VOICE,
        }
        return Response(VoiceListResponseSerializer(body).data)


class BuilderDefaultsView(APIView):
    """The settings a new agent starts with."""

    @extend_schema(tags=TAGS, responses=DefaultsResponseSerializer)
    def get(self, request):
        body = {
            "status": "success",
            "defaults": {
                "model": {
                    "deployment_id": DEFAULT_DEPLOYMENT,
                    "temperature": 0.7,
                    "top_p": 0.9,
                    "max_tokens": 4096,
                },
                "voice": {
                    "name": DEFAULT_VOICE,
                    "type": "azure-standard",
                    "style": "chat",
                    "rate": "+0%",
                },
                "session": {
                    "turn_detection": {
                        "type": "azure_semantic_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 240,
                        "silence_duration_ms": 700,
                    },
                    "input_audio_transcription": {"model": "azure-speech", "language": "en-US"},
                },
                "template_vars": {
                    "institution_name": settings.INSTITUTION_NAME,
                    "agent_name": "Assistant",
                },
            },
            "prompt_template": DEFAULT_PROMPT,
        }
        return Response(DefaultsResponseSerializer(body).data)


class BuilderTemplateListView(APIView):
    """Blueprints the builder starts from (the shipped agents, entry point first)."""

    @extend_schema(
        operation_id="agent_builder_templates_list",
        tags=TAGS,
        responses=TemplateListResponseSerializer,
    )
    def get(self, request):
        watch = Stopwatch()
        templates = AgentTemplate.objects.all()
        body = {
            "status": "success",
            "total": len(templates),
            "templates": templates,
            "response_time_ms": watch.ms,
        }
        return Response(TemplateListResponseSerializer(body).data)


class BuilderTemplateDetailView(APIView):
    @extend_schema(
        operation_id="agent_builder_templates_retrieve",
        tags=TAGS,
        responses=TemplateDetailResponseSerializer,
    )
    def get(self, request, template_id: str):
        template = AgentTemplate.objects.filter(slug=template_id).first()
        if template is None:
            raise NotFound(f"No template {template_id!r}.")
        body = {"status": "success", "template": template}
        return Response(TemplateDetailResponseSerializer(body).data)


def _check_owner(request, session_id: str) -> SessionAccess:
    """Staff, or the session's creator (its signed-in owner, or the anonymous visitor with its
    session token), may read or change its agent; an agent made by a signed-in user is theirs.
    """
    user = request_user(request)
    access = request_session_access(request, session_id)
    if user is not None and user.is_staff:
        return access
    if not access.is_creator(user):
        raise PermissionDenied(access.refusal(user))
    made_by = (
        SessionAgent.objects.filter(session_id=session_id)
        .values_list("created_by_id", flat=True)
        .first()
    )
    if made_by is not None and (user is None or user.pk != made_by):
        raise PermissionDenied("This session's agent belongs to another user.")
    return access


def _upsert(request, session_id: str) -> tuple[SessionAgent, bool, str]:
    """The session's agent, created or replaced; a new session id is claimed by this client
    (the token for an anonymous one, else "")."""
    body = DynamicAgentConfigSerializer(data=request.data)
    body.is_valid(raise_exception=True)
    access = _check_owner(request, session_id)
    try:
        with transaction.atomic():  # an invalid agent leaves the id unclaimed
            token = ""
            if access.is_new:
                token = session_claim(session_id=session_id, user=request_user(request))
                if token is None:
                    raise PermissionDenied("Another client has just started this session.")
            agent, created = services.session_agent_upsert(
                session_id=session_id, config=body.validated_data, user=request.user
            )
    except ValidationError as exc:
        raise as_drf_error(exc, request_fields=CONFIG_REQUEST_FIELDS) from exc
    return agent, created, token


class BuilderCreateView(APIView):
    """Create (or replace) the dynamic agent of a session; it becomes the session's entry agent.

    Only staff and the session's creator may: its signed-in owner, or the anonymous visitor
    with its session token (`X-Session-Token`). A new session id is this client's from then on;
    an anonymous client gets its `session_token` in the answer, once. Anonymous callers are
    rate limited (`SESSION_AGENT_WRITE_RATE`).
    """

    permission_classes = [AllowAny]
    throttle_classes = [AnonymousSessionAgentThrottle]

    @extend_schema(
        tags=TAGS,
        parameters=[SESSION_ID, SESSION_TOKEN_PARAMETER],
        request=DynamicAgentConfigSerializer,
        responses={201: SessionAgentResponseSerializer, 200: SessionAgentResponseSerializer},
    )
    def post(self, request):
        session_id = request.query_params.get("session_id") or new_session_id()
        if not 5 <= len(session_id) <= 120:
            raise DRFValidationError({"session_id": "Between 5 and 120 characters."})
        agent, created, token = _upsert(request, session_id)
        context = {"status": "created" if created else "updated", "session_token": token}
        return Response(
            SessionAgentResponseSerializer(agent, context=context).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class BuilderSessionView(APIView):
    """The dynamic agent of one session: read, replace, or remove (back to the defaults)."""

    permission_classes = [AllowAny]
    throttle_classes = [AnonymousSessionAgentThrottle]

    def get_throttles(self):
        return super().get_throttles() if self.request.method != "GET" else []

    @extend_schema(
        tags=TAGS, parameters=[SESSION_TOKEN_PARAMETER], responses=SessionAgentResponseSerializer
    )
    def get(self, request, session_id: str):
        agent = selectors.session_agent_get(session_id=session_id)
        if agent is None:
            raise NotFound(f"Session {session_id!r} has no dynamic agent.")
        _check_owner(request, session_id)
        context = {"status": "active", "full": True}
        return Response(SessionAgentResponseSerializer(agent, context=context).data)

    @extend_schema(
        tags=TAGS,
        parameters=[SESSION_TOKEN_PARAMETER],
        request=DynamicAgentConfigSerializer,
        responses=SessionAgentResponseSerializer,
    )
    def put(self, request, session_id: str):
        if not 5 <= len(session_id) <= 120:
            raise DRFValidationError({"session_id": "Between 5 and 120 characters."})
        agent, _, token = _upsert(request, session_id)
        context = {"status": "updated", "full": True, "session_token": token}
        return Response(SessionAgentResponseSerializer(agent, context=context).data)

    @extend_schema(
        tags=TAGS,
        parameters=[SESSION_TOKEN_PARAMETER],
        responses={200: SessionAgentDeleteResponseSerializer},
    )
    def delete(self, request, session_id: str):
        _check_owner(request, session_id)
        removed = services.session_agent_delete(session_id=session_id)
        body = {
            "status": "removed" if removed else "not_found",
            "message": "The session is back to the default agents."
            if removed
            else "The session had no dynamic agent.",
            "session_id": session_id,
        }
        return Response(SessionAgentDeleteResponseSerializer(body).data)


class BuilderSessionListView(APIView):
    """Sessions that have a dynamic agent (signed-in users only: ids are capabilities)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(tags=TAGS, responses=SessionAgentListResponseSerializer)
    def get(self, request):
        sessions = selectors.session_agent_list()
        body = {
            "status": "success",
            "total": len(sessions),
            "sessions": sessions,
        }
        return Response(SessionAgentListResponseSerializer(body).data)


class BuilderReloadView(APIView):
    """Reload the shipped agent library. Agents edited since they were loaded are skipped."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        request=None,
        responses={
            200: ReloadResponseSerializer,
            400: error_response("A library file is malformed."),
        },
    )
    def post(self, request):
        watch = Stopwatch()
        try:
            report = services.library_load()
        except LibraryError as exc:
            raise DRFValidationError({"library": str(exc)}) from exc
        body = {
            "status": "success",
            "message": f"Agents: {report.summary()}",
            "agents": report.agents,
            "agent_count": len(report.agents),
            "created": report.created,
            "updated": report.updated,
            "unchanged": report.unchanged,
            "skipped": report.skipped,
            "skipped_count": len(report.skipped),
            "response_time_ms": watch.ms,
        }
        return Response(ReloadResponseSerializer(body).data)
