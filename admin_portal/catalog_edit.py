"""Changing the catalog in the portal: rooms and their staff, regulations, people, sources and
API tokens, maintenance windows, checks and heartbeats.

Every change goes through the application layer's catalog write path
(:class:`application.catalog.CatalogService`) as the logged-in person: the policy decides
(administrators change, managers read, specialists see nothing), the whole catalog that would
result is checked by the configuration file's own schema, and entries provisioned from the file
are refused with the refusal naming the file. The portal only parses forms and shows answers:
problems next to the fields they concern, with the key paths and texts ``check-config`` gives.

Invariants: nothing is stored when a form has a problem; a generated secret (API token, source
token) is shown once, on the answer to the post that made it, and never again (the catalog
returns secrets masked); a rotated-out token keeps working until the overlap ends.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import yaml
from aiohttp import web

from admin_portal.auth_pages import require
from admin_portal.context import client_address, gettext, portal, redirect, render
from admin_portal.store import audit
from application.catalog import CatalogOutcome, CatalogService, EntryView, Status
from application.policy import catalog_read_refusal
from catalog.entries import KIND_BY_NAME
from catalog.sources import SCOPES
from common.languages import NAMES as LANGUAGE_NAMES
from texts.i18n import LANGUAGES, N_

# the kinds the portal edits as text (YAML) and the page each belongs to
TEXT_KINDS = {
    "regulations": "/regulations", "people": "/people", "maintenance": "/maintenance", "checks": "/checks",
    "heartbeats": "/checks", "rooms": "/rooms", "sources": "/sources", "api_tokens": "/sources",
    "calendars": "/regulations", "sla_policies": "/regulations", "customers": "/people", "ticket_types": "/regulations",
}
# what a new entry of a kind starts from in the text editor
TEMPLATES: dict[str, str] = {
    "regulations": "claim_within: 15m\nresolve_within: 4h\nescalation:\n  unclaimed:\n    - level: 2\n      claim_within: 15m\n",
    "people": "user: '@someone:example.org'\nemail: someone@example.org\nroles: [manager]\n",
    "maintenance": "name: nightly-backup\ndays: [mon, tue, wed, thu, fri]\nfrom: '01:00'\nto: '02:00'\ntimezone: UTC\n",
    "checks": "name: web\ninterval: 1m\nhttp:\n  url: https://example.org/health\n",
    "heartbeats": "name: backup-job\nevery: 1d\n",
}
# a kind as people name one entry of it (titles of the text editor)
KIND_LABELS = {
    "calendars": N_("Calendar"), "regulations": N_("Regulation"), "ticket_types": N_("Ticket type"), "rooms": N_("Room"),
    "customers": N_("Customer"), "sla_policies": N_("SLA policy"), "sources": N_("Source"), "api_tokens": N_("API token"),
    "people": N_("Person"), "maintenance": N_("Maintenance window"), "checks": N_("Check"), "heartbeats": N_("Heartbeat"),
}
OVERLAPS = {"0": timedelta(0), "1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
MATCH_LINE = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*=\s*(.*?)\s*$")
YAML_LIMIT = 64 * 1024


@dataclass
class FormProblems:
    """Problems of a form: by field name (shown next to the field), and the rest (above the form)."""

    by_field: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, name: str | None, text: str) -> None:
        if name:
            self.by_field.setdefault(name, []).append(text)
        else:
            self.general.append(text)

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)


def service(request: web.Request) -> CatalogService:
    catalog = portal(request).catalog
    if catalog is None:
        raise web.HTTPNotFound()
    return catalog


def reader(request: web.Request) -> Any:
    """Administrators and managers read the catalog; everyone else is refused (policy's text)."""
    visitor = require(request)
    refusal = catalog_read_refusal(visitor.actor)
    if refusal is not None:
        raise web.HTTPForbidden(reason=refusal.text(lambda message: gettext(request, message)))
    return visitor


async def origins(request: web.Request, *kinds: str) -> dict[tuple[str, str], EntryView]:
    """The catalog's entries of ``kinds`` by (kind, key): where each comes from, for the badges."""
    found: dict[tuple[str, str], EntryView] = {}
    catalog = portal(request).catalog
    if catalog is None:
        return found
    for kind in kinds:
        for entry in await catalog.entries(kind):
            found[(kind, entry.key)] = entry
    return found


async def retired(request: web.Request, *kinds: str) -> list[EntryView]:
    """The retired entries of ``kinds`` (a page lists them so that they can be restored)."""
    catalog = portal(request).catalog
    if catalog is None:
        return []
    found: list[EntryView] = []
    for kind in kinds:
        found += [entry for entry in await catalog.entries(kind, retired=True) if entry.retired]
    return found


def _field_of(path: str, fields: tuple[str, ...]) -> str | None:
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    return head if head in fields else None


def outcome_problems(request: web.Request, outcome: CatalogOutcome, fields: tuple[str, ...] = ()) -> FormProblems:
    """What a refused or invalid change says, placed by field where a key path names one."""
    problems = FormProblems()
    if outcome.status is Status.INVALID:
        for problem in outcome.problems:
            where = _field_of(problem.path, fields)
            problems.add(where, f"{problem.path}: {problem.message}" if problem.path else problem.message)
    elif outcome.status is Status.REFUSED and outcome.refusal is not None:
        problems.add(None, outcome.refusal.text(lambda message: gettext(request, message)))
    elif outcome.status is Status.CONFLICT:
        problems.add(None, gettext(request, N_("Someone changed this entry meanwhile; the form now shows their version.")))
    elif outcome.status is Status.EXISTS:
        problems.add("key", gettext(request, N_("An entry of this name exists already (perhaps retired).")))
    elif outcome.status is Status.NOT_FOUND:
        problems.add(None, gettext(request, N_("There is no such entry.")))
    return problems


def refusal_status(outcome: CatalogOutcome) -> int:
    return {Status.REFUSED: 403, Status.NOT_FOUND: 404, Status.CONFLICT: 409, Status.EXISTS: 409}.get(outcome.status, 400)


async def settled(request: web.Request) -> None:
    """Wait (briefly) until this process runs the catalog just changed, so the next page shows it."""
    wait = portal(request).catalog_settled
    if wait is not None:
        await wait()


async def record(request: web.Request, action: str, kind: str, key: str) -> None:
    visitor = require(request)
    await audit(portal(request).pool, action, actor=visitor.user_id, address=client_address(request),
                detail={"kind": kind, "key": key})


# ---- rooms and staff ----------------------------------------------------------------------

ROOM_FIELDS = ("key", "name", "topic", "language", "timezone", "regulation", "default", "match", "staff")


def room_form_values(body: dict[str, Any]) -> dict[str, Any]:
    """A room's body as the form shows it: match rules and staff as lines."""
    match = body.get("match") or {}
    staff = body.get("staff") or []
    return {
        "key": body.get("key", ""), "name": body.get("name", ""), "topic": body.get("topic", ""),
        "language": body.get("language", "en"), "timezone": body.get("timezone", "UTC"),
        "regulation": body.get("regulation", "standard"), "default": bool(body.get("default")),
        "match": "\n".join(f"{name}={'|'.join(str(v) for v in values)}" for name, values in match.items()),
        "staff": "\n".join(" ".join(str(part) for part in (member.get("user", ""), member.get("level", 1), member.get("email") or "") if part != "")
                           for member in staff if isinstance(member, dict)),
    }


def room_body(form: Any, base: dict[str, Any], problems: FormProblems, request: web.Request) -> dict[str, Any]:
    """The room's body from the form, on top of what the form does not show (kept as it was)."""
    body = dict(base)
    for name in ("name", "topic", "language", "timezone", "regulation"):
        value = str(form.get(name, "")).strip()
        if value:
            body[name] = value
        else:
            body.pop(name, None)
    if "key" not in base:
        body = {"key": str(form.get("key", "")).strip(), **body}
    body["default"] = form.get("default") == "on"
    if not body["default"]:
        del body["default"]
    match: dict[str, list[str]] = {}
    for line in str(form.get("match", "")).splitlines():
        if not line.strip():
            continue
        found = MATCH_LINE.match(line)
        values = [v.strip() for v in found.group(2).split("|") if v.strip()] if found else []
        if not found or not values:
            problems.add("match", gettext(request, N_("Write each rule as name=value or name=value1|value2: %(line)s"), line=line.strip()))
            continue
        match.setdefault(found.group(1), []).extend(values)
    if match:
        body["match"] = match
    else:
        body.pop("match", None)
    staff = []
    for line in str(form.get("staff", "")).splitlines():
        parts = line.split()
        if not parts:
            continue
        member: dict[str, Any] = {"user": parts[0]}
        if len(parts) > 1:
            if not parts[1].isdigit():
                problems.add("staff", gettext(request, N_("Write each person as @user:server level [e-mail]: %(line)s"), line=line.strip()))
                continue
            member["level"] = int(parts[1])
        if len(parts) > 2:
            member["email"] = parts[2]
        if len(parts) > 3:
            problems.add("staff", gettext(request, N_("Write each person as @user:server level [e-mail]: %(line)s"), line=line.strip()))
            continue
        staff.append(member)
    body["staff"] = staff
    return body


def _room_choices(request: web.Request) -> dict[str, Any]:
    rules = portal(request).domain.rules  # type: ignore[union-attr]
    regulations = sorted(set(getattr(rules, "regulations", {}) or {}) | {room.regulation for room in rules.rooms})
    return {"regulations": regulations, "language_choices": [(code, LANGUAGE_NAMES.get(code, code)) for code in LANGUAGES]}


async def room_form(request: web.Request, *, key: str | None = None, values: dict[str, Any] | None = None,
                    problems: FormProblems | None = None, status: int = 200, version: int | None = None) -> web.Response:
    visitor = reader(request)
    entry = await service(request).entry("rooms", key) if key else None
    if key and (entry is None or entry.retired):
        raise web.HTTPNotFound()
    if values is None:
        values = room_form_values(entry.body if entry else {})
    title = gettext(request, N_("Edit room %(name)s"), name=entry.body.get("name", key)) if entry else gettext(request, N_("New room"))
    return render(request, "room_form.html", status=status, title=title, entry=entry, values=values,
                  problems=problems or FormProblems(), may_edit=visitor.is_admin,
                  version=version if version is not None else (entry.version if entry else None), **_room_choices(request))


async def new_room(request: web.Request) -> web.StreamResponse:
    return await room_form(request)


async def edit_room(request: web.Request) -> web.StreamResponse:
    return await room_form(request, key=request.match_info["key"])


async def save_room(request: web.Request) -> web.StreamResponse:
    visitor = reader(request)
    key = request.match_info.get("key")
    form = await request.post()
    problems = FormProblems()
    base: dict[str, Any] = {}
    version = None
    if key:
        entry = await service(request).entry("rooms", key)
        if entry is None or entry.retired:
            raise web.HTTPNotFound()
        base = dict(entry.body)
        version_text = str(form.get("version", ""))
        version = int(version_text) if version_text.isdigit() else None
    body = room_body(form, base, problems, request)
    values = {name: str(form.get(name, "")) for name in ROOM_FIELDS}
    values["default"] = form.get("default") == "on"
    if key:
        values["key"] = key
    if problems:
        return await room_form(request, key=key, values=values, problems=problems, status=400, version=version)
    if key:
        outcome = await service(request).update(visitor.actor, "rooms", key, body, base_version=version)
    else:
        outcome = await service(request).create(visitor.actor, "rooms", body.get("key", ""), body)
    if not outcome.ok:
        return await room_form(request, key=key, values=values, problems=outcome_problems(request, outcome, ROOM_FIELDS),
                               status=refusal_status(outcome), version=version)
    saved = outcome.entry.key if outcome.entry else body.get("key", "")
    await settled(request)
    raise redirect(f"/rooms/{saved}?notice={'saved' if key else 'created'}")


# ---- any entry as text ----------------------------------------------------------------------


def _kind(request: web.Request) -> str:
    kind = request.match_info["kind"]
    if kind not in TEXT_KINDS:
        raise web.HTTPNotFound()
    return kind


def _dump(body: Any) -> str:
    return yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)


