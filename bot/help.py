"""``!help`` and ``!help CMD``. In a direct chat with the bot ``!help`` lists what a reporter can
do there (raise a ticket, follow the ones they raised), not the staff's commands."""

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
    direct=True,
)
async def help_command(ctx: CommandContext, command: str | None) -> None:
    registry = ctx.deps.registry
    if command is None:
        if ctx.is_direct:
            await ctx.reply(ctx.render("help_list", commands=[found for found in registry if found.direct], direct=True))
            return
        await ctx.reply(ctx.render("help_list", commands=list(registry), direct=False))
        return
    found = registry.find(command.lstrip(ctx.prefix))
    if found is None:
        await ctx.reply(ctx.render("unknown_command", word=command.lstrip(ctx.prefix)))
        return
    await ctx.reply(ctx.render("help_command", command=found, permission=WHO_MAY[found.permission]))
