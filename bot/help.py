"""``!help`` and ``!help CMD``."""

from __future__ import annotations

from bot.commands import Permission, Word, command
from bot.context import CommandContext
from bot.i18n import N_

PERMISSION_TEXT = {
    Permission.ANYONE: N_("anyone"),
    Permission.STAFF: N_("the staff of this room"),
    Permission.LEAD: N_("staff of level 2 or higher"),
    Permission.ADMIN: N_("bot administrators"),
}


@command(
    "help",
    aliases=("h",),
    arguments=[Word("command", optional=True)],
    help=N_("List the commands, or show how to use one."),
)
async def help_command(ctx: CommandContext, command: str | None) -> None:
    registry = ctx.deps.registry
    if command is None:
        await ctx.reply(ctx.render("help_list", commands=list(registry)))
        return
    found = registry.find(command.lstrip(ctx.prefix))
    if found is None:
        await ctx.reply(ctx.render("unknown_command", word=command.lstrip(ctx.prefix)))
        return
    await ctx.reply(ctx.render("help_command", command=found, permission=PERMISSION_TEXT[found.permission]))
