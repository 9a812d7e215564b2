"""What ACS does on a media socket: a client that plays a caller and records the agent.

It connects to the app's media socket (as ACS does: the app is the server), sends
`AudioMetadata` then one 20 ms `AudioData` frame every 20 ms at real time, and reads the app's
messages concurrently. Received `AudioData` goes to a playback queue drained at real time, and
`StopAudio` clears what is queued and not yet played, as ACS does; so :meth:`heard_pcm` is the
agent audio the caller actually heard and :attr:`log` records when every message arrived.

Transports: a `websockets` connection to a running server (:meth:`AcsMediaStreamClient.connect`)
or a `channels.testing.WebsocketCommunicator` in tests (:class:`CommunicatorTransport`).

    client = await AcsMediaStreamClient.connect(url, call_connection_id="...")
    await client.start()
    await client.play(caller_pcm)            # real time
    await client.play_silence(800)
    await client.wait_for_agent_audio()
    await client.hang_up()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from media.acs import codec
from media.engine.audio import FRAME_MS, frame_bytes

logger = logging.getLogger(__name__)

SILENT_DBFS = -60.0


class Closed(Exception):
    """The app closed the socket."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        super().__init__(f"closed with {code} {reason}".strip())
        self.code = code
        self.reason = reason


class Transport(Protocol):
    async def send(self, text: str) -> None: ...
    async def send_bytes(self, data: bytes) -> None: ...
    async def recv(self) -> str | bytes: ...  # raises Closed
    async def close(self, code: int = 1000) -> None: ...


class WebsocketsTransport:
    """A `websockets` client connection to a running server."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(cls, url: str, headers: dict[str, str]) -> WebsocketsTransport:
        from websockets.asyncio.client import connect

        from media.realtime.endpoint import is_loopback

        kwargs: dict[str, Any] = {"additional_headers": headers, "open_timeout": 10}
        if is_loopback(url):
            kwargs["proxy"] = None
        return cls(await connect(url, **kwargs))

    async def send(self, text: str) -> None:
        await self.ws.send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self.ws.send(data)

    async def recv(self) -> str | bytes:
        from websockets.exceptions import ConnectionClosed

        try:
            return await self.ws.recv()
        except ConnectionClosed as exc:
            rcvd = exc.rcvd
            raise Closed(rcvd.code if rcvd else None, rcvd.reason if rcvd else "") from None

    async def close(self, code: int = 1000) -> None:
        await self.ws.close(code, "call ended")


class CommunicatorTransport:
    """A `channels.testing.WebsocketCommunicator` (already connected)."""

    def __init__(self, communicator: Any) -> None:
        self.communicator = communicator

    async def send(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def send_bytes(self, data: bytes) -> None:
        await self.communicator.send_to(bytes_data=data)

    async def recv(self) -> str | bytes:
        while True:
            try:
                message = await self.communicator.receive_output(timeout=3600)
            except TimeoutError:
                continue
            kind = message["type"]
            if kind == "websocket.send":
                return message.get("text") or message.get("bytes") or ""
            if kind == "websocket.close":
                raise Closed(message.get("code", 1000), message.get("reason", ""))

    async def close(self, code: int = 1000) -> None:
        with contextlib.suppress(Exception):
            await self.communicator.disconnect(code=code, timeout=5)


@dataclass(slots=True)
class Received:
    """One message from the app: `kind` is "audio" or "stop" (or "other"), `at` loop time."""

    kind: str
    at: float
    pcm_bytes: int = 0


@dataclass(slots=True)
class _Queued:
    play_at: float
    pcm: bytes


@dataclass(slots=True)
class CallerUtterance:
    """When the caller spoke (loop times), to measure the agent's reaction."""

    started_at: float
    ended_at: float


