"""Create the local admin account on first start and print how to sign in.

Runs in `make run`. The password is random, stored in `var/local-admin.json` (readable by its
owner only) and printed at every start, so a newcomer can sign in to the admin and call the API
at once. Refuses to run with DEBUG off: production admins are created with `createsuperuser`.
"""

import json
import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token

CREDENTIALS_FILE = settings.VAR_DIR / "local-admin.json"


class Command(BaseCommand):
    help = "Create a local admin user (DEBUG only) and print its sign-in details."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        if not settings.DEBUG:
            raise CommandError("ensure_local_admin is for local development (DJANGO_DEBUG=1).")
        user_model = get_user_model()
        user = user_model.objects.filter(username=username).first()
        credentials = self._read_credentials()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = user_model.objects.create_superuser(username=username, password=password)
            credentials = {"username": username, "password": password}
            CREDENTIALS_FILE.write_text(json.dumps(credentials))
            os.chmod(CREDENTIALS_FILE, 0o600)
        token, _ = Token.objects.get_or_create(user=user)
        base = settings.BASE_URL
        password = credentials.get("password") if credentials.get("username") == username else None
        self.stdout.write(
            "\n".join(
                [
                    "",
                    f"  Admin:     {base}/admin/  user {username!r}"
                    + (f", password {password!r}" if password else " (password set elsewhere)"),
                    f"  API token: Authorization: Token {token.key}",
                    f"  API docs:  {base}/api/docs/",
                    f"  (stored in {CREDENTIALS_FILE.relative_to(settings.BASE_DIR)})",
                    "",
                ]
            )
        )

    def _read_credentials(self) -> dict:
        try:
            return json.loads(CREDENTIALS_FILE.read_text())
        except (OSError, ValueError):
            return {}
