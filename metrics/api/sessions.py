"""The sessions resource: list, read and end conversation sessions (`/api/v1/sessions`).

Staff manage every session; other clients their own (docs/security.md: a session's creator,
a phone call's owner). The older `metrics/session*` endpoints stay as they were.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotAuthenticated, NotFound, PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from browser.api.sessions import SESSION_TOKEN_PARAMETER, request_session_access, request_user
from calls.api.serializers import CallSerializer
from calls.selectors import call_of_session
from metrics import selectors
from metrics.api.serializers import (
    LatencySummaryField,
    SessionErrorSerializer,
    TokenUsageSerializer,
    TurnSerializer,
)
from metrics.models import ConversationSession, SessionStatus, Transport
from metrics.services.sessions import session_end, session_find
from voiceproject.pagination import page_get
from voiceproject.schema import QuerySerializer, error_response

# --- shapes ---------------------------------------------------------------------------------


LIVE_OR_ENDED = [("live", "Live"), ("ended", "Ended")]


class SessionSearchQuerySerializer(QuerySerializer):
    page = serializers.IntegerField(min_value=1, default=1)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    agent = serializers.CharField(
        required=False, max_length=100, help_text="Sessions this agent answered in or holds now"
    )
    transport = serializers.ChoiceField(choices=Transport.choices, required=False)
    status = serializers.ChoiceField(
        choices=LIVE_OR_ENDED,
        required=False,
        help_text="`live`: the conversation is going on; `ended`: completed, failed or abandoned",
    )
    started_after = serializers.DateTimeField(
        required=False, help_text="ISO 8601; sessions started at or after it"
    )
    started_before = serializers.DateTimeField(
        required=False, help_text="ISO 8601; sessions started before it"
    )

    def validate(self, attrs):
        after, before = attrs.get("started_after"), attrs.get("started_before")
        if after and before and after >= before:
            raise serializers.ValidationError(
                {"started_before": "started_before must come after started_after."}
            )
        return attrs


class SessionSummarySerializer(serializers.Serializer):
    session_id = serializers.CharField()
    transport = serializers.ChoiceField(choices=Transport.choices)
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    live = serializers.SerializerMethodField(help_text="The conversation is going on")
    streaming_mode = serializers.CharField(allow_blank=True)
    call_connection_id = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    last_activity_at = serializers.DateTimeField()
    duration_ms = serializers.FloatField(allow_null=True, help_text="Null while live")
    turn_count = serializers.IntegerField()
    error_count = serializers.IntegerField()
    active_agent = serializers.CharField(allow_blank=True)
    agents_visited = serializers.ListField(child=serializers.CharField())

    def get_live(self, session: ConversationSession) -> bool:
        return session.status == SessionStatus.ACTIVE


class SessionPageSerializer(serializers.Serializer):
    sessions = SessionSummarySerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    limit = serializers.IntegerField()


class SessionAgentSerializer(serializers.Serializer):
    active = serializers.CharField(source="active_agent", allow_blank=True)
    visited = serializers.ListField(source="agents_visited", child=serializers.CharField())


class SessionMetricsSerializer(serializers.Serializer):
    turn_count = serializers.IntegerField()
    interrupted_turns = serializers.IntegerField()
    session_duration_ms = serializers.FloatField(
        allow_null=True, help_text="Start → end, or → now while live"
    )
    latency_summary = LatencySummaryField()
    token_usage = TokenUsageSerializer(allow_null=True)


class SessionRecordSerializer(serializers.Serializer):
    session = SessionSummarySerializer()
    agent = SessionAgentSerializer(help_text="The agent answering now, and every agent so far")
    call = CallSerializer(allow_null=True, help_text="The phone call that carried it, if any")
    metrics = SessionMetricsSerializer()
    turns = TurnSerializer(many=True)
    errors = SessionErrorSerializer(many=True, help_text="The first 100")


class SessionEndQuerySerializer(QuerySerializer):
    erase = serializers.BooleanField(
        default=False,
        help_text="Also delete its turns, errors, metrics and saved state (default: keep them)",
    )


class SessionEndSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    was_live = serializers.BooleanField(
        help_text="A socket was hosting the conversation and has ended it"
    )
    call_hung_up = serializers.BooleanField(help_text="A phone call carrying it was hung up")
    call_error = serializers.CharField(
        allow_blank=True, help_text="Why the call could not be hung up"
    )
    erased = serializers.BooleanField()
    status = serializers.ChoiceField(
        choices=SessionStatus.choices, allow_null=True, help_text="Null once erased"
    )


# --- views ----------------------------------------------------------------------------------

SESSION_ERRORS = {
    401: error_response("Not signed in, and no session token presented."),
    403: error_response("Neither staff nor the session's owner."),
    404: error_response("No session has this id."),
}


def _owned_session(request, session_id: str) -> ConversationSession:
    """The session, for staff or its owner (an anonymous creator: with its token)."""
    session = session_find(session_id)
    if session is None:
        raise NotFound(f"Session {session_id} not found")
    user = request_user(request)
    access = request_session_access(request, session_id)
    if access.may_watch(user) and (user is not None or settings.BROWSER_ALLOW_ANONYMOUS):
        return session
    if user is None:
        raise NotAuthenticated("Sign in, or present the session's token.")
    if access.phone_call:
        raise PermissionDenied("Only staff or the call's owner may manage a phone call's session.")
    raise PermissionDenied("Only staff or the session's owner may manage it.")


class SessionListView(APIView):
    """Sessions the client may manage (staff: all; others: their own), newest first."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[SessionSearchQuerySerializer],
        responses={
            200: SessionPageSerializer,
            400: error_response("A filter is invalid (the field says why)."),
            401: SESSION_ERRORS[401],
            404: error_response("Invalid page: past the last page."),
        },
        tags=["sessions"],
        operation_id="sessions_list",
    )
    def get(self, request):
        query = SessionSearchQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = dict(query.validated_data)
        page, limit = filters.pop("page"), filters.pop("limit")
        rows = page_get(
            selectors.session_search(viewer=request.user, **filters), page=page, limit=limit
        )
        body = {"sessions": list(rows), "total": rows.paginator.count, "page": page, "limit": limit}
        return Response(SessionPageSerializer(body).data)


