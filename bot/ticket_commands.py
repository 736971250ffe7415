"""Ticket commands: claim, take, assign, resolve, escalate, wanted, status, list, mine, pending,
resume, state, type, reopen.

A ticket is named ``#N`` or, inside a ticket's thread, left out. In a direct chat with the bot,
``!status`` and ``!mine`` answer about the tickets the person raised, and only those (the policy). Each command is one
transaction with the event that carried it: the change, its audit event, the thread note and
the announcement edit commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime

from application import read_models
from application import policy
from application.policy import Permission
from application.tickets import TicketActions
from bot.commands import Text, TicketRef, UsageError, Word, command
from rooms.model import USER_ID
from bot.context import CommandContext
from texts.i18n import N_
from storage import clock
from rooms.model import TopicRoom
from texts.ticket_view import TicketView, service_level_values, ticket_values
from tickets.rules import Outcome, Status

TICKET = TicketRef()
LISTED = 30  # tickets !list shows; it says how many more are open


def now() -> datetime:
    return clock.now()


def actions(ctx: CommandContext) -> TicketActions:
    if ctx.deps.actions is None:
        raise RuntimeError("ticket commands need the ticket actions")
    return ctx.deps.actions


async def find_ticket(ctx: CommandContext, ref: int | None) -> int | None:
    """The named ticket, or the one whose thread this is; replies and returns None if neither."""
    if ref is None and ctx.thread_root:
        ref = await read_models.ticket_by_announcement(ctx.conn, ctx.thread_root)
    if ref is None:
        raise UsageError(N_("name the ticket as #N, or send the command in the ticket's thread"))
    ticket = await read_models.ticket(ctx.conn, ref)
    if ticket is None or ctx.topic_room is None or ticket.room_key != ctx.topic_room.key:
        await ctx.say(N_("There is no ticket #%(id)s in this room."), id=ref)
        return None
    return ref


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
        refusal = outcome.info["refusal"]
        await ctx.say(refusal.message, **refusal.values)
    elif status is Status.PAUSED_ALREADY:
        await ctx.say(N_("#%(id)s is already on hold."), id=ticket_id)
    elif status is Status.NOT_PAUSED:
        await ctx.say(N_("#%(id)s is not on hold."), id=ticket_id)


@command("claim", arguments=[TICKET], permission=Permission.STAFF, help=N_("Take responsibility for a ticket."),
         details=N_("Reacting with ✋ or 👍 on the announcement does the same."))
async def claim(ctx: CommandContext, ticket: int | None) -> None:
    if ticket is None and ctx.thread_root is None and ctx.topic_room is not None:
        # no number and no thread: the room's only ticket waiting for a claim is meant
        waiting = await read_models.waiting_for_claim(ctx.conn, ctx.topic_room.key, limit=2)
        if len(waiting) == 1:
            ticket = waiting[0]
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await actions(ctx).claim(ctx.conn, ctx.actor, ticket_id, now())
    if not outcome.ok:
        await explain(ctx, outcome, ticket_id)


@command("take", aliases=("takeover",), arguments=[TICKET], permission=Permission.STAFF,
         help=N_("Take a ticket over from the person responsible for it."))
async def take(ctx: CommandContext, ticket: int | None) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await actions(ctx).take_over(ctx.conn, ctx.actor, ticket_id, now())
    if not outcome.ok:
        await explain(ctx, outcome, ticket_id)


def assignee_of(ctx: CommandContext, person: str) -> str:
    """The colleague a ``!assign`` names: a Matrix ID, a staff member's name in the room
    (``@alice`` or ``alice``), or the one person a client's mention pill points to."""
    text = person.strip()
    if USER_ID.match(text):
        return text
    staff = [member.user for member in ctx.topic_room.staff] if ctx.topic_room else []
    name = text.removeprefix("@").rstrip(":").lower()
    by_name = [user for user in staff if user[1:].split(":", 1)[0].lower() == name]
    if len(by_name) == 1:
        return by_name[0]
    mentions = ctx.event.content.get("m.mentions") or {}
    mentioned = [user for user in mentions.get("user_ids") or [] if user != ctx.deps.user_id and user in staff]
    if len(mentioned) == 1:
        return mentioned[0]
    raise UsageError(N_("name the person as @name:server"))


@command("assign", arguments=[TICKET, Text("person", shown=N_("@person"))], permission=Permission.STAFF,
         help=N_("Hand a ticket to a named colleague, who is paged and responsible from now on."),
         details=N_("For the responsible person and staff of level 2 or higher; the resolution deadline runs on."))
async def assign(ctx: CommandContext, ticket: int | None, person: str) -> None:
    assignee = assignee_of(ctx, person)
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await actions(ctx).assign(ctx.conn, ctx.actor, ticket_id, assignee, now())
    if outcome.status is Status.YOURS_ALREADY:
        await ctx.say(N_("%(person)s is already responsible for #%(id)s."), person=assignee, id=ticket_id)
    elif not outcome.ok:
        await explain(ctx, outcome, ticket_id)


@command("resolve", aliases=("done",), arguments=[TICKET, Text("summary")], permission=Permission.STAFF,
         help=N_("Resolve a ticket, saying what was done."))
async def resolve(ctx: CommandContext, ticket: int | None, summary: str) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await actions(ctx).resolve(ctx.conn, ctx.actor, ticket_id, summary, now())
    if not outcome.ok:
        await explain(ctx, outcome, ticket_id)


