"""Speech and LLM providers, chosen by settings shaped like Django's CACHES.

    factory = build_providers({
        "stt": {"BACKEND": "media.providers.whisper.WhisperSTT", "OPTIONS": {}},
        "tts": {"BACKEND": "media.providers.local.LocalTTS", "OPTIONS": {}},
        "llm": {"BACKEND": "media.providers.rules.RulesDialogueEngine", "OPTIONS": {}},
        "vad": {"BACKEND": "media.providers.vad.SileroVAD", "OPTIONS": {}},
    })
    providers = factory.create()     # new instances for one session
    factory.check()                  # readiness: {"stt": {"ok": True, ...}, ...}
    factory.preload()                # load shared models once per process (blocking)

Vendor SDKs are imported inside their modules' methods, so building a factory never fails on a
missing optional package; `check()` and session start report it by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from media.providers.base import (
    LLM,
    STT,
    TTS,
    VAD,
    Provider,
    ProviderCheck,
    ProviderError,
    ProviderStartError,
)

KINDS = ("stt", "tts", "llm", "vad")
_BASES: dict[str, type[Provider]] = {"stt": STT, "tts": TTS, "llm": LLM, "vad": VAD}

DEFAULT_PROVIDERS: dict[str, dict[str, Any]] = {
    "stt": {"BACKEND": "media.providers.whisper.WhisperSTT", "OPTIONS": {}},
    "tts": {"BACKEND": "media.providers.local.LocalTTS", "OPTIONS": {}},
    "llm": {"BACKEND": "media.providers.rules.RulesDialogueEngine", "OPTIONS": {}},
    "vad": {"BACKEND": "media.providers.vad.SileroVAD", "OPTIONS": {}},
}

FAKE_PROVIDERS: dict[str, dict[str, Any]] = {
    "stt": {"BACKEND": "media.providers.fakes.ScriptedSTT", "OPTIONS": {}},
    "tts": {"BACKEND": "media.providers.fakes.FakeTTS", "OPTIONS": {}},
    "llm": {"BACKEND": "media.providers.fakes.ScriptedLLM", "OPTIONS": {}},
    "vad": {"BACKEND": "media.providers.fakes.EnergyVAD", "OPTIONS": {}},
}


@dataclass(slots=True)
class ProviderSet:
    """The providers of one session (new instances; shared models live in their modules)."""

    stt: STT
    tts: TTS
    llm: LLM
    vad: VAD

    def items(self) -> list[tuple[str, Provider]]:
        return [(kind, getattr(self, kind)) for kind in KINDS]


def import_backend(path: str, kind: str) -> type[Provider]:
    module_name, _, class_name = path.rpartition(".")
    if not module_name:
        raise ImportError(f"{kind} BACKEND {path!r} is not a dotted path")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if cls is None:
        raise ImportError(f"{kind} BACKEND {path!r}: no {class_name} in {module_name}")
    base = _BASES[kind]
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ImportError(f"{kind} BACKEND {path!r} is not a {base.__name__} provider")
    return cls


class ProviderFactory:
    """Makes a :class:`ProviderSet` per session from a CACHES-like configuration."""

    def __init__(self, config: Mapping[str, Mapping[str, Any]]) -> None:
        self.config = {kind: dict(config.get(kind) or DEFAULT_PROVIDERS[kind]) for kind in KINDS}
        self.classes: dict[str, type[Provider]] = {}
        self.options: dict[str, dict[str, Any]] = {}
        for kind in KINDS:
            entry = self.config[kind]
            self.classes[kind] = import_backend(entry["BACKEND"], kind)
            self.options[kind] = dict(entry.get("OPTIONS") or {})

    def create(self, **overrides: Mapping[str, Any]) -> ProviderSet:
        """New provider instances for one session; `overrides[kind]` adds options."""
        made = {
            kind: self.classes[kind](**{**self.options[kind], **dict(overrides.get(kind) or {})})
            for kind in KINDS
        }
        return ProviderSet(**made)

    def check(self) -> dict[str, dict[str, Any]]:
        """Cheap readiness of every configured provider (no network, no model load)."""
        report = {}
        for kind in KINDS:
            cls = self.classes[kind]
            try:
                result = cls.check(**self.options[kind])
            except Exception as exc:  # noqa: BLE001 - a check must never take readiness down
                result = ProviderCheck(
                    False, self.config[kind]["BACKEND"], f"{type(exc).__name__}: {exc}"
                )
            report[kind] = result.as_dict()
        return report

    def preload(self) -> None:
        """Load shared models now (blocking) so the first call does not pay for it."""
        for kind in KINDS:
            self.classes[kind].preload(**self.options[kind])


def build_providers(config: Mapping[str, Mapping[str, Any]] | None = None) -> ProviderFactory:
    """The provider factory for `config` (Django's SPEECH_PROVIDERS), defaults filled in."""
    return ProviderFactory(config or DEFAULT_PROVIDERS)


__all__ = [
    "DEFAULT_PROVIDERS",
    "FAKE_PROVIDERS",
    "KINDS",
    "ProviderError",
    "ProviderFactory",
    "ProviderSet",
    "ProviderStartError",
    "build_providers",
]
