"""``!kb``: the knowledge base in chat.

- ``!kb <words>``: the five best articles and resolved tickets, with snippets and links;
- ``!kb <slug>``: an article itself;
- ``!kb #N`` (or ``!kb`` in a ticket's thread): what is known about ticket N;
- ``!kb link [#N] <article>``: record that an article was used on ticket N (staff);
- ``!kb draft [#N]``: a draft article from a resolved ticket's summary and thread (staff).

Who sees what: in a topic room, internal and public articles and the resolved tickets of this
room and of the rooms the sender staffs; in a direct message, staff and administrators see
the same, anyone else only public articles.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from markupsafe import Markup

from bot.commands import Text, UsageError, command
from bot.context import CommandContext
from texts.i18n import N_, Np_
from bot.ticket_commands import find_ticket
from texts.ticket_view import TicketView
from knowledge import store as kb_store
from knowledge.markdown import to_html, to_plain
from knowledge.model import Article, ArticleInput, Hit
from knowledge.service import KnowledgeBase, Outcome, Status, Viewer, summary_of

RESULTS = 5
_TICKET_ONLY = re.compile(r"^#?(\d+)$")
_SLUG_LIKE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
USAGE = N_("<words> | #N | link [#N] <article> | draft [#N]")  # the sub-command words stay English


def knowledge(ctx: CommandContext) -> KnowledgeBase:
    if ctx.deps.knowledge is None:
        raise RuntimeError("!kb needs the knowledge base")
    return ctx.deps.knowledge


def viewer(ctx: CommandContext) -> Viewer:
    rooms = [room for room in ctx.deps.directory.rooms if room.staff_level(ctx.sender) is not None]
    visible = {room.key for room in rooms}
    if ctx.topic_room is not None:
        visible.add(ctx.topic_room.key)
    trusted = ctx.topic_room is not None or bool(rooms) or ctx.deps.is_admin(ctx.sender)
    if ctx.deps.is_admin(ctx.sender):
        visible = {room.key for room in ctx.deps.directory.rooms}
    return Viewer(ctx.language, ("internal", "public") if trusted else ("public",), tuple(sorted(visible)))


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
    hits = await knowledge(ctx).search(ctx.conn, words, viewer(ctx), limit=RESULTS,
                                       room_key=ctx.topic_room.key if ctx.topic_room else None)
    articles = await kb_store.articles(ctx.conn, [hit.ref_id for hit in hits if hit.kind == "article"])
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
    article = await kb_store.article(ctx.conn, slug)
    allowed = set(viewer(ctx).visibilities)
    if ctx.staff_level() is not None or ctx.deps.is_admin(ctx.sender):
        allowed.add("draft")  # drafts are for the staff to finish
    if article is None or article.visibility not in allowed:
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
    found = await knowledge(ctx).known_about(ctx.conn, ticket_id, viewer(ctx))
    assert found is not None
    articles = await kb_store.articles(ctx.conn, [hit.ref_id for hit in found.similar if hit.kind == "article"])
    await ctx.reply(ctx.render(
        "kb_known", t=found.ticket,
        linked=[{"article": article, "by": who, "url": knowledge(ctx).article_url(article)} for article, who, _at in found.linked],
        earlier=[_shown(ctx, hit, {}) for hit in found.same_fingerprint],
        similar=[_shown(ctx, hit, articles) for hit in found.similar],
    ))


def _staff_only(ctx: CommandContext) -> bool:
    return ctx.topic_room is not None and ctx.staff_level() is not None


_LINK = re.compile(r"^(?:#?(\d+)\s+)?(\S+)\s*$")


async def link(ctx: CommandContext, rest: str) -> None:
    if not _staff_only(ctx):
        await ctx.say(N_("Only the staff of this room may link articles to its tickets."))
        return
    match = _LINK.match(rest.strip())
    if not match:
        raise UsageError(N_("Missing %(argument)s"), {"argument": "[#N] <article>"})
    ticket_id = await find_ticket(ctx, int(match.group(1)) if match.group(1) else None)
    if ticket_id is None:
        return
    reference: int | str = int(match.group(2)) if match.group(2).isdigit() else match.group(2).lower()
    outcome = await knowledge(ctx).link(ctx.conn, reference, ticket_id, ctx.sender, now())
    if outcome.status is Status.NOT_FOUND:
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
    if not _staff_only(ctx):
        await ctx.say(N_("Only the staff of this room may draft articles from its tickets."))
        return
    rest = rest.strip()
    match = _TICKET_ONLY.match(rest)
    if rest and not match:
        raise UsageError(N_("Unexpected %(text)s"), {"text": rest[:60]})
    ticket_id = await find_ticket(ctx, int(match.group(1)) if match else None)
    if ticket_id is None:
        return
    kb_base = knowledge(ctx)
    material = await kb_base.draft_material(ctx.conn, ticket_id)
    if isinstance(material, Outcome):  # the ticket exists (found above): it is still open
        await ctx.say(N_("#%(id)s is not resolved yet; draft an article once it is."), id=ticket_id)
        return
    ticket = material.ticket
    view = TicketView(ctx.topic_room, material.language)
    body = ctx.deps.renderer.render_block("kb_draft", "plain", material.language, t=ticket, thread=material.thread,
                                          **view.functions()).strip()
    article = await kb_base.create_article(
        ctx.conn,
        ArticleInput(title=ticket.title, body=body, language=material.language, visibility="draft", rooms=[ticket.room_key],
                     services=[s for s in (ticket.service,) if s], devices=[d for d in (ticket.device, ticket.host) if d]),
        ctx.sender, now(), source_ticket_id=ticket_id,
    )
    await ctx.say(
        N_("Draft article “%(title)s” made from #%(id)s. See it with %(show)s; finish and publish it with %(api)s (visibility internal or public)."),
        title=article.title, id=ticket_id, show=f"{ctx.prefix}kb {article.slug}", api=f"PATCH /api/v1/kb/articles/{article.slug}",
    )
