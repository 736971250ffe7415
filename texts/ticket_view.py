"""How tickets read in a room: times in the room's zone, states and history in its language."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo

from texts.i18n import N_, translations
from common.durations import format_duration
from regulations.store import Deadline
from rooms.model import TopicRoom
from tickets.model import Ticket, TicketEvent

# texts the domain records as data (escalation reasons) and the bot translates when shown
DOMAIN_TEXTS = (N_("claim deadline passed"), N_("resolve deadline passed"), N_("source recovered"))

STATE_NAMES = {
    "open": N_("waiting for a claim"),
    "claimed": N_("claimed"),
    "resolved": N_("resolved"),
}

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
        self.now = now or datetime.now(timezone.utc)
        self._ = translations(language).gettext

    def when(self, value: datetime | str | None) -> str:
        moment = as_datetime(value)
        if moment is None:
            return "-"
        local = moment.astimezone(self.zone)
        today = self.now.astimezone(self.zone).date()
        pattern = "%H:%M %Z" if local.date() == today else "%Y-%m-%d %H:%M %Z"
        return local.strftime(pattern)

    def deadline(self, value: datetime | str | None) -> str:
        """A deadline with the precision people act on: to the second when it is less than an hour
        away (a claim window of minutes), to the minute otherwise."""
        moment = as_datetime(value)
        if moment is None:
            return "-"
        if abs((moment - self.now).total_seconds()) >= DEADLINE_SECONDS_WITHIN or moment.second == 0:
            return self.when(moment)
        local = moment.astimezone(self.zone)
        today = self.now.astimezone(self.zone).date()
        return local.strftime("%H:%M:%S %Z" if local.date() == today else "%Y-%m-%d %H:%M:%S %Z")

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

    @staticmethod
    def size(value: float | int | None) -> str:
        """Bytes as people read them: 512 B, 12.5 kB, 3.2 MB."""
        if value is None:
            return "-"
        amount = float(value)
        for unit in ("B", "kB", "MB", "GB"):
            if amount < 1024 or unit == "GB":
                return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
            amount /= 1024
        return f"{amount:.1f} GB"

    def state_of(self, ticket: Ticket) -> str:
        return self._(STATE_NAMES.get(ticket.state, ticket.state))

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
        "callees": callees,
        "details_lines": [],
        "details_html": "",
        "state_name": view.state_of(ticket),
        **view.functions(),
    }
