"""A caller on a real socket: plays rendered turns at real time and records what comes back.

One :class:`Caller` per conversation, on the ACS media socket (:class:`AcsCaller`, with the
dashboard relay of its session for transcripts and tool events, since ACS itself only gets
audio) or on the browser conversation socket (:class:`BrowserCaller`). A microphone never
stops: the sender sends one 20 ms frame every 20 ms on an absolute schedule, the caller's
speech when a turn is queued and silence otherwise; all frames are encoded before the call.

Times are the client loop's clock. A frame leaves when its last sample has been spoken (as
from a live microphone), so sample `s` of a turn whose first frame left at `t` was spoken at
`t - 0.02 + s / 16000`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SAMPLE_RATE_HZ = 16000
FRAME_S = 0.02
FRAME_BYTES = 640
QUIET_S = 0.6  # the agent counts as finished after this long without audio
DTMF_GAP_S = 0.25
_ACS_AUDIO = '{"kind":"AudioData"'
_BROWSER_AUDIO = '{"type":"audio_data"'


@dataclass(slots=True)
class AudioIn:
    at: float
    turn_id: int | None


@dataclass(slots=True)
class StopIn:
    at: float
    turn_id: int | None
    resumable: bool


@dataclass(slots=True)
class EventIn:
    at: float
    message: dict[str, Any]


@dataclass(slots=True)
class TurnLog:
    """What happened around one caller turn (loop times)."""

    index: int
    text: str
    dtmf: str
    true_start: float | None = None
    true_end: float | None = None
    first_audio_at: float | None = None
    barge_in: bool = False
    agent_speaking_at_start: bool = False
    reply_to: int | None = None  # the turn whose number the agent read back


@dataclass
class ConversationLog:
    transport: str
    voice: str
    scenario: str
    session_id: str
    client_id: str = ""
    turns: list[TurnLog] = field(default_factory=list)
    audio: list[AudioIn] = field(default_factory=list)
    stops: list[StopIn] = field(default_factory=list)
    events: list[EventIn] = field(default_factory=list)
    greeting_at: float | None = None
    ended_by_server: bool = False
    ended_at: float | None = None
    error: str = ""
    late_frames: int = 0  # sender wake-ups more than one frame late


def frames_of(pcm: bytes) -> list[bytes]:
    if len(pcm) % FRAME_BYTES:
        pcm += bytes(FRAME_BYTES - len(pcm) % FRAME_BYTES)
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


async def _connect(url: str, headers: dict[str, str]):
    from websockets.asyncio.client import connect

    return await connect(
        url, additional_headers=headers, proxy=None, open_timeout=10, max_size=2**22
    )


class Caller:
    """Sends frames at real time and records agent audio, stops and events."""

    transport = ""

    def __init__(self, log: ConversationLog) -> None:
        self.log = log
        self.loop = asyncio.get_running_loop()
        self.ws: Any = None
        self._speech: deque[tuple[Any, tuple[asyncio.Future, ...]]] = deque()
        self._extra: deque[tuple[Any, asyncio.Future]] = deque()
        self._tasks: list[asyncio.Task] = []
        self.closed = asyncio.Event()
        self.play_end = 0.0  # when the agent audio received so far ends playing
        self._hanging_up = False

    # encoding, per transport
    def encode(self, frame: bytes) -> Any:
        raise NotImplementedError

    def dtmf_messages(self, digits: str) -> list[Any]:
        raise NotImplementedError

    def on_text(self, text: str, at: float) -> None:
        raise NotImplementedError

    # sending
    def start(self) -> None:
        self._silence = self.encode(bytes(FRAME_BYTES))
        self._tasks.append(self.loop.create_task(self._send_loop(), name="caller-sender"))
        self._tasks.append(self.loop.create_task(self._read_loop(self.ws), name="caller-reader"))

    async def _send_loop(self) -> None:
        due = self.loop.time()
        try:
            while not self.closed.is_set():
                while self._extra:
                    message, done = self._extra.popleft()
                    await self.ws.send(message)
                    done.set_result(self.loop.time())
                now = self.loop.time()
                if self._speech:
                    payload, markers = self._speech.popleft()
                    await self.ws.send(payload)
                    for marker in markers:
                        marker.set_result(now)
                else:
                    await self.ws.send(self._silence)
                due += FRAME_S
                delay = due - self.loop.time()
                if delay < -FRAME_S:
                    self.log.late_frames += 1
                if delay > 0:
                    await asyncio.sleep(delay)
        except Exception:  # noqa: BLE001 - the socket closed: the reader records how
            pass
        finally:
            self.closed.set()
            now = self.loop.time()
            # Nobody waits forever for what was never sent.
            pending = [m for _, markers in self._speech for m in markers]
            pending += [done for _, done in self._extra]
            for marker in pending:
                if not marker.done():
                    marker.set_result(now)
            self._speech.clear()
            self._extra.clear()

    def encode_turn(self, pcm: bytes) -> list[Any]:
        """A turn's audio as the messages that carry it (encoded ahead of the call)."""
        return [self.encode(frame) for frame in frames_of(pcm)]

    async def speak(self, frames: list[Any]) -> tuple[float, float]:
        """Queue a turn's encoded frames; returns when the first and the last left."""
        if self.closed.is_set() or not frames:
            return self.loop.time(), self.loop.time()
        first, last = self.loop.create_future(), self.loop.create_future()
        for i, payload in enumerate(frames):
            markers = (first,) if i == 0 else ()
            if i == len(frames) - 1:
                markers += (last,)
            self._speech.append((payload, markers))
        return await first, await last

    async def key_in(self, digits: str) -> float:
        """Keypad digits, one every 250 ms; returns when the last one left."""
        sent = self.loop.time()
        for i, message in enumerate(self.dtmf_messages(digits)):
            if i:
                await asyncio.sleep(DTMF_GAP_S)
            if self.closed.is_set():
                break
            done = self.loop.create_future()
            self._extra.append((message, done))
            sent = await done
        return sent

    # receiving
    async def _read_loop(self, ws: Any) -> None:
        try:
            async for message in ws:
                if isinstance(message, str):
                    self.on_text(message, self.loop.time())
        except Exception:  # noqa: BLE001 - a broken socket ends the call like a close
            pass
        finally:
            if ws is self.ws:
                if not self._hanging_up:
                    self.log.ended_by_server = True
                    self.log.ended_at = self.loop.time()
                self.closed.set()

    def audio_in(self, at: float, turn_id: int | None) -> None:
        self.log.audio.append(AudioIn(at, turn_id))
        self.play_end = max(self.play_end, at) + FRAME_S

    def stop_in(self, at: float, turn_id: int | None, resumable: bool) -> None:
        self.log.stops.append(StopIn(at, turn_id, resumable))
        self.play_end = at  # queued audio is dropped, as ACS and the page do

    # waiting
    def agent_quiet_for(self) -> float:
        return self.loop.time() - self.play_end

    async def wait_quiet(self, quiet_s: float = QUIET_S, timeout_s: float = 60.0) -> None:
        async with asyncio.timeout(timeout_s):
            while (remaining := quiet_s - self.agent_quiet_for()) > 0:
                if self.closed.is_set():
                    return
                await asyncio.sleep(min(remaining, 0.05))

    async def wait_audio(self, after: float, timeout_s: float) -> AudioIn | None:
        """The first agent audio frame that arrived after `after`, or None."""
        deadline = self.loop.time() + timeout_s
        checked = 0
        while True:
            audio = self.log.audio
            for i in range(checked, len(audio)):
                if audio[i].at > after:
                    return audio[i]
            checked = len(audio)
            if self.closed.is_set() or self.loop.time() > deadline:
                return None
            await asyncio.sleep(0.01)

    async def hang_up(self) -> None:
        self._hanging_up = True
        self.closed.set()
        with contextlib.suppress(Exception):
            await self.ws.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task


