"""Browser tests: Debian's Chromium driven by Playwright, with a WAV file as the microphone.

Recipe: Chromium's fake capture device plays `--use-file-for-fake-audio-capture` into
getUserMedia (restarting the file at each capture); the pages run against real daphne processes
(`tests/e2e/server.py`). Screenshots land in `test-artifacts/screenshots/`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.server import PASSWORD, REPO, Stack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


def make_utterance(path: Path, text: str, *, lead_s: float, tail_s: float) -> Path:
    """A WAV of `text` spoken by espeak-ng, trimmed, padded with silence, 16-bit mono 48 kHz."""
    raw = path.with_suffix(".raw.wav")
    trimmed = path.with_suffix(".trim.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(
        [
            "sox",
            raw,
            trimmed,
            "silence",
            "1",
            "0.01",
            "1%",
            "reverse",
            "silence",
            "1",
            "0.01",
            "1%",
            "reverse",
        ],
        check=True,
    )
    subprocess.run(
        [
            "sox",
            trimmed,
            "-r",
            "48000",
            "-c",
            "1",
            "-b",
            "16",
            path,
            "pad",
            str(lead_s),
            str(tail_s),
        ],
        check=True,
    )
    return path


@pytest.fixture(scope="package")
def playwright_instance():
    """Playwright's sync API keeps an event loop running in this thread while it lives: it is
    stopped after the last browser test so the async tests that follow get a free thread."""
    if not Path(CHROMIUM).exists():
        pytest.fail("the browser tests need Debian's chromium (make test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


def launch(playwright, wav: Path):
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop",
            "--autoplay-policy=no-user-gesture-required",
        ],
    )


@pytest.fixture(scope="session")
def e2e_workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def stack(e2e_workdir):
    """A migrated database with the shipped agents and two users: e2e-admin (staff), e2e-user."""
    stack = Stack(workdir=e2e_workdir)
    try:
        stack.create_database()
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def sign_in(page, base_url: str, username: str = "e2e-admin") -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector(".who")
