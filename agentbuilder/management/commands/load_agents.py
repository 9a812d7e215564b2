"""Load the shipped agent library into the database (run by `make run`)."""

from django.core.management.base import BaseCommand, CommandError

from agentbuilder.services import LibraryError, library_load


class Command(BaseCommand):
    help = (
        "Load the agents of agentbuilder/library/ into the database. Idempotent; agents edited "
        "since they were loaded are skipped (and listed) unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="Overwrite library agents even if they were edited in the admin or the API.",
        )

    def handle(self, *args, force: bool = False, **options):
        try:
            report = library_load(force=force)
        except LibraryError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Agents: {report.summary()}")
        self.stdout.write(f"Templates: {report.templates}, card products: {report.card_products}")