async def text_form(request: web.Request, *, kind: str | None = None, key: str | None = None, text: str | None = None,
                    new_key: str = "", problems: FormProblems | None = None, status: int = 200,
                    version: int | None = None) -> web.Response:
    visitor = reader(request)
    kind = kind or _kind(request)
    key = key if key is not None else request.match_info.get("key")
    entry = await service(request).entry(kind, key) if key else None
    if key and entry is None:
        raise web.HTTPNotFound()
    if text is None:
        text = _dump(entry.body) if entry else TEMPLATES.get(kind, "")
    spec = KIND_BY_NAME[kind]
    label = gettext(request, KIND_LABELS[kind])
    return render(request, "entry_form.html", status=status,
                  title=f"{label}: {key}" if key else gettext(request, N_("New entry: %(kind)s"), kind=label),
                  kind=kind, key=key, entry=entry, text=text, new_key=new_key, named_apart=spec.key_field is None,
                  key_field=spec.key_field, problems=problems or FormProblems(), may_edit=visitor.is_admin,
                  back=TEXT_KINDS[kind], version=version if version is not None else (entry.version if entry else None))


async def show_entry(request: web.Request) -> web.StreamResponse:
    return await text_form(request)


async def new_entry(request: web.Request) -> web.StreamResponse:
    return await text_form(request, key="")


