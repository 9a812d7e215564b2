"""Simulate a phone call against a running server, through its real ACS media socket.

    python manage.py simulate_call --say "What is my account balance?" --say "Thank you"
    python manage.py simulate_call --wav caller.wav --out agent.wav --barge-in-after-ms 800

The command plays the caller like ACS does (AudioMetadata, then one 20 ms AudioData frame
every 20 ms at real time), records what the caller hears of the agent (StopAudio discards
queued audio, as ACS does) to a WAV file, and prints the conversation and its latencies.
Without `--call-connection-id` it first stores a connected inbound call for the media socket
to accept (the same database as the server: run it from the server's checkout).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from media.modes import CALL_MODES, StreamMode
from testing.acs_stream_client import AcsMediaStreamClient, Closed, read_wav, speak_text

DEFAULT_URL = "ws://127.0.0.1:8000/api/v1/media/stream"


class Command(BaseCommand):
    help = "Play a caller (WAV files or text spoken by the local TTS) into the media socket."

    def add_arguments(self, parser):
        parser.add_argument("--url", default=DEFAULT_URL, help="the media socket URL")
        parser.add_argument("--wav", action="append", default=[], help="caller utterance (WAV)")
        parser.add_argument("--say", action="append", default=[], help="caller utterance (text)")
        parser.add_argument(
            "--mode",
            choices=[mode.value for mode in CALL_MODES],
            default=None,
            help="streaming mode of the simulated call (default ACS_STREAMING_MODE)",
        )
        parser.add_argument(
            "--out",
            default=None,
            help="WAV of what the caller heard (default: var/simulate_call/<call id>.wav)",
        )
        parser.add_argument(
            "--barge-in-after-ms",
            type=int,
            default=None,
            help="talk over the agent's first answer this long after it starts",
        )
        parser.add_argument("--pause-ms", type=int, default=800, help="silence after speech")
        parser.add_argument("--timeout-s", type=float, default=30.0)
        parser.add_argument("--call-connection-id", default="", help="use an existing call")
        parser.add_argument("--token", default="", help="media socket secret (default: this app's)")
        parser.add_argument("--authorization", default="", help="'Bearer <ACS JWT>' if required")

    def handle(self, *args, **options):
        mode = options["mode"] or settings.ACS_STREAMING_MODE
        utterances = [("wav", w) for w in options["wav"]] + [("say", t) for t in options["say"]]
        if not utterances:
            utterances = [("say", "Hello, what can you do for me?")]
        call_connection_id = options["call_connection_id"]
        created = False
        if not call_connection_id:
            from calls.services import call_simulated_create

            call_connection_id, session_id = call_simulated_create(streaming_mode=mode)
            created = True
        else:
            from calls.selectors import call_get

            call = call_get(call_connection_id)
            if call is None:
                raise CommandError(f"no call {call_connection_id!r} in this database")
            session_id, mode = call.session_id or call_connection_id, call.streaming_mode
        from calls.auth import callback_secret

        query = {"call_connection_id": call_connection_id}
        if not options["authorization"]:
            query["token"] = options["token"] or callback_secret()
        url = f"{options['url']}?{urlencode(query)}"
        self.stdout.write(f"call {call_connection_id} ({mode}) → {options['url']}")
        try:
            report = asyncio.run(self._call(url, call_connection_id, mode, utterances, options))
        except (OSError, Closed) as exc:
            raise CommandError(f"media socket: {exc}") from exc
        finally:
            if created:
                from calls.services import call_simulated_end

                call_simulated_end(call_connection_id=call_connection_id)
        self._print(report, session_id, options)

    async def _call(self, url, call_connection_id, mode, utterances, options) -> dict:
        rate = StreamMode(mode).sample_rate_hz
        speech = []
        for kind, value in utterances:
            if kind == "wav":
                speech.append((Path(value).name, read_wav(value, rate)))
            else:
                speech.append((value, await speak_text(value, rate)))
        client = await AcsMediaStreamClient.connect(
            url,
            call_connection_id=call_connection_id,
            authorization=options["authorization"],
            sample_rate_hz=rate,
        )
        timeout_s = options["timeout_s"]
        pause_ms = options["pause_ms"]
        report: dict = {"client": client, "barge_in": None, "said": [], "mode": mode}
        await client.start()
        if mode != StreamMode.TRANSCRIPTION:
            try:
                await client.wait_for_agent_audio(timeout_s=timeout_s)  # the greeting
                await client.wait_agent_quiet(400, timeout_s=timeout_s)
            except TimeoutError:
                self.stderr.write("no greeting from the agent")
        barge_after = options["barge_in_after_ms"]
        for i, (label, pcm) in enumerate(speech):
            report["said"].append(label)
            await client.play(pcm)
            await client.play_silence(pause_ms)
            if mode == StreamMode.TRANSCRIPTION:
                continue
            try:
                first = await client.wait_for_agent_audio(
                    after=client.utterances[-1].ended_at, timeout_s=timeout_s
                )
            except TimeoutError:
                self.stderr.write(f"no answer to {label!r}")
                continue
            if barge_after is not None and i == 0:
                await asyncio.sleep(max(0.0, first.at + barge_after / 1000 - client.loop.time()))
                interrupt_label, interrupt_pcm = speech[1] if len(speech) > 1 else speech[0]
                started = client.loop.time()
                stops_before = len(client.stops())
                await client.play(interrupt_pcm)
                stops = client.stops()[stops_before:]
                report["barge_in"] = {
                    "said": interrupt_label,
                    "stop_ms": (stops[0].at - started) * 1000 if stops else None,
                    "stale_frames": len(
                        [r for r in client.audio_after(stops[0].at) if r.at <= client.loop.time()]
                    )
                    if stops
                    else None,
                }
                report["said"].append(interrupt_label)
                await client.play_silence(pause_ms)
                barge_after = None
                if len(speech) > 1:
                    speech.pop(1)
            await client.wait_agent_quiet(400, timeout_s=timeout_s)
        await client.hang_up()
        return report

    def _print(self, report: dict, session_id: str, options) -> None:
        client: AcsMediaStreamClient = report["client"]
        if report["mode"] == StreamMode.TRANSCRIPTION:
            self.stdout.write("transcription mode: the agent does not speak, no WAV written")
        else:
            path = options["out"] or str(
                Path(settings.BASE_DIR)
                / "var"
                / "simulate_call"
                / f"{client.call_connection_id}.wav"
            )
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            out = client.write_wav(path)
            self.stdout.write(
                f"agent audio: {client.received_audio_ms() / 1000:.1f} s received, "
                f"{len(client.stops())} StopAudio; what the caller heard → {out}"
            )
        for said, reaction in zip(report["said"], client.reaction_times_ms(), strict=False):
            shown = f"{reaction:.0f} ms" if reaction is not None else "no answer"
            self.stdout.write(f"  caller said {said!r}: end of speech → agent audio {shown}")
        if report["barge_in"]:
            b = report["barge_in"]
            stop = f"{b['stop_ms']:.0f} ms" if b["stop_ms"] is not None else "no StopAudio"
            self.stdout.write(
                f"  barge-in: caller speech → StopAudio {stop}; "
                f"agent frames after the stop while the caller spoke: {b['stale_frames']}"
            )
        self._print_transcript(session_id)

    def _print_transcript(self, session_id: str) -> None:
        """The turns the server stored for this call (its writes land shortly after hang-up)."""
        from metrics.models import Turn

        turns: list = []
        for _ in range(20):
            latest = list(Turn.objects.filter(session__session_id=session_id).order_by("index"))
            if latest and len(latest) == len(turns):
                break
            turns = latest
            time.sleep(0.25)
        if not turns:
            self.stdout.write("no turns stored for this call (is the server using this database?)")
            return
        self.stdout.write(f"transcript (session {session_id}):")
        for turn in turns:
            if turn.user_text:
                self.stdout.write(f"  caller: {turn.user_text}")
            if turn.assistant_text:
                cut = " [interrupted]" if turn.interrupted else ""
                self.stdout.write(f"  {turn.agent or 'agent'}: {turn.assistant_text}{cut}")
            stages = [
                ("stt", turn.stt_final_ms),
                ("llm first token", turn.llm_ttft_ms),
                ("tts first byte", turn.tts_ttfb_ms),
                ("end of speech → first audio", turn.first_audio_ms),
            ]
            shown = ", ".join(f"{name} {value:.0f} ms" for name, value in stages if value)
            if shown:
                self.stdout.write(f"    turn {turn.index}: {shown}")