@dataclass
class AcsMediaStreamClient:
    """Plays the ACS side of one media socket. Use on one event loop."""

    transport: Transport
    call_connection_id: str
    sample_rate_hz: int = 16000
    participant_raw_id: str = "4:+14255550100"
    log: list[Received] = field(default_factory=list)
    utterances: list[CallerUtterance] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""

    def __post_init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.frame_bytes = frame_bytes(self.sample_rate_hz)
        self.decoder = codec.InboundDecoder()
        self.decoder.set_format(self.sample_rate_hz)
        self.other_messages: list[str] = []
        self._timeline: list[_Queued] = []  # agent audio as played (after StopAudio cuts)
        self._play_end = 0.0
        self._reader: asyncio.Task | None = None
        self._closed = asyncio.Event()
        self._activity = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self.t0 = self.loop.time()

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        call_connection_id: str,
        correlation_id: str = "",
        authorization: str = "",
        sample_rate_hz: int = 16000,
        headers: dict[str, str] | None = None,
    ) -> AcsMediaStreamClient:
        """Open the app's media socket with the headers ACS sends."""
        headers = dict(headers or {})
        headers.setdefault("x-ms-call-connection-id", call_connection_id)
        headers.setdefault("x-ms-call-correlation-id", correlation_id or str(uuid.uuid4()))
        if authorization:
            headers["Authorization"] = authorization
        transport = await WebsocketsTransport.open(url, headers)
        return cls(transport, call_connection_id, sample_rate_hz)

    # -- sending --------------------------------------------------------------------------------

    async def start(self, *, kind: str = "media") -> None:
        """Send the first message (`AudioMetadata` or `TranscriptionMetadata`); start reading."""
        if kind == "transcription":
            first = codec.encode_transcription_metadata(call_connection_id=self.call_connection_id)
        else:
            first = codec.encode_audio_metadata(self.sample_rate_hz, str(uuid.uuid4()))
        await self.send_raw(first)
        self._reader = self.loop.create_task(self._read(), name="acs-stream-reader")

    async def send_raw(self, text: str) -> None:
        async with self._send_lock:
            await self.transport.send(text)

    async def send_frame(self, pcm: bytes, *, silent: bool | None = None) -> None:
        if silent is None:
            silent = not any(pcm)
        message = codec.encode_inbound_audio(
            pcm,
            timestamp=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            participant_raw_id=self.participant_raw_id,
            silent=silent,
        )
        await self.send_raw(message)

    async def play(self, pcm: bytes, *, speed: float = 1.0, is_speech: bool = True) -> None:
        """Send `pcm` (at this stream's rate) as 20 ms frames, one per 20 ms of real time.

        Frames follow an absolute schedule, so a late wake-up does not slow the whole stream.
        """
        size = self.frame_bytes
        if len(pcm) % size:
            pcm = pcm + b"\x00" * (size - len(pcm) % size)
        frame_s = FRAME_MS / 1000.0 / speed
        start = self.loop.time()
        for i in range(0, len(pcm), size):
            due = start + (i // size) * frame_s
            delay = due - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._closed.is_set():
                return
            await self.send_frame(pcm[i : i + size])
        if is_speech:
            self.utterances.append(CallerUtterance(start, self.loop.time()))

    async def play_silence(self, ms: float, *, speed: float = 1.0) -> None:
        await self.play(b"\x00" * (int(self.sample_rate_hz * ms / 1000) * 2), speed=speed,
                        is_speech=False)  # fmt: skip

    async def send_dtmf(self, tones: str) -> None:
        for tone in tones:
            await self.send_raw(codec.encode_dtmf(tone))

    async def send_transcription(self, text: str, *, final: bool = True) -> None:
        await self.send_raw(
            codec.encode_transcription_data(
                text, is_final=final, participant_raw_id=self.participant_raw_id
            )
        )

    async def hang_up(self, code: int = 1000) -> None:
        """Close like ACS does when the call ends."""
        if not self._closed.is_set():
            with contextlib.suppress(Exception):
                await self.transport.close(code)
        self._closed.set()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader

    # -- receiving ------------------------------------------------------------------------------

    async def _read(self) -> None:
        try:
            while True:
                raw = await self.transport.recv()
                now = self.loop.time()
                if isinstance(raw, bytes):
                    self.log.append(Received("other", now))
                    continue
                message = self.decoder.decode(raw)
                if isinstance(message, codec.AudioData):
                    self._queue_audio(message.pcm, now)
                    self.log.append(Received("audio", now, len(message.pcm)))
                elif isinstance(message, codec.StopAudio):
                    self._stop_playback(now)
                    self.log.append(Received("stop", now))
                else:
                    self.other_messages.append(raw)
                    self.log.append(Received("other", now))
                self._activity.set()
        except Closed as exc:
            self.close_code, self.close_reason = exc.code, exc.reason
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken socket ends the call
            logger.warning("call %s: media socket read failed: %r", self.call_connection_id, exc)
        finally:
            self._closed.set()
            self._activity.set()

    def _queue_audio(self, pcm: bytes, now: float) -> None:
        play_at = max(now, self._play_end)
        self._timeline.append(_Queued(play_at, pcm))
        self._play_end = play_at + len(pcm) / 2 / self.sample_rate_hz

    def _stop_playback(self, now: float) -> None:
        """ACS discards what is queued and not played yet."""
        bytes_per_s = self.sample_rate_hz * 2
        kept = []
        for item in self._timeline:
            if item.play_at >= now:
                continue
            end = item.play_at + len(item.pcm) / bytes_per_s
            if end > now:
                played = int((now - item.play_at) * bytes_per_s) // 2 * 2
                item = _Queued(item.play_at, item.pcm[:played])
            kept.append(item)
        self._timeline = kept
        self._play_end = min(self._play_end, now)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self, timeout_s: float = 10.0) -> None:
        await asyncio.wait_for(self._closed.wait(), timeout_s)

    def audio_after(self, t: float) -> list[Received]:
        return [r for r in self.log if r.kind == "audio" and r.at > t]

    def stops(self) -> list[Received]:
        return [r for r in self.log if r.kind == "stop"]

    async def wait_for(self, predicate, timeout_s: float = 15.0) -> Any:
        """Wait until `predicate()` is truthy (checked after every message from the app)."""
        async with asyncio.timeout(timeout_s):
            while True:
                value = predicate()
                if value:
                    return value
                if self._closed.is_set():
                    raise Closed(self.close_code, self.close_reason)
                self._activity.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._activity.wait(), 0.05)

    async def wait_for_agent_audio(self, after: float | None = None, timeout_s: float = 15.0):
        """The first agent audio message that arrived after loop time `after`."""
        after = self.t0 if after is None else after
        found = await self.wait_for(lambda: self.audio_after(after), timeout_s)
        return found[0]

    async def wait_agent_quiet(self, quiet_ms: float = 400, timeout_s: float = 30.0) -> None:
        """Wait until the agent has sent nothing for `quiet_ms` and its queued audio played."""
        async with asyncio.timeout(timeout_s):
            while True:
                last = max((r.at for r in self.log if r.kind == "audio"), default=self.t0)
                now = self.loop.time()
                if now - max(last, self._play_end) >= quiet_ms / 1000:
                    return
                await asyncio.sleep(0.05)

    # -- results --------------------------------------------------------------------------------

    def heard_pcm(self, *, with_gaps: bool = True) -> bytes:
        """The agent audio the caller heard; `with_gaps` keeps the silences on a timeline."""
        if not with_gaps:
            return b"".join(item.pcm for item in self._timeline)
        if not self._timeline:
            return b""
        rate = self.sample_rate_hz
        end = max(item.play_at + len(item.pcm) / 2 / rate for item in self._timeline)
        out = np.zeros(int((end - self.t0) * rate) + 1, dtype=np.int16)
        for item in self._timeline:
            start = int((item.play_at - self.t0) * rate)
            samples = np.frombuffer(item.pcm, dtype=np.int16)
            out[start : start + samples.size] = samples[: max(0, out.size - start)]
        return out.tobytes()

    def received_audio_ms(self) -> float:
        total = sum(r.pcm_bytes for r in self.log if r.kind == "audio")
        return total / 2 / self.sample_rate_hz * 1000

    def write_wav(self, path: str | Path) -> Path:
        path = Path(path)
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(self.sample_rate_hz)
            wav.writeframes(self.heard_pcm())
        return path

    def reaction_times_ms(self) -> list[float | None]:
        """For each caller utterance: its end → the first agent audio after it (None if none)."""
        times: list[float | None] = []
        for utterance in self.utterances:
            first = next(
                (r.at for r in self.log if r.kind == "audio" and r.at > utterance.ended_at), None
            )
            times.append(None if first is None else (first - utterance.ended_at) * 1000)
        return times


