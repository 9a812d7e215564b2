"""The call list comes from the database (the original's was always empty)."""

from __future__ import annotations

import pytest

from tests.calls.factories import cloud_event, make_call


@pytest.fixture
def calls(db):
    made = [make_call(status="connected") for _ in range(3)]
    made += [make_call(status="disconnected") for _ in range(2)]
    made.append(make_call(status="failed", direction="inbound"))
    return made


def test_list_is_paginated_newest_first(auth_client, calls):
    first = auth_client.get("/api/v1/calls/", {"page": 1, "limit": 4}).json()
    second = auth_client.get("/api/v1/calls/", {"page": 2, "limit": 4}).json()

    assert first["total"] == second["total"] == 6
    assert (first["page"], first["limit"]) == (1, 4)
    assert len(first["calls"]) == 4 and len(second["calls"]) == 2
    listed = [c["call_id"] for c in first["calls"] + second["calls"]]
    assert listed == [c.call_connection_id for c in reversed(calls)]


def test_list_filters_by_status(auth_client, calls):
    body = auth_client.get("/api/v1/calls/", {"status_filter": "disconnected"}).json()

    assert body["total"] == 2
    assert {c["status"] for c in body["calls"]} == {"disconnected"}


def test_list_items_carry_participants_and_events(auth_client, acs_settings, db):
    call = make_call(status="ringing")
    auth_client.post(
        "/api/v1/calls/callbacks?token=" + acs_settings.ACS_CALLBACK_SECRET,
        [cloud_event(call, "CallConnected")],
        format="json",
    )

    (item,) = auth_client.get("/api/v1/calls/").json()["calls"]

    assert item["status"] == "connected"
    assert item["participants"] == [call.from_number, call.to_number]
    assert [e["event_type"] for e in item["events"]] == ["CallConnected"]
    assert item["duration"] is not None and item["duration"] >= 0


@pytest.mark.parametrize(
    "query", [{"limit": 0}, {"limit": 101}, {"page": 0}, {"status_filter": "ended"}]
)
def test_list_rejects_bad_parameters(auth_client, db, query):
    response = auth_client.get("/api/v1/calls/", query)

    assert response.status_code == 400


def test_list_needs_authentication(api_client, calls):
    assert api_client.get("/api/v1/calls/").status_code == 401


def test_a_simulated_call_has_a_duration_once_it_ends(auth_client, db):
    from calls.services import call_simulated_create, call_simulated_end

    call_id, _ = call_simulated_create(streaming_mode="media")
    call_simulated_end(call_connection_id=call_id)
    listed = auth_client.get("/api/v1/calls/", {"status_filter": "disconnected"}).json()["calls"]
    (call,) = [c for c in listed if c["call_id"] == call_id]
    assert call["duration"] is not None and call["duration"] >= 0


@pytest.mark.parametrize("page", [3, 10**6, 9223372036854775807, 10**30])
def test_a_page_beyond_the_last_is_an_invalid_page(auth_client, calls, page):
    response = auth_client.get("/api/v1/calls/", {"page": page, "limit": 4})

    assert response.status_code == 404, response.content
    assert response.json() == {"error": "not_found", "detail": "Invalid page."}


def test_the_first_page_of_no_calls_is_empty_not_invalid(auth_client, db):
    body = auth_client.get("/api/v1/calls/").json()

    assert (body["calls"], body["total"], body["page"]) == ([], 0, 1)
    assert auth_client.get("/api/v1/calls/", {"page": 2}).status_code == 404
