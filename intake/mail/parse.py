"""A raw mail as what a ticket needs: subject, sender, readable text, attachments, threading.

Mail from the world is often broken: unknown charsets, cut MIME structures, headers encoded
by hand. Everything readable is kept and what went wrong is listed in ``problems`` (shown in
the ticket's thread), so a bad mail still becomes a ticket and is never dropped.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message

from intake.mail.html_text import html_to_text
from tickets.model import Attachment

MAX_TEXT_CHARS = 100_000
_TICKET_TAG = re.compile(r"\[#(\d{1,12})\]")
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_REPLY_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|odp|sv|vs|ynt|回复|答复|转发|ответ|отв|на)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedMail:
    subject: str
    sender_name: str | None
    sender_email: str | None
    text: str
    message_id: str | None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ticket_tag(self) -> int | None:
        """``[#N]`` in the subject: a reply to ticket N (our own mails carry it)."""
        match = _TICKET_TAG.search(self.subject)
        return int(match.group(1)) if match else None

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this mail answers, nearest first."""
        return tuple(dict.fromkeys((*self.in_reply_to, *reversed(self.references))))

    @property
    def title(self) -> str:
        title = _REPLY_PREFIX.sub("", self.subject).strip()
        return title[:500] or "(no subject)"


def message_ids(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(_MESSAGE_ID.findall(value))


def _decode_bytes(data: bytes, charset: str | None, problems: list[str], what: str) -> str:
    """Text in its declared charset; an unknown or wrong one falls back to UTF-8, then Latin-1
    (every byte readable, nothing replaced by question marks)."""
    if charset:
        try:
            return data.decode(charset)
        except LookupError:
            problems.append(f"{what}: unknown charset {charset!r}, read as UTF-8 or Latin-1")
        except UnicodeDecodeError:
            problems.append(f"{what}: not valid {charset}, read as UTF-8 or Latin-1")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _header(message: Message, name: str, raw: bytes, problems: list[str]) -> str:
    """A header decoded (RFC 2047, any charset); a broken encoding is kept as readable as possible."""
    try:
        value = message.get(name)
        text = "" if value is None else str(value)
    except Exception:  # the policy's parser gave up on this header
        text = "\ufffd"
    if "\ufffd" not in text and "=?" not in text:
        return " ".join(text.split())
    found = _raw_header(raw, name)
    return _decode_words(found, problems, f"header {name}") if found else ""


def _raw_header(raw: bytes, name: str) -> str | None:
    """A header straight from the bytes, for when the parsed one is unusable."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    match = re.search(rb"(?im)^" + re.escape(name.encode()) + rb":[ \t]*(.*(?:\r?\n[ \t].*)*)", head)
    if not match:
        return None
    return re.sub(rb"\r?\n[ \t]", b" ", match.group(1)).decode("latin-1").strip()


def _decode_words(value: str, problems: list[str], what: str) -> str:
    pieces = []
    try:
        chunks = email.header.decode_header(value)
    except Exception:
        return value
    for chunk, charset in chunks:
        pieces.append(_decode_bytes(chunk, charset, problems, what) if isinstance(chunk, bytes) else chunk)
    return " ".join("".join(pieces).split())


def _text_of(part: Message, problems: list[str]) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        payload = b""
    if not isinstance(payload, bytes):
        payload = str(payload).encode("utf-8", errors="replace")
    charset = part.get_content_charset()
    what = f"{part.get_content_type()} part"
    text = _decode_bytes(payload, charset, problems, what)
    return html_to_text(text) if part.get_content_type() == "text/html" else text.replace("\r\n", "\n")


def _filename(part: Message, index: int, problems: list[str]) -> str:
    try:
        name = part.get_filename()
    except Exception:
        name = None
    if name and "=?" in name:
        name = _decode_words(name, problems, "attachment name")
    if not name:
        subtype = part.get_content_subtype() or "bin"
        name = f"attachment-{index}.{'eml' if part.get_content_type() == 'message/rfc822' else subtype}"
    return name.replace("/", "_").replace("\\", "_").strip()[:255] or f"attachment-{index}"


def _is_attachment(part: Message) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment":
        return True
    if part.get_content_maintype() == "text" and part.get_content_subtype() in ("plain", "html"):
        return False
    return part.get_content_maintype() != "multipart"


def _walk(part: Message, bodies: list[Message], attachments: list[Message]) -> None:
    if part.is_multipart() and part.get_content_type() != "message/rfc822":
        children = part.get_payload()
        if isinstance(children, list):
            if part.get_content_subtype() == "alternative":
                # the alternatives say the same; the text one is preferred, the last is richest
                chosen = [c for c in children if c.get_content_type() == "text/plain" and not _is_attachment(c)]
                chosen = chosen or children[-1:]
                for child in children:
                    if child in chosen:
                        _walk(child, bodies, attachments)
                    elif child.is_multipart():
                        _walk_attachments_only(child, attachments)
                return
            for child in children:
                _walk(child, bodies, attachments)
        return
    if _is_attachment(part):
        attachments.append(part)
    else:
        bodies.append(part)


def _walk_attachments_only(part: Message, attachments: list[Message]) -> None:
    ignored: list[Message] = []
    _walk(part, ignored, attachments)


def _rfc822_bytes(part: Message) -> bytes:
    inner = part.get_payload()
    if isinstance(inner, list) and inner:
        try:
            return inner[0].as_bytes()
        except Exception:
            return str(inner[0]).encode("utf-8", errors="replace")
    return part.get_payload(decode=True) or b""


def parse_mail(raw: bytes) -> ParsedMail:
    problems: list[str] = []
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for defect in getattr(message, "defects", []):
        problems.append(f"broken MIME: {type(defect).__name__}")

    subject = _header(message, "Subject", raw, problems)
    sender_name, sender_email = None, None
    from_value = _header(message, "From", raw, problems)
    name, address = email.utils.parseaddr(from_value)
    if address and "@" in address:
        sender_email = address.strip().lower()
    if name:
        sender_name = _decode_words(name, problems, "header From") if "=?" in name else name.strip()
    message_id = next(iter(message_ids(_raw_header(raw, "Message-ID"))), None)

    bodies: list[Message] = []
    attachment_parts: list[Message] = []
    try:
        _walk(message, bodies, attachment_parts)
    except Exception as error:  # a structure the parser could not follow: keep the raw text
        problems.append(f"broken MIME: {type(error).__name__}")
        bodies, attachment_parts = [], []
    texts: list[str] = []
    for part in bodies:
        try:
            text = _text_of(part, problems)
        except Exception as error:
            problems.append(f"unreadable {part.get_content_type()} part: {type(error).__name__}")
            continue
        if text.strip():
            texts.append(text.strip())
    if not texts and not bodies and not attachment_parts and not message.is_multipart():
        texts.append(_decode_bytes(raw.split(b"\n\n", 1)[-1], None, problems, "body"))

    attachments: list[Attachment] = []
    for index, part in enumerate(attachment_parts, start=1):
        try:
            if part.get_content_type() == "message/rfc822":
                data = _rfc822_bytes(part)
            else:
                data = part.get_payload(decode=True) or b""
        except Exception as error:
            problems.append(f"attachment {index} unreadable: {type(error).__name__}")
            continue
        attachments.append(Attachment(_filename(part, index, problems), part.get_content_type(), bytes(data)))

    text = "\n\n".join(texts)
    if len(text) > MAX_TEXT_CHARS:
        problems.append(f"text cut to {MAX_TEXT_CHARS} characters")
        text = text[:MAX_TEXT_CHARS]
    return ParsedMail(
        subject=subject,
        sender_name=sender_name,
        sender_email=sender_email,
        text=text,
        message_id=message_id,
        in_reply_to=message_ids(_raw_header(raw, "In-Reply-To")),
        references=message_ids(_raw_header(raw, "References")),
        attachments=tuple(attachments),
        problems=tuple(dict.fromkeys(problems)),
    )


def strip_quoted(text: str) -> str:
    """A reply without the quoted mail below it (``>`` lines and the "X wrote:" line before them)."""
    lines = text.split("\n")
    kept: list[str] = []
    for line in lines:
        if line.lstrip().startswith(">"):
            continue
        kept.append(line)
    while kept and (not kept[-1].strip() or kept[-1].rstrip().endswith(":") and len(kept[-1]) < 200 and _is_attribution(kept[-1])):
        kept.pop()
    return "\n".join(kept).strip() or text.strip()


def _is_attribution(line: str) -> bool:
    return bool(re.search(r"(wrote|schrieb|napsal|napisał|написал|escribió|a écrit|写道|je napisao)(\s*\(a\))?\s*:\s*$", line, re.IGNORECASE))