Scenario = Callable[["AcsMediaStreamClient", Any], Awaitable[None]]


def fake_acs_hook(scenario: Scenario, clients: list[AcsMediaStreamClient] | None = None):
    """A media-stream hook for `testing.fake_acs.FakeAcsServer(on_media_stream=...)`.

    For each stream the fake would open, connects like ACS (its URL, headers and rate), sends
    the first message, runs `scenario(client, request)` (what the caller says), then keeps the
    socket open until the call ends (`request.hangup`) and closes it with 1000.
    """

    async def hook(request: Any) -> None:
        client = await AcsMediaStreamClient.connect(
            request.url,
            call_connection_id=request.call_connection_id,
            sample_rate_hz=request.sample_rate_hz,
            headers=request.headers,
        )
        if clients is not None:
            clients.append(client)
        request.opened.set()
        try:
            await client.start(kind=request.kind)
            await scenario(client, request)
            # `hangup` is a threading.Event set by the fake's thread: poll it.
            while not request.hangup.is_set() and not client.closed:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        finally:
            await client.hang_up()
            request.close_code = client.close_code or 1000
            request.closed.set()

    return hook


async def speak_text(text: str, sample_rate_hz: int) -> bytes:
    """`text` spoken by the local TTS (piper, else espeak-ng) as PCM16 at `sample_rate_hz`.

    Piper's random variation is off: the same text is the same caller every time, so a
    simulated call can be repeated.
    """
    from media.engine.audio import resample
    from media.engine.snapshot import VoiceSpec
    from media.engine.threads import SessionWorkers, ThreadBridge
    from media.providers.base import ProviderContext
    from media.providers.local import LocalTTS

    tts = LocalTTS(noise_scale=0.0, noise_w_scale=0.0)
    workers = SessionWorkers(ThreadBridge.for_loop(asyncio.get_running_loop()))
    await tts.start(ProviderContext("caller", workers, tts.sample_rate_hz))
    try:
        chunks = [chunk async for chunk in tts.synthesize(text, VoiceSpec())]
    finally:
        await tts.close()
    return resample(b"".join(chunks), tts.sample_rate_hz, sample_rate_hz)


def read_wav(path: str | Path, sample_rate_hz: int) -> bytes:
    """A WAV file as PCM16 mono at `sample_rate_hz` (mixed down and resampled as needed)."""
    from media.engine.audio import resample

    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV files are supported")
        channels = wav.getnchannels()
        rate = wav.getframerate()
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return resample(samples.tobytes(), rate, sample_rate_hz)
