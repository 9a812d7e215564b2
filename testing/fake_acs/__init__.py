"""A local stand-in for Azure Communication Services: Call Automation, Event Grid, media socket.

    with FakeAcsServer() as fake:                 # Call Automation REST on 127.0.0.1
        settings.ACS_CONNECTION_STRING = fake.connection_string
        invite = fake.ring(from_number="+14255550100", to_number="+14255550199")
        EventGridFake(event_grid_webhook_url()).deliver([invite.event])
        fake.flush()                              # callbacks posted, media socket opened

Run on its own with `python -m testing.fake_acs` (see `--help`).
"""

from testing.fake_acs.event_grid import Delivery, EventGridFake, post_events
from testing.fake_acs.media import MediaStreamHook, MediaStreamRequest, open_media_socket
from testing.fake_acs.recording import FakeRecording
from testing.fake_acs.server import FakeAcsServer
from testing.fake_acs.signing import ACS_JWT_ISSUER, AcsJwtSigner
from testing.fake_acs.state import FakeCall, IncomingCallInvite, RecordedRequest

__all__ = [
    "ACS_JWT_ISSUER",
    "AcsJwtSigner",
    "Delivery",
    "EventGridFake",
    "FakeAcsServer",
    "FakeCall",
    "FakeRecording",
    "IncomingCallInvite",
    "MediaStreamHook",
    "MediaStreamRequest",
    "RecordedRequest",
    "open_media_socket",
    "post_events",
]
