"""Claiming by reaction: ✋ or 👍 on a ticket's announcement, in any skin tone or variation."""

from __future__ import annotations

import unicodedata

from application import read_models
from application.policy import NOT_STAFF
from bot.context import CommandContext
from storage import clock
from texts.i18n import N_
from texts.render import Message
from tickets import ratings
from tickets.rules import Status

CLAIM_KEYS = frozenset({"✋", "👍"})
_SKIN_TONES = range(0x1F3FB, 0x1F400)
_IGNORED = {0xFE0E, 0xFE0F, 0x200D}  # text/emoji variation selectors, zero-width joiner


def normalize_key(key: str) -> str:
    """The bare emoji: without variation selectors, skin-tone modifiers or joiners."""
    text = unicodedata.normalize("NFC", key.strip())
    return "".join(ch for ch in text if ord(ch) not in _IGNORED and ord(ch) not in _SKIN_TONES)


RATING_KEYS = {normalize_key(key): score for key, score in ratings.REACTION_SCORES.items()}


async def on_rating_reaction(ctx: CommandContext, target_event_id: str, key: str) -> str | None:
    """A reporter reacting 1️⃣–5️⃣ on the direct message that asked for a rating."""
    score = RATING_KEYS.get(normalize_key(key))
    if score is None:
        return None
    request = await ratings.request_of(ctx.conn, target_event_id)
    if request is None or request["user_id"] != ctx.sender:
        return None
    stored = await ratings.rate(ctx.conn, request["ticket_id"], request["cycle"], score, None, via="reaction", by=ctx.sender, now=clock.now())
    return f"rating {score}: {'stored' if stored else 'already rated'}"


async def on_reaction(ctx: CommandContext, target_event_id: str, key: str) -> str | None:
    if normalize_key(key) not in CLAIM_KEYS:
        return await on_rating_reaction(ctx, target_event_id, key)
    ticket_id = await read_models.ticket_by_announcement(ctx.conn, target_event_id)
    if ticket_id is None:
        return await _on_digest(ctx, target_event_id)
    if ctx.deps.actions is None:
        return None
    outcome = await ctx.deps.actions.claim(ctx.conn, ctx.actor, ticket_id, clock.now(), via="reaction")
    if outcome.status is Status.NOT_PERMITTED and outcome.info["refusal"] == NOT_STAFF:
        await ctx.say_in_thread(target_event_id, _line(ctx, N_("%(person)s, thank you, but only the staff of this room can claim tickets."), person=ctx.sender))
        return "claim refused: not staff"
    if outcome.status is Status.HELD_BY_OTHER:
        await ctx.say_in_thread(
            target_event_id,
            _line(
                ctx,
                N_("%(person)s, #%(id)s is held by %(holder)s. To take it over, send %(command)s."),
                person=ctx.sender, id=ticket_id, holder=outcome.info["holder"], command=f"{ctx.prefix}take #{ticket_id}",
            ),
        )
    return f"reaction claim: {outcome.status.value}"


async def _on_digest(ctx: CommandContext, target_event_id: str) -> str | None:
    """✋ on a storm digest: it lists many tickets, so say how to claim one of them."""
    digest = await read_models.digest_by_event(ctx.conn, target_event_id)
    if digest is None:
        return None
    waiting = await read_models.waiting_for_claim(ctx.conn, digest["room_key"], limit=1, digest_id=digest["id"])
    if waiting:
        text = N_("%(person)s, this message lists several tickets: claim the one you take with %(command)s, e.g. %(example)s.")
        line = _line(ctx, text, person=ctx.sender, command=f"{ctx.prefix}claim #N", example=f"{ctx.prefix}claim #{waiting[0]}")
    else:
        line = _line(ctx, N_("%(person)s, every ticket listed here is claimed already; %(command)s shows the open ones."),
                     person=ctx.sender, command=f"{ctx.prefix}list")
    await ctx.say_in_thread(target_event_id, line)
    return "reaction on a storm digest: told how to claim"


def _line(ctx: CommandContext, text: str, **values: object) -> Message:
    from html import escape

    translated = ctx._(text) % values
    return Message(plain=translated, html=escape(translated))


async def on_thread_message(ctx: CommandContext) -> str | None:
    """People talking in a ticket's thread: their words join the ticket's history."""
    root = ctx.thread_root
    if root is None or ctx.deps.domain is None:
        return None
    ticket_id = await read_models.ticket_by_announcement(ctx.conn, root)
    if ticket_id is None:
        return None
    text = str(ctx.event.content.get("body", ""))[:4000]
    await ctx.deps.domain.by_people.record_chat(ctx.conn, ticket_id, ctx.sender, text, ctx.event.event_id, clock.now())
    return f"recorded in #{ticket_id}"
