from dataclasses import asdict

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from media.api.serializers import MediaStatusSerializer
from media.modes import CALL_MODES
from media.selectors import STREAM_ENDPOINT, media_status


class MediaStatusView(APIView):
    """Media streaming configuration: the default mode, who answers voice_live, open sockets."""

    permission_classes = [AllowAny]

    @extend_schema(responses=MediaStatusSerializer, tags=["media"])
    def get(self, request):
        status = media_status()
        body = {
            "status": "available",
            "streaming_mode": status.streaming_mode,
            "streaming_modes": [mode.value for mode in CALL_MODES],
            "websocket_endpoint": STREAM_ENDPOINT,
            "protocols_supported": ["WebSocket"],
            "sample_rates_hz": status.sample_rates_hz,
            "features": {
                "real_time_audio": True,
                "transcription": True,
                "orchestrator_support": True,
                "session_management": True,
                "barge_in": True,
                "dtmf": True,
            },
            "realtime": asdict(status.realtime),
            "providers": status.providers,
            "active_media_sessions": status.streams,
            "version": "v1",
        }
        return Response(MediaStatusSerializer(body).data)
