"""``!checks``: the room's active checks and heartbeats, with state, last result, latency and
when each last ran; the same as ``GET /api/v1/checks?room=<key>``."""

from __future__ import annotations

from application import read_models
from bot.commands import command
from bot.context import CommandContext
from texts.i18n import N_
from texts.ticket_view import TicketView

STATE_NAMES = {
    "unknown": N_("not run yet"),
    "ok": N_("OK"),
    "failing": N_("failing"),
    "alarm": N_("alarm raised"),
}
STATE_MARKERS = {"unknown": "⚪", "ok": "🟢", "failing": "🟡", "alarm": "🔴"}


@command("checks", aliases=("monitors",), help=N_("List this room's active checks and heartbeats with their state."))
async def list_checks(ctx: CommandContext) -> None:
    if ctx.topic_room is None:
        await ctx.say(N_("This is not a topic room; send %(command)s in one."), command=f"{ctx.prefix}checks")
        return
    found = await read_models.monitors(ctx.conn, ctx.topic_room.key)
    view = TicketView(ctx.topic_room, ctx.language)
    await ctx.reply(ctx.render(
        "checks",
        checks=found.checks,
        heartbeats=found.heartbeats,
        state_name=lambda state: ctx._(STATE_NAMES.get(state, state)),
        marker=lambda state: STATE_MARKERS.get(state, "⚪"),
        **view.functions(),
    ))
