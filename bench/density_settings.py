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

# A call holds its synthesizer lease for its whole conversation, so the default pool of 64 per
# process would refuse the 65th call whatever the socket server can carry, and this bench
# would measure the pool's size rather than the server. The fake TTS costs nothing to keep, so
# the pool is sized above the largest level; refusals still show in the bench's `refused`
# column should a level go beyond it.
TTS_POOL_MAX_SIZE = 1000
