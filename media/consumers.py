"""The ACS media socket (`/api/v1/media/stream`): a transport between ACS and a conversation.

ACS connects here once a call with media streaming is established (azure-protocols §1). The
consumer authenticates the upgrade (`calls.auth`), finds the call, and on the first message
starts what the call's streaming mode asks for:

- `media` / `voice_live`: a `media.conversation.Conversation` (the cascade, or the realtime
  service for `voice_live` when one is configured). Caller `AudioData` and `DtmfData` go in;
  the agent's 20 ms frames (already paced at real time by the engine) go out as `AudioData`,
  and a stop (the engine's pause at the caller's first words, then its barge-in) is a
  `StopAudio`. When the agent ends the call (`CallEnd`, after its farewell was heard) the call
  is hung up through Call Automation and the stream closed.
- `transcription`: the caller's words only, no agent audio: ACS's own `TranscriptionData`, or,
  on an audio stream when ACS is not transcribing, the configured VAD + STT. Every final is
  stored as a turn of the session and relayed live.

Bad input (malformed JSON, unknown kinds, bad base64, wrong frame sizes, oversized messages,
binary frames) is counted and logged with the call id; the call goes on.

Close codes: 4400 no call id, 4401 authentication failed, 4404 unknown call, 4410 the call has
already ended, 4500 the conversation could not start; 1000 when the app ends the stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from media.acs import codec, live
from media.acs.transcription import CallTranscriber, transcript_event
from media.conversation.control import ConversationHostMixin, EndableConversationMixin
from media.engine.events import AudioFrame, AudioPause, BargeIn, CallEnd, Event, UserTranscript
from media.engine.snapshot import VoiceSpec
from media.modes import CALL_MODES, StreamMode
from media.providers.base import ProviderError
from media.voicemail import Verdict
from voiceproject.sockets import (
    CLOSE_BAD_REQUEST,
    CLOSE_CALL_ENDED,
    CLOSE_NORMAL,
    CLOSE_START_FAILED,
    CLOSE_UNAUTHORIZED,
    CLOSE_UNKNOWN_CALL,
    scope_header,
    scope_query,
    scope_trace_headers,
)

logger = logging.getLogger(__name__)

# Bad messages logged in full per socket and reason; later ones are only counted.
LOGGED_PER_REASON = 3


class MediaStreamConsumer(ConversationHostMixin, EndableConversationMixin, AsyncWebsocketConsumer):
    """One ACS media (or transcription) stream of one call.

    `DELETE /api/v1/sessions/{id}` ends it from outside (`media.conversation.control`): the
    conversation is stored and the stream closed with 1000; the requester hangs up the call.
    """

    call_connection_id = ""
    session_id = ""
    streaming_mode = StreamMode.MEDIA
    info: live.StreamInfo | None = None
    conversation: Any = None
    transcriber: CallTranscriber | None = None
    transcript: Any = None  # media.services.CallTranscript of a transcription-only call
    screen: Any = None  # media.acs.screening.OutboundScreen while a screened call is decided
    voicemail_message = ""  # an outbound call screened for voicemail: the message to leave
    _screening: asyncio.Task | None = None
    _stopped_turn: int | None = None  # the turn whose audio the last StopAudio stopped
    started = False
    failed = False

    async def connect(self) -> None:
        # Accept first: a refusal then reaches ACS (and logs) as a close code with a reason.
        await self.accept()
        query = scope_query(self.scope)
        self.call_connection_id = (
            query.get("call_connection_id") or scope_header(self.scope, "x-ms-call-connection-id")
        ).strip()
        if not self.call_connection_id:
            await self._refuse(CLOSE_BAD_REQUEST, "call_connection_id is required")
            return
        from calls.auth import media_socket_authorize_async

        auth = await media_socket_authorize_async(self.scope)
        if not auth.ok:
            await self._refuse(CLOSE_UNAUTHORIZED, auth.reason)
            return
        from calls.selectors import call_get

        call = await database_sync_to_async(call_get)(self.call_connection_id)
        if call is None:
            await self._refuse(CLOSE_UNKNOWN_CALL, "no call with this call_connection_id")
            return
        if call.is_final:
            await self._refuse(CLOSE_CALL_ENDED, f"the call is {call.status}")
            return
        mode = (call.streaming_mode or settings.ACS_STREAMING_MODE).lower()
        self.streaming_mode = mode if mode in CALL_MODES else StreamMode.MEDIA
        self.session_id = query.get("session_id") or call.session_id or self.call_connection_id
        if call.screened:
            self.voicemail_message = call.voicemail_message
        self.decoder = codec.InboundDecoder()
        self.decoder.set_format(call.sample_rate_hz)
        self.sample_rate_hz = call.sample_rate_hz
        self.correlation_id = scope_header(self.scope, "x-ms-call-correlation-id")
        self.info = live.StreamInfo(self.call_connection_id, self.session_id, self.streaming_mode)
        self.info.rejected = self.decoder.rejected
        live.opened(self.channel_name, self.info)
        from calls.services import call_mark_media_connected

        await database_sync_to_async(call_mark_media_connected)(
            call_connection_id=self.call_connection_id
        )
        logger.info(
            "call %s: media socket open (session %s, mode %s)",
            self.call_connection_id,
            self.session_id,
            self.streaming_mode,
        )

    async def _refuse(self, code: int, reason: str) -> None:
        logger.warning(
            "call %s: media socket refused (%s): %s", self.call_connection_id or "-", code, reason
        )
        self.failed = True
        await self.close(code=code, reason=reason[:120])

    # -- inbound --------------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.info is None or self.failed:
            return
        self.info.messages_in += 1
        if text_data is None:
            self._bad(self.decoder.decode_binary(bytes_data or b""))
            return
        message = self.decoder.decode(text_data)
        kind = type(message)
        if kind is codec.AudioData:
            if len(message.pcm) != self.decoder.frame_bytes:
                self._log_bad(codec.BAD_FRAME_SIZE, f"{len(message.pcm)} bytes (used)")
            if not self.started:
                await self._start("audio")
            target = self.conversation or self.transcriber or self.screen
            if target is not None:
                target.push_audio(message.pcm, self.sample_rate_hz)
        elif kind is codec.BadInput:
            self._bad(message)
        elif kind is codec.DtmfData:
            if not self.started:
                await self._start("audio")
            if self.conversation is not None:
                self.conversation.push_dtmf(message.digits)
        elif kind is codec.AudioMetadata:
            self.sample_rate_hz = message.sample_rate_hz
            if not self.started:
                await self._start("audio")
        elif kind is codec.TranscriptionData:
            if not self.started:
                await self._start("transcription")
            await self._acs_transcript(message)
        elif kind is codec.TranscriptionMetadata and not self.started:
            await self._start("transcription")
        # StopAudio from the ACS side carries nothing for the app.

    def _bad(self, bad: codec.BadInput) -> None:
        self._log_bad(bad.reason, bad.detail)

    def _log_bad(self, reason: str, detail: str) -> None:
        if self.decoder.rejected[reason] <= LOGGED_PER_REASON:
            logger.warning(
                "call %s: bad media message counted (%s: %s)",
                self.call_connection_id,
                reason,
                detail,
            )

    # -- starting -------------------------------------------------------------------------------

    async def _start(self, kind: str) -> None:
        self.started = True
        self.info.kind = kind
        await self.control_join()
        if self.streaming_mode == StreamMode.TRANSCRIPTION:
            await self._start_transcription(kind)
            return
        if kind == "transcription":
            logger.info(
                "call %s: transcription stream ignored in %s mode",
                self.call_connection_id,
                self.streaming_mode,
            )
            return
        if self.voicemail_message:
            await self._start_screen()
            return
        await self._open_conversation()

    def _output_rate_hz(self) -> int:
        if self.sample_rate_hz in (16000, 24000):
            return self.sample_rate_hz  # what ACS negotiated is what it plays
        return StreamMode(self.streaming_mode).sample_rate_hz

    async def _open_conversation(self) -> None:
        from media.conversation import Conversation, ConversationStartError

        output_rate = self._output_rate_hz()
        try:
            self.conversation = await Conversation.open(
                session_id=self.session_id,
                transport="acs",
                emit=self._emit,
                output_sample_rate_hz=output_rate,
                streaming_mode=self.streaming_mode,
                call_connection_id=self.call_connection_id,
                trace_headers=scope_trace_headers(self.scope),
            )
        except ConversationStartError as exc:
            logger.error("call %s: conversation could not start: %s", self.call_connection_id, exc)
            self.failed = True
            await self.close(code=CLOSE_START_FAILED, reason=str(exc)[:120])
            return
        self.output_rate_hz = output_rate
        logger.info(
            "call %s: conversation started (agent %s, resumed %s)",
            self.call_connection_id,
            self.conversation.active_agent,
            self.conversation.resumed,
        )

    async def _start_screen(self) -> None:
        """Hold the call's audio until who answered is known (`media/acs/screening.py`)."""
        from media.acs.screening import OutboundScreen
        from media.speech import provider_factory

        providers = provider_factory().create()
        self.screen = OutboundScreen(
            session_id=self.session_id,
            stt=providers.stt,
            vad=providers.vad,
            tts=providers.tts,
            voice=VoiceSpec(),
            message=self.voicemail_message,
            emit=self._emit,
            output_sample_rate_hz=self._output_rate_hz(),
        )
        try:
            await self.screen.start()
        except ProviderError as exc:
            logger.error("call %s: screening could not start: %s", self.call_connection_id, exc)
            await self.screen.close()
            self.screen = None
            await self._open_conversation()
            return
        self._screening = asyncio.create_task(self._screen_then_answer())

    async def _screen_then_answer(self) -> None:
        """A person (or a screening service, or silence) gets the agent; a voicemail box the
        message, then the call ends."""
        from calls.services import call_answered_by_set

        screen = self.screen
        try:
            decision = await screen.decision()
            await database_sync_to_async(call_answered_by_set)(
                call_connection_id=self.call_connection_id,
                answered_by=decision.verdict,
                reason=decision.reason,
            )
        except Exception:  # the callee still gets the agent
            logger.exception("call %s: screening failed", self.call_connection_id)
            self.screen = None
            await screen.close()
            await self._open_conversation()
            return
        logger.info(
            "call %s: answered by %s (%s, %s ms after the callee spoke)",
            self.call_connection_id,
            decision.verdict,
            decision.reason,
            decision.after_onset_ms,
        )
        if decision.verdict != Verdict.MACHINE:
            self.screen = None
            await screen.close()
            await self._open_conversation()
            return
        try:
            seconds = await screen.leave_message()
            logger.info("call %s: voicemail left (%.1f s)", self.call_connection_id, seconds)
        finally:
            self.screen = None
            await screen.close()
        await self._hang_up("voicemail left")

    def _send_frame(self, pcm: bytes) -> Awaitable[None]:
        self.info.frames_out += 1
        return self.send(text_data=codec.encode_audio_data(pcm))

    async def _start_transcription(self, kind: str) -> None:
        """Transcribe the call audio here unless ACS transcribes it (on its own stream)."""
        if kind != "audio":
            return
        if settings.ACS_COGNITIVE_SERVICES_ENDPOINT:
            # ACS transcribes this call itself (its TranscriptionData arrives on another
            # stream); transcribing the audio here too would store every utterance twice.
            logger.info("call %s: audio stream not transcribed (ACS does)", self.call_connection_id)
            return
        from media.providers import build_providers

        factory = build_providers(settings.SPEECH_PROVIDERS)
        stt = factory.classes["stt"](**factory.options["stt"])
        vad = factory.classes["vad"](**factory.options["vad"])
        # Transcripts are stored in order by one task; hang-up waits for it (`_transcripts`).
        self._transcripts: asyncio.Queue[Event] = asyncio.Queue()
        self._transcript_writer = asyncio.create_task(self._write_transcripts())
        transcriber = CallTranscriber(
            session_id=self.session_id, stt=stt, vad=vad, emit=self._transcripts.put_nowait
        )
        try:
            await transcriber.start()
        except Exception as exc:  # noqa: BLE001 - any provider failure refuses the stream
            logger.error("call %s: transcriber could not start: %s", self.call_connection_id, exc)
            self.failed = True
            await self.close(code=CLOSE_START_FAILED, reason=f"transcription: {exc}"[:120])
            return
        self.transcriber = transcriber

    # -- outbound -------------------------------------------------------------------------------

    def _emit(self, event: Event) -> Awaitable[None] | None:
        """Conversation events: audio frames and stops go to ACS; the glue relays the rest.

        A barge-in right after the pause of the same turn (nothing sent in between) needs no
        second `StopAudio`: ACS has nothing left to play.
        """
        kind = type(event)
        if kind is AudioFrame:
            self._stopped_turn = None
            return self._send_frame(event.pcm)
        if kind is BargeIn or kind is AudioPause:
            if kind is BargeIn and self._stopped_turn == event.turn_id:
                return None
            self._stopped_turn = event.turn_id
            self.info.stops_out += 1
            return self.send(text_data=codec.STOP_AUDIO)
        if kind is CallEnd:
            return self._agent_ended_call(event)
        return None

    async def _agent_ended_call(self, event: CallEnd) -> None:
        """The agent ended the call and its farewell was heard: store the conversation (turns,
        session completed), hang up through Call Automation, close the stream with 1000.

        The conversation is closed before the hang-up: ACS closes the media socket when the
        call ends, and the socket leaves the live registry only once everything is stored.
        """
        logger.info("call %s: the agent ends the call (%s)", self.call_connection_id, event.reason)
        conversation, self.conversation = self.conversation, None
        if conversation is not None:
            try:
                await conversation.close()
            except Exception:
                logger.exception(
                    "call %s: closing the conversation failed", self.call_connection_id
                )
        await self._hang_up(f"end_call: {event.reason}")

    async def _hang_up(self, reason: str) -> None:
        """End the call through Call Automation and close the stream with 1000."""
        from calls.services import call_terminate_async

        try:
            await call_terminate_async(call_connection_id=self.call_connection_id, reason=reason)
        except Exception:  # the stream still ends; ACS ends the call when it goes
            logger.exception("call %s: hang-up failed", self.call_connection_id)
        await self.close(code=CLOSE_NORMAL)

    async def _acs_transcript(self, message: codec.TranscriptionData) -> None:
        if message.text.strip():
            await self._transcript_emit(transcript_event(self.session_id, 0, message))

    async def _write_transcripts(self) -> None:
        while True:
            event = await self._transcripts.get()
            try:
                await self._transcript_emit(event)
            except Exception:
                logger.exception("call %s: storing a transcript failed", self.call_connection_id)
            finally:
                self._transcripts.task_done()

    async def _transcript_emit(self, event: Event) -> None:
        """Store and relay a transcript; the session is opened with the first one."""
        if type(event) is not UserTranscript:
            return
        if self.transcript is None:
            from media.services import call_transcript_start

            self.transcript = await call_transcript_start(
                session_id=self.session_id, call_connection_id=self.call_connection_id
            )
        await self.transcript.record(event)

    # -- ending ---------------------------------------------------------------------------------

    async def end_conversation(self, reason: str) -> None:
        """Ended from outside (the sessions API): everything stored, the stream closed."""
        logger.info(
            "call %s: conversation ended from outside (%s)", self.call_connection_id, reason
        )
        await self.control_leave()
        await self._close_hosted()
        await self.close(code=CLOSE_NORMAL)

    async def _close_hosted(self) -> None:
        """Close the conversation or transcriber and wait until what they leave is stored."""
        screening, self._screening = self._screening, None
        if screening is not None and not screening.done():
            screening.cancel()
        screen, self.screen = self.screen, None
        if screen is not None:
            await screen.close()
        conversation, self.conversation = self.conversation, None
        if conversation is not None:
            try:
                await conversation.close()
            except Exception:  # the socket is gone either way
                logger.exception(
                    "call %s: closing the conversation failed", self.call_connection_id
                )
        transcriber, self.transcriber = self.transcriber, None
        if transcriber is not None:
            await transcriber.close()  # emits the final of an utterance cut by the hang-up
            await self._transcripts.join()
            self._transcript_writer.cancel()
        transcript, self.transcript = self.transcript, None
        if transcript is not None:
            await transcript.close()

    def abandon_hosted(self) -> None:
        """What `_close_hosted` and `disconnect` did not get to (the consumer was cancelled):
        besides the conversation, this socket's tasks are cancelled and the stream leaves the
        live registry."""
        super().abandon_hosted()
        for task in (self._screening, getattr(self, "_transcript_writer", None)):
            if task is not None and not task.done():
                task.cancel()
        if self.info is not None and live.closed(self.channel_name) is not None:
            logger.warning("call %s: media socket abandoned", self.call_connection_id)

    async def disconnect(self, code: int) -> None:
        await self.control_leave()
        await self._close_hosted()
        info = self.info
        if info is None:
            return
        from calls.services import call_mark_media_connected

        try:
            await database_sync_to_async(call_mark_media_connected)(
                call_connection_id=self.call_connection_id, connected=False
            )
        finally:
            # Last: a stream leaves the live registry only once everything is stored.
            live.closed(self.channel_name)
        logger.info(
            "call %s: media socket closed (code %s; %d messages in, %d frames and %d stops out, "
            "bad input %s)",
            self.call_connection_id,
            code,
            info.messages_in,
            info.frames_out,
            info.stops_out,
            dict(info.rejected) or "none",
        )