def parse_text(request: web.Request, text: str, problems: FormProblems) -> Any:
    if len(text) > YAML_LIMIT:
        problems.add("body", gettext(request, N_("The entry is too long.")))
        return None
    try:
        body = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = gettext(request, N_("line %(line)s"), line=mark.line + 1) + ": " if mark is not None else ""
        problems.add("body", gettext(request, N_("This is not YAML the catalog can read: %(problem)s"),
                                     problem=where + str(getattr(error, "problem", None) or error)))
        return None
    if not isinstance(body, dict):
        problems.add("body", gettext(request, N_("An entry is a mapping of names to values (name: value lines).")))
        return None
    return body


async def save_entry(request: web.Request) -> web.StreamResponse:
    visitor = reader(request)
    kind = _kind(request)
    key = request.match_info.get("key")
    form = await request.post()
    text = str(form.get("body", ""))
    new_key = str(form.get("key", "")).strip()
    version_text = str(form.get("version", ""))
    version = int(version_text) if version_text.isdigit() else None
    problems = FormProblems()
    body = parse_text(request, text, problems)
    spec = KIND_BY_NAME[kind]
    if body is not None and spec.key_field is not None:
        named = body.get(spec.key_field)
        if key and named != key:
            problems.add("body", gettext(request, N_("%(field)s must stay %(key)s (make a new entry for another name)."),
                                         field=spec.key_field, key=key))
        elif not key:
            new_key = str(named) if isinstance(named, str) else ""
            if not new_key:
                problems.add("body", gettext(request, N_("Give the entry its %(field)s."), field=spec.key_field))
    elif body is not None and not key and not new_key:
        problems.add("key", gettext(request, N_("Give the entry a name.")))
    if problems:
        return await text_form(request, kind=kind, key=key or "", text=text, new_key=new_key, problems=problems,
                               status=400, version=version)
    if key:
        outcome = await service(request).update(visitor.actor, kind, key, body, base_version=version)
    else:
        outcome = await service(request).create(visitor.actor, kind, new_key, body)
    if not outcome.ok:
        found = outcome_problems(request, outcome)
        if outcome.status is Status.INVALID:  # the key paths are the entry's: they belong to the text
            found = FormProblems({"body": found.general + sum(found.by_field.values(), [])})
        return await text_form(request, kind=kind, key=key or "", text=text, new_key=new_key, problems=found,
                               status=refusal_status(outcome), version=version)
    await settled(request)
    raise redirect(f"{TEXT_KINDS[kind]}?notice=saved")


