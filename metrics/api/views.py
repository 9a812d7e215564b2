from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from metrics import selectors
from metrics.api.serializers import HealthSerializer, ReadinessSerializer


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
