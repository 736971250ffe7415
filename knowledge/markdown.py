"""Article bodies: Markdown rendered safely to HTML (Matrix and the web) and to plain text.

Safety is by construction, not by cleaning afterwards: raw HTML in the source is never passed
through (it shows as text), link targets are limited to http(s), mailto and same-site paths
(``javascript:``, ``data:``, ``vbscript:``, ``file:`` and the like become plain text), and images
become links (no remote content loads when a page or a message is opened).
"""

from __future__ import annotations

import re
from functools import lru_cache
from html import escape
from typing import Any, Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

_SAFE_LINK = re.compile(r"^(?:https?://|mailto:|/(?!/)|#|\./|\.\./)", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*:", re.IGNORECASE)


def safe_link(url: str) -> bool:
    """A link target an article may carry: http(s), mailto, a path on this site or an anchor."""
    target = "".join(url.split()).replace("\x00", "")  # browsers ignore whitespace and NULs in schemes
    if _SAFE_LINK.match(target):
        return True
    return not _SCHEME.match(target) and not target.startswith("//") and bool(target)  # relative: page.html


@lru_cache(maxsize=2)
def _parser(for_web: bool) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = safe_link  # type: ignore[method-assign]

    def link_open(renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        if for_web:
            token.attrSet("rel", "nofollow noopener noreferrer")
        return renderer.renderToken(tokens, idx, options, env)

    def image(renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        source = str(token.attrGet("src") or "")
        label = escape(token.content or source)
        rel = ' rel="nofollow noopener noreferrer"' if for_web else ""
        return f'<a href="{escape(source)}"{rel}>{label}</a>' if safe_link(source) else label

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("image", image)
    return md


def to_html(source: str, *, for_web: bool = False) -> str:
    """HTML for a Matrix ``formatted_body`` (``for_web=False``) or a web page."""
    return _parser(for_web).render(source)


def to_plain(source: str) -> str:
    """Readable plain text: paragraphs, list items with "- ", links as "text (address)"."""
    tokens = _parser(False).parse(source)
    lines: list[str] = []
    current: list[str] = []
    prefixes: list[str] = []
    ordered_counters: list[int] = []

    def flush() -> None:
        text = "".join(current).strip()
        current.clear()
        if text:
            lines.append("".join(prefixes) + text)
            # a list marker is shown once; the item's further lines are indented under it
            prefixes[:] = [p if p == "> " else " " * len(p) for p in prefixes]

    for token in tokens:
        kind = token.type
        if kind == "inline":
            current.append(_inline_plain(token.children or []))
        elif kind in ("paragraph_close", "heading_close", "th_close", "td_close"):
            if kind in ("th_close", "td_close"):
                current.append(" | ")
                continue
            flush()
            if kind == "paragraph_close" and not prefixes:
                lines.append("")
            if kind == "heading_close":
                lines.append("")
        elif kind == "tr_close":
            text = "".join(current).rstrip(" |")
            current.clear()
            lines.append(text)
        elif kind == "table_close":
            lines.append("")
        elif kind == "bullet_list_open":
            ordered_counters.append(0)
        elif kind == "ordered_list_open":
            ordered_counters.append(int(token.attrGet("start") or 1))
        elif kind in ("bullet_list_close", "ordered_list_close"):
            ordered_counters.pop()
            if not ordered_counters:
                lines.append("")
        elif kind == "list_item_open":
            flush()
            number = ordered_counters[-1] if ordered_counters else 0
            marker = f"{number}. " if number else "- "
            if number:
                ordered_counters[-1] += 1
            prefixes.append(marker)
        elif kind == "list_item_close":
            flush()
            prefixes.pop()
        elif kind in ("fence", "code_block"):
            flush()
            lines += [line for line in token.content.rstrip("\n").split("\n")]
            lines.append("")
        elif kind == "hr":
            lines += ["----", ""]
        elif kind == "blockquote_open":
            prefixes.append("> ")
        elif kind == "blockquote_close":
            flush()
            prefixes.pop()
            if not prefixes:
                lines.append("")
    flush()
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _inline_plain(children: Sequence[Token]) -> str:
    out: list[str] = []
    href_stack: list[str] = []
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            out.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append("\n" if kind == "hardbreak" else " ")
        elif kind == "link_open":
            href_stack.append(str(child.attrGet("href") or ""))
            out.append("")
        elif kind == "link_close":
            href = href_stack.pop() if href_stack else ""
            if href and not href.startswith("#"):
                out.append(f" ({href})")
        elif kind == "image":
            source = str(child.attrGet("src") or "")
            label = child.content or source
            out.append(f"{label} ({source})" if safe_link(source) and source else label)
    return "".join(out)


def excerpt(source: str, limit: int = 240) -> str:
    """The start of the plain text, on one line: a summary for lists and suggestions."""
    squashed = " ".join(to_plain(source).split())
    return squashed if len(squashed) <= limit else squashed[: limit - 1].rstrip() + "…"
