"""Drive the real Azure Speech SDK (through AzureSTT/AzureTTS) against a loopback USP fake.

Run as a script (the SDK can abort the interpreter at exit when native objects outlive it, so
the test runs this in a subprocess): prints one JSON line with what the providers produced and
what the fake server saw.

The fake speaks just enough USP (azure-protocols.md section 5.4): text frames are CRLF headers,
a blank line and a JSON/SSML body; binary frames carry a 2-byte big-endian header length.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import struct
import sys
import uuid

import websockets

from media.engine.snapshot import VoiceSpec
from media.engine.threads import SessionWorkers, ThreadBridge
from media.providers.azure_speech import AzureSTT, AzureTTS
from media.providers.base import ProviderContext

TTS_PCM = b"\x01\x02" * 3200  # 200 ms at 16 kHz


def parse_text(message: str) -> tuple[dict[str, str], str]:
    head, _, body = message.partition("\r\n\r\n")
    headers = {}
    for line in head.split("\r\n"):
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return headers, body


def text_frame(path: str, request_id: str, body: dict) -> str:
    return (
        f"X-RequestId:{request_id}\r\nContent-Type:application/json; charset=utf-8\r\n"
        f"Path:{path}\r\n\r\n{json.dumps(body)}"
    )


def audio_frame(request_id: str, payload: bytes) -> bytes:
    head = f"X-RequestId:{request_id}\r\nPath:audio\r\nContent-Type:audio/x-wav\r\n".encode()
    return struct.pack(">H", len(head)) + head + payload


class FakeUsp:
    def __init__(self) -> None:
        self.seen: dict[str, list] = {
            "paths": [], "auth": [], "ssml": [], "contexts": [], "audio_bytes": [0]
        }  # fmt: skip

    async def handler(self, ws) -> None:
        path = ws.request.path
        headers = ws.request.headers
        self.seen["paths"].append(path.split("?")[0])
        self.seen["auth"].append(
            headers.get("Ocp-Apim-Subscription-Key") or headers.get("Authorization") or ""
        )
        request_id = uuid.uuid4().hex
        answered = False
        async for message in ws:
            if isinstance(message, str):
                hdrs, body = parse_text(message)
                request_id = hdrs.get("x-requestid", request_id)
                if hdrs.get("path", "").lower() == "speech.context":
                    self.seen["contexts"].append(json.loads(body))
                if hdrs.get("path", "").lower() == "ssml":
                    self.seen["ssml"].append(body)
                    await ws.send(text_frame("turn.start", request_id, {"context": {}}))
                    for i in range(0, len(TTS_PCM), 1600):
                        await ws.send(audio_frame(request_id, TTS_PCM[i : i + 1600]))
                    await ws.send(text_frame("turn.end", request_id, {}))
                continue
            (length,) = struct.unpack(">H", message[:2])
            head = message[2 : 2 + length].decode()
            for line in head.split("\r\n"):
                if line.lower().startswith("x-requestid:"):
                    request_id = line.split(":", 1)[1].strip()
            payload = len(message) - 2 - length
            self.seen["audio_bytes"][0] += payload
            if payload == 0:  # end of the audio stream
                await ws.send(text_frame("turn.end", request_id, {}))
                continue
            if not answered and self.seen["audio_bytes"][0] > 16000:
                answered = True
                await ws.send(
                    text_frame("turn.start", request_id, {"context": {"serviceTag": "x"}})
                )
                await ws.send(text_frame("speech.startDetected", request_id, {"Offset": 0}))
                await ws.send(
                    text_frame("speech.hypothesis", request_id,
                               {"Text": "check my", "Offset": 0, "Duration": 5000000})
                )  # fmt: skip
                await ws.send(
                    text_frame("speech.phrase", request_id,
                               {"RecognitionStatus": "Success", "DisplayText": "Check my balance.",
                                "Offset": 0, "Duration": 9000000})
                )  # fmt: skip
                await ws.send(text_frame("speech.endDetected", request_id, {"Offset": 9000000}))


async def main() -> dict:
    fake = FakeUsp()
    async with websockets.serve(fake.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        host = f"ws://127.0.0.1:{port}"
        loop = asyncio.get_running_loop()
        context = ProviderContext("azure-probe", SessionWorkers(ThreadBridge.for_loop(loop)), 16000)
        out: dict = {}

        tts = AzureTTS(host=host, key="test-key")
        await tts.start(context)
        voice = VoiceSpec(name="en-US-AvaNeural", style="chat", rate="-4%")
        pcm = b"".join([chunk async for chunk in tts.synthesize("Hello & welcome.", voice)])
        out["tts_bytes"] = len(pcm)
        out["tts_rate"] = tts.sample_rate_hz
        await tts.close()

        stt = AzureSTT(host=host, key="test-key", stop_timeout_s=0.5)
        results: list = []
        got_final = asyncio.Event()

        def on_result(result) -> None:
            results.append([result.text, result.is_final])
            if result.is_final:
                got_final.set()

        stt.set_listener(on_result)
        stt.set_phrases(["Sarah Wilson", "David Brown"])
        await stt.start(context)
        silence = b"\x00\x00" * 320
        for _ in range(100):  # 2 s of audio, paced a little so the SDK streams it
            stt.push(silence)
            await asyncio.sleep(0.002)
        await asyncio.wait_for(got_final.wait(), 20)
        out["stt_results"] = results
        await stt.close()
        del stt, tts
        gc.collect()
        out["server"] = fake.seen
        return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
    sys.stdout.flush()
    os._exit(0)  # skip the SDK's slow native teardown; everything is reported