@command("escalate", arguments=[TICKET, Text("reason")], permission=Permission.STAFF,
         help=N_("Call the next level now, with a reason."))
async def escalate(ctx: CommandContext, ticket: int | None, reason: str) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await actions(ctx).escalate(ctx.conn, ctx.actor, ticket_id, reason, now())
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
    outcome = await actions(ctx).wanted(ctx.conn, ctx.actor, ticket_id, now())
    if not outcome.ok:
        await explain(ctx, outcome, ticket_id)


@command("pending", aliases=("hold",), arguments=[TICKET, Text("reason")], permission=Permission.STAFF,
         help=N_("Put a ticket on hold: its deadlines stand still until resumed."))
async def pending(ctx: CommandContext, ticket: int | None, reason: str) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await actions(ctx).pause(ctx.conn, ctx.actor, ticket_id, reason, now())
    if not outcome.ok:
        await explain(ctx, outcome, ticket_id)


@command("resume", arguments=[TICKET], permission=Permission.STAFF,
         help=N_("Resume a ticket on hold; its deadlines run again with the time they had left."))
async def resume(ctx: CommandContext, ticket: int | None) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await actions(ctx).resume(ctx.conn, ctx.actor, ticket_id, now())
    if not outcome.ok:
        await explain(ctx, outcome, ticket_id)


@command("status", aliases=("info",), arguments=[TICKET], help=N_("Show a ticket: state, who, deadlines, history."), direct=True)
async def status(ctx: CommandContext, ticket: int | None) -> None:
    if ctx.topic_room is None and ctx.is_direct:
        await status_in_direct(ctx, ticket)
        return
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    await show_status(ctx, ticket_id, ctx.topic_room)


async def status_in_direct(ctx: CommandContext, ref: int | None) -> None:
    """A reporter asks about a ticket they raised; any other number is answered alike, as unknown."""
    if ref is None:
        raise UsageError(N_("name the ticket as #N, or send the command in the ticket's thread"))
    found = await read_models.ticket(ctx.conn, ref)
    if found is None or not policy.may_follow_in_direct(ctx.actor, found):
        await ctx.say(N_("You raised no ticket #%(id)s. Send %(command)s for the tickets you raised."), id=ref, command=f"{ctx.prefix}mine")
        return
    await show_status(ctx, ref, actions(ctx).domain.rules.find_room(found.room_key))


async def show_status(ctx: CommandContext, ticket_id: int, room: TopicRoom | None) -> None:
    detail = await read_models.ticket_detail(ctx.conn, ticket_id, events_limit=15)
    assert detail is not None
    view = TicketView(room, ctx.language)
    values = ticket_values(detail.ticket, room, detail.deadlines, view, ctx.prefix)
    values.update(await service_level_values(ctx.conn, detail.ticket, detail.deadlines, view, actions(ctx).domain.rules.service_levels))
    await ctx.reply(ctx.render("status", history=detail.events, **values))


@command("list", aliases=("ls", "open"), help=N_("List the open tickets of this room."))
async def list_tickets(ctx: CommandContext) -> None:
    if ctx.topic_room is None:
        await ctx.say(N_("This is not a topic room; send %(command)s in one."), command=f"{ctx.prefix}list")
        return
    listed = await read_models.open_in_room(ctx.conn, ctx.topic_room.key, limit=LISTED)
    due = {item.ticket.id: item.next_due for item in listed.tickets}
    view = TicketView(ctx.topic_room, ctx.language)
    tickets = [item.ticket for item in listed.tickets]
    await ctx.reply(ctx.render("list", tickets=tickets, total=listed.total, due=due, **view.functions()))


@command("mine", help=N_("List the tickets you raised: in a direct message to me all of them, in a room those of the room."), direct=True)
async def mine(ctx: CommandContext) -> None:
    raised = await read_models.raised_by(ctx.conn, ctx.sender, room_key=ctx.topic_room.key if ctx.topic_room else None, limit=LISTED)
    rules = actions(ctx).domain.rules
    rooms = {t.room_key: (room.name if (room := rules.find_room(t.room_key)) else t.room_key) for t in raised.tickets}
    view = TicketView(ctx.topic_room, ctx.language)
    await ctx.reply(ctx.render("mine", tickets=raised.tickets, total=raised.total, rooms=rooms, in_room=ctx.topic_room is not None,
                               **view.functions()))


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
    target = status.strip().lower().replace("-", "_")
    if target == "resolved" and not reason:
        raise UsageError(N_("resolving needs a summary of what was done"))
    outcome = await actions(ctx).set_status(ctx.conn, ctx.actor, ticket_id, target, reason, now())
    if not outcome.ok:
        await explain_status(ctx, outcome, ticket_id)


@command("type", arguments=[TICKET, Word("type")], permission=Permission.STAFF,
         help=N_("Set the type of a ticket: incident, service_request, problem or another configured type."))
async def set_type(ctx: CommandContext, ticket: int | None, type: str) -> None:  # noqa: A002 - the argument's name in the usage
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    outcome = await actions(ctx).set_type(ctx.conn, ctx.actor, ticket_id, type.strip().lower(), now())
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
    outcome = await actions(ctx).reopen(ctx.conn, ctx.actor, ticket_id, reason, now())
    if not outcome.ok:
        await explain_status(ctx, outcome, ticket_id)
