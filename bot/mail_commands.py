"""``!reply``: answer a ticket's reporter by mail, from the ticket's thread.

The reply is recorded on the ticket and shown in the thread in the transaction of the command;
the mail itself is an outbox row, so an unreachable SMTP server delays it and loses nothing.
"""

from __future__ import annotations

from application.policy import Permission
from bot.commands import Text, command
from bot.context import CommandContext
from bot.ticket_commands import TICKET, actions, explain, find_ticket, now
from texts.i18n import N_
from tickets.rules import Status


@command("reply", arguments=[TICKET, Text("text")], permission=Permission.STAFF,
         help=N_("Answer the reporter by mail: threaded to their mail, with [#N] in the subject."))
async def reply(ctx: CommandContext, ticket: int | None, text: str) -> None:
    ticket_id = await find_ticket(ctx, ticket)
    if ticket_id is None:
        return
    if not actions(ctx).domain.rules.mail_out:
        await ctx.say(N_("Mail out is not configured (mail.smtp); nothing was sent."))
        return
    outcome = await actions(ctx).reply_by_mail(ctx.conn, ctx.actor, ticket_id, text, now())
    if outcome.status is Status.NO_ADDRESS:
        await ctx.say(N_("#%(id)s has no reporter e-mail address to reply to."), id=ticket_id)
    elif not outcome.ok:
        await explain(ctx, outcome, ticket_id)
