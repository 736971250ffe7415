"""The words and formats of a report: translated through the shared gettext catalogues, numbers,
dates and durations through Babel in the report's language and time zone.

The catalogues are handed in (``gettext`` of one language) by whoever builds the report, so
this part does not depend on a face; every text here is marked with :func:`N_` and extracted
with the rest.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit

Gettext = Callable[[str], str]


def N_(message: str) -> str:
    """Mark a text for extraction; it is translated where it is shown."""
    return message


KIND_TITLES = {
    "overview": N_("Overview"),
    "workload": N_("Workload"),
    "queues": N_("Queues"),
    "tickets": N_("Tickets"),
    "customer": N_("Service report"),
}

COLUMNS = {
    "ticket": N_("Ticket"),
    "room": N_("Room"),
    "severity": N_("Severity"),
    "source": N_("Source"),
    "title": N_("Title"),
    "service": N_("Service"),
    "host": N_("Host"),
    "state": N_("State"),
    "created_at": N_("Raised"),
    "claimed_at": N_("Claimed"),
    "claimed_by": N_("Claimed by"),
    "responsible": N_("Responsible"),
    "responsible_level": N_("Responsible's level"),
    "takeovers": N_("Taken over"),
    "level_reached": N_("Level reached"),
    "escalations": N_("Escalations"),
    "exhausted": N_("Escalation exhausted"),
    "paused": N_("Paused"),
    "resolved_at": N_("Resolved"),
    "resolved_by": N_("Resolved by"),
    "to_claim": N_("Time to claim"),
    "to_resolve": N_("Time to resolve"),
    "claim_deadline": N_("Claim deadline"),
    "resolve_deadline": N_("Resolution deadline"),
    "occurrences": N_("Occurrences"),
    "resolution": N_("What was done"),
    "holder": N_("Held by"),
    "age": N_("Age"),
    "time_left": N_("Time left"),
    "level": N_("Level"),
    "person": N_("Person"),
    "claimed": N_("Claimed"),
    "took_over": N_("Took over"),
    "taken_from": N_("Taken over from them"),
    "resolved": N_("Resolved"),
    "mean_to_claim": N_("Mean time to claim"),
    "mean_to_resolve": N_("Mean time to resolve"),
    "escalations_reached": N_("Escalations that reached them"),
    "held": N_("Tickets held"),
    "raised": N_("Raised"),
    "open_at_end": N_("Open at the end"),
    "tickets": N_("Tickets"),
    "problem": N_("Problem"),
    "check": N_("Check"),
    "down": N_("Down"),
    "outages": N_("Outages"),
    "availability": N_("Availability"),
    "figure": N_("Figure"),
    "value": N_("Value"),
    "count": N_("Tickets counted"),
    "mean": N_("Mean"),
    "median": N_("Median"),
    "p90": N_("90th percentile"),
    "target": N_("Target"),
    "policy": N_("SLA policy"),
    "met": N_("Met"),
    "missed": N_("Missed"),
    "met_share": N_("Met (share)"),
}

VALUES = {
    "met": N_("met"),
    "missed": N_("missed"),
    "open": N_("open"),
    "claimed": N_("claimed"),
    "resolved": N_("resolved"),
    "yes": N_("yes"),
    "no": N_("no"),
    "critical": N_("critical"),
    "major": N_("major"),
    "minor": N_("minor"),
    "warning": N_("warning"),
    "info": N_("info"),
    "first_response": N_("first response"),
    "resolution": N_("resolution"),
}

DIMENSIONS = {"room": N_("By room"), "severity": N_("By severity"), "source": N_("By source")}


class Texts:
    """One language and time zone: translated words, localized numbers, dates and durations."""

    def __init__(self, language: str, zone: str, gettext: Gettext) -> None:
        self.language = language
        self.zone = ZoneInfo(zone)
        self.zone_name = zone
        self.locale = Locale.parse(language)
        self._gettext = gettext

    def _(self, message: str, **values: object) -> str:
        translated = self._gettext(message)
        return translated % values if values else translated

    def column(self, key: str) -> str:
        return self._(COLUMNS[key])

    def value(self, word: str | None) -> str:
        return self._(VALUES[word]) if word in VALUES else (word or "")

    def kind(self, kind: str) -> str:
        return self._(KIND_TITLES[kind])

    # ---- formats ----

    def local(self, moment: datetime | None) -> datetime | None:
        """The moment as a naive local time of the report's zone (what a spreadsheet cell holds)."""
        if moment is None:
            return None
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def when(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        return format_datetime(moment.astimezone(timezone.utc), "short", tzinfo=self.zone, locale=self.locale)

    def day(self, day: date) -> str:
        return format_date(day, "medium", locale=self.locale)

    def number(self, value: float | int | None, digits: int = 0) -> str:
        if value is None:
            return "–"
        pattern = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, pattern, locale=self.locale)

    def percent(self, value: float | None) -> str:
        if value is None:
            return "–"
        return format_percent(value, "#,##0.0%", locale=self.locale)

    def duration(self, seconds: float | None) -> str:
        """``2 d 3 h``, ``3 h 15 min``, ``4 min 10 s`` (two units at most); ``–`` for no value."""
        if seconds is None:
            return "–"
        sign = "-" if seconds < 0 else ""
        total = int(round(abs(seconds)))
        parts = []
        for unit, size in (("duration-day", 86400), ("duration-hour", 3600), ("duration-minute", 60), ("duration-second", 1)):
            count, total = divmod(total, size)
            if count or (unit == "duration-second" and not parts):
                parts.append(format_unit(count, unit, length="short", locale=self.locale))
            if len(parts) == 2:
                break
        return sign + " ".join(parts)

    def format(self, value: object, value_type: str) -> str:
        """A figure or cell as text in the report's language (``value_type`` as in a document column)."""
        if value is None:
            return "–"
        if value_type == "int":
            return self.number(value)  # type: ignore[arg-type]
        if value_type == "duration":
            return self.duration(value)  # type: ignore[arg-type]
        if value_type == "percent":
            return self.percent(value)  # type: ignore[arg-type]
        if value_type == "datetime":
            return self.when(value)  # type: ignore[arg-type]
        if value_type == "bool":
            return self.value("yes" if value else "no")
        if value_type == "word":
            return self.value(str(value))
        return str(value)

    def period(self, first: date, last: date) -> str:
        if first == last:
            return self.day(first)
        return f"{self.day(first)} – {self.day(last)}"