class AcsCaller(Caller):
    """ACS's side of the media socket, plus the session's dashboard relay for its events."""

    transport = "acs"

    def __init__(self, log: ConversationLog) -> None:
        super().__init__(log)
        from media.acs import codec

        self.codec = codec
        self.timestamp = datetime.now(UTC).isoformat(timespec="milliseconds")
        self.relay: Any = None
        self.staff_token = ""

    @classmethod
    async def open(
        cls,
        log: ConversationLog,
        *,
        base_url: str,
        call_connection_id: str,
        token: str,
        staff_token: str,
    ) -> AcsCaller:
        """`token`: the call's media token; `staff_token`: an API token of a staff user, who
        may watch a phone call's relay."""
        self = cls(log)
        self.staff_token = staff_token
        url = f"{base_url}/api/v1/media/stream?call_connection_id={call_connection_id}"
        self.ws = await _connect(
            f"{url}&token={token}",
            {"x-ms-call-connection-id": call_connection_id, "x-ms-call-correlation-id": "spoken"},
        )
        self.base_url = base_url
        await self.ws.send(self.codec.encode_audio_metadata(SAMPLE_RATE_HZ))
        self.start()
        return self

    async def open_relay(self, timeout_s: float = 8.0) -> None:
        """The dashboard relay of this call's session (open once the session is stored)."""
        url = f"{self.base_url}/api/v1/browser/dashboard/relay?session_id={self.log.session_id}"
        origin = self.base_url.replace("ws://", "http://")
        deadline = self.loop.time() + timeout_s
        while self.loop.time() < deadline and not self.closed.is_set():
            ws = await _connect(
                url, {"Origin": origin, "Authorization": f"Token {self.staff_token}"}
            )
            first = json.loads(await ws.recv())
            if first.get("type") != "error":
                self.relay = ws
                self._tasks.append(self.loop.create_task(self._relay_loop(ws), name="relay"))
                return
            await ws.close()
            await asyncio.sleep(0.2)
        self.log.error = self.log.error or "dashboard relay refused"

    async def _relay_loop(self, ws: Any) -> None:
        with contextlib.suppress(Exception):
            async for message in ws:
                at = self.loop.time()
                self.log.events.append(EventIn(at, json.loads(message)))

    def encode(self, frame: bytes) -> str:
        return self.codec.encode_inbound_audio(
            frame, timestamp=self.timestamp, participant_raw_id="4:+14255550100",
            silent=not any(frame),
        )  # fmt: skip

    def dtmf_messages(self, digits: str) -> list[str]:
        return [self.codec.encode_dtmf(tone) for tone in digits]

    def on_text(self, text: str, at: float) -> None:
        if text.startswith(_ACS_AUDIO):
            self.audio_in(at, None)
        elif "StopAudio" in text:
            self.stop_in(at, None, resumable=False)

    async def hang_up(self) -> None:
        if self.relay is not None:
            with contextlib.suppress(Exception):
                await self.relay.close()
        await super().hang_up()


