"""Settings of a server that tests run as a process: the project's settings with fake speech.

Every utterance is heard as "what can you help me with" (scripted STT), the `rules` engine
answers it, a tone as long as the answer is its voice, and the energy VAD hears any loud
audio as speech: a client speaks with a tone. No model is loaded, so the server starts fast.
"""

from voiceproject.settings import *  # noqa: F403

SPEECH_PROVIDERS = {
    "stt": {
        "BACKEND": "media.providers.fakes.ScriptedSTT",
        "OPTIONS": {"default": "what can you help me with", "partial_every_frames": 0},
    },
    "tts": {"BACKEND": "media.providers.fakes.FakeTTS", "OPTIONS": {"ms_per_char": 4.0}},
    "llm": {"BACKEND": "media.providers.rules.RulesDialogueEngine", "OPTIONS": {}},
    "vad": {"BACKEND": "media.providers.fakes.EnergyVAD", "OPTIONS": {}},
}
