"""Silences: created by people (``!silence``) or opened by maintenance windows, ended by people
or by their time running out.

A silence's end announces the tickets it kept quiet (those that recovered meanwhile are
resolved quietly). The expiry sweep runs on the shared APScheduler and takes expired silences
with ``FOR UPDATE SKIP LOCKED``, ending each with a conditional update, so several opsroom
processes end each silence once. A skipped run is harmless: the next comes a second later.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from rooms import store as rooms_store
from rooms.silences import Matcher
from tickets import opening, store
from tickets.model import Ticket
from tickets.rules import BOT_ACTOR, TicketRules, room_of
from tickets.steps import finish

log = logging.getLogger(__name__)
SWEEP_JOB = "silence-expiry"


class Silences:
    def __init__(self, rules: TicketRules) -> None:
        self.rules = rules

    async def create_silence(
        self, conn: asyncpg.Connection, room_key: str, matchers: list[Matcher], until: datetime, reason: str,
        actor: str, now: datetime,
    ) -> int:
        return await rooms_store.create_silence(
            conn, room_key=room_key, matchers=[m.as_json() for m in matchers], starts_at=now, ends_at=until,
            reason=reason, created_by=actor,
        )

    async def end_silence(self, conn: asyncpg.Connection, silence_id: int, actor: str, now: datetime) -> list[int] | None:
        """End a silence; its still-firing tickets are announced (those that recovered meanwhile are
        resolved quietly). Returns the tickets announced, or None if it had ended already."""
        if not await rooms_store.end_silence(conn, silence_id, now, actor):
            return None
        announced: list[Ticket] = []
        for ticket_id in await store.open_silenced_by(conn, silence_id):
            ticket = await store.get(conn, ticket_id, lock=True)
            if ticket is None or not ticket.is_open or ticket.silence_id != silence_id:
                continue
            room = room_of(self.rules, ticket.room_key)
            other = await opening.matching_silence(conn, self.rules, ticket, room, now)
            if other is not None:
                await store.update(conn, ticket.id, silence_id=other)
                await store.add_event(conn, ticket.id, "silenced", BOT_ACTOR, {"silence_id": other}, at=now)
                continue
            await store.update(conn, ticket.id, silence_id=None)
            await store.add_event(conn, ticket.id, "unsilenced", actor, {"silence_id": silence_id}, at=now)
            if ticket.source_recovered_at is not None:
                await finish(conn, self.rules, ticket, BOT_ACTOR, "source recovered while silenced", now, automatic=True)
                continue
            announced.append(ticket)
        await opening.start_regulation(conn, self.rules, [(ticket.id, ticket.room_key) for ticket in announced], now)
        return [ticket.id for ticket in announced]


class SilenceExpiry:
    def __init__(self, pool: asyncpg.Pool, silences: Silences, scheduler: AsyncIOScheduler, *, interval: float = 1.0) -> None:
        self._pool = pool
        self._silences = silences
        self._scheduler = scheduler
        self._interval = interval

    def start(self) -> None:
        self._scheduler.add_job(
            self.sweep, "interval", seconds=self._interval, id=SWEEP_JOB, replace_existing=True,
            coalesce=True, max_instances=1, misfire_grace_time=None,
        )

    def stop(self) -> None:
        if self._scheduler.get_job(SWEEP_JOB):
            self._scheduler.remove_job(SWEEP_JOB)

    async def sweep(self) -> int:
        """End every silence whose time is up; returns how many this process ended."""
        ended = 0
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                now = datetime.now(timezone.utc)
                for silence_id in await rooms_store.take_expired_silences(conn, now, 20):
                    announced = await self._silences.end_silence(conn, silence_id, BOT_ACTOR, now)
                    if announced is not None:
                        ended += 1
                        log.info("silence %d ended; %d tickets announced", silence_id, len(announced))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("silences: could not sweep (%s)", type(error).__name__)
        return ended