class SessionDetailView(APIView):
    """One session with its turns, agents, call and metrics; DELETE ends it."""

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[SESSION_TOKEN_PARAMETER],
        responses={200: SessionRecordSerializer, **SESSION_ERRORS},
        tags=["sessions"],
        operation_id="sessions_retrieve",
    )
    def get(self, request, session_id: str):
        session = _owned_session(request, session_id)
        detail = selectors.session_metrics(session=session, include_turns=True)
        call = call_of_session(session_id=session_id, call_connection_id=session.call_connection_id)
        body = {
            "session": session,
            "agent": session,
            "call": call,
            "metrics": detail,
            "turns": detail.turns,
            "errors": detail.errors,
        }
        return Response(SessionRecordSerializer(body).data)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "erase",
                bool,
                description="Also delete its turns, errors, metrics and saved state "
                "(default false: keep them).",
            ),
            SESSION_TOKEN_PARAMETER,
        ],
        responses={
            200: SessionEndSerializer,
            400: error_response("`erase` is not a boolean."),
            **SESSION_ERRORS,
        },
        tags=["sessions"],
        operation_id="sessions_destroy",
    )
    def delete(self, request, session_id: str):
        """End a live session (its socket closes, its call is hung up); keep or erase its data.

        An ended session answers the same: the request is idempotent, and may erase later.
        """
        _owned_session(request, session_id)
        query = SessionEndQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        try:
            outcome = session_end(session_id=session_id, erase=query.validated_data["erase"])
        except ConversationSession.DoesNotExist as exc:  # erased by a concurrent request
            raise NotFound(f"Session {session_id} not found") from exc
        return Response(SessionEndSerializer(outcome).data)