class BrowserCaller(Caller):
    """The browser page's side of the conversation socket (microphone frames, events)."""

    transport = "browser"

    @classmethod
    async def open(
        cls, log: ConversationLog, *, base_url: str, session_token: str = ""
    ) -> BrowserCaller:
        """`session_token`: to resume an anonymous session, the token its first socket got."""
        self = cls(log)
        url = f"{base_url}/api/v1/browser/conversation?session_id={log.session_id}"
        if session_token:
            url += f"&session_token={session_token}"
        self.ws = await _connect(url, {"Origin": base_url.replace("ws://", "http://")})
        self.start()
        return self

    def status_event(self, name: str) -> dict[str, Any] | None:
        """The payload of the first `status` message of this event (`session_started`, ...)."""
        for event in self.log.events:
            payload = event.message.get("payload") or {}
            if event.message.get("type") == "status" and payload.get("event") == name:
                return payload
        return None

    @property
    def session_token(self) -> str:
        """The token this socket was handed when it claimed a new session ("" otherwise)."""
        started = self.status_event("session_started") or {}
        return started.get("session_token", "")

    def encode(self, frame: bytes) -> bytes:
        return frame

    def dtmf_messages(self, digits: str) -> list[str]:
        return [json.dumps({"type": "dtmf", "digits": tone}) for tone in digits]

    def on_text(self, text: str, at: float) -> None:
        if text.startswith(_BROWSER_AUDIO):
            mark = text.rfind('"turn_id":')
            turn_id = int(text[mark + 10 : text.index("}", mark)]) if mark > 0 else None
            self.audio_in(at, turn_id)
            return
        message = json.loads(text)
        self.log.events.append(EventIn(at, message))
        if message.get("type") == "control" and message.get("action") == "audio_stop":
            self.stop_in(at, message.get("turn_id"), bool(message.get("resumable")))
        elif message.get("type") == "exit":
            self.log.ended_by_server = True
            self.log.ended_at = at

    async def hang_up(self) -> None:
        if not self.closed.is_set():
            with contextlib.suppress(Exception):
                await self.ws.send(json.dumps({"type": "end"}))
        await super().hang_up()
