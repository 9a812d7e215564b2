from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from browser import connections
from browser.api.serializers import BrowserStatusSerializer
from browser.protocol import BROWSER_AUDIO_SAMPLE_RATE_HZ
from media.modes import BROWSER_MODES


class BrowserStatusView(APIView):
    """Browser service status and the live WebSocket connections of this server process."""

    permission_classes = [AllowAny]

    @extend_schema(responses=BrowserStatusSerializer, tags=["browser"])
    def get(self, request):
        body = {
            "status": "available",
            "websocket_endpoints": {
                "dashboard_relay": "/api/v1/browser/dashboard/relay",
                "conversation": "/api/v1/browser/conversation",
            },
            "features": {
                "dashboard_broadcasting": True,
                "conversation_streaming": True,
                "orchestrator_support": True,
                "session_management": True,
                "audio_interruption": True,
                "precise_routing": True,
                "connection_queuing": False,
                "turn_metrics": True,
            },
            "active_connections": connections.snapshot(),
            "streaming_modes": [mode.value for mode in BROWSER_MODES],
            "audio_sample_rate": BROWSER_AUDIO_SAMPLE_RATE_HZ,
            "protocols_supported": ["WebSocket"],
            "version": "v1",
        }
        return Response(BrowserStatusSerializer(body).data)
