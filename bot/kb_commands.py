"""``!kb``: the knowledge base in chat.

- ``!kb <words>``: the five best articles and resolved tickets, with snippets and links;
- ``!kb <slug>``: an article itself;
- ``!kb #N`` (or ``!kb`` in a ticket's thread): what is known about ticket N;
- ``!kb link [#N] <article>``: record that an article was used on ticket N (staff);
- ``!kb draft [#N]``: a draft article from a resolved ticket's summary and thread (staff).

Who sees what and who may link or draft is the policy's (``application.policy``): in a topic
room, internal and public articles and the resolved tickets of this room and of the rooms the
sender staffs; in a direct message, staff and administrators see the same, anyone else only
public articles.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timezone

from markupsafe import Markup

from application import knowledge as kb_app
from application import knowledge_views
from application.actor import Actor
from application.knowledge import KnowledgeBase, Outcome, Status, summary_of
from application.policy import KnowledgeAction, knowledge_refusal
from bot.commands import Text, UsageError, command
from bot.context import CommandContext
from texts.i18n import N_, Np_
from bot.ticket_commands import find_ticket
from texts.ticket_view import TicketView
from knowledge.markdown import to_html, to_plain
from knowledge.model import Article, ArticleInput, Hit

RESULTS = 5
_TICKET_ONLY = re.compile(r"^#?(\d+)$")
_SLUG_LIKE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
USAGE = N_("<words> | #N | link [#N] <article> | draft [#N]")  # the sub-command words stay English


def knowledge(ctx: CommandContext) -> KnowledgeBase:
    if ctx.deps.knowledge is None:
        raise RuntimeError("!kb needs the knowledge base")
    return ctx.deps.knowledge


def actor(ctx: CommandContext) -> Actor:
    """The sender as the policy sees them; staff of this topic room also when it is retired."""
    found = ctx.actor
    level = ctx.staff_level()
    if ctx.topic_room is not None and level is not None and found.level_in(ctx.topic_room.key) is None:
        found = replace(found, levels={**found.levels, ctx.topic_room.key: level})
    return found


def room_key(ctx: CommandContext) -> str | None:
    return ctx.topic_room.key if ctx.topic_room else None


def every_room(ctx: CommandContext) -> list[str]:
    return [room.key for room in ctx.deps.directory.rooms]


def now() -> datetime:
    return datetime.now(timezone.utc)


@command("kb", arguments=[Text("request", optional=True, shown=USAGE)],
         help=N_("Search the knowledge base, show what is known about a ticket, link an article to it or draft one from it."),
         direct=True)
async def kb(ctx: CommandContext, request: str | None) -> None:
    text = (request or "").strip()
    word, _, rest = text.partition(" ")
    if word.lower() == "link":
        await link(ctx, rest)
    elif word.lower() == "draft":
        await draft(ctx, rest)
    elif not text or _TICKET_ONLY.match(text):
        if not text and not ctx.thread_root:
            raise UsageError(N_("Missing %(argument)s"), {"argument": "<words>"})
        await known(ctx, int(_TICKET_ONLY.match(text).group(1)) if text else None)  # type: ignore[union-attr]
    elif _SLUG_LIKE.match(text) and await show_article(ctx, text):
        return
    else:
        await search(ctx, text)


async def search(ctx: CommandContext, words: str) -> None:
    if len(words) > 500:
        raise UsageError(Np_("The search is longer than %(count)s character", "The search is longer than %(count)s characters"), {"count": 500})
    hits = await kb_app.search(knowledge(ctx), ctx.conn, actor(ctx), words, language=ctx.language, limit=RESULTS,
                               room_key=room_key(ctx), every_room=every_room(ctx))
    articles = await knowledge_views.articles_by_id(ctx.conn, [hit.ref_id for hit in hits if hit.kind == "article"])
    await ctx.reply(ctx.render("kb_results", words=words, hits=[_shown(ctx, hit, articles) for hit in hits]))


def _shown(ctx: CommandContext, hit: Hit, articles: dict[int, Article]) -> dict[str, object]:
    """What a template shows of a hit: the snippet marked in plain text and in HTML."""
    article = articles.get(hit.ref_id) if hit.kind == "article" else None
    summary = summary_of(hit)
    return {
        "hit": hit,
        "plain": hit.snippet.marked("*", "*"),
        "html": Markup(hit.snippet.html("b")),
        "summary": summary,
        "url": knowledge(ctx).article_url(article) if article is not None else None,
        # a ticket's snippet is shown besides its summary when it comes from elsewhere (the thread, the description)
        "own_snippet": bool(hit.snippet.highlights) and not hit.snippet.text.startswith(summary[:40]),
    }


async def show_article(ctx: CommandContext, slug: str) -> bool:
    """The article of this slug, when the sender may see it; False when there is none."""
    article = await knowledge_views.article(ctx.conn, slug)
    if article is None or not kb_app.may_open(actor(ctx), article, room_key(ctx)):
        return False
    view = TicketView(ctx.topic_room, ctx.language)
    await ctx.reply(ctx.render(
        "kb_article", article=article, body_plain=to_plain(article.body), body_html=Markup(to_html(article.body)),
        url=knowledge(ctx).article_url(article), **view.functions(),
    ))
    return True


async def known(ctx: CommandContext, ref: int | None) -> None:
    ticket_id = await find_ticket(ctx, ref)
    if ticket_id is None:
        return
    found = await kb_app.known_about(knowledge(ctx), ctx.conn, actor(ctx), ticket_id, language=ctx.language,
                                     room_key=room_key(ctx), every_room=every_room(ctx))
    assert found is not None
    articles = await knowledge_views.articles_by_id(ctx.conn, [hit.ref_id for hit in found.similar if hit.kind == "article"])
    await ctx.reply(ctx.render(
        "kb_known", t=found.ticket,
        linked=[{"article": article, "by": who, "url": knowledge(ctx).article_url(article)} for article, who, _at in found.linked],
        earlier=[_shown(ctx, hit, {}) for hit in found.same_fingerprint],
        similar=[_shown(ctx, hit, articles) for hit in found.similar],
    ))


_LINK = re.compile(r"^(?:#?(\d+)\s+)?(\S+)\s*$")


async def link(ctx: CommandContext, rest: str) -> None:
    refusal = knowledge_refusal(actor(ctx), KnowledgeAction.LINK, room_key(ctx))
    if refusal is not None:
        await ctx.say(refusal.message, **refusal.values)
        return
    match = _LINK.match(rest.strip())
    if not match:
        raise UsageError(N_("Missing %(argument)s"), {"argument": "[#N] <article>"})
    ticket_id = await find_ticket(ctx, int(match.group(1)) if match.group(1) else None)
    if ticket_id is None:
        return
    reference: int | str = int(match.group(2)) if match.group(2).isdigit() else match.group(2).lower()
    outcome = await kb_app.link(knowledge(ctx), ctx.conn, actor(ctx), reference, ticket_id, now(), room_key=room_key(ctx))
    if (refused := kb_app.refusal_of(outcome)) is not None:
        await ctx.say(refused.message, **refused.values)
    elif outcome.status is Status.NOT_FOUND:
        await ctx.say(N_("There is no article %(article)s. Search with %(command)s."), article=match.group(2),
                      command=f"{ctx.prefix}kb <words>")
    elif outcome.status is Status.ALREADY:
        await ctx.say(N_("“%(title)s” is already linked to #%(id)s."), title=outcome.article.title, id=ticket_id)  # type: ignore[union-attr]
    elif outcome.ok:
        assert outcome.article is not None
        if outcome.info.get("solved_from_knowledge"):
            await ctx.say(N_("“%(title)s” linked to #%(id)s; #%(id)s counts as solved from the knowledge base."),
                          title=outcome.article.title, id=ticket_id)
        else:
            await ctx.say(N_("“%(title)s” linked to #%(id)s."), title=outcome.article.title, id=ticket_id)


async def draft(ctx: CommandContext, rest: str) -> None:
    refusal = knowledge_refusal(actor(ctx), KnowledgeAction.DRAFT, room_key(ctx))
    if refusal is not None:
        await ctx.say(refusal.message, **refusal.values)
        return
    rest = rest.strip()
    match = _TICKET_ONLY.match(rest)
    if rest and not match:
        raise UsageError(N_("Unexpected %(text)s"), {"text": rest[:60]})
    ticket_id = await find_ticket(ctx, int(match.group(1)) if match else None)
    if ticket_id is None:
        return
    kb_base = knowledge(ctx)
    material = await kb_app.draft_material(kb_base, ctx.conn, actor(ctx), ticket_id, room_key=room_key(ctx))
    if isinstance(material, Outcome):
        if (refused := kb_app.refusal_of(material)) is not None:
            await ctx.say(refused.message, **refused.values)
        else:  # the ticket exists (found above): it is still open
            await ctx.say(N_("#%(id)s is not resolved yet; draft an article once it is."), id=ticket_id)
        return
    ticket = material.ticket
    view = TicketView(ctx.topic_room, material.language)
    body = ctx.deps.renderer.render_block("kb_draft", "plain", material.language, t=ticket, thread=material.thread,
                                          **view.functions()).strip()
    article = await kb_app.create_article(
        kb_base, ctx.conn, actor(ctx),
        ArticleInput(title=ticket.title, body=body, language=material.language, visibility="draft", rooms=[ticket.room_key],
                     services=[s for s in (ticket.service,) if s], devices=[d for d in (ticket.device, ticket.host) if d]),
        now(), room_key=room_key(ctx), source_ticket_id=ticket_id, action=KnowledgeAction.DRAFT,
    )
    if isinstance(article, Outcome):  # refused (checked above; the catalog may have changed since)
        refused = kb_app.refusal_of(article)
        await ctx.say(refused.message if refused else N_("only the staff of this room may do this"))
        return
    await ctx.say(
        N_("Draft article “%(title)s” made from #%(id)s. See it with %(show)s; finish and publish it with %(api)s (visibility internal or public)."),
        title=article.title, id=ticket_id, show=f"{ctx.prefix}kb {article.slug}", api=f"PATCH /api/v1/kb/articles/{article.slug}",
    )
