"""Server processes beat; the conversations of a dead one end as disconnected, turns kept."""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys

import pytest
from django.utils import timezone

from calls.models import Call
from metrics.models import ConversationSession, ServerProcess, Turn
from metrics.services import flush_blocking, session_close, session_open, turn_record
from metrics.services.processes import server_instance_id, server_process_beat
from tests.calls.factories import make_call
from tests.metrics.conftest import turn_metrics
from voiceproject import processes
from voiceproject.tasks import sweep_server_processes

pytestmark = pytest.mark.django_db(transaction=True)


def _process(instance_id: str, *, hostname: str, pid: int, seen_s_ago: float) -> ServerProcess:
    seen = timezone.now() - dt.timedelta(seconds=seen_s_ago)
    return ServerProcess.objects.create(
        instance_id=instance_id, hostname=hostname, pid=pid, started_at=seen, last_seen_at=seen
    )


def _session(session_id: str, owner: str, *, turns: int = 0, **fields) -> ConversationSession:
    now = timezone.now()
    session = ConversationSession.objects.create(
        session_id=session_id,
        server_instance=owner,
        started_at=now - dt.timedelta(seconds=30),
        last_activity_at=now - dt.timedelta(seconds=20),
        **{"transport": "browser", **fields},
    )
    for turn_id in range(1, turns + 1):
        turn_record(
            session_id=session_id,
            metrics=turn_metrics(session_id, turn_id, user_text=f"question {turn_id}"),
        )
    flush_blocking()
    return session


def test_a_silent_process_is_swept_once_and_its_sessions_end_disconnected(settings):
    settings.SERVER_DEAD_AFTER_S = 30
    _process("elsewhere:41:dead", hostname="elsewhere", pid=41, seen_s_ago=120)
    _process("elsewhere:42:alive", hostname="elsewhere", pid=42, seen_s_ago=2)
    _session("s-dead", "elsewhere:41:dead", turns=2)
    _session("s-alive", "elsewhere:42:alive", turns=1)
    _session("s-ended", "elsewhere:41:dead", status="completed")

    closed = processes.sweep()

    assert closed == ["s-dead"]
    dead = ConversationSession.objects.get(session_id="s-dead")
    assert dead.status == "disconnected" and dead.ended_at is not None
    assert list(Turn.objects.filter(session=dead).values_list("user_text", flat=True)) == [
        "question 1",
        "question 2",
    ]
    assert dead.summary["turn_count"] == 2  # the post-call summary, as for any closed session
    assert ConversationSession.objects.get(session_id="s-alive").status == "active"
    assert ConversationSession.objects.get(session_id="s-ended").status == "completed"
    assert ServerProcess.objects.get(instance_id="elsewhere:41:dead").swept_at is not None
    # Claimed once: another sweeper (a live process, Celery beat) finds nothing left to do.
    assert sweep_server_processes() == []


def test_a_process_of_this_host_whose_pid_is_gone_is_dead_at_once(settings):
    settings.SERVER_DEAD_AFTER_S = 3600
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    gone_pid = int(child.stdout)
    here = socket.gethostname()
    _process(f"{here}:{gone_pid}:gone", hostname=here, pid=gone_pid, seen_s_ago=1)
    _session("s-gone", f"{here}:{gone_pid}:gone", turns=1)

    assert processes.sweep() == ["s-gone"]
    assert ConversationSession.objects.get(session_id="s-gone").status == "disconnected"


def test_sessions_record_their_process_and_a_live_process_keeps_them(settings):
    settings.SERVER_DEAD_AFTER_S = 30
    server_process_beat()
    session_open(session_id="s-here", transport="browser")
    flush_blocking()
    session = ConversationSession.objects.get(session_id="s-here")
    assert session.server_instance == server_instance_id()

    assert processes.sweep() == []  # this process is alive: its sessions stay open
    assert ConversationSession.objects.get(session_id="s-here").status == "active"
    session_close(session_id="s-here")
    flush_blocking()


def test_a_dead_process_call_without_acs_is_recorded_as_disconnected(settings):
    settings.ACS_CONNECTION_STRING = ""
    settings.ACS_ENDPOINT = ""
    call = make_call(direction=Call.Direction.INBOUND, media_connected_at=timezone.now())
    _process("elsewhere:43:dead", hostname="elsewhere", pid=43, seen_s_ago=600)
    _session(
        call.session_id,
        "elsewhere:43:dead",
        transport="acs",
        call_connection_id=call.call_connection_id,
    )

    processes.sweep()

    call.refresh_from_db()
    assert call.status == "disconnected" and call.ended_at is not None
    assert call.media_disconnected_at is not None
    assert call.disconnect_reason == "server process elsewhere:43:dead stopped"
