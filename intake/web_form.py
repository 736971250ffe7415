"""The public web form where people raise tickets, and the device label that opens it.

``GET /report`` shows the form (``?device=INV-00412`` fills in the device, so a QR label on
a device opens the form bound to it; ``?type=service_request`` makes its tickets of that
configured type, for an intranet's "request a service" link), ``POST /report`` creates the ticket through
``ByPeople.open_report`` and answers with a confirmation page carrying the ticket
number, ``GET /report/label`` is that QR label as SVG. The page works without JavaScript,
can be shown in an intranet page's iframe (``frame-ancestors``) and reads on a phone.

The page speaks the language asked for with ``?lang=`` (kept in the form's address, so the
confirmation and any refusal speak it too), else the browser's ``Accept-Language``, else
English; every shipped language (``texts.i18n.LANGUAGES``) can be chosen.

The form is public, so it defends itself: posts must come from its own page (an Origin
check against cross-site request forgery), a hidden honeypot field catches bots, a sliding
window limits posts per client address, and sizes are checked while the body streams in.
Every refusal is the form again (HTTP 400/403/413/429), listing what is wrong and keeping
what the person typed; nothing is stored.
"""

from __future__ import annotations

import io
import logging
import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import segno
from babel.numbers import format_decimal
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from common.languages import LOCALES
from intake.context import IntakeContext
from intake.rate_limit import RateLimiter, client_address, parse_networks, rate_key
from intake.validation import InvalidInput, email, json_error, read_body, string
from storage import clock
from texts.i18n import N_, Np_, negotiate, translations
from texts.pages import page_environment
from tickets.model import Attachment, ReportInput

log = logging.getLogger(__name__)

# field -> longest accepted text, in characters
TEXT_FIELDS: dict[str, int] = {"name": 200, "email": 254, "title": 500, "description": 20000, "device": 100, "type": 100}
REQUIRED_FIELDS = ("name", "email", "title")
FILE_FIELD = "attachments"
HONEYPOT_FIELD = "website"  # hidden from people; bots fill it in
FIELDS_BYTES = 128 * 1024  # the text fields together, with multipart headers
PART_OVERHEAD_BYTES = 2048  # per file part: its headers and boundary
CHUNK_BYTES = 64 * 1024
STYLE_SHEET = Path(__file__).with_name("static") / "report_form.css"


@dataclass
class ReportForm:
    """The form's settings and state in one process (its rate limiter is per process)."""

    context: IntakeContext
    limiter: RateLimiter
    trusted_proxies: list[Any]

    @property
    def settings(self) -> Any:
        return self.context.report_form

    @property
    def attachment_max_bytes(self) -> int:
        return self.context.domain.rules.attachment_max_bytes

    @property
    def body_max_bytes(self) -> int:
        files = self.settings.max_attachments * (self.attachment_max_bytes + PART_OVERHEAD_BYTES)
        return FIELDS_BYTES + files


REPORT_FORM = web.AppKey("report_form", ReportForm)


def setup(app: web.Application, context: IntakeContext) -> None:
    settings = context.report_form
    app[REPORT_FORM] = ReportForm(
        context=context,
        limiter=RateLimiter(settings.rate_limit.requests, settings.rate_limit.per.total_seconds()),
        trusted_proxies=parse_networks(settings.trusted_proxies),
    )
    app.router.add_get("/report", show_form)
    app.router.add_post("/report", submit_form)
    app.router.add_get("/report/label", label)
    app.router.add_get("/report/form.css", style_sheet)


# ---- pages ------------------------------------------------------------------------------


@dataclass
class Submission:
    values: dict[str, str] = field(default_factory=dict)
    attachments: list[Attachment] = field(default_factory=list)
    problems: list[InvalidInput] = field(default_factory=list)
    too_large: bool = False
    language: str = "en"  # the page's, for the sizes its refusals name

    def problem(self, field_name: str | None, message: str, values: dict[str, Any] | None = None) -> None:
        self.problems.append(InvalidInput(field_name, message, values))


@dataclass(frozen=True)
class Problem:
    """A problem as the page shows it, in the page's language."""

    field: str | None
    message: str


