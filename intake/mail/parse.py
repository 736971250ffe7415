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
from email.errors import (
    CloseBoundaryNotFoundDefect,
    InvalidBase64LengthDefect,
    InvalidBase64PaddingDefect,
    MissingHeaderBodySeparatorDefect,
    MultipartConversionError,
    MultipartInvariantViolationDefect,
    NoBoundaryInMultipartDefect,
    StartBoundaryNotFoundDefect,
)
from email.message import EmailMessage, Message

from intake.mail.html_text import html_to_text
from texts.i18n import Np_
from tickets.model import Attachment

def N_(message: str) -> str:
    """Marks a text for the catalogues; the bot translates it when it shows the problem."""
    return message


# What could not be read, as the people in the room would say it. Problems are recorded as
# {"text": one of these, **its values} and shown in the room's language.
CUT_ATTACHMENT = N_("an attachment, %(name)s, was cut off and is left out")
UNREADABLE_ATTACHMENT = N_("an attachment, %(name)s, could not be read and is left out")
TEXT_CUT_OFF = N_("the mail ends early: its text may be incomplete")
PARTS_RECOVERED = N_("the mail's parts were not marked as its header said; they were read as the mail marks them")
DAMAGED_STRUCTURE = N_("the mail's structure was damaged; only its readable text is in the ticket")
UNREADABLE_TEXT = N_("a part of the text could not be read")
UNKNOWN_CHARSET = N_("a text in an unknown character set (%(charset)s) was read as well as possible")
WRONG_CHARSET = N_("a text that was not valid %(charset)s was read as well as possible")
LONG_TEXT = Np_("the text was longer than %(count)s character and was cut there",
                "the text was longer than %(count)s characters and was cut there")

MAX_TEXT_CHARS = 100_000
_BOUNDARY_LINE = re.compile(rb"(?m)^--([0-9A-Za-z'()+_,./:=?-][ 0-9A-Za-z'()+_,./:=?-]{0,68}[0-9A-Za-z'()+_,./:=?-])(--)?[ \t]*\r?$")
_BOUNDARY_PARAM = re.compile(rb'(?i)(boundary\s*=\s*)("[^"]*"|[^;\s]+)')
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def problem(text: str, **values: object) -> dict[str, object]:
    return {"text": text, **values}
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
    problems: tuple[dict[str, object], ...] = ()  # {"text": a text above, **its values}

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


Problems = list[dict[str, object]]


def _decode_bytes(data: bytes, charset: str | None, problems: Problems, what: str) -> str:
    """Text in its declared charset; an unknown or wrong one falls back to UTF-8, then Latin-1
    (every byte readable, nothing replaced by question marks)."""
    if charset:
        try:
            return data.decode(charset)
        except LookupError:
            problems.append(problem(UNKNOWN_CHARSET, charset=charset))
        except UnicodeDecodeError:
            problems.append(problem(WRONG_CHARSET, charset=charset))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _header(message: Message, name: str, raw: bytes, problems: Problems) -> str:
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


def _decode_words(value: str, problems: Problems, what: str) -> str:
    pieces = []
    try:
        chunks = email.header.decode_header(value)
    except Exception:
        return value
    for chunk, charset in chunks:
        pieces.append(_decode_bytes(chunk, charset, problems, what) if isinstance(chunk, bytes) else chunk)
    return " ".join("".join(pieces).split())


def _text_of(part: Message, problems: Problems) -> str:
    payload = part.get_payload(decode=True)
    if payload is None:
        payload = b""
    if not isinstance(payload, bytes):
        payload = str(payload).encode("utf-8", errors="replace")
    charset = part.get_content_charset()
    what = f"{part.get_content_type()} part"
    text = _decode_bytes(payload, charset, problems, what)
    return html_to_text(text) if part.get_content_type() == "text/html" else text.replace("\r\n", "\n")


def _filename(part: Message, index: int, problems: Problems) -> str:
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


def _used_boundary(body: bytes) -> bytes | None:
    """The boundary a multipart body actually uses: its first ``--marker`` line (the parts of a
    nested multipart come after the first line of the outer one)."""
    match = _BOUNDARY_LINE.search(body)
    return match.group(1) if match and not match.group(2) else None


