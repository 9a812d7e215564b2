"""The ACS media wire format: what ACS sends, in any casing, and what the app sends back."""

from __future__ import annotations

import base64
import json

import pytest

from media.acs import codec

PCM_20MS = bytes(range(256)) * 2 + bytes(128)  # 640 bytes


def audio_message(data: str, key_case=str.lower) -> str:
    return json.dumps({"kind": "AudioData", key_case("audioData"): {"data": data, "silent": False}})


def test_documented_inbound_messages_parse():
    decoder = codec.InboundDecoder()
    meta = decoder.decode(codec.encode_audio_metadata(24000, "sub-1"))
    assert meta == codec.AudioMetadata("sub-1", "PCM", 24000, 1, 960)
    assert decoder.frame_bytes == 960  # later frames are checked against the negotiated size
    audio = decoder.decode(
        codec.encode_inbound_audio(
            PCM_20MS[:480] * 2,
            timestamp="2024-11-15T19:16:12.925Z",
            participant_raw_id="4:+15550100",
            silent=True,
        )
    )
    assert isinstance(audio, codec.AudioData)
    assert audio.silent and audio.participant_raw_id == "4:+15550100" and len(audio.pcm) == 960
    assert decoder.decode(codec.encode_dtmf("5")) == codec.DtmfData("5")
    transcript = decoder.decode(codec.encode_transcription_data("hello there", is_final=True))
    assert transcript.text == "hello there" and transcript.is_final
    assert [w.text for w in transcript.words] == ["hello", "there"]
    assert not decoder.rejected


@pytest.mark.parametrize(
    "message",
    [
        {"Kind": "AudioData", "AudioData": {"Data": base64.b64encode(PCM_20MS).decode()}},
        {"KIND": "audiodata", "audiodata": {"DATA": base64.b64encode(PCM_20MS).decode()}},
        {
            "kind": "AudioData",
            "audioData": {
                "data": base64.b64encode(PCM_20MS).decode(),
                "participantRawID": None,
                "silent": "false",
            },
        },
    ],
)
def test_keys_and_kinds_are_case_insensitive(message):
    result = codec.InboundDecoder().decode(json.dumps(message))
    assert isinstance(result, codec.AudioData) and result.pcm == PCM_20MS and not result.silent


def test_transcription_status_and_dtmf_names_are_case_insensitive():
    decoder = codec.InboundDecoder()
    raw = json.loads(codec.encode_transcription_data("hi", is_final=False))
    raw["transcriptionData"]["resultStatus"] = "final"
    assert decoder.decode(json.dumps(raw)).is_final
    assert decoder.decode('{"kind":"DtmfData","dtmfData":{"data":"pound"}}').digits == "#"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", codec.MALFORMED_JSON),
        ("[1, 2]", codec.NOT_AN_OBJECT),
        ('{"kind": "VideoData", "videoData": {}}', codec.UNKNOWN_KIND),
        ('{"audioData": {"data": "AAAA"}}', codec.UNKNOWN_KIND),
        ('{"kind": "AudioData"}', codec.MISSING_PAYLOAD),
        (audio_message("not base64!!"), codec.BAD_BASE64),
        (audio_message(base64.b64encode(b"abc").decode()), codec.BAD_FRAME_SIZE),
        (audio_message(base64.b64encode(bytes(34000)).decode()), codec.BAD_FRAME_SIZE),
        ('{"kind": "DtmfData", "dtmfData": {"data": "x"}}', codec.BAD_DTMF),
        ('{"kind": "AudioMetadata", "audioMetadata": {"sampleRate": 12345}}', codec.BAD_METADATA),
        ("x" * (codec.MAX_MESSAGE_CHARS + 1), codec.OVERSIZED),
    ],
)
def test_bad_input_is_rejected_and_counted(text, reason):
    decoder = codec.InboundDecoder()
    result = decoder.decode(text)
    assert isinstance(result, codec.BadInput) and result.reason == reason
    assert decoder.rejected == {reason: 1}


def test_odd_sized_but_valid_audio_is_used_and_counted():
    decoder = codec.InboundDecoder()
    result = decoder.decode(audio_message(base64.b64encode(PCM_20MS * 2).decode()))
    assert isinstance(result, codec.AudioData) and len(result.pcm) == 1280
    assert decoder.rejected == {codec.BAD_FRAME_SIZE: 1}


def test_binary_frames_are_counted():
    decoder = codec.InboundDecoder()
    assert decoder.decode_binary(b"\x00" * 10).reason == codec.BINARY_FRAME
    assert decoder.rejected[codec.BINARY_FRAME] == 1


def test_outbound_messages_are_the_documented_json():
    sent = json.loads(codec.encode_audio_data(PCM_20MS))
    assert sent == {"kind": "AudioData", "audioData": {"data": base64.b64encode(PCM_20MS).decode()}}
    assert json.loads(codec.encode_stop_audio()) == {"kind": "StopAudio", "stopAudio": {}}
    # What the app sends parses back (the simulator reads it with the same decoder).
    decoder = codec.InboundDecoder()
    assert decoder.decode(codec.encode_audio_data(PCM_20MS)).pcm == PCM_20MS
    assert decoder.decode(codec.encode_stop_audio()) == codec.StopAudio()