def _headers(form: ReportForm, *, private: bool) -> dict[str, str]:
    ancestors = " ".join(form.settings.frame_ancestors)
    return {
        # no X-Frame-Options: the form may be embedded where frame_ancestors allows
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
            f"frame-ancestors {ancestors}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store" if private else "no-cache",
    }


def page_language(request: web.Request) -> str:
    """``?lang=`` when it is a shipped language, else the browser's Accept-Language, else English."""
    return negotiate(request.query.get("lang"), request.headers.get("Accept-Language"))


def _page(request: web.Request, form: ReportForm, template: str, status: int, *, private: bool,
          headers: dict[str, str] | None = None, **values: Any) -> web.Response:
    language = page_language(request)
    html = page_environment(language).get_template(template).render(
        language=language,
        # the language travels with the form's address only when asked for; else the browser decides again
        lang_query=f"?lang={language}" if (request.query.get("lang") or "").strip().lower() == language else "",
        limits=TEXT_FIELDS,
        required=REQUIRED_FIELDS,
        max_attachments=form.settings.max_attachments,
        attachment_max=_size(form.attachment_max_bytes, language),
        **values,
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8",
                        headers={**_headers(form, private=private), **(headers or {})})


def _form_page(request: web.Request, form: ReportForm, values: dict[str, str], problems: list[InvalidInput], status: int,
               headers: dict[str, str] | None = None) -> web.Response:
    translate = translations(page_language(request)).gettext
    shown = [Problem(problem.field, translate(problem.text) % problem.values if problem.values else translate(problem.text))
             for problem in problems]  # the form's own texts and validation's are marked; others stay English
    by_field: dict[str, str] = {}
    for problem in shown:
        if problem.field and problem.field not in by_field:
            by_field[problem.field] = problem.message
    return _page(request, form, "report_form.html", status, private=bool(problems), headers=headers,
                 values=values, problems=shown, field_problems=by_field)


def _size(size: int, language: str) -> str:
    """Three significant digits, with the language's decimal sign: 48.8 kB, 48,8 kB."""
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if size >= factor:
            return f"{format_decimal(float(f'{size / factor:.3g}'), locale=LOCALES[language])} {unit}"
    return f"{size} B"


def _ticket_type(form: ReportForm, values: dict[str, str]) -> str | None:
    """The ticket type the form was opened for (a hidden field), checked like the API's ``type``."""
    ticket_type = string(values, "type", max_length=TEXT_FIELDS["type"])
    known = sorted(form.context.domain.rules.service_levels.workflows)
    if ticket_type is not None and ticket_type not in known:
        raise InvalidInput("type", N_("no such ticket type (known: %(known)s)"), {"known": ", ".join(known)})
    return ticket_type


async def show_form(request: web.Request) -> web.Response:
    form = request.app[REPORT_FORM]
    problems: list[InvalidInput] = []
    values: dict[str, str] = {}
    query = dict(request.query)
    try:
        device = string(query, "device", max_length=TEXT_FIELDS["device"])
    except InvalidInput as problem:
        problems.append(problem)
    else:
        values["device"] = device or ""
    try:
        values["type"] = _ticket_type(form, query) or ""
    except InvalidInput as problem:
        problems.append(problem)
    return _form_page(request, form, values, problems, 400 if problems else 200)


