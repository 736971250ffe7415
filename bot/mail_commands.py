"""``!reply``: answer a ticket's reporter by mail, from the ticket's thread.

The reply is recorded on the ticket and shown in the thread in the transaction of the command;
the mail itself is an outbox row, so an unreachable SMTP server delays it and loses nothing.
"""

from __future__ import annotations

from bot.commands import Permission, Text, command
from bot.context import CommandContext
from bot.i18n import N_
from bot.ticket_commands import TICKET, explain, find_ticket, now, service
from tickets.lifecycle import Status


@command("reply", arguments=[TICKET, Text("text")], permission=Permission.STAFF,
         help=N_("Answer the reporter by mail: threaded to their mail, with [#N] in the subject."))
async def reply(ctx: CommandContext, ticket: int | None, text: str) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    tickets = service(ctx)
    if not tickets.mail_out:
        await ctx.say(N_("Mail out is not configured (mail.smtp); nothing was sent."))
        return
    outcome = await tickets.reply_by_mail(ctx.conn, ticket_id, ctx.sender, text, now())
    if outcome.status is Status.NO_ADDRESS:
        await ctx.say(N_("#%(id)s has no reporter e-mail address to reply to."), id=ticket_id)
    elif not outcome.ok:
        await explain(ctx, outcome, ticket_id)
