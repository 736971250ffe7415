"""Ticket actions over the REST API as a named person (X-Opsroom-Acting-User, `act` scope): the
room sees them as that person's steps, the chat's rules and refusal texts apply, and a refusal
changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from opsroom.config import ConfigError, parse_config
from tests.intake.test_openapi import Responses
from tests.support.matrix import body
from tests.support.regulation import API_TOKEN, Room, kinds

pytestmark = pytest.mark.integration

ACT_TOKEN = "test-act-token-0123456789"  # scopes: act only
DOCUMENTED = Responses()  # every answer below is checked against the OpenAPI document


def sections(_key, _staff):
    return {"api": {"tokens": [
        {"name": "tests", "token": API_TOKEN},  # no scopes given: read, as before scopes
        {"name": "desk", "token": ACT_TOKEN, "scopes": ["act"]},
    ]}}


async def act(room: Room, number: int, word: str, person: str | None, token: str = ACT_TOKEN,
              **payload: Any) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token}"}
    if person is not None:
        headers["X-Opsroom-Acting-User"] = person
    async with room.http.post(f"{room.base_url}/api/v1/tickets/{number}/{word}", headers=headers,
                              json=payload if payload else None) as response:
        assert response.content_type == "application/json", await response.text()
        answer = await response.json()
    DOCUMENTED.check("POST", f"/api/v1/tickets/{{ticket_id}}/{word}", response.status, answer)
    return response.status, answer


async def new_ticket(room: Room, title: str) -> tuple[int, str]:
    status, answer = await room.post_alarm({"title": title, "severity": "major", "service": "postgres"})
    assert status == 202, answer
    root = await room.announcement(room.staff["alice"], answer["ticket"])
    await room.wait_events(answer["ticket"], lambda events: "announced" in kinds(events))
    return answer["ticket"], root["event_id"]


async def test_actions_are_the_persons_steps_in_the_room_under_the_chats_rules(regulated):
    room = await regulated(sections=sections)
    alice, bob, lead, outsider = room.staff["alice"], room.staff["bob"], room.staff["lead"], room.outsider
    number, root = await new_ticket(room, "Replication lag on db-02")
    before = await room.events_of(number)

    # refusals, each naming what is wrong; none changes anything
    status, answer = await act(room, number, "claim", alice.user_id, token=API_TOKEN)
    assert (status, answer["error"], answer["scope"]) == (403, "this API token lacks the act scope", "act")
    status, answer = await act(room, number, "claim", outsider.user_id)
    # the chat's refusal text (`!claim` by an outsider: "... not for you: only the staff of this room may do this.")
    assert (status, answer["error"], answer["result"]) == (403, "only the staff of this room may do this", "not_permitted")
    status, answer = await act(room, number, "claim", None)
    assert (status, answer["field"]) == (400, "X-Opsroom-Acting-User")
    status, answer = await act(room, number, "claim", "alice")
    assert (status, answer["field"]) == (400, "X-Opsroom-Acting-User")
    status, answer = await act(room, number, "resolve", alice.user_id)
    assert (status, answer["error"]) == (400, "summary: required")
    status, answer = await act(room, number, "claim", alice.user_id, note="x")
    assert (status, answer["field"]) == (400, "note")
    status, answer = await act(room, number, "assign", alice.user_id, assignee=bob.user_id)
    assert (status, answer["error"]) == (403, f"Only the responsible person (-) or staff of level 2 or higher may assign #{number}.")
    status, answer = await act(room, number, "assign", lead.user_id, assignee=outsider.user_id)
    assert (status, answer["error"]) == (403, f"{outsider.user_id} is not on the staff of this room.")
    status, answer = await act(room, 999999, "claim", alice.user_id)
    assert (status, answer["field"]) == (404, "ticket")
    assert await room.events_of(number) == before

    # a claim through the API is alice's claim, as the room sees it
    status, answer = await act(room, number, "claim", alice.user_id)
    assert status == 200, answer
    assert (answer["result"], answer["current"]["responsible"], answer["current"]["state"]) == ("done", alice.user_id, "claimed")
    note = await room.thread_note(bob, root, "claimed")
    assert alice.user_id in body(note)
    await room.edit(bob, root, f"Claimed by {alice.user_id}")
    claimed = (await room.events_of(number))[-1]
    assert (claimed["kind"], claimed["actor"], claimed["data"]["via"]) == ("claimed", alice.user_id, "api:desk")

    status, answer = await act(room, number, "claim", bob.user_id)
    assert status == 409 and answer["result"] == "held_by_other"
    assert answer["error"] == f"#{number} is held by {alice.user_id}. To take it over, send POST /api/v1/tickets/{number}/take."
    status, answer = await act(room, number, "take", bob.user_id)
    assert status == 200 and answer["current"]["responsible"] == bob.user_id
    await room.edit(alice, root, f"Claimed by {bob.user_id}")
    status, answer = await act(room, number, "assign", lead.user_id, assignee=alice.user_id)
    assert status == 200 and answer["current"]["responsible"] == alice.user_id
    status, answer = await act(room, number, "pause", alice.user_id, reason="waiting for the vendor")
    assert status == 200 and answer["current"]["status"] == "suspended"
    status, answer = await act(room, number, "pause", alice.user_id, reason="again")
    assert (status, answer["result"]) == (409, "paused_already")
    status, answer = await act(room, number, "resume", alice.user_id)
    assert status == 200 and answer["current"]["paused_at"] is None

    # resolving follows the chat's rule and says it in the chat's words
    status, answer = await act(room, number, "resolve", bob.user_id, summary="I think it is fine")
    assert (status, answer["error"]) == (
        403, f"Only the responsible person ({alice.user_id}) or staff of level 2 or higher may resolve #{number}.")
    async with room.http.post(f"{room.base_url}/api/v1/tickets/{number}/comments", json={"text": "Vendor replied."},
                              headers={"Authorization": f"Bearer {ACT_TOKEN}", "X-Opsroom-Acting-User": alice.user_id}) as response:
        answer = await response.json()
    DOCUMENTED.check("POST", "/api/v1/tickets/{ticket_id}/comments", response.status, answer)
    assert (response.status, answer["result"], answer["acting_user"]) == (201, "commented", alice.user_id)
    await room.thread_note(bob, root, "Vendor replied.")
    status, answer = await act(room, number, "resolve", alice.user_id, summary="Replica rebuilt")
    assert status == 200 and answer["current"]["state"] == "resolved"
    await room.edit(bob, root, "Resolved by")
    status, answer = await act(room, number, "escalate", alice.user_id, reason="late")
    assert (status, answer["result"]) == (409, "resolved_already")

    events = await room.events_of(number)
    steps = [(e["kind"], e["actor"]) for e in events if e["kind"] in ("claimed", "taken_over", "assigned", "paused", "resumed", "comment", "resolved")]
    assert steps == [
        ("claimed", alice.user_id), ("taken_over", bob.user_id), ("assigned", lead.user_id), ("paused", alice.user_id),
        ("resumed", alice.user_id), ("comment", alice.user_id), ("resolved", alice.user_id),
    ]

    other, other_root = await new_ticket(room, "Disk full on db-03")
    status, answer = await act(room, other, "escalate", bob.user_id, reason="customer-facing")
    # the room's regulation has no level above the staff: recorded and said in the thread, as in the chat
    assert (status, answer["result"]) == (200, "exhausted")
    await room.thread_note(alice, other_root, "escalation is exhausted")
    assert (await room.events_of(other))[-1]["actor"] == bob.user_id


def test_scopes_default_to_read_and_are_checked_with_their_key_paths():
    config = parse_config({"api": {"tokens": [{"name": "old", "token": "t-1"}, {"name": "desk", "token": "t-2", "scopes": ["read", "act"]}]}}, {})
    assert [token.scopes for token in config.api.tokens] == [["read"], ["read", "act"]]
    with pytest.raises(ConfigError) as caught:
        parse_config({"api": {"tokens": [
            {"name": "a", "token": "t-1", "scopes": []},
            {"name": "b", "token": "t-2", "scopes": ["write"]},
            {"name": "c", "token": "t-3", "scopes": ["act", "act"]},
        ]}}, {})
    assert [str(problem) for problem in caught.value.problems] == [
        "api.tokens[0].scopes: give at least one of read, act, admin",
        "api.tokens[1].scopes[0]: must be one of 'read', 'act', 'admin', got 'write'",
        "api.tokens[2].scopes: a scope is listed twice",
    ]
