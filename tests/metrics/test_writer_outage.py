"""The metrics writer through a database outage: turns are kept, then written in order.

The outage is real for the writer's thread: its settings point where no database answers (a
PostgreSQL port nothing listens on, or an SQLite file in a directory that does not exist), so
every new connection fails the way a stopped server's does, and succeeds again once the
settings are restored.
`tests/deploy/test_outages.py` stops a real PostgreSQL server instead.
"""

from __future__ import annotations

import logging
import socket
import time

import pytest
from django.db import OperationalError, connection

from metrics import services
from metrics.models import ConversationSession, Turn
from metrics.writer import DatabaseUnavailable, writer
from tests.metrics.conftest import turn_metrics

pytestmark = pytest.mark.django_db(transaction=True)


def _closed_port() -> int:
    """A local TCP port nothing listens on: bound, then released."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def database_outage(tmp_path):
    """`stop()` makes the database unreachable for new connections, `start()` brings it back."""

    if connection.vendor == "postgresql":
        unreachable = {"HOST": "127.0.0.1", "PORT": str(_closed_port())}
    else:
        unreachable = {"NAME": str(tmp_path / "gone" / "db.sqlite3")}

    class Outage:
        reachable = {key: connection.settings_dict[key] for key in unreachable}

        def stop(self) -> None:
            services.flush_blocking()  # the writer drops its connection after a flush
            connection.settings_dict.update(unreachable)

        def start(self) -> None:
            connection.settings_dict.update(self.reachable)

        def wait_recovered(self, timeout_s: float = 15.0) -> None:
            deadline = time.monotonic() + timeout_s
            while writer.database_down:
                assert time.monotonic() < deadline, f"{writer.buffered} writes still buffered"
                time.sleep(0.05)
            services.flush_blocking()

    outage = Outage()
    try:
        yield outage
    finally:
        outage.start()
        outage.wait_recovered()


def test_turns_spoken_while_the_database_is_down_are_written_once_it_is_back(
    database_outage, caplog
):
    services.session_open(session_id="outage-1", transport="browser")
    services.turn_record(session_id="outage-1", metrics=turn_metrics("outage-1", 1))
    database_outage.stop()
    for turn_id in (2, 3, 4):
        services.turn_record(
            session_id="outage-1",
            metrics=turn_metrics("outage-1", turn_id, user_text=f"question {turn_id}"),
        )
    with pytest.raises(DatabaseUnavailable):
        services.flush_blocking()
    assert writer.database_down and writer.buffered == 3
    assert "the database is unreachable" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="metrics.writer"):
        database_outage.start()
        database_outage.wait_recovered()
    assert "the database is back" in caplog.text
    turns = list(Turn.objects.filter(session__session_id="outage-1").order_by("index"))
    assert [(t.index, t.turn_id) for t in turns] == [(1, 1), (2, 2), (3, 3), (4, 4)]
    assert turns[3].user_text == "question 4"
    assert ConversationSession.objects.get(session_id="outage-1").turn_count == 4


def test_beyond_the_buffer_the_oldest_writes_are_dropped_and_counted(
    database_outage, settings, caplog
):
    settings.METRICS_BUFFER_MAX = 2
    services.session_open(session_id="outage-2", transport="browser")
    database_outage.stop()
    lost_before = writer.lost
    for turn_id in range(1, 6):
        services.turn_record(session_id="outage-2", metrics=turn_metrics("outage-2", turn_id))
    with pytest.raises(DatabaseUnavailable):
        services.flush_blocking()
    assert writer.buffered == 2
    assert writer.lost == lost_before + 3
    assert "buffer full (METRICS_BUFFER_MAX=2)" in caplog.text

    database_outage.start()
    database_outage.wait_recovered()
    assert "3 lost" in caplog.text
    stored = Turn.objects.filter(session__session_id="outage-2").order_by("index")
    assert [t.turn_id for t in stored] == [4, 5]


def test_readiness_names_the_database_while_it_is_down(database_outage, api_client):
    database_outage.stop()
    services.turn_record(session_id="outage-3", metrics=turn_metrics("outage-3", 1))
    with pytest.raises(DatabaseUnavailable):
        services.flush_blocking()
    connection.close()  # this thread's connection too: the next query reconnects
    response = api_client.get("/api/v1/readiness")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "degraded" and body["down"] == ["database"]
    assert body["reason"].startswith("database is down")
    database = next(c for c in body["checks"] if c["component"] == "database")
    assert database["status"] == "unhealthy" and database["dependency"] == "database"
    assert database["details"]["buffered_writes"] == 1

    database_outage.start()
    database_outage.wait_recovered()
    response = api_client.get("/api/v1/readiness")
    assert response.status_code == 200, response.json()
    assert response.json()["down"] == []
    assert Turn.objects.filter(session__session_id="outage-3").count() == 1


def test_a_write_failing_on_its_own_is_not_an_outage():
    """A database error while the database answers is the write's fault: logged, counted,
    the writes around it applied, nothing held back."""

    def broken() -> None:
        raise OperationalError("no such table: somewhere")

    failed_before = writer.failed
    services.session_open(session_id="outage-4", transport="browser")
    writer.submit("broken", broken)
    services.turn_record(session_id="outage-4", metrics=turn_metrics("outage-4", 1))
    services.flush_blocking()
    assert not writer.database_down and writer.buffered == 0
    assert writer.failed == failed_before + 1
    assert Turn.objects.filter(session__session_id="outage-4").count() == 1
