"""How tickets read in a room: times in the room's zone, states and history in its language."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

import asyncpg
from babel.dates import format_date, format_time
from babel.numbers import format_decimal

from common.durations import format_duration
from common.languages import LOCALES, SOURCE_LANGUAGE
from regulations import sla_store
from regulations.calendar import ALWAYS_OPEN
from regulations.store import REGULATION_KINDS, Deadline
from rooms.model import TopicRoom
from storage import clock
from texts.i18n import N_, translations
from tickets import ratings
from tickets.model import Ticket, TicketEvent
from tickets.service_levels import ServiceLevels, clock_of

# texts the domain records as data (escalation reasons) and the bot translates when shown
DOMAIN_TEXTS = (N_("claim deadline passed"), N_("resolve deadline passed"), N_("source recovered"))

STATE_NAMES = {
    "open": N_("waiting for a claim"),
    "claimed": N_("claimed"),
    "resolved": N_("resolved"),
}

STATUS_NAMES = {
    "new": N_("new"),
    "analysis": N_("analysis"),
    "in_progress": N_("in progress"),
    "waiting_for_fix": N_("waiting for a fix"),
    "waiting_for_release": N_("waiting for a release"),
    "waiting_for_customer": N_("waiting for the customer"),
    "suspended": N_("suspended"),
    "resolved": N_("resolved"),
    "closed": N_("closed"),
}

SLA_TARGET_NAMES = {"first_response": N_("first response"), "resolution": N_("resolution")}

# the share of an SLA target used up at which it shows as at risk (the default warning) and breached
SLA_AT_RISK, SLA_BREACHED = 0.75, 1.0

EVENT_TEXTS = {
    "created": N_("created by %(actor)s"),
    "announced": N_("announced in the room"),
    "deduplicated": N_("reported again (%(occurrences)s times)"),
    "claimed": N_("claimed by %(actor)s"),
    "taken_over": N_("taken over by %(actor)s from %(from)s"),
    "assigned": N_("assigned to %(to)s by %(actor)s"),
    # a claim sets the level the ticket is at (its escalation starts again from there)
    "claimed@level": N_("claimed by %(actor)s at level %(level)s"),
    "taken_over@level": N_("taken over by %(actor)s from %(from)s at level %(level)s"),
    "escalated": N_("escalated to level %(level)s: %(reason)s"),
    "escalation_exhausted": N_("escalation exhausted at level %(level)s"),
    "wanted": N_("solver wanted by %(actor)s"),
    "paused": N_("put on hold by %(actor)s: %(reason)s"),
    "resumed": N_("resumed by %(actor)s"),
    "resolved": N_("resolved by %(actor)s: %(summary)s"),
    "source_recovered": N_("source recovered"),
    "comment": N_("comment by %(actor)s"),
    "chat": N_("message by %(actor)s in the thread"),
    "attachment_added": N_("attachment %(filename)s added by %(actor)s"),
    "attachment_refused": N_("attachment %(filename)s refused: too large"),
    "alerts_changed": N_("alerts changed: %(firing)s of %(total)s firing"),
    "source_acknowledged": N_("acknowledged at the source (%(actor)s)"),
    "incomplete": N_("incomplete report, missing: %(missing)s"),
    "fields_supplied": N_("%(actor)s supplied missing fields: %(supplied)s"),
    "completed": N_("report completed by %(actor)s"),
    "mail_reply": N_("%(actor)s replied by mail to %(to)s"),
    "mail_sent": N_("mail sent to %(to)s"),
    "mail_problems": N_("the mail could not be read completely"),
    "status_changed": N_("status %(from)s → %(to)s (%(actor)s)"),
    "type_changed": N_("type %(from)s → %(to)s (%(actor)s)"),
    "reopened": N_("reopened by %(actor)s: %(reason)s"),
    "closed": N_("closed (%(reason)s)"),
    "sla_warning": N_("SLA %(target)s at risk (%(policy)s)"),
    "sla_breached": N_("SLA %(target)s breached (%(policy)s)"),
    "sla_finished": N_("SLA %(target)s %(outcome)s (%(policy)s)"),
    "incomplete_reminded": N_("the reporter was reminded of the missing data"),
    "rated": N_("rated %(score)s/5 by %(actor)s"),
    "assigned": N_("assigned to %(to)s by %(actor)s"),
    "article_linked": N_("article “%(title)s” used by %(actor)s"),
    "solved_from_knowledge": N_("solved from the knowledge base"),
}


DEADLINE_SECONDS_WITHIN = 3600.0  # nearer deadlines are shown to the second


def as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


class TicketView:
    """Formatting helpers bound to one room (time zone, language) and one moment."""

    def __init__(self, room: TopicRoom | None, language: str, now: datetime | None = None) -> None:
        self.zone = ZoneInfo(room.timezone if room else "UTC")
        self.language = language
        self.now = now or clock.now()
        self._ = translations(language).gettext

    def when(self, value: datetime | str | None) -> str:
        moment = as_datetime(value)
        if moment is None:
            return "-"
        return self._stamp(moment.astimezone(self.zone), seconds=False)

    def _stamp(self, local: datetime, *, seconds: bool) -> str:
        """The time (and the date when it is not today) with the zone named. English rooms read
        ISO dates (``2026-11-30 14:05 CET``: the team is in several countries); the others their
        own CLDR formats (``30. 11. 2026 14:05 CET``, ``2026年11月30日 14:05 CET``)."""
        today = self.now.astimezone(self.zone).date()
        if self.language == SOURCE_LANGUAGE or self.language not in LOCALES:
            pattern = ("%H:%M:%S" if seconds else "%H:%M") if local.date() == today else ("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
            return local.strftime(f"{pattern} %Z")
        locale = LOCALES[self.language]
        shown = format_time(local, "medium" if seconds else "short", locale=locale)
        if local.date() != today:
            shown = f"{format_date(local.date(), 'medium', locale=locale)} {shown}"
        return f"{shown} {local.strftime('%Z')}"

    def deadline(self, value: datetime | str | None) -> str:
        """A deadline with the precision people act on: to the second when it is less than an hour
        away (a claim window of minutes), to the minute otherwise."""
        moment = as_datetime(value)
        if moment is None:
            return "-"
        if abs((moment - self.now).total_seconds()) >= DEADLINE_SECONDS_WITHIN or moment.second == 0:
            return self.when(moment)
        return self._stamp(moment.astimezone(self.zone), seconds=True)

    def left(self, value: datetime | str | None) -> str:
        moment = as_datetime(value)
        if moment is None:
            return "-"
        remaining = moment - self.now
        if remaining.total_seconds() >= 0:
            return self._(N_("in %(duration)s")) % {"duration": format_duration(remaining + timedelta(seconds=0.5))}
        return self._(N_("%(duration)s overdue")) % {"duration": format_duration(-remaining)}

    def duration(self, value: float | timedelta | None) -> str:
        if value is None:
            return "-"
        if not isinstance(value, timedelta):
            value = timedelta(seconds=float(value))
        return format_duration(value)

    def size(self, value: float | int | None) -> str:
        """Bytes as people read them, with the language's decimal sign: 512 B, 12.5 kB, 3,2 MB."""
        if value is None:
            return "-"
        amount = float(value)
        for unit in ("B", "kB", "MB", "GB"):
            if amount < 1024 or unit == "GB":
                break
            amount /= 1024
        return f"{self.number(amount, 0 if unit == 'B' else 1)} {unit}"

    def number(self, value: float | int, digits: int = 0) -> str:
        """A number in the language's way (``1 234,5`` in Czech, ``1,234.5`` in English)."""
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, pattern, locale=LOCALES.get(self.language, SOURCE_LANGUAGE))

    def state_of(self, ticket: Ticket) -> str:
        return self._(STATE_NAMES.get(ticket.state, ticket.state))

    def sla_target(self, target: str) -> str:
        return self._(SLA_TARGET_NAMES.get(target, target))

    def status_of(self, status: str) -> str:
        return self._(STATUS_NAMES.get(status, status))

    def business_left(self, value: datetime | str | None, working: timedelta) -> str:
        """Time left counted in business hours (the deadline's calendar), or how long it is overdue."""
        moment = as_datetime(value)
        if moment is None:
            return "-"
        if moment <= self.now:
            return self._(N_("%(duration)s overdue")) % {"duration": format_duration(self.now - moment)}
        return self._(N_("%(duration)s of business time left")) % {"duration": format_duration(working + timedelta(seconds=0.5))}

    def event_text(self, event: TicketEvent) -> str:
        template = EVENT_TEXTS.get(f"{event.kind}@level" if "level" in event.data else event.kind) or EVENT_TEXTS.get(event.kind)
        if template is None:
            return event.kind
        values: dict[str, Any] = {
            "actor": event.actor,
            **{k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in event.data.items()},
        }
        if "reason" in values and isinstance(values["reason"], str):
            values["reason"] = self._(values["reason"])
        for key in ("from", "to"):
            if event.kind == "status_changed" and isinstance(values.get(key), str):
                values[key] = self.status_of(values[key])
        if isinstance(values.get("target"), str):
            values["target"] = self._(SLA_TARGET_NAMES.get(values["target"], values["target"]))
        if values.get("outcome") in ("met", "breached"):
            values["outcome"] = self._(values["outcome"])
        try:
            return self._(template) % _Defaulting(values)
        except (TypeError, ValueError):
            return event.kind

    def recorded(self, value: Any) -> str:
        """A text the domain recorded as data (``{"text": msgid, **values}``; older records: a
        plain string), in the room's language."""
        if isinstance(value, dict) and isinstance(value.get("text"), str):
            values = {key: item for key, item in value.items() if key != "text"}
            try:
                return self._(value["text"]) % _Defaulting(values)
            except (TypeError, ValueError):
                return value["text"]
        return str(value)

    def functions(self) -> dict[str, Callable[..., str]]:
        return {
            "recorded": self.recorded,
            "when": self.when,
            "deadline": self.deadline,
            "left": self.left,
            "duration": self.duration,
            "state_of": self.state_of,
            "status_of": self.status_of,
            "sla_target": self.sla_target,
            "event_text": self.event_text,
            "size": self.size,
        }


