"""Ticket commands: claim, take, resolve, escalate, wanted, status, list, pending, resume.

A ticket is named ``#N`` or, inside a ticket's thread, left out. Each command is one
transaction with the event that carried it: the change, its audit event, the thread note and
the announcement edit commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime

from bot.commands import Permission, Text, TicketRef, UsageError, Word, command
from bot.context import CommandContext
from bot.i18n import N_
from bot.ticket_view import TicketView, service_level_values, ticket_values
from regulations import store as deadlines
from storage import clock
from tickets import store as tickets
from tickets.lifecycle import Outcome, Status, TicketService

TICKET = TicketRef()


def now() -> datetime:
    return clock.now()


def service(ctx: CommandContext) -> TicketService:
    if ctx.deps.tickets is None:
        raise RuntimeError("ticket commands need the ticket service")
    return ctx.deps.tickets


async def find_ticket(ctx: CommandContext, ref: int | None) -> int | None:
    """The named ticket, or the one whose thread this is; replies and returns None if neither."""
    if ref is None and ctx.thread_root:
        ref = await tickets.id_by_announcement(ctx.conn, ctx.thread_root)
    if ref is None:
        raise UsageError(N_("name the ticket as #N, or send the command in the ticket's thread"))
    ticket = await tickets.get(ctx.conn, ref)
    if ticket is None or ctx.topic_room is None or ticket.room_key != ctx.topic_room.key:
        await ctx.say(N_("There is no ticket #%(id)s in this room."), id=ref)
        return None
    return ref


def actor_level(ctx: CommandContext) -> int:
    return ctx.staff_level() or 1


async def explain(ctx: CommandContext, outcome: Outcome, ticket_id: int) -> None:
    """Say why a command changed nothing."""
    status = outcome.status
    if status is Status.NOT_FOUND:
        await ctx.say(N_("There is no ticket #%(id)s in this room."), id=ticket_id)
    elif status is Status.RESOLVED_ALREADY:
        await ctx.say(N_("#%(id)s is already resolved."), id=ticket_id)
    elif status is Status.YOURS_ALREADY:
        await ctx.say(N_("#%(id)s is already yours."), id=ticket_id)
    elif status is Status.HELD_BY_OTHER:
        await ctx.say(
            N_("#%(id)s is held by %(holder)s. To take it over, send %(command)s."),
            id=ticket_id, holder=outcome.info["holder"], command=f"{ctx.prefix}take #{ticket_id}",
        )
    elif status is Status.NOT_PERMITTED:
        await ctx.say(
            N_("Only the responsible person (%(holder)s) or staff of level 2 or higher may resolve #%(id)s."),
            id=ticket_id, holder=outcome.info.get("holder") or "-",
        )
    elif status is Status.PAUSED_ALREADY:
        await ctx.say(N_("#%(id)s is already on hold."), id=ticket_id)
    elif status is Status.NOT_PAUSED:
        await ctx.say(N_("#%(id)s is not on hold."), id=ticket_id)


@command("claim", arguments=[TICKET], permission=Permission.STAFF, help=N_("Take responsibility for a ticket."),
         details=N_("Reacting with ✋ or 👍 on the announcement does the same."))
async def claim(ctx: CommandContext, ticket: int | None) -> None:
    if ticket is None and ctx.thread_root is None and ctx.topic_room is not None:
        # no number and no thread: the room's only ticket waiting for a claim is meant
        waiting = await tickets.waiting_for_claim(ctx.conn, ctx.topic_room.key, limit=2)
        if len(waiting) == 1:
            ticket = waiting[0]
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await service(ctx).claim(ctx.conn, ticket_id, ctx.sender, actor_level(ctx), now())
    if not outcome.ok:
        await explain(ctx, outcome, ticket_id)


@command("take", aliases=("takeover",), arguments=[TICKET], permission=Permission.STAFF,
         help=N_("Take a ticket over from the person responsible for it."))
async def take(ctx: CommandContext, ticket: int | None) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await service(ctx).take_over(ctx.conn, ticket_id, ctx.sender, actor_level(ctx), now())
    if not outcome.ok:
        await explain(ctx, outcome, ticket_id)


@command("resolve", aliases=("done",), arguments=[TICKET, Text("summary")], permission=Permission.STAFF,
         help=N_("Resolve a ticket, saying what was done."))
async def resolve(ctx: CommandContext, ticket: int | None, summary: str) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await service(ctx).resolve(
        ctx.conn, ticket_id, ctx.sender, ctx.staff_level(), summary, now(), is_admin=ctx.deps.is_admin(ctx.sender)
    )
    if not outcome.ok:
        await explain(ctx, outcome, ticket_id)


@command("escalate", arguments=[TICKET, Text("reason")], permission=Permission.STAFF,
         help=N_("Call the next level now, with a reason."))
async def escalate(ctx: CommandContext, ticket: int | None, reason: str) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await service(ctx).escalate(ctx.conn, ticket_id, ctx.sender, reason, now())
    if outcome.status is Status.EXHAUSTED:
        return  # the thread note says so
    if not outcome.ok:
        await explain(ctx, outcome, ticket_id)


@command("wanted", arguments=[TICKET], permission=Permission.STAFF,
         help=N_("Announce that a solver is sought; the responsible person keeps the ticket until someone takes it."))
async def wanted(ctx: CommandContext, ticket: int | None) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await service(ctx).wanted(ctx.conn, ticket_id, ctx.sender, now())
    if not outcome.ok:
        await explain(ctx, outcome, ticket_id)


@command("pending", aliases=("hold",), arguments=[TICKET, Text("reason")], permission=Permission.STAFF,
         help=N_("Put a ticket on hold: its deadlines stand still until resumed."))
async def pending(ctx: CommandContext, ticket: int | None, reason: str) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await service(ctx).pause(ctx.conn, ticket_id, ctx.sender, reason, now())
    if not outcome.ok:
        await explain(ctx, outcome, ticket_id)


@command("resume", arguments=[TICKET], permission=Permission.STAFF,
         help=N_("Resume a ticket on hold; its deadlines run again with the time they had left."))
async def resume(ctx: CommandContext, ticket: int | None) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await service(ctx).resume(ctx.conn, ticket_id, ctx.sender, now())
    if not outcome.ok:
        await explain(ctx, outcome, ticket_id)


@command("status", aliases=("info",), arguments=[TICKET], help=N_("Show a ticket: state, who, deadlines, history."))
async def status(ctx: CommandContext, ticket: int | None) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    found = await tickets.get(ctx.conn, ticket_id)
    assert found is not None
    view = TicketView(ctx.topic_room, ctx.language)
    active = await deadlines.active(ctx.conn, ticket_id)
    values = ticket_values(found, ctx.topic_room, active, view, ctx.prefix)
    values.update(await service_level_values(ctx.conn, found, active, view, service(ctx).levels))
    history = await tickets.events(ctx.conn, ticket_id, limit=15)
    await ctx.reply(ctx.render("status", history=history, **values))


@command("list", aliases=("ls", "open"), help=N_("List the open tickets of this room."))
async def list_tickets(ctx: CommandContext) -> None:
    if ctx.topic_room is None:
        await ctx.say(N_("This is not a topic room; send %(command)s in one."), command=f"{ctx.prefix}list")
        return
    open_tickets = await tickets.open_in_room(ctx.conn, ctx.topic_room.key, limit=30)
    total = await tickets.count_open_in_room(ctx.conn, ctx.topic_room.key)
    due: dict[int, datetime | None] = {}
    for found in open_tickets:
        active = [d for d in await deadlines.active(ctx.conn, found.id) if d.due_at is not None and d.kind in deadlines.REGULATION_KINDS]
        due[found.id] = min((d.due_at for d in active if d.due_at), default=None)
    view = TicketView(ctx.topic_room, ctx.language)
    await ctx.reply(ctx.render("list", tickets=open_tickets, total=total, due=due, **view.functions()))


async def explain_status(ctx: CommandContext, outcome: Outcome, ticket_id: int) -> None:
    """Why a status, type or reopen command changed nothing."""
    view = TicketView(ctx.topic_room, ctx.language)
    if outcome.status is Status.NOT_ALLOWED:
        allowed = ", ".join(outcome.info.get("allowed") or []) or "-"
        if outcome.info.get("newer"):
            await ctx.say(N_("#%(id)s cannot be reopened: #%(newer)s is open for the same alarm."), id=ticket_id, newer=outcome.info["newer"])
            return
        await ctx.say(
            N_("#%(id)s is %(status)s; from there it can go to: %(allowed)s."),
            id=ticket_id, status=view.status_of(outcome.info.get("status", "")), allowed=allowed,
        )
    elif outcome.status is Status.UNKNOWN:
        await ctx.say(N_("Unknown; choose one of: %(known)s."), known=", ".join(outcome.info.get("known") or []))
    elif outcome.status is Status.STILL_OPEN:
        await ctx.say(N_("#%(id)s is not resolved; only a resolved or closed ticket can be reopened."), id=ticket_id)
    elif outcome.status is Status.TOO_LATE:
        await ctx.say(N_("#%(id)s can no longer be reopened (that was possible until %(time)s); raise a new ticket."),
                      id=ticket_id, time=view.when(outcome.info.get("until")))
    else:
        await explain(ctx, outcome, ticket_id)


@command("state", arguments=[TICKET, Word("status"), Text("reason", optional=True)],
         permission=Permission.STAFF, help=N_("Move a ticket to another lifecycle status (only the moves its type allows)."),
         details=N_("Statuses: new, analysis, in_progress, waiting_for_fix, waiting_for_release, waiting_for_customer, "
                    "suspended, resolved, closed. Waiting for the customer and suspended stop the SLA clock."))
async def state(ctx: CommandContext, ticket: int | None, status: str, reason: str | None) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    found = await tickets.get(ctx.conn, ticket_id)
    assert found is not None
    target = status.strip().lower().replace("-", "_")
    if target == "resolved":
        if not reason:
            await ctx.say(N_("What was done? Please add a summary: %(usage)s"), usage=f"{ctx.prefix}state #{ticket_id} resolved <summary>")
            return
        level = ctx.staff_level() or 0
        if not (ctx.sender == found.responsible or level >= 2 or ctx.deps.is_admin(ctx.sender)):
            await explain(ctx, Outcome(Status.NOT_PERMITTED, found, {"holder": found.responsible}), ticket_id)
            return
    outcome = await service(ctx).set_status(ctx.conn, ticket_id, ctx.sender, target, reason, now())
    if not outcome.ok:
        await explain_status(ctx, outcome, ticket_id)


@command("type", arguments=[TICKET, Word("type")], permission=Permission.STAFF,
         help=N_("Set the type of a ticket: incident, service_request, problem or another configured type."))
async def set_type(ctx: CommandContext, ticket: int | None, type: str) -> None:  # noqa: A002 - the argument's name in the usage
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await service(ctx).set_type(ctx.conn, ticket_id, ctx.sender, type.strip().lower(), now())
    if outcome.status is Status.YOURS_ALREADY:
        await ctx.say(N_("#%(id)s is already of that type."), id=ticket_id)
    elif not outcome.ok:
        await explain_status(ctx, outcome, ticket_id)


@command("reopen", arguments=[TICKET, Text("reason")], permission=Permission.STAFF,
         help=N_("Reopen a resolved or closed ticket, saying why; it goes back to analysis and must be claimed again."))
async def reopen(ctx: CommandContext, ticket: int | None, reason: str) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await service(ctx).reopen(ctx.conn, ticket_id, ctx.sender, reason, now())
    if not outcome.ok:
        await explain_status(ctx, outcome, ticket_id)