async def retire_entry(request: web.Request) -> web.StreamResponse:
    """Retire (``/retire``) or bring back (``/restore``) an entry; a retired room keeps its tickets."""
    visitor = reader(request)
    kind = _kind(request)
    key = request.match_info["key"]
    restore = request.path.endswith("/restore")
    catalog = service(request)
    outcome = await (catalog.restore if restore else catalog.retire)(visitor.actor, kind, key)
    if not outcome.ok:
        problems = outcome_problems(request, outcome)
        return render(request, "error.html", status=refusal_status(outcome), title=gettext(request, N_("Not changed")),
                      message=" ".join(problems.general + sum(problems.by_field.values(), [])))
    await settled(request)
    raise redirect(f"{TEXT_KINDS[kind]}?notice={'restored' if restore else 'retired'}")


# ---- people -------------------------------------------------------------------------------


async def list_people(request: web.Request) -> web.StreamResponse:
    visitor = reader(request)
    catalog = service(request)
    return render(request, "people.html", title=gettext(request, N_("People")), people=await catalog.entries("people", retired=True),
                  customers=await catalog.entries("customers", retired=True), may_edit=visitor.is_admin,
                  notice=notice_text(request))


# ---- sources and API tokens ---------------------------------------------------------------


def new_secret() -> str:
    return secrets.token_urlsafe(32)


