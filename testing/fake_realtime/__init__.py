"""A local realtime server speaking the Voice Live / OpenAI realtime event protocol.

It stands in for Azure Voice Live (`/voice-live/realtime`, preview event names), the Azure
OpenAI realtime preview (`/openai/realtime`) and GA (`/openai/v1/realtime`, GA names) on
loopback, so that the realtime provider is exercised over a real WebSocket with real events:

- `session.created` on connect; `session.update` is validated against the dialect's session
  shape (GA needs `session.type` and nested `audio`; preview is flat) and echoed as
  `session.updated`, or answered with an `error`.
- Appended audio is buffered; an energy detector on 20 ms windows emits
  `input_audio_buffer.speech_started` / `speech_stopped`, then `committed`, the user item and
  its transcription (scripted: there is no recogniser), then a response when
  `turn_detection.create_response` is on. Speech during a response cancels it when
  `interrupt_response` is on, as the service does.
- A response is `response.created`, an assistant item, audio deltas (a tone whose length
  follows the text) interleaved with transcript deltas, `…done` events and `response.done`
  with usage. Scripted tool calls are `function_call` items with argument deltas; the server
  then waits for `function_call_output` + `response.create`.
- `response.cancel` stops the response (`response.done` status `cancelled`) or answers the
  `response_cancel_not_active` error; `conversation.item.truncate` is recorded and answered
  with `conversation.item.truncated`.

What the model says is scripted by a `respond(connection, user_text)` callable returning a
:class:`Reply`; the default says the quoted text of response instructions (greetings) and
otherwise calls a tool whose name appears in the user's words, or answers "You said: …".
Run it standalone with `python -m testing.fake_realtime --port 8765`.

The package: `server` (the listener), `connection` (one client: settings, I/O, client events),
`input_audio` (buffer and server VAD), `responses` (spoken replies and tool calls), `replies`
(the scripts).
"""

from testing.fake_realtime.connection import FakeRealtimeConnection
from testing.fake_realtime.replies import (
    Reply,
    Responder,
    Transcriber,
    default_respond,
    default_transcribe,
)
from testing.fake_realtime.server import FakeRealtimeServer, main

__all__ = [
    "FakeRealtimeConnection",
    "FakeRealtimeServer",
    "Reply",
    "Responder",
    "Transcriber",
    "default_respond",
    "default_transcribe",
    "main",
]
