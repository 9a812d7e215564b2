"""The real app with its conversation socket replaced by an echo, to test the page's audio path.

The echo measures the microphone frames it receives (so a test can tell speech from silence),
answers each utterance by playing it back as `audio_data`, and on typed commands sends a tone
(`tone`) or a barge-in (`barge`) using the real `browser.protocol` encoders. It tests the page's
capture, playback and barge-in handling without the speech engine.
"""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs

import numpy as np

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceproject.settings")
from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from browser.protocol import encode_audio_frame, encode_messages, status_envelope  # noqa: E402
from media.engine.events import AssistantFinal, BargeIn, UserTranscript  # noqa: E402

SPEECH_RMS = 300
FRAME_BYTES = 640


class EchoConversation(AsyncWebsocketConsumer):
    async def connect(self):
        query = parse_qs(self.scope["query_string"].decode())
        self.session_id = query.get("session_id", ["echo"])[0]
        self.turn = 0
        self.frames = 0
        self.speech_frames = 0
        self.max_rms = 0.0
        self.utterance: list[bytes] = []
        self.silent_run = 0
        await self.accept()
        await self.send_json(
            status_envelope(
                session_id=self.session_id, message="Connected", extra={"event": "session_started"}
            )
        )

    async def send_json(self, message):
        await self.send(text_data=json.dumps(message))

    async def receive(self, text_data=None, bytes_data=None):
        if bytes_data is not None:
            await self._audio(bytes_data)
        elif text_data:
            await self._command(text_data.strip())

    async def _audio(self, pcm: bytes):
        self.frames += 1
        samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float64)
        rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
        self.max_rms = max(self.max_rms, rms)
        if rms >= SPEECH_RMS:
            self.speech_frames += 1
            self.silent_run = 0
            self.utterance.append(pcm)
        elif self.utterance:
            self.silent_run += 1
            self.utterance.append(pcm)
            if self.silent_run >= 25:
                await self._answer()

    async def _answer(self):
        self.turn += 1
        speech_ms = 20 * (len(self.utterance) - self.silent_run)
        text = f"heard {speech_ms} ms of speech, {len(self.utterance[0])} bytes per frame"
        audio = b"".join(self.utterance)
        self.utterance, self.silent_run = [], 0
        for event in (
            UserTranscript(self.session_id, self.turn, text, True),
            AssistantFinal(self.session_id, self.turn, "echo", "Here is what you said."),
        ):
            for message in encode_messages(event, session_id=self.session_id):
                await self.send_json(message)
        await self._play(audio)

    async def _play(self, audio: bytes):
        for index in range(0, len(audio), FRAME_BYTES):
            await self.send(
                text_data=encode_audio_frame(
                    audio[index : index + FRAME_BYTES],
                    frame_index=index // FRAME_BYTES,
                    turn_id=self.turn,
                )
            )

    async def _command(self, text: str):
        if text == "tone":
            self.turn += 1
            t = np.arange(16000 * 4) / 16000
            await self._play((np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes())
        elif text == "barge":
            for message in encode_messages(
                BargeIn(self.session_id, self.turn), session_id=self.session_id
            ):
                await self.send_json(message)
        elif text == "stats":
            await self.send_json(
                status_envelope(
                    session_id=self.session_id,
                    message=f"frames {self.frames} speech {self.speech_frames}",
                    extra={
                        "event": "echo_stats",
                        "frames": self.frames,
                        "speech_frames": self.speech_frames,
                        "max_rms": self.max_rms,
                    },
                )
            )


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("api/v1/browser/conversation", EchoConversation.as_asgi())]),
    }
)
