"""Azure Speech providers (azure-cognitiveservices-speech): streaming STT and TTS to raw PCM.

Configuration (settings pass these from the environment):
- `key` (AZURE_SPEECH_KEY) with `region` (AZURE_SPEECH_REGION) or `endpoint`
  (AZURE_SPEECH_ENDPOINT, a custom domain or wss:// URL);
- without a key, `resource_id` (AZURE_SPEECH_RESOURCE_ID) and Entra ID: a token for the
  Cognitive Services scope from `DefaultAzureCredential`, sent as `aad#<resource id>#<token>`
  and refreshed on the live recognizer/synthesizer before it expires;
- `host` (e.g. ws://127.0.0.1:PORT) points the SDK at a test double.

Threading: SDK callbacks fire on native SDK threads; they only post to the loop through the
session's bridge. Blocking SDK calls (`.get()` on its futures) run in the worker pool.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any
from xml.sax.saxutils import escape

from media.engine.snapshot import VoiceSpec
from media.providers.base import (
    STT,
    TTS,
    MissingCredentialError,
    MissingDependencyError,
    ProviderCheck,
    ProviderContext,
    ProviderError,
    ProviderStartError,
    SttResult,
)

logger = logging.getLogger(__name__)

_SCOPE = "https://cognitiveservices.azure.com/.default"
_TOKEN_REFRESH_S = 8 * 60  # Entra tokens live about an hour, STS tokens 10 min: refresh early
_END = object()


def _sdk(provider: str) -> Any:
    try:
        import azure.cognitiveservices.speech as speechsdk
    except ImportError as exc:
        raise MissingDependencyError("azure-cognitiveservices-speech", provider) from exc
    return speechsdk


class _AzureSpeechBase:
    """Builds the SpeechConfig and keeps an Entra token fresh."""

    provider_name = "Azure Speech"

    def _init_azure(
        self,
        key: str = "",
        region: str = "",
        endpoint: str = "",
        resource_id: str = "",
        host: str = "",
    ) -> None:
        self.key = key
        self.region = region
        self.endpoint = endpoint
        self.resource_id = resource_id
        self.host = host
        self._credential: Any = None
        self._refresh_timer: threading.Timer | None = None

    @staticmethod
    def _check(cls: type, options: dict[str, Any]) -> ProviderCheck:
        backend = f"{cls.__module__}.{cls.__qualname__}"
        try:
            _validate(options)
        except MissingCredentialError as exc:
            return ProviderCheck(False, backend, str(exc))
        auth = "key" if options.get("key") else "Entra ID"
        where = options.get("host") or options.get("endpoint") or options.get("region")
        return ProviderCheck(True, backend, f"{where} ({auth})")

    def _token(self) -> str:
        token = self._credential.get_token(_SCOPE).token
        return f"aad#{self.resource_id}#{token}"

    def _speech_config(self) -> Any:
        """Blocking (an Entra token may be fetched): call from a worker."""
        speechsdk = _sdk(self.provider_name)
        _validate(
            {"key": self.key, "region": self.region, "endpoint": self.endpoint,
             "resource_id": self.resource_id, "host": self.host},
        )  # fmt: skip
        where: dict[str, str] = {}
        if self.host:
            where["host"] = self.host
        elif self.endpoint:
            where["endpoint"] = self.endpoint
        else:
            where["region"] = self.region
        if self.key:
            return speechsdk.SpeechConfig(subscription=self.key, **where)
        try:
            from azure.identity import DefaultAzureCredential
        except ImportError as exc:
            raise MissingDependencyError("azure-identity", self.provider_name) from exc
        self._credential = DefaultAzureCredential()
        config = speechsdk.SpeechConfig(auth_token=self._token(), **where)
        return config

    def _keep_token_fresh(self, target: Any) -> None:
        if self._credential is None:
            return

        def refresh() -> None:
            try:
                target.authorization_token = self._token()
            except Exception:
                logger.exception("%s: token refresh failed", self.provider_name)
            self._keep_token_fresh(target)

        self._refresh_timer = threading.Timer(_TOKEN_REFRESH_S, refresh)
        self._refresh_timer.daemon = True
        self._refresh_timer.start()

    async def _start_in_worker(self, context: ProviderContext, what: str) -> None:
        """Build the SDK objects in a worker (the SDK blocks while it connects)."""
        try:
            await context.workers.run(self._start_blocking)
        except ProviderStartError:
            raise
        except Exception as exc:
            raise ProviderStartError(f"Azure Speech {what} did not start: {exc}") from exc

    def _stop_refresh(self) -> None:
        if self._refresh_timer is not None:
            self._refresh_timer.cancel()
            self._refresh_timer = None


def _validate(options: dict[str, Any]) -> None:
    if not (options.get("host") or options.get("endpoint") or options.get("region")):
        raise MissingCredentialError("AZURE_SPEECH_REGION", "the Azure Speech provider")
    if not (options.get("key") or options.get("resource_id")):
        raise MissingCredentialError("AZURE_SPEECH_KEY", "the Azure Speech provider")


class AzureSTT(_AzureSpeechBase, STT):
    """Azure Speech continuous recognition from a push stream (16 kHz PCM16), with partials.

    Continuous mode: every frame is pushed; the service finds utterances itself (its
    segmentation silence is set to the engine's end-of-turn silence by `segmentation_ms`).
    """

    continuous = True
    provider_name = "AzureSTT"

    def __init__(
        self,
        key: str = "",
        region: str = "",
        endpoint: str = "",
        resource_id: str = "",
        host: str = "",
        language: str = "en-US",
        segmentation_ms: int = 500,
        stop_timeout_s: float = 5.0,
        **options: Any,
    ) -> None:
        STT.__init__(self, **options)
        self.stop_timeout_s = stop_timeout_s
        self._init_azure(key, region, endpoint, resource_id, host)
        self.language = language
        self.segmentation_ms = segmentation_ms
        self._stream: Any = None
        self._recognizer: Any = None
        self._phrases: list[str] = []

    @classmethod
    def check(cls, **options: Any) -> ProviderCheck:
        return cls._check(cls, options)

    async def start(self, context: ProviderContext) -> None:
        await STT.start(self, context)
        await self._start_in_worker(context, "recognition")

    def _start_blocking(self) -> None:
        speechsdk = _sdk(self.provider_name)
        config = self._speech_config()
        config.set_property(
            speechsdk.PropertyId.Speech_SegmentationSilenceTimeoutMs, str(self.segmentation_ms)
        )
        fmt = speechsdk.audio.AudioStreamFormat(
            samples_per_second=16000, bits_per_sample=16, channels=1
        )
        self._stream = speechsdk.audio.PushAudioInputStream(stream_format=fmt)
        audio = speechsdk.audio.AudioConfig(stream=self._stream)
        recognizer = speechsdk.SpeechRecognizer(
            speech_config=config, audio_config=audio, language=self.language
        )
        if self._phrases:
            phrase_list = speechsdk.PhraseListGrammar.from_recognizer(recognizer)
            for phrase in self._phrases:
                phrase_list.addPhrase(phrase)
        post = self.context.workers.post
        recognizer.recognizing.connect(
            lambda evt: post(self._deliver, SttResult(evt.result.text, False))
        )
        recognizer.recognized.connect(
            lambda evt: (
                post(self._deliver, SttResult(evt.result.text, True))
                if evt.result.reason == speechsdk.ResultReason.RecognizedSpeech
                else None
            )
        )
        recognizer.canceled.connect(self._on_canceled)
        recognizer.start_continuous_recognition_async().get()
        self._recognizer = recognizer
        self._keep_token_fresh(recognizer)

    def _on_canceled(self, evt: Any) -> None:
        details = evt.cancellation_details
        if str(details.reason).endswith("EndOfStream"):
            return
        message = f"recognition canceled: {details.reason} {details.error_details}".strip()
        self.context.workers.post(self._report_error, message)

    def set_phrases(self, phrases: Sequence[str]) -> None:
        """Sent as the recognizer's phrase list (the service takes up to 500)."""
        self._phrases = list(phrases)[:500]

    def begin_utterance(self, preroll: bytes) -> None:  # continuous: not used
        pass

    def end_utterance(self) -> None:  # continuous: the service finalizes on its own
        pass

    def push(self, frame: bytes) -> None:
        if self._stream is not None:
            self._stream.write(frame)

    async def close(self) -> None:
        self._stop_refresh()
        recognizer, self._recognizer = self._recognizer, None
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
        if recognizer is not None and self.context is not None:

            def stop() -> None:
                recognizer.stop_continuous_recognition_async().get()

            try:
                await self.context.workers.run(stop, timeout_s=self.stop_timeout_s)
            except Exception:  # noqa: BLE001 - closing must not fail the session's close
                logger.warning("session %s: recognizer did not stop cleanly", self.session_id)


_FORMATS = {
    16000: "Raw16Khz16BitMonoPcm",
    24000: "Raw24Khz16BitMonoPcm",
    8000: "Raw8Khz16BitMonoPcm",
}


class AzureTTS(_AzureSpeechBase, TTS):
    """Azure Speech synthesis straight to raw PCM at the transport rate (no resampling).

    Audio chunks are streamed from the SDK's `synthesizing` event as they arrive; `cancel()`
    stops the synthesis in flight (barge-in). Options as for :class:`AzureSTT`, plus
    `voice` (default voice when the agent has none) and `language`.
    """

    provider_name = "AzureTTS"

    def __init__(
        self,
        key: str = "",
        region: str = "",
        endpoint: str = "",
        resource_id: str = "",
        host: str = "",
        voice: str = "en-US-AvaMultilingualNeural",
        language: str = "en-US",
        **options: Any,
    ) -> None:
        TTS.__init__(self, **options)
        self._init_azure(key, region, endpoint, resource_id, host)
        self.voice = voice
        self.language = language
        self._synthesizer: Any = None
        self._queue: asyncio.Queue | None = None

    @classmethod
    def check(cls, **options: Any) -> ProviderCheck:
        return cls._check(cls, options)

    async def start(self, context: ProviderContext) -> None:
        await TTS.start(self, context)
        rate = context.output_sample_rate_hz
        self.sample_rate_hz = rate if rate in _FORMATS else 16000
        await self._start_in_worker(context, "synthesis")

    def _start_blocking(self) -> None:
        speechsdk = _sdk(self.provider_name)
        config = self._speech_config()
        config.set_speech_synthesis_output_format(
            getattr(speechsdk.SpeechSynthesisOutputFormat, _FORMATS[self.sample_rate_hz])
        )
        synthesizer = speechsdk.SpeechSynthesizer(speech_config=config, audio_config=None)
        post = self.context.workers.post
        synthesizer.synthesizing.connect(lambda evt: post(self._on_audio, evt.result.audio_data))
        self._synthesizer = synthesizer
        self._keep_token_fresh(synthesizer)

    def _on_audio(self, data: bytes) -> None:
        if self._queue is not None and data:
            self._queue.put_nowait(bytes(data))

    def ssml(self, text: str, voice: VoiceSpec | None) -> str:
        name = (voice.name if voice and voice.name else "") or self.voice
        body = escape(text)
        if voice and voice.rate:
            body = f'<prosody rate="{escape(voice.rate)}">{body}</prosody>'
        if voice and voice.style:
            body = f'<mstts:express-as style="{escape(voice.style)}">{body}</mstts:express-as>'
        return (
            '<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis" '
            f'xmlns:mstts="https://www.w3.org/2001/mstts" xml:lang="{self.language}">'
            f'<voice name="{escape(name)}">{body}</voice></speak>'
        )

    async def synthesize(self, text: str, voice: VoiceSpec) -> AsyncIterator[bytes]:
        speechsdk = _sdk(self.provider_name)
        synthesizer = self._synthesizer
        if synthesizer is None:
            raise ProviderError("AzureTTS is not started")
        queue: asyncio.Queue = asyncio.Queue()
        self._queue = queue
        ssml = self.ssml(text, voice)
        done = self.context.workers.bridge.submit(lambda: synthesizer.speak_ssml_async(ssml).get())
        done.add_done_callback(lambda _: queue.put_nowait(_END))
        started = time.monotonic()
        streamed = 0
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                streamed += len(item)
                yield item
            result = done.result()
            if result.reason == speechsdk.ResultReason.Canceled:
                details = result.cancellation_details
                raise ProviderError(f"synthesis canceled: {details.reason} {details.error_details}")
            # The SDK can return from `speak_ssml_async().get()` before its last `synthesizing`
            # events are delivered: the result holds the whole audio, so send what is missing.
            audio = result.audio_data or b""
            if len(audio) > streamed:
                yield bytes(audio[streamed:])
        finally:
            if self._queue is queue:
                self._queue = None
            logger.debug(
                "session %s: tts %.0f ms", self.session_id, (time.monotonic() - started) * 1000
            )

    def cancel(self) -> None:
        if self._synthesizer is not None and self._queue is not None:
            self._synthesizer.stop_speaking_async()  # returns a future; no need to wait

    async def close(self) -> None:
        self._stop_refresh()
        self._synthesizer = None
