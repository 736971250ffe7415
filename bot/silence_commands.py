"""``!silence``, ``!silences``, ``!unsilence``: keep matching alarms of this room quiet for a while.

Silenced alarms are still stored as tickets (marked), but neither announced nor escalated;
when the silence ends, those still firing are announced.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from application import read_models
from application.policy import Permission
from bot.commands import Text, UsageError, Word, command
from bot.context import CommandContext
from common.durations import parse_duration
from texts.i18n import N_, Np_
from texts.ticket_view import TicketView
from rooms.silences import Matcher, MatcherError, parse_matcher, split_words

LONGEST_SILENCE = timedelta(days=90)


def parse_silence(text: str) -> tuple[list[Matcher], timedelta, str]:
    """``host=db-01 service=~"pg.*" 2h disk swap`` -> matchers, duration, reason."""
    try:
        words = split_words(text)
    except MatcherError as error:
        raise UsageError(N_("%(problem)s"), {"problem": str(error)}) from None
    matchers: list[Matcher] = []
    for index, word in enumerate(words):
        if "=" in word or "~" in word:
            try:
                matchers.append(parse_matcher(word))
            except MatcherError as error:
                raise UsageError(N_("%(problem)s"), {"problem": str(error)}) from None
            continue
        try:
            duration = parse_duration(word)
        except ValueError:
            raise UsageError(N_("%(value)s is not a duration (use e.g. 30m, 2h, 1d)"), {"value": word}) from None
        reason = " ".join(words[index + 1:]).strip()
        if not matchers:
            raise UsageError(N_("Give at least one matcher, such as host=db-01"), {})
        if not reason:
            raise UsageError(N_("Missing %(argument)s"), {"argument": "<reason>"})
        if not timedelta(seconds=1) <= duration <= LONGEST_SILENCE:
            raise UsageError(N_("A silence lasts from 1s to %(longest)s"), {"longest": "90d"})
        return matchers, duration, reason
    raise UsageError(N_("Missing %(argument)s"), {"argument": "<duration>"})


def _require_room(ctx: CommandContext) -> str:
    if ctx.topic_room is None:
        raise UsageError(N_("This works in a topic room"), {})
    return ctx.topic_room.key


@command(
    "silence",
    arguments=[Text("spec", shown=N_("<matchers> <duration> <reason>"))],
    permission=Permission.STAFF,
    help=N_("Keep matching alarms of this room quiet for a while: stored, not announced, not escalated."),
    details=N_('Matchers: name=value, name!=value, name=~regex, name!~regex (quote values with spaces), e.g. host=db-01 service=~"pg.*".'),
)
async def silence(ctx: CommandContext, spec: str) -> None:
    room_key = _require_room(ctx)
    matchers, duration, reason = parse_silence(spec)
    now = datetime.now(timezone.utc)
    assert ctx.deps.domain is not None
    silence_id = await ctx.deps.domain.silences.create_silence(ctx.conn, room_key, matchers, now + duration, reason, ctx.sender, now)
    view = TicketView(ctx.topic_room, ctx.language)
    await ctx.say(
        N_("Silence %(id)s: %(matchers)s until %(until)s (%(reason)s). Matching alarms are stored but not announced; %(command)s ends it early."),
        id=silence_id, matchers=" ".join(str(m) for m in matchers), until=view.when(now + duration), reason=reason,
        command=f"{ctx.prefix}unsilence {silence_id}",
    )


@command("silences", help=N_("List the silences active in this room."))
async def silences(ctx: CommandContext) -> None:
    room_key = _require_room(ctx)
    active = await read_models.active_silences(ctx.conn, room_key, datetime.now(timezone.utc))
    view = TicketView(ctx.topic_room, ctx.language)
    await ctx.reply(ctx.render("silences", silences=active, matchers_of=_matchers_text, **view.functions()))


def _matchers_text(matchers: list[dict[str, str]]) -> str:
    return " ".join(str(Matcher.from_json(m)) for m in matchers) or "*"


@command("unsilence", arguments=[Word("id")], permission=Permission.STAFF, help=N_("End a silence now; what still fires is announced."))
async def unsilence(ctx: CommandContext, id: str) -> None:
    room_key = _require_room(ctx)
    if not id.lstrip("#").isdigit():
        raise UsageError(N_("%(value)s is not a silence number"), {"value": id})
    silence_id = int(id.lstrip("#"))
    found = await read_models.silence(ctx.conn, silence_id)
    if found is None or found["room_key"] not in (room_key, None):
        await ctx.say(N_("There is no silence %(id)s in this room."), id=silence_id)
        return
    assert ctx.deps.domain is not None
    announced = await ctx.deps.domain.silences.end_silence(ctx.conn, silence_id, ctx.sender, datetime.now(timezone.utc))
    if announced is None:
        await ctx.say(N_("Silence %(id)s has ended already."), id=silence_id)
        return
    await ctx.say(Np_("Silence %(id)s ended; %(count)s ticket it kept quiet is announced now.",
                      "Silence %(id)s ended; %(count)s tickets it kept quiet are announced now."), id=silence_id, count=len(announced))
