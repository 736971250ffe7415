"""``!ticket <title> [| description]``: a person raises a ticket from chat.

In a topic room the ticket belongs to that room; in a direct message to the bot the routing
rules choose the room, as for every other channel (``ByPeople.open_report``). The
ticket, its announcement and the answer with its number commit with the command's event.
"""

from __future__ import annotations

from application import read_models
from bot.commands import Text, UsageError, command
from bot.context import CommandContext
from bot.ticket_commands import actions, now
from texts.i18n import N_, Np_
from tickets.model import ReportInput
from tickets.rules import room_of

TITLE_MAX = 500
DESCRIPTION_MAX = 20000


def split_report(text: str) -> tuple[str, str | None]:
    """``title | description``, or the first line as the title and the other lines as the description."""
    head, separator, tail = text.partition("|")
    if not separator:
        head, _, tail = text.partition("\n")
    title = " ".join(head.split())
    description = tail.strip() or None
    if not title:
        raise UsageError(N_("Missing %(argument)s"), {"argument": "<title>"})
    if len(title) > TITLE_MAX:
        raise UsageError(Np_("The title is longer than %(count)s character; put the rest after |",
                             "The title is longer than %(count)s characters; put the rest after |"), {"count": TITLE_MAX})
    if description and len(description) > DESCRIPTION_MAX:
        raise UsageError(Np_("The description is longer than %(count)s character", "The description is longer than %(count)s characters"),
                         {"count": DESCRIPTION_MAX})
    return title, description


@command(
    "ticket",
    arguments=[Text("report", optional=True, shown=N_("<title> [| description]"))],
    help=N_("Raise a ticket: in a topic room it goes to that room, in a direct message to me the routing rules choose the room."),
    direct=True,
)
async def raise_ticket(ctx: CommandContext, report: str | None) -> None:
    title, description = split_report(report or "")  # no text: "Missing <title>", not the whole usage
    if ctx.topic_room is None and not ctx.is_direct:
        await ctx.say(N_("Send %(command)s in a topic room or in a direct message to me."), command=f"{ctx.prefix}ticket")
        return
    domain = actions(ctx).domain
    ticket_id = await domain.by_people.open_report(
        ctx.conn,
        ReportInput(
            title=title,
            source="chat",
            description=description,
            reporter_user_id=ctx.sender,
            room_key=ctx.topic_room.key if ctx.topic_room else None,
            details={"room_id": ctx.room_id, "event_id": ctx.event.event_id},
        ),
        now(),
    )
    ticket = await read_models.ticket(ctx.conn, ticket_id)
    assert ticket is not None
    room = room_of(domain.rules, ticket.room_key)
    await ctx.say(N_("Ticket #%(id)s created in %(room)s: %(title)s"), id=ticket_id, room=room.name, title=title)
