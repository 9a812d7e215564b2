"""Background jobs: expire demo users (with their banking data and codes) and session agents.

Scheduled hourly when a Celery beat runs (`make worker`); expired rows are also ignored by
every read, so the schedule is housekeeping rather than a correctness requirement.
"""

from __future__ import annotations

import logging

from celery import shared_task

from agentbuilder.services import demo_users_purge_expired, session_agents_purge_expired
from voiceproject.celery import app

logger = logging.getLogger(__name__)

PURGE_INTERVAL_S = 3600.0


@shared_task(name="agentbuilder.purge_expired")
def purge_expired() -> dict[str, int]:
    purged = {
        "demo_users": demo_users_purge_expired(),
        "session_agents": session_agents_purge_expired(),
    }
    logger.info("purged expired demo data: %s", purged)
    return purged


@app.on_after_finalize.connect
def _schedule(sender, **kwargs) -> None:
    sender.add_periodic_task(PURGE_INTERVAL_S, purge_expired.s(), name="agentbuilder-purge")