def _recover_boundary(raw: bytes, message: Message) -> tuple[bytes, Message] | None:
    """A multipart mail whose declared boundary is not the one its body uses (a gateway rewrote
    the header, or a client cut the mail): read with the boundary the body uses."""
    if message.get_content_maintype() != "multipart" or message.is_multipart():
        return None
    split = _HEADER_END.search(raw)
    if split is None:
        return None
    head, body = raw[: split.start()], raw[split.end():]
    used = _used_boundary(body)
    if used is None:
        return None
    quoted = b'"' + used + b'"'
    if _BOUNDARY_PARAM.search(head):
        head = _BOUNDARY_PARAM.sub(lambda m: m.group(1) + quoted, head, count=1)
    else:
        head = re.sub(rb"(?im)^(content-type:[^\r\n]*)", lambda m: m.group(1) + b"; boundary=" + quoted, head, count=1)
    fixed = head + raw[split.start(): split.end()] + body
    recovered = email.message_from_bytes(fixed, policy=email.policy.default)
    return (fixed, recovered) if recovered.is_multipart() else None


def _cut_parts(message: Message) -> set[int]:
    """The parts (by id) that end where a multipart ended without its closing boundary."""
    cut: set[int] = set()
    for part in message.walk():
        if part.is_multipart() and any(isinstance(d, CloseBoundaryNotFoundDefect) for d in part.defects):
            children = part.get_payload()
            if isinstance(children, list) and children:
                last = children[-1]
                cut |= {id(inner) for inner in last.walk()} if last.is_multipart() else {id(last)}
    return cut


def _structure_problems(message: Message) -> Problems:
    """Defects of the MIME structure, in plain words (never the parser's class names)."""
    found: Problems = []
    for part in message.walk():
        for defect in part.defects:
            if isinstance(defect, CloseBoundaryNotFoundDefect):
                continue  # told as the part it cut off
            if isinstance(defect, (StartBoundaryNotFoundDefect, MultipartInvariantViolationDefect, NoBoundaryInMultipartDefect,
                                   MissingHeaderBodySeparatorDefect, MultipartConversionError)):
                found.append(problem(DAMAGED_STRUCTURE))
    return found


def parse_mail(raw: bytes) -> ParsedMail:
    problems: Problems = []
    message = email.message_from_bytes(raw, policy=email.policy.default)
    recovered = _recover_boundary(raw, message)
    if recovered is not None:
        raw, message = recovered
        problems.append(problem(PARTS_RECOVERED))
    problems.extend(_structure_problems(message))

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
    except Exception:  # a structure the parser could not follow: keep the raw text
        problems.append(problem(DAMAGED_STRUCTURE))
        bodies, attachment_parts = [], []
    cut = _cut_parts(message)
    texts: list[str] = []
    for part in bodies:
        if part.get_content_maintype() == "multipart":  # a container whose parts could not be found
            continue
        try:
            text = _text_of(part, problems)
        except Exception:
            problems.append(problem(UNREADABLE_TEXT))
            continue
        if id(part) in cut:
            problems.append(problem(TEXT_CUT_OFF))
        if text.strip():
            texts.append(text.strip())
    if not texts and not attachment_parts and not message.is_multipart():  # no parts found: the body as it is
        split = _HEADER_END.search(raw)
        texts.append(_decode_bytes(raw[split.end():] if split else raw, None, problems, "body").strip())

    attachments: list[Attachment] = []
    for index, part in enumerate(attachment_parts, start=1):
        name = _filename(part, index, problems)
        if id(part) in cut:  # half a file is no file: said, and left out
            problems.append(problem(CUT_ATTACHMENT, name=name))
            continue
        try:
            if part.get_content_type() == "message/rfc822":
                data = _rfc822_bytes(part)
            else:
                data = part.get_payload(decode=True) or b""
        except Exception:
            problems.append(problem(UNREADABLE_ATTACHMENT, name=name))
            continue
        if any(isinstance(d, (InvalidBase64PaddingDefect, InvalidBase64LengthDefect)) for d in part.defects):
            problems.append(problem(CUT_ATTACHMENT, name=name))
            continue
        attachments.append(Attachment(name, part.get_content_type(), bytes(data)))

    text = "\n\n".join(texts)
    if len(text) > MAX_TEXT_CHARS:
        problems.append(problem(LONG_TEXT, count=MAX_TEXT_CHARS))
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
        problems=tuple({repr(sorted(p.items())): p for p in problems}.values()),  # each said once
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
