"""Inbound AudioData in the documented casing decodes exactly as in any other casing."""

from __future__ import annotations

import base64
import json

import pytest

from media.acs import codec

PCM = bytes(range(256)) * 2 + bytes(128)  # one 20 ms frame at 16 kHz
DATA = base64.b64encode(PCM).decode()


def lowered(message: dict) -> dict:
    return {
        k.lower(): ({kk.lower(): vv for kk, vv in v.items()} if isinstance(v, dict) else v)
        for k, v in message.items()
    }


@pytest.mark.parametrize(
    "payload",
    [
        {"timestamp": "2024-11-15T19:16:12.925Z", "participantRawID": "4:+1", "data": DATA},
        {"data": DATA, "silent": True},
        {"data": DATA, "silent": "true"},
        {"data": DATA, "silent": "False", "participantRawID": None},
        {"data": DATA[:-4]},  # a short frame: used and counted
        {"data": DATA + "!"},  # not base64
        {"data": 5},
        {"silent": False},
    ],
)
def test_documented_and_other_casings_decode_alike(payload):
    documented = {"kind": "AudioData", "audioData": payload}
    results = []
    for message in (documented, lowered(documented)):
        decoder = codec.InboundDecoder()
        results.append((decoder.decode(json.dumps(message)), dict(decoder.rejected)))
    assert results[0] == results[1]


def test_a_duplicate_payload_in_another_casing_is_read_as_before():
    # With two payload keys differing in casing the last one wins, whichever casing it has.
    text = json.dumps(
        {"kind": "AudioData", "audioData": {"data": "AAAA"}, "AudioData": {"data": DATA}}
    )
    result = codec.InboundDecoder().decode(text)
    assert isinstance(result, codec.AudioData) and result.pcm == PCM
    text = json.dumps({"kind": "AudioData", "audioData": {"data": "!!", "Data": DATA}})
    result = codec.InboundDecoder().decode(text)
    assert isinstance(result, codec.AudioData) and result.pcm == PCM
