"""Server processes: each serving process beats; the sessions of a dead one end as disconnected.

A process that is killed (or whose machine is) cannot close its own sessions: their sockets die
with it and nothing runs `session_close`. Every serving process therefore records its identity
on the sessions it opens (`ConversationSession.server_instance`) and refreshes its
`ServerProcess.last_seen_at` every `SERVER_HEARTBEAT_S`. A process is dead when it has not
beaten for `SERVER_DEAD_AFTER_S`, or at once when a process on the same host sees that its pid
is gone. The sweep (:func:`server_processes_sweep`, run by every live process after its beat and
by Celery beat) claims each dead process once and closes its active sessions as disconnected.

Sync ORM code: call it from threads (the heartbeat thread, Celery), never on the event loop.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from metrics.models import ConversationSession, ServerProcess, SessionStatus

logger = logging.getLogger(__name__)

_identity: tuple[int, str] | None = None  # (pid, instance id): a forked child gets its own


def server_instance_id() -> str:
    """This process's identity: host, pid and a random part (a pid is reused after a restart)."""
    global _identity
    pid = os.getpid()
    if _identity is None or _identity[0] != pid:
        _identity = (pid, f"{socket.gethostname()}:{pid}:{secrets.token_hex(4)}")
    return _identity[1]


def server_process_beat(*, now: dt.datetime | None = None) -> ServerProcess:
    """This process is alive: create or refresh its row."""
    now = now or timezone.now()
    process, _ = ServerProcess.objects.update_or_create(
        instance_id=server_instance_id(),
        defaults={"last_seen_at": now},
        create_defaults={
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": now,
            "last_seen_at": now,
        },
    )
    return process


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, run by another user
        return False
    return False


def server_processes_dead(
    *, dead_after_s: float, now: dt.datetime | None = None
) -> list[ServerProcess]:
    """Processes not yet swept that are dead: silent for `dead_after_s`, or on this host with
    their pid gone (or taken by this process, a restart of the same container)."""
    now = now or timezone.now()
    own_id = server_instance_id()
    hostname, pid = socket.gethostname(), os.getpid()
    dead = []
    for process in ServerProcess.objects.filter(swept_at__isnull=True).exclude(instance_id=own_id):
        silent = process.last_seen_at < now - dt.timedelta(seconds=dead_after_s)
        here = process.hostname == hostname
        if silent or (here and (process.pid == pid or _pid_gone(process.pid))):
            dead.append(process)
    return dead


@dataclass(frozen=True, slots=True)
class OrphanedSession:
    """A session closed because its server process died."""

    session_id: str
    transport: str
    call_connection_id: str
    server_instance: str


def server_process_sweep(
    *, process: ServerProcess, now: dt.datetime | None = None
) -> list[OrphanedSession]:
    """Close the active sessions of a dead `process` as disconnected; the sessions closed.

    The process row is claimed first with a conditional UPDATE, so of several sweepers (every
    live process and Celery beat) exactly one closes its sessions; the others get [].
    """
    now = now or timezone.now()
    with transaction.atomic():
        claimed = ServerProcess.objects.filter(pk=process.pk, swept_at__isnull=True).update(
            swept_at=now
        )
        if not claimed:
            return []
        orphans = []
        sessions = ConversationSession.objects.select_for_update().filter(
            server_instance=process.instance_id, status=SessionStatus.ACTIVE
        )
        for session in sessions:
            session.status = SessionStatus.DISCONNECTED
            # It was alive at least until the process's last beat and its own last activity.
            session.ended_at = max(
                session.started_at, session.last_activity_at, process.last_seen_at
            )
            session.save(update_fields=["status", "ended_at"])
            orphans.append(
                OrphanedSession(
                    session_id=session.session_id,
                    transport=session.transport,
                    call_connection_id=session.call_connection_id,
                    server_instance=process.instance_id,
                )
            )
    for orphan in orphans:
        logger.warning(
            "session %s: closed as disconnected (its server process %s stopped)",
            orphan.session_id,
            process.instance_id,
        )
    return orphans


def server_processes_forget(*, older_than: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Delete swept processes last seen longer ago than `older_than`; how many."""
    now = now or timezone.now()
    deleted, _ = ServerProcess.objects.filter(
        swept_at__isnull=False, last_seen_at__lt=now - older_than
    ).delete()
    return deleted
