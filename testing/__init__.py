"""Simulators and fakes for tests, benchmarks and local runs; the serving code never imports them.

- `testing.fake_acs`: a fake Azure Communication Services (Call Automation REST, Event Grid,
  recording, the media socket), spoken to by the real SDK; `python -m testing.fake_acs`.
- `testing.fake_realtime`: a fake realtime speech-to-speech service (Azure Voice Live and
  OpenAI realtime dialects); `python -m testing.fake_realtime`.
- `testing.acs_stream_client`: a caller on the ACS media socket (what `manage.py simulate_call`
  drives).
"""
