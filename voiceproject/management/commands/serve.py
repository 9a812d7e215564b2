"""Run the production topology on this machine: N daphne processes behind HAProxy, Celery.

    python manage.py serve                        # one server process per core, port 8000
    python manage.py serve --processes 2 --port 8080 --stats-port 8404
    python manage.py serve --haproxy-config compose   # print compose.yaml's HAProxy config

See `voiceproject.serve` for what runs and how it is supervised.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from voiceproject import serve


class Command(BaseCommand):
    help = "Serve with N daphne processes behind HAProxy, plus a Celery worker and beat."

    def add_arguments(self, parser):
        parser.add_argument(
            "--processes",
            type=int,
            default=settings.SERVE_PROCESSES or os.cpu_count() or 1,
            help="server processes (default SERVE_PROCESSES, else one per core)",
        )
        parser.add_argument("--host", default="127.0.0.1", help="the load balancer's address")
        parser.add_argument("--port", type=int, default=8000, help="the load balancer's port")
        parser.add_argument(
            "--base-port",
            type=int,
            default=0,
            help="the first server's port (loopback), then consecutive (default: port + 1)",
        )
        parser.add_argument("--stats-port", type=int, default=0, help="HAProxy's stats page")
        parser.add_argument(
            "--check-interval-ms", type=int, default=2000, help="readiness check interval"
        )
        parser.add_argument(
            "--no-celery", action="store_true", help="no Celery worker and beat (tasks eager)"
        )
        parser.add_argument("--workdir", default=str(settings.VAR_DIR / "serve"))
        parser.add_argument(
            "--haproxy-config",
            choices=["local", "compose"],
            help="print HAProxy's configuration and exit",
        )

    def handle(self, *args, **options):
        if options["haproxy_config"] == "compose":
            self.stdout.write(serve.compose_haproxy_config(), ending="")
            return
        servers = options["processes"]
        if servers < 1:
            raise CommandError("--processes must be at least 1")
        if servers > 1 and not settings.REDIS_URL:
            raise CommandError(
                "Several server processes share conversations through Redis: set REDIS_URL "
                "(and DATABASE_URL to PostgreSQL)."
            )
        if servers > 1 and settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
            self.stderr.write("note: SQLite shared by several processes is for trying it only")
        workdir = Path(options["workdir"])
        workdir.mkdir(parents=True, exist_ok=True)
        celery = not options["no_celery"] and not settings.CELERY_TASK_ALWAYS_EAGER
        try:
            plan = serve.topology(
                servers=servers,
                host=options["host"],
                port=options["port"],
                base_port=options["base_port"] or options["port"] + 1,
                workdir=workdir,
                celery=celery,
                stats_port=options["stats_port"],
                check_interval_ms=options["check_interval_ms"],
            )
        except RuntimeError as exc:
            raise CommandError(str(exc)) from exc
        if options["haproxy_config"] == "local":
            self.stdout.write(plan.haproxy_cfg, ending="")
            return
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        # Only HAProxy (on loopback) may name the client in X-Forwarded-For.
        env.setdefault("TRUSTED_PROXIES", "127.0.0.1")
        if options["no_celery"]:
            env["CELERY_TASK_ALWAYS_EAGER"] = "1"
        supervisor = serve.Supervisor(plan.processes, workdir=workdir, out=self.stdout, env=env)
        raise SystemExit(supervisor.run())