class _Defaulting(dict):  # type: ignore[type-arg]
    def __missing__(self, key: str) -> str:
        return "?"


def ticket_values(
    ticket: Ticket, room: TopicRoom | None, deadlines: list[Deadline], view: TicketView, prefix: str
) -> dict[str, Any]:
    """What every ticket template gets."""
    due = {deadline.kind: deadline.due_at for deadline in deadlines}
    callees = room.staff_at(ticket.escalation_level) if room else []
    return {
        "t": ticket,
        "room": room,
        "prefix": prefix,
        "claim_due": due.get("claim"),
        "resolve_due": due.get("resolve"),
        "claim_left": None,  # business time left, when service_level_values says
        "resolve_left": None,
        "sla": [],
        "rating": None,
        "status_name": view.status_of(ticket.status),
        "callees": callees,
        "details_lines": [],
        "details_html": "",
        "state_name": view.state_of(ticket),
        **view.functions(),
    }


async def service_level_values(
    conn: asyncpg.Connection, ticket: Ticket, deadlines: list[Deadline], view: TicketView, levels: ServiceLevels | None
) -> dict[str, Any]:
    """What ticket templates show of service levels: the status, each regulation deadline's time left
    (in business time when it counts on a calendar), and the SLA clocks with how much is used."""
    levels = levels or ServiceLevels()
    shown = [d for d in deadlines if d.kind in REGULATION_KINDS]
    left: dict[int, str] = {}
    for deadline in shown:
        calendar = levels.calendar(deadline.calendar)
        if deadline.due_at is None:
            left[deadline.id] = view._(N_("on hold, %(duration)s left")) % {"duration": view.duration(deadline.remaining)}
        elif calendar is None:
            left[deadline.id] = view.left(deadline.due_at)
        else:
            left[deadline.id] = view.business_left(deadline.due_at, calendar.business_between(view.now, deadline.due_at))
    sla = []
    for row in await sla_store.of_ticket(conn, ticket.id):
        calendar = levels.calendar(row.calendar) or ALWAYS_OPEN
        clock = clock_of(row)
        used = clock.elapsed_at(calendar, view.now) / row.target_span if row.target_span else 1.0
        level = "breached" if row.outcome == "breached" or used >= SLA_BREACHED else "at_risk" if used >= SLA_AT_RISK else "ok"
        if row.finished_at is not None:
            text = view._(N_("met")) if row.outcome == "met" else view._(N_("breached"))
        elif row.due_at is None:
            text = view._(N_("stopped, %(duration)s left")) % {"duration": view.duration(max(row.target_span - row.elapsed, timedelta(0)))}
        elif row.calendar is None:
            text = f"{view.when(row.due_at)} ({view.left(row.due_at)})"
        else:
            text = f"{view.when(row.due_at)} ({view.business_left(row.due_at, calendar.business_between(view.now, row.due_at))})"
        sla.append({"target": view._(SLA_TARGET_NAMES.get(row.target, row.target)), "policy": row.policy, "text": text,
                    "level": level, "finished": row.finished_at is not None})
    by_kind = {d.kind: left[d.id] for d in shown if d.due_at is not None and levels.calendar(d.calendar) is not None}
    rating = await ratings.latest(conn, ticket.id)
    if rating is not None and rating["cycle"] != ticket.reopened:
        rating = None  # it rated a resolution the ticket has left
    return {"deadlines": shown, "left_of": left, "sla": sla, "status_name": view.status_of(ticket.status),
            "rating": dict(rating) if rating is not None else None,
            "claim_left": by_kind.get("claim"), "resolve_left": by_kind.get("resolve")}
