"""This serving process's heartbeat, and the sweep that ends the conversations of dead ones.

Several server processes share one database; when one is killed, its callers' sockets die with
it and nothing in it can record that. Every serving process runs a heartbeat thread (started
with the first request or socket, like the loop-lag monitor): every `SERVER_HEARTBEAT_S` it
refreshes its row (`metrics.services.processes`), then sweeps: the active sessions of every
dead process are closed as disconnected with the turns already stored, their post-call summary
is computed, and their phone calls are hung up through Call Automation and recorded as
disconnected (`calls.services.call_media_lost`). Its first beat is at start-up, so a process
restarted after a crash sweeps what its predecessor left at once. Celery beat runs the same
sweep (`voiceproject.tasks.sweep_server_processes`) for when no server process is left.

The heartbeat is a thread, not a task on the serving loop: it does ORM work, and a loop too
busy to run a task must not make its process look dead. `SERVER_HEARTBEAT_S=0` turns it off.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)

_started_pid: int | None = None
_start_lock = threading.Lock()
# Swept process rows are kept this long for inspection (admin), then deleted.
FORGET_AFTER = dt.timedelta(days=7)


def sweep() -> list[str]:
    """Close the sessions (and hang up the calls) of dead server processes; the session ids."""
    from calls.services import call_media_lost
    from metrics import services
    from metrics.services import processes

    closed = []
    for process in processes.server_processes_dead(dead_after_s=settings.SERVER_DEAD_AFTER_S):
        reason = f"server process {process.instance_id} stopped"
        orphans = processes.server_process_sweep(process=process)
        for orphan in orphans:
            closed.append(orphan.session_id)
            try:
                services.session_post_call(session_id=orphan.session_id)
            except Exception:
                logger.exception("session %s: post-call summary failed", orphan.session_id)
            if orphan.call_connection_id:
                try:
                    call_media_lost(call_connection_id=orphan.call_connection_id, reason=reason)
                except Exception:
                    logger.exception("call %s: could not be ended", orphan.call_connection_id)
        logger.info("%s: swept (%d sessions closed)", reason, len(orphans))
    processes.server_processes_forget(older_than=FORGET_AFTER)
    return closed


def beat() -> None:
    """One heartbeat: this process is alive; then the sweep."""
    from metrics.services import processes

    processes.server_process_beat()
    sweep()


def _run(interval_s: float) -> None:
    failing_since: float | None = None
    while True:
        close_old_connections()
        try:
            beat()
        except Exception:  # a database outage must not end the heartbeat for good
            if failing_since is None:  # logged once per outage, not at every beat
                failing_since = time.monotonic()
                logger.exception("server process heartbeat failed")
        else:
            if failing_since is not None:
                logger.info(
                    "server process heartbeat back after %.1f s", time.monotonic() - failing_since
                )
                failing_since = None
        finally:
            with contextlib.suppress(Exception):  # a broken connection may fail to close
                connection.close()
        time.sleep(interval_s)


def ensure_started() -> None:
    """Start this process's heartbeat thread once (cheap to call on every request)."""
    global _started_pid
    if _started_pid == os.getpid():
        return
    with _start_lock:
        if _started_pid == os.getpid():
            return
        _started_pid = os.getpid()
        interval_s = settings.SERVER_HEARTBEAT_S
        if interval_s <= 0:
            return
        thread = threading.Thread(
            target=_run, args=(interval_s,), name="server-heartbeat", daemon=True
        )
        thread.start()
    from metrics.services.processes import server_instance_id

    logger.info("server process %s: heartbeat every %.0f s", server_instance_id(), interval_s)
