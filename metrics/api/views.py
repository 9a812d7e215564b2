from dataclasses import asdict

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotAuthenticated, NotFound, PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from browser.api.sessions import SESSION_TOKEN_PARAMETER, request_session_access, request_user
from metrics import loop_lag, selectors
from metrics.api.serializers import (
    HealthSerializer,
    LoopLagSeriesSerializer,
    MetricsSummarySerializer,
    ReadinessSerializer,
    SessionDetailQuerySerializer,
    SessionDetailSerializer,
    SessionListQuerySerializer,
    SessionListSerializer,
    SummaryQuerySerializer,
    TTSPoolHealthSerializer,
    TTSPoolMetricsSerializer,
    TTSPoolStatusSerializer,
)
from metrics.services.sessions import session_find
from voiceproject.api.loop import LoopAPIView


class HealthView(LoopAPIView):
    """Liveness for load balancers: answers as long as the process serves requests (on the
    event loop, from memory: never behind other requests' database work)."""

    @extend_schema(responses=HealthSerializer, tags=["health"])
    def get(self, request):
        # The report is plain JSON values already: no serializer pass on the probe's path.
        return Response(selectors.health_report())


class ReadinessView(APIView):
    """Dependency checks, each timed: 503 when a required check fails. A database or Redis
    outage answers 503 `degraded` naming it in `down` (the live calls go on)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: ReadinessSerializer, 503: ReadinessSerializer}, tags=["health"])
    def get(self, request):
        report = selectors.readiness_report()
        status = 200 if report.accepts_calls else 503
        return Response(ReadinessSerializer(report).data, status=status)


# --- session metrics ----------------------------------------------------------------------


class SessionListView(APIView):
    """Active and recent sessions, newest first, with their basic metrics."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[SessionListQuerySerializer], responses=SessionListSerializer, tags=["metrics"]
    )
    def get(self, request):
        query = SessionListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        sessions, counts = selectors.session_list(viewer=request.user, **query.validated_data)
        return Response(SessionListSerializer({**counts, "sessions": sessions}).data)


class SessionDetailView(APIView):
    """Latency per stage (avg/min/max/p50/p95/p99), token usage and duration of one session.

    Staff and the session's creator read all of it, turns included: its signed-in owner, or
    the anonymous visitor presenting its session token (where anonymous conversations are
    allowed), so a reloaded page shows its earlier turns. Other signed-in users read the
    figures of a browser session without its turns. A phone call's session is read by staff
    and its owner only, never anonymously.
    """

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[SessionDetailQuerySerializer, SESSION_TOKEN_PARAMETER],
        responses=SessionDetailSerializer,
        tags=["metrics"],
    )
    def get(self, request, session_id: str):
        query = SessionDetailQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        session = session_find(session_id)
        if session is None:
            raise NotFound(f"Session {session_id} not found")
        include_turns = query.validated_data["include_turns"]
        user = request_user(request)
        access = request_session_access(request, session_id)
        if not (access.may_watch(user) and (user or settings.BROWSER_ALLOW_ANONYMOUS)):
            if user is None:
                raise NotAuthenticated("Sign in, or present the session's token, to read it.")
            if access.phone_call:
                raise PermissionDenied("Only staff or the call's owner may read a phone call.")
            if include_turns:
                raise PermissionDenied("Only staff or the session's creator may read its turns.")
        detail = selectors.session_metrics(session=session, include_turns=include_turns)
        return Response(SessionDetailSerializer(detail).data)


class MetricsSummaryView(APIView):
    """Latency and token aggregates across every session and turn of the last N minutes."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[SummaryQuerySerializer], responses=MetricsSummarySerializer, tags=["metrics"]
    )
    def get(self, request):
        query = SummaryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        summary = selectors.metrics_summary(**query.validated_data)
        return Response(MetricsSummarySerializer(summary).data)


class LoopLagView(APIView):
    """This process's event-loop lag: figures over the last minute and a per-second series.

    Every socket of the process waits while the loop is held, so this is the delay each
    caller's audio may have had on top of the measured stage latencies.
    """

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=LoopLagSeriesSerializer, tags=["metrics"])
    def get(self, request):
        snapshot = loop_lag.snapshot(ready_limit_ms=settings.LOOP_LAG_READY_MS, series=True)
        body = {**asdict(snapshot), "timestamp": timezone.now()}
        return Response(LoopLagSeriesSerializer(body).data)


# --- the TTS worker pool (open: load balancers and monitors poll these) -------------------


def _pool_snapshot():
    snapshot = selectors.tts_pool_snapshot()
    if snapshot is None:
        raise NotFound("The TTS pool is not configured in this process.")
    return snapshot


class TTSPoolHealthView(APIView):
    """Health of this process's TTS pool: 503 when synthesizers cannot be built."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(
        responses={200: TTSPoolHealthSerializer, 503: TTSPoolHealthSerializer}, tags=["tts"]
    )
    def get(self, request):
        snapshot = _pool_snapshot()
        body = {**asdict(snapshot), "status": snapshot.status, "timestamp": timezone.now()}
        status = 503 if snapshot.status == "unhealthy" else 200
        return Response(TTSPoolHealthSerializer(body).data, status=status)


class TTSPoolMetricsView(APIView):
    """Allocation counters of this process's TTS pool since it started."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses=TTSPoolMetricsSerializer, tags=["tts"])
    def get(self, request):
        body = {
            **asdict(_pool_snapshot()),
            "phrase_cache": selectors.phrase_cache_counts(),
            "event_loop": asdict(loop_lag.snapshot(ready_limit_ms=settings.LOOP_LAG_READY_MS)),
            "timestamp": timezone.now(),
        }
        return Response(TTSPoolMetricsSerializer(body).data)


class TTSPoolStatusView(LoopAPIView):
    """For load balancers: in-memory only (on the event loop), `ok` unless synthesizers cannot
    be built (503)."""

    @extend_schema(
        responses={200: TTSPoolStatusSerializer, 503: TTSPoolStatusSerializer}, tags=["tts"]
    )
    def get(self, request):
        snapshot = selectors.tts_pool_snapshot()
        ok = snapshot is not None and snapshot.status != "unhealthy"
        body = {"status": "ok" if ok else "error", "timestamp": timezone.now()}
        return Response(TTSPoolStatusSerializer(body).data, status=200 if ok else 503)
