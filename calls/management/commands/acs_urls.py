"""Print the URLs to give Azure (or the fake ACS): Event Grid webhook, callbacks, media socket.

They carry the callback secret, so treat the output as a credential.
"""

from django.core.management.base import BaseCommand

from calls.auth import callback_url, event_grid_webhook_url, jwt_configured, media_stream_url


class Command(BaseCommand):
    help = "Print the Event Grid webhook, callback and media-socket URLs (with their secret)."

    def add_arguments(self, parser):
        only = parser.add_mutually_exclusive_group()
        only.add_argument("--event-grid", action="store_true", help="only the Event Grid URL")
        only.add_argument("--callback", action="store_true", help="only the callback URL")
        only.add_argument("--media", action="store_true", help="only the media socket URL")

    def handle(self, *args, **options):
        urls = {
            "event_grid": event_grid_webhook_url(),
            "callback": callback_url(),
            "media": media_stream_url(),
        }
        for name, url in urls.items():
            if options[name]:
                self.stdout.write(url)
                return
        self.stdout.write(f"Event Grid webhook (IncomingCall subscription): {urls['event_grid']}")
        self.stdout.write(f"Call Automation callbacks:                     {urls['callback']}")
        self.stdout.write(f"Media socket:                                  {urls['media']}")
        scheme = "ACS-signed JWT" if jwt_configured() else "the token in the URL"
        self.stdout.write(f"Callbacks and the media socket are checked with {scheme}.")
