"""``!help`` and ``!help CMD``."""

from __future__ import annotations

from application.policy import WHO_MAY
from bot.commands import Word, command
from bot.context import CommandContext
from texts.i18n import N_


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
    await ctx.reply(ctx.render("help_command", command=found, permission=WHO_MAY[found.permission]))