async def list_sources(request: web.Request, *, shown_secret: tuple[str, str, str] | None = None,
                       problems: FormProblems | None = None, status: int = 200, values: dict[str, Any] | None = None) -> web.Response:
    visitor = reader(request)
    catalog = service(request)
    now = datetime.now(timezone.utc)
    return render(request, "sources.html", status=status, title=gettext(request, N_("Sources and API tokens")),
                  sources=await catalog.entries("sources", retired=True), tokens=await catalog.entries("api_tokens", retired=True),
                  scopes=SCOPES, may_edit=visitor.is_admin, shown_secret=shown_secret, problems=problems or FormProblems(),
                  values=values or {}, now=now, overlap_choices=list(OVERLAPS), notice=notice_text(request),
                  still_accepted=lambda until: bool(until) and datetime.fromisoformat(until) > now)


async def show_sources(request: web.Request) -> web.StreamResponse:
    return await list_sources(request)


async def create_credential(request: web.Request) -> web.StreamResponse:
    """A new API token (``kind=api_tokens``, with scopes) or source (``kind=sources``): its secret is made here and shown once."""
    visitor = reader(request)
    form = await request.post()
    kind = str(form.get("kind", ""))
    if kind not in ("api_tokens", "sources"):
        raise web.HTTPBadRequest(reason=gettext(request, N_("Choose an API token or a source.")))
    name = str(form.get("name", "")).strip()
    scopes = [scope for scope in SCOPES if form.get(f"scope_{scope}") == "on"]
    values = {"kind": kind, "name": name, "scopes": scopes}
    problems = FormProblems()
    if not name:
        problems.add("name", gettext(request, N_("Give it a name.")))
    if kind == "api_tokens" and not scopes:
        problems.add("scopes", gettext(request, N_("Give the token at least one scope.")))
    if problems:
        return await list_sources(request, problems=problems, status=400, values=values)
    secret = new_secret()
    body: dict[str, Any] = {"name": name, "token": secret}
    if kind == "api_tokens":
        body["scopes"] = scopes
    outcome = await service(request).create(visitor.actor, kind, name, body)
    if not outcome.ok:
        return await list_sources(request, problems=outcome_problems(request, outcome, ("name", "scopes")),
                                  status=refusal_status(outcome), values=values)
    await record(request, "secret_created", kind, name)
    await settled(request)
    return await list_sources(request, shown_secret=(kind, name, secret))


async def rotate_credential(request: web.Request) -> web.StreamResponse:
    """A new secret for a token or source; the old one is still accepted for the overlap chosen."""
    visitor = reader(request)
    kind = request.match_info["kind"]
    key = request.match_info["key"]
    if kind not in ("api_tokens", "sources"):
        raise web.HTTPNotFound()
    form = await request.post()
    overlap = OVERLAPS.get(str(form.get("overlap", "")))
    if overlap is None:
        raise web.HTTPBadRequest(reason=gettext(request, N_("Choose how long the old secret keeps working.")))
    secret = new_secret()
    until = datetime.now(timezone.utc) + overlap
    outcome = await service(request).rotate(visitor.actor, kind, key, secret, until)
    if not outcome.ok:
        return await list_sources(request, problems=outcome_problems(request, outcome), status=refusal_status(outcome))
    await record(request, "secret_rotated", kind, key)
    await settled(request)
    return await list_sources(request, shown_secret=(kind, key, secret))


# ---- notices ------------------------------------------------------------------------------

NOTICES = {
    "created": N_("Created. It is in force in every opsroom process within a moment."),
    "saved": N_("Saved. It is in force in every opsroom process within a moment."),
    "retired": N_("Retired. Its tickets and room stay; restore it to bring it back."),
    "restored": N_("Restored."),
}


def notice_text(request: web.Request) -> str | None:
    message = NOTICES.get(request.query.get("notice", ""))
    return gettext(request, message) if message else None
