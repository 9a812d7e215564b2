"""Background jobs of the platform as a whole (Celery beat: settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from voiceproject import processes


@shared_task(name="voiceproject.tasks.sweep_server_processes")
def sweep_server_processes() -> list[str]:
    """End the conversations held by server processes that stopped; the sessions closed."""
    return processes.sweep()
