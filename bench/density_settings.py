"""Settings of the server that `bench/server_density.py` measures: the project's settings with
zero-latency fake STT, LLM and TTS and the real Silero VAD, so that what is measured is the
socket server, the codec and the engine, not the speech models."""

from voiceproject.settings import *  # noqa: F403

SPEECH_PROVIDERS = {
    # Every utterance is "what is my balance"; the answer echoes it (about 1 s of audio).
    "stt": {
        "BACKEND": "media.providers.fakes.ScriptedSTT",
        "OPTIONS": {"default": "what is my balance", "partial_every_frames": 0},
    },
    "tts": {
        "BACKEND": "media.providers.fakes.FakeTTS",
        "OPTIONS": {"ms_per_char": 30.0, "chunk_ms": 200.0},
    },
    "llm": {"BACKEND": "media.providers.fakes.ScriptedLLM", "OPTIONS": {}},
    "vad": {"BACKEND": "media.providers.vad.SileroVAD", "OPTIONS": {}},
}