async def style_sheet(request: web.Request) -> web.Response:
    return web.Response(text=STYLE_SHEET.read_text(encoding="utf-8"), content_type="text/css",
                        headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"})


async def submit_form(request: web.Request) -> web.Response:
    form = request.app[REPORT_FORM]
    address = client_address(request.remote, request.headers.get("X-Forwarded-For"), form.trusted_proxies)
    wait = form.limiter.hit(rate_key(address))
    if wait is not None:
        submission = await _read_submission(request, form)  # read, so the page keeps what was typed
        log.info("report form: rate limit reached by %s", address)
        minutes = max(1, round(wait / 60))
        problem = InvalidInput(None, Np_("Too many reports from your address. Please try again in %(count)s minute.",
                                         "Too many reports from your address. Please try again in %(count)s minutes."),
                               {"count": minutes})
        return _form_page(request, form, submission.values, [problem], 429, headers={"Retry-After": str(max(1, round(wait)))})
    if not _same_origin(request, form):
        log.warning("report form: refused a post from origin %s (address %s)", _presented_origin(request), address)
        problem = InvalidInput(None, N_("This form can only be sent from its own page. Please open the form again and send it from there."))
        return _form_page(request, form, {}, [problem], 403)
    submission = await _read_submission(request, form)
    if not submission.problems:
        _check_values(form, submission)
    if submission.problems:
        status = 413 if submission.too_large else 400
        return _form_page(request, form, submission.values, submission.problems, status)
    values = submission.values
    report = ReportInput(
        title=values["title"],
        source="web",
        description=values.get("description") or None,
        reporter_name=values["name"],
        reporter_email=values["email"],
        device=values.get("device") or None,
        attachments=tuple(submission.attachments),
        ticket_type=values.get("type") or None,
    )
    intake = form.context
    async with intake.pool.acquire() as conn, conn.transaction():
        ticket_id = await intake.domain.by_people.open_report(conn, report, clock.now())
    log.info("report form: ticket #%d from %s", ticket_id, address)
    return _page(request, form, "report_sent.html", 201, private=True, ticket=ticket_id, title=report.title,
                 device=report.device or "", attachments=[a.filename for a in submission.attachments])


def _check_values(form: ReportForm, submission: Submission) -> None:
    """The text fields, as the JSON API checks its fields (same rules, same messages)."""
    values = submission.values
    if values.get(HONEYPOT_FIELD):
        submission.problem(HONEYPOT_FIELD, N_("must be left empty (it is there to catch automated posts)"))
    for name, limit in TEXT_FIELDS.items():
        try:
            if name == "email":
                cleaned = email(values, name, required=True)
            elif name == "type":
                cleaned = _ticket_type(form, values)
            else:
                cleaned = string(values, name, required=name in REQUIRED_FIELDS, max_length=limit)
        except InvalidInput as problem:
            submission.problems.append(problem)
            continue
        values[name] = cleaned or ""


# ---- reading the body -------------------------------------------------------------------


async def _read_submission(request: web.Request, form: ReportForm) -> Submission:
    submission = Submission(language=page_language(request))
    if request.content_type == "application/x-www-form-urlencoded":
        await _read_urlencoded(request, submission)
    elif request.content_type == "multipart/form-data":
        try:
            await _read_multipart(request, form, submission)
        except (ValueError, AssertionError, UnicodeDecodeError, HttpProcessingError) as error:  # a part's headers too
            log.info("report form: unreadable multipart body (%s)", type(error).__name__)
            submission.problem(None, N_("The form arrived damaged. Please send it again."))
    else:
        submission.problem(None, N_("Please send the form from its page (multipart/form-data)."))
    return submission


async def _read_urlencoded(request: web.Request, submission: Submission) -> None:
    try:
        raw = await read_body(request, FIELDS_BYTES)
    except web.HTTPRequestEntityTooLarge:
        submission.too_large = True
        submission.problem(None, N_("The form is larger than %(size)s."), {"size": _size(FIELDS_BYTES, submission.language)})
        return
    for name, value in urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
        if name in TEXT_FIELDS or name == HONEYPOT_FIELD:
            submission.values[name] = value


async def _read_multipart(request: web.Request, form: ReportForm, submission: Submission) -> None:
    reader = await request.multipart()
    total = 0
    files = 0
    while True:
        part = await reader.next()
        if part is None:
            return
        if not isinstance(part, BodyPartReader):
            raise ValueError("nested multipart")
        name = part.name or ""
        is_file = part.filename is not None
        limit = form.attachment_max_bytes if is_file else TEXT_FIELDS.get(name, 200) * 4 + 4
        data = bytearray()
        over = False
        while True:
            chunk = await part.read_chunk(CHUNK_BYTES)
            if not chunk:
                break
            total += len(chunk)
            if total > form.body_max_bytes:
                submission.too_large = True
                submission.problem(FILE_FIELD, N_("The form is larger than %(size)s in all. Please send fewer or smaller files."),
                                   {"size": _size(form.body_max_bytes, submission.language)})
                return  # the rest is not read; aiohttp discards it before closing
            if not over:
                data += chunk
                over = len(data) > limit
        if not is_file:
            if name in TEXT_FIELDS or name == HONEYPOT_FIELD:
                text = _decode(bytes(data[:limit]), part.get_charset(default="utf-8"))
                submission.values[name] = text if not over else text + "…"  # string() then says it is too long
            continue
        if name != FILE_FIELD or (not part.filename and not data):
            continue  # an empty file input sends an empty part
        files += 1
        filename = _clean_filename(part.filename or "attachment")
        if files > form.settings.max_attachments:
            submission.problem(FILE_FIELD, Np_("At most %(count)s file can be attached.", "At most %(count)s files can be attached."),
                               {"count": form.settings.max_attachments})
        elif over:
            submission.too_large = True
            submission.problem(FILE_FIELD, N_("%(file)s is larger than %(size)s, the largest file accepted."),
                               {"file": filename, "size": _size(form.attachment_max_bytes, submission.language)})
        else:
            content_type = part.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if not MIME_TYPE.fullmatch(content_type):  # empty, or control characters a browser never sends
                content_type = "application/octet-stream"
            submission.attachments.append(Attachment(filename, content_type, bytes(data)))


MIME_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def _decode(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset, "replace")
    except LookupError:  # a charset nobody knows: read it as UTF-8 rather than refuse
        return data.decode("utf-8", "replace")


def _clean_filename(name: str) -> str:
    """The last path segment, without control characters, at most 200 characters."""
    base = re.split(r"[\\/]", name)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    return (cleaned or "attachment")[:200]


# ---- same origin ------------------------------------------------------------------------


def _origin(url: str) -> str | None:
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _presented_origin(request: web.Request) -> str | None:
    origin = request.headers.get("Origin")
    if origin is not None:
        return origin.lower()
    referer = request.headers.get("Referer")
    return _origin(referer) if referer else None


def _same_origin(request: web.Request, form: ReportForm) -> bool:
    """Browsers send Origin (or at least Referer) with every form post; a post from another site's
    page names that site. A request with neither was not made by a browser for another site."""
    if "Origin" not in request.headers and "Referer" not in request.headers:
        return True
    presented = _presented_origin(request)
    if presented is None or presented == "null":
        return False
    allowed = {f"http://{request.host}".lower(), f"https://{request.host}".lower()}
    allowed.update(origin.lower() for origin in form.settings.allowed_origins)
    if form.context.public_url:
        public = _origin(form.context.public_url)
        if public:
            allowed.add(public)
    return presented in allowed


# ---- the label --------------------------------------------------------------------------


def form_url(base: str, device: str | None) -> str:
    """The form's absolute address, bound to a device when one is given."""
    url = f"{base.rstrip('/')}/report"
    return f"{url}?{urllib.parse.urlencode({'device': device})}" if device else url


def label_svg(url: str, device: str | None) -> str:
    """A printable label: the QR code of ``url`` with the device and a call to action beneath."""
    code = segno.make(url, error="m", micro=False)
    scale, border = 4, 4
    size = code.symbol_size(scale=scale, border=border)[0]
    buffer = io.BytesIO()
    code.save(buffer, kind="svg", scale=scale, border=border, xmldecl=False, svgns=False, light="#fff", dark="#000")
    qr = buffer.getvalue().decode()
    caption = [escape(device)] if device else []
    caption.append("Report a problem")
    height = size + 18 * len(caption) + 8
    lines = "".join(
        f'<text x="{size / 2:g}" y="{size + 16 + 18 * index}" text-anchor="middle" '
        f'font-family="sans-serif" font-size="{15 if index == 0 and device else 12}">{text}</text>'
        for index, text in enumerate(caption)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{height}" viewBox="0 0 {size} {height}">'
        f'<title>{escape(url)}</title><rect width="{size}" height="{height}" fill="#fff"/>{qr}{lines}</svg>'
    )


async def label(request: web.Request) -> web.Response:
    form = request.app[REPORT_FORM]
    try:
        device = string(dict(request.query), "device", max_length=TEXT_FIELDS["device"])
    except InvalidInput as problem:
        return problem.response()
    unknown = sorted(set(request.query) - {"device"})
    if unknown:
        return json_error(400, f"{unknown[0]}: unknown parameter (known: device)", field=unknown[0])
    base = form.context.public_url or f"{request.scheme}://{request.host}"
    svg = label_svg(form_url(base, device), device)
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", device or "form")
    return web.Response(
        text=svg, content_type="image/svg+xml",
        headers={"Content-Disposition": f'inline; filename="label-{filename}.svg"', "X-Content-Type-Options": "nosniff"},
    )

