"""The ticket steps people take, through any face, under one policy.

Each call locks the ticket, asks :mod:`application.policy` whether the actor may, and then
takes the domain step in the caller's transaction. A refusal is an
:class:`~tickets.rules.Outcome` with status NOT_PERMITTED and the :class:`Refusal` in
``info["refusal"]``, so the bot, the REST API and the portal say the same thing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Awaitable, Callable, Sequence

import asyncpg

from application.actor import Actor
from application.domain import Domain
from application.policy import TicketAction, ticket_refusal
from tickets import store
from tickets.model import Attachment, Ticket
from tickets.rules import Outcome, Status, room_of


class TicketActions:
    def __init__(self, domain: Domain) -> None:
        self.domain = domain

    async def _permitted(
        self, conn: asyncpg.Connection, actor: Actor, action: TicketAction, ticket_id: int, **assignee: object
    ) -> Ticket | Outcome:
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        refused = ticket_refusal(actor, action, ticket, **assignee)  # type: ignore[arg-type]
        if refused is not None:
            return Outcome(Status.NOT_PERMITTED, ticket, {"refusal": refused, "holder": ticket.responsible})
        return ticket

    async def _take(
        self, conn: asyncpg.Connection, actor: Actor, action: TicketAction, ticket_id: int,
        step: Callable[[Ticket], Awaitable[Outcome]],
    ) -> Outcome:
        """The step, if the policy lets ``actor`` take it on this ticket."""
        ticket = await self._permitted(conn, actor, action, ticket_id)
        return ticket if isinstance(ticket, Outcome) else await step(ticket)

    @staticmethod
    def _level(actor: Actor, ticket: Ticket) -> int:
        return actor.level_in(ticket.room_key) or 1

    async def claim(self, conn: asyncpg.Connection, actor: Actor, ticket_id: int, now: datetime, *, via: str = "command") -> Outcome:
        steps = self.domain.steps
        return await self._take(conn, actor, TicketAction.CLAIM, ticket_id, lambda ticket: steps.claim(
            conn, ticket_id, actor.user_id, self._level(actor, ticket), now, via=via))

    async def take_over(self, conn: asyncpg.Connection, actor: Actor, ticket_id: int, now: datetime) -> Outcome:
        steps = self.domain.steps
        return await self._take(conn, actor, TicketAction.TAKE_OVER, ticket_id, lambda ticket: steps.take_over(
            conn, ticket_id, actor.user_id, self._level(actor, ticket), now))

    async def resolve(self, conn: asyncpg.Connection, actor: Actor, ticket_id: int, summary: str, now: datetime) -> Outcome:
        steps = self.domain.steps
        return await self._take(conn, actor, TicketAction.RESOLVE, ticket_id, lambda _: steps.resolve(
            conn, ticket_id, actor.user_id, summary, now))

    async def escalate(self, conn: asyncpg.Connection, actor: Actor, ticket_id: int, reason: str, now: datetime) -> Outcome:
        escalation = self.domain.escalation
        return await self._take(conn, actor, TicketAction.ESCALATE, ticket_id, lambda _: escalation.escalate(
            conn, ticket_id, actor.user_id, reason, now))

    async def wanted(self, conn: asyncpg.Connection, actor: Actor, ticket_id: int, now: datetime) -> Outcome:
        steps = self.domain.steps
        return await self._take(conn, actor, TicketAction.WANTED, ticket_id, lambda _: steps.wanted(
            conn, ticket_id, actor.user_id, now))

    async def pause(self, conn: asyncpg.Connection, actor: Actor, ticket_id: int, reason: str, now: datetime) -> Outcome:
        steps = self.domain.steps
        return await self._take(conn, actor, TicketAction.PAUSE, ticket_id, lambda _: steps.pause(
            conn, ticket_id, actor.user_id, reason, now))

    async def resume(self, conn: asyncpg.Connection, actor: Actor, ticket_id: int, now: datetime) -> Outcome:
        steps = self.domain.steps
        return await self._take(conn, actor, TicketAction.RESUME, ticket_id, lambda _: steps.resume(
            conn, ticket_id, actor.user_id, now))

    async def reply_by_mail(self, conn: asyncpg.Connection, actor: Actor, ticket_id: int, text: str, now: datetime) -> Outcome:
        by_people = self.domain.by_people
        return await self._take(conn, actor, TicketAction.REPLY_BY_MAIL, ticket_id, lambda _: by_people.reply_by_mail(
            conn, ticket_id, actor.user_id, text, now))

    async def comment(
        self, conn: asyncpg.Connection, actor: Actor, ticket_id: int, text: str, now: datetime, *,
        via: str, attachments: Sequence[Attachment] = (), author: str | None = None,
    ) -> Outcome:
        """``author``: a name the caller gave, unverified (shown as text, never as a person)."""
        by_people = self.domain.by_people
        return await self._take(conn, actor, TicketAction.COMMENT, ticket_id, lambda _: by_people.comment(
            conn, ticket_id, actor.user_id, text, now, via=via, attachments=attachments, author=author))

    async def set_status(
        self, conn: asyncpg.Connection, actor: Actor, ticket_id: int, status: str, reason: str | None, now: datetime
    ) -> Outcome:
        """``!state``: resolving this way needs what ``!resolve`` needs."""
        statuses = self.domain.statuses
        action = TicketAction.RESOLVE if status == "resolved" else TicketAction.SET_STATUS
        return await self._take(conn, actor, action, ticket_id, lambda _: statuses.set_status(
            conn, ticket_id, actor.user_id, status, reason, now))

    async def set_type(self, conn: asyncpg.Connection, actor: Actor, ticket_id: int, ticket_type: str, now: datetime) -> Outcome:
        statuses = self.domain.statuses
        return await self._take(conn, actor, TicketAction.SET_TYPE, ticket_id, lambda _: statuses.set_type(
            conn, ticket_id, actor.user_id, ticket_type, now))

    async def reopen(self, conn: asyncpg.Connection, actor: Actor, ticket_id: int, reason: str, now: datetime) -> Outcome:
        statuses = self.domain.statuses
        return await self._take(conn, actor, TicketAction.REOPEN, ticket_id, lambda _: statuses.reopen(
            conn, ticket_id, actor.user_id, reason, now))

    async def assign(self, conn: asyncpg.Connection, actor: Actor, ticket_id: int, assignee: str, now: datetime) -> Outcome:
        """Make ``assignee`` (staff of the ticket's room) responsible, on ``actor``'s word."""
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        level = room_of(self.domain.rules, ticket.room_key).staff_level(assignee)
        permitted = await self._permitted(conn, actor, TicketAction.ASSIGN, ticket_id, assignee=assignee, assignee_level=level)
        if isinstance(permitted, Outcome):
            return permitted
        assert level is not None
        return await self.domain.steps.assign(conn, ticket_id, actor.user_id, assignee, level, now)
