"""Server-rendered pages; their JavaScript talks to the REST API and the browser sockets."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.urls import reverse_lazy

from browser.consumers import anonymous_allowed
from media.modes import StreamMode

LOGIN_URL = reverse_lazy("browser:login")
# The pages' own labels for the modes, in the order their menus offer them.
STREAMING_MODE_LABELS = [
    (StreamMode.REALTIME.value, "Speech cascade (STT → LLM → TTS)"),
    (StreamMode.VOICE_LIVE.value, "Voice Live (realtime model)"),
]
CALL_STREAMING_MODES = [
    (StreamMode.MEDIA.value, "Media (speech cascade)"),
    (StreamMode.VOICE_LIVE.value, "Voice Live"),
    (StreamMode.TRANSCRIPTION.value, "Transcription only"),
]


def conversation(request):
    """The conversation page: open to anonymous visitors where the socket allows them."""
    if not request.user.is_authenticated and not anonymous_allowed():
        return redirect_to_login(request.get_full_path(), LOGIN_URL)
    return render(request, "browser/conversation.html", {"streaming_modes": STREAMING_MODE_LABELS})


@login_required(login_url=LOGIN_URL)
def dashboard(request):
    return render(
        request, "browser/dashboard.html", {"session_id": request.GET.get("session_id", "")}
    )


@login_required(login_url=LOGIN_URL)
def calls(request):
    return render(request, "browser/calls.html", {"call_streaming_modes": CALL_STREAMING_MODES})


@login_required(login_url=LOGIN_URL)
def agent_builder(request):
    return render(request, "browser/agent_builder.html")
