"""Pages that follow the ticket: escalation pages to one person within a window are one direct
message listing the tickets (a bundle), edited as tickets join it and as each is claimed, taken
over or resolved.

Invariants: a person gets at most one new (notifying) page message per window, however many
tickets are escalated to them (each ticket is still recorded as paged, in
``page_bundle_tickets``), and the escalation's thread note mentions (notifies) only those paged
for the first time in their window; the message always shows the tickets' state at its last delivery; all
of it is outbox rows and database rows written in the transaction of the step, so a restart
loses and repeats nothing. Edits of one bundle coalesce.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable, Literal

import asyncpg

from storage import outbox, statements
from storage import outbox_kinds as kinds
from tickets import page_store
from tickets.model import Ticket
from tickets.notices import direct_queue

DEFAULT_WINDOW = timedelta(minutes=1)
EDIT_DELAY = 1.0  # seconds: a storm edits a bundle about once a second, not once per ticket

PageState = Literal["waiting", "claimed", "taken", "resolved", "closed"]


def bundle_row(user_id: str, bundle_id: int, *, edit: bool) -> outbox.NewRow:
    """Post the bundle (at once: it pages) or edit it (coalesced, after a short delay)."""
    return kinds.PAGE_BUNDLE.row(
        direct_queue(user_id), kinds.PageBundle(bundle_id, user_id), coalesce_key=f"bundle:{bundle_id}",
        delay_seconds=EDIT_DELAY if edit else 0.0,
    )


@dataclass(frozen=True)
class Paging:
    """What paging one ticket writes, left for the caller's single round trip (see storage.statements)."""

    first: list[str]  # paged now for the first time in their window
    write: statements.Write | None  # the ticket into each person's bundle
    rows: list[outbox.NewRow]  # post or edit each bundle


async def page(
    conn: asyncpg.Connection, ticket: Ticket, people: Iterable[str], params: dict[str, Any], now: datetime, window: timedelta
) -> list[str]:
    """Page ``people`` for the ticket: into each one's open bundle, or a new one for ``window``.
    Returns who is paged now for the first time in the window (the others were notified already)."""
    paging = await prepare(conn, ticket, people, params, now, window)
    await statements.run(conn, [paging.write, outbox.enqueue_write(paging.rows)])
    return paging.first


async def prepare(
    conn: asyncpg.Connection, ticket: Ticket, people: Iterable[str], params: dict[str, Any], now: datetime, window: timedelta
) -> Paging:
    """:func:`page` up to its writes: locks each person (until the transaction ends) and finds or
    opens their bundle; the caller must run ``write`` and queue ``rows`` in this transaction."""
    rows = []
    first: list[str] = []
    bundle_ids: list[int] = []
    call = kinds.json_safe({**params, "responsible": ticket.responsible, "chain": params.get("chain") or ticket.chain})
    for user_id in sorted(set(people)):  # one order for every transaction: no lock cycles between two of them
        await page_store.lock_person(conn, user_id)
        bundle = await page_store.open_bundle(conn, user_id, now)
        edit = bundle is not None
        if bundle is None:
            bundle = await page_store.new_bundle(conn, user_id, now, now + window)
            first.append(user_id)
        bundle_ids.append(bundle.id)
        rows.append(bundle_row(user_id, bundle.id, edit=edit))
    return Paging(first, page_store.add_ticket_write(bundle_ids, ticket.id, call, now), rows)


async def follow(conn: asyncpg.Connection, ticket_id: int) -> None:
    """The ticket was claimed, taken over or resolved: every page about it is edited to say so."""
    rows = [bundle_row(user_id, bundle_id, edit=True) for bundle_id, user_id in await page_store.bundles_with(conn, ticket_id)]
    if rows:
        await outbox.enqueue_many(conn, rows)


def state_for(ticket: Ticket, call: dict[str, Any]) -> PageState:
    """What a page about the ticket asks now: still ``waiting`` for the person, or nothing
    more because it was claimed, taken over (from whoever was late) or resolved meanwhile."""
    if ticket.status == "closed":
        return "closed"
    if ticket.state == "resolved":
        return "resolved"
    if ticket.responsible is None:
        return "waiting"
    if call.get("chain") == "unclaimed" or call.get("responsible") is None:
        return "claimed"
    return "taken" if ticket.responsible != call.get("responsible") else "waiting"
