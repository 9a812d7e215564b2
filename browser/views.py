"""Server-rendered pages; their JavaScript talks to the REST API and the browser sockets."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from django.urls import reverse_lazy

from browser.consumers import anonymous_allowed

LOGIN_URL = reverse_lazy("browser:login")
STREAMING_MODE_LABELS = [
    ("realtime", "Speech cascade (STT → LLM → TTS)"),
    ("voice_live", "Voice Live (realtime model)"),
]
CALL_STREAMING_MODES = [
    ("media", "Media (speech cascade)"),
    ("voice_live", "Voice Live"),
    ("transcription", "Transcription only"),
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
