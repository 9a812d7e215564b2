from dataclasses import asdict

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotAuthenticated, NotFound, PermissionDenied
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

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


class HealthView(APIView):
    """Liveness for load balancers: answers as long as the process serves requests."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses=HealthSerializer, tags=["health"])
    def get(self, request):
        return Response(HealthSerializer(selectors.health_report()).data)


class ReadinessView(APIView):
    """Dependency checks, each timed: 503 when a required dependency is down."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    @extend_schema(responses={200: ReadinessSerializer, 503: ReadinessSerializer}, tags=["health"])
    def get(self, request):
        report = selectors.readiness_report()
        status = 503 if report.status == "unhealthy" else 200
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

    A phone call's session is read by staff and by its owner only, never anonymously.
    Transcripts (`include_turns=true`) are shown to staff and to the session's own user. A
    browser session nobody owns (an anonymous conversation) is readable, turns included, by
    whoever knows its id where anonymous conversations are allowed (`BROWSER_ALLOW_ANONYMOUS`),
    as its socket and its dashboard relay are: a reloaded page shows its earlier turns.
    """

    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[SessionDetailQuerySerializer],
        responses=SessionDetailSerializer,
        tags=["metrics"],
    )
    def get(self, request, session_id: str):
        query = SessionDetailQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        session = selectors.session_get(session_id)
        if session is None:
            raise NotFound(f"Session {session_id} not found")
        include_turns = query.validated_data["include_turns"]
        user = request.user
        owner_or_staff = user.is_staff or (
            session.user_id is not None and session.user_id == getattr(user, "id", None)
        )
        if session.is_phone_call and not owner_or_staff:
            if not user.is_authenticated:
                raise NotAuthenticated("Sign in to read this session.")
            raise PermissionDenied("Only staff or the call's owner may read a phone call.")
        open_to_all = session.user_id is None and settings.BROWSER_ALLOW_ANONYMOUS
        if not (user.is_authenticated or open_to_all):
            raise NotAuthenticated("Sign in to read this session.")
        if include_turns and not (
            open_to_all or user.is_staff or session.user_id == getattr(user, "id", None)
        ):
            raise PermissionDenied("Only staff or the session's user may read its turns.")
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


class TTSPoolStatusView(APIView):
    """For load balancers: in-memory only, `ok` unless synthesizers cannot be built (503)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    throttle_classes: list = []

    @extend_schema(
        responses={200: TTSPoolStatusSerializer, 503: TTSPoolStatusSerializer}, tags=["tts"]
    )
    def get(self, request):
        snapshot = selectors.tts_pool_snapshot()
        ok = snapshot is not None and snapshot.status != "unhealthy"
        body = {"status": "ok" if ok else "error", "timestamp": timezone.now()}
        return Response(TTSPoolStatusSerializer(body).data, status=200 if ok else 503)
