"""Scheduled reports (``reports:`` in the configuration), delivered through the outbox.

Every process checks the schedules when it starts and every half minute. The latest moment a
schedule was due is its *occurrence*; whichever process first inserts the row (schedule,
occurrence) into ``report_runs`` queues the report, in the same transaction, for each target
(a room: the bot posts it; an address: it is mailed). So two processes never send one
occurrence twice, a restart that missed the hour sends it at start, and a homeserver or SMTP
outage only delays it (the outbox retries). Occurrences from before a schedule was first
configured are not caught up, and after a long outage only the latest one is.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from common.languages import Language
from reports import requests
from reports.model import FORMATS_OF, Scope
from reports.periods import parse_period
from rooms.model import check_email, check_timezone
from texts.i18n import in_english

if TYPE_CHECKING:
    from reports.service import ReportService

log = logging.getLogger(__name__)

CHECK_SECONDS = 30
JOB_ID = "scheduled-reports"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_PERIOD = {"day": "yesterday", "week": "last-week", "month": "last-month"}


def _check_at(value: str) -> str | None:
    try:
        time.fromisoformat(value)
    except ValueError:
        return "expected a local time HH:MM, e.g. 08:00"
    return None if len(value) == 5 else "expected a local time HH:MM, e.g. 08:00"


@dataclass(frozen=True)
class DeliverTo:
    room: str | None = None  # a room key: the bot posts the file there
    mail: list[str] = field(default_factory=list)  # addresses the file is mailed to (needs mail.smtp)


@dataclass(frozen=True)
class ScheduledReport:
    name: str
    kind: Literal["overview", "workload", "queues", "tickets", "customer"]
    deliver_to: DeliverTo
    every: Literal["day", "week", "month"] = "month"
    on_day: int | str | None = None  # month: 1..28 (default 1); week: mon..sun (default mon)
    at: str = field(default="08:00", metadata={"check": _check_at})
    timezone: str = field(default="UTC", metadata={"check": check_timezone})
    period: str | None = None  # default: yesterday / last-week / last-month
    rooms: list[str] = field(default_factory=list)  # empty: every room
    customer: str | None = None  # only tickets labelled customer=<this>
    format: Literal["xlsx", "pptx", "png", "csv", "json"] = "xlsx"
    language: Language = "en"

    @property
    def scope(self) -> Scope:
        return Scope(tuple(self.rooms) if self.rooms else None, ("customer", self.customer) if self.customer else None)


def check_schedules(schedules: list[ScheduledReport], room_keys: set[str], mail_out: bool) -> list[tuple[str, str]]:
    """(key path, problem) of each schedule that cannot work."""
    problems: list[tuple[str, str]] = []
    names: set[str] = set()
    for index, schedule in enumerate(schedules):
        path = f"reports[{index}]"
        if schedule.name in names:
            problems.append((f"{path}.name", f"duplicate name {schedule.name!r}"))
        names.add(schedule.name)
        for room_index, key in enumerate(schedule.rooms):
            if key not in room_keys:
                problems.append((f"{path}.rooms[{room_index}]", f"unknown room {key!r}"))
        target = schedule.deliver_to
        if target.room is None and not target.mail:
            problems.append((f"{path}.deliver_to", "give a room, mail addresses, or both"))
        if target.room is not None and target.room not in room_keys:
            problems.append((f"{path}.deliver_to.room", f"unknown room {target.room!r}"))
        for mail_index, address in enumerate(target.mail):
            message = check_email(address)
            if message:
                problems.append((f"{path}.deliver_to.mail[{mail_index}]", message))
        if target.mail and not mail_out:
            problems.append((f"{path}.deliver_to.mail", "mailing reports needs mail.smtp"))
        if schedule.format not in FORMATS_OF[schedule.kind]:
            problems.append((f"{path}.format", f"the {schedule.kind} report comes as {', '.join(FORMATS_OF[schedule.kind])}"))
        if schedule.kind == "customer" and not schedule.customer and len(schedule.rooms) != 1:
            problems.append((f"{path}.customer", "the customer report needs a customer (or exactly one room)"))
        problems += [(f"{path}.on_day", message) for message in [_check_on_day(schedule)] if message]
        if schedule.period is not None:
            try:
                parse_period(schedule.period, "UTC", datetime.now(timezone.utc))
            except ValueError as error:
                problems.append((f"{path}.period", in_english(error.args[0], error.args[1])))
    return problems


def _check_on_day(schedule: ScheduledReport) -> str | None:
    day = schedule.on_day
    if schedule.every == "month" and day is not None and not (isinstance(day, int) and 1 <= day <= 28):
        return "a day of the month from 1 to 28"
    if schedule.every == "week" and day is not None and str(day).lower() not in WEEKDAYS:
        return f"a day of the week: {', '.join(WEEKDAYS)}"
    if schedule.every == "day" and day is not None:
        return "not used with every: day"
    return None


def latest_occurrence(schedule: ScheduledReport, now: datetime) -> datetime:
    """The latest moment at or before ``now`` when the schedule was due (UTC)."""
    zone = ZoneInfo(schedule.timezone)
    at = time.fromisoformat(schedule.at)
    today = now.astimezone(zone).date()

    def moment(day: date) -> datetime:
        return datetime.combine(day, at, tzinfo=zone).astimezone(timezone.utc)

    if schedule.every == "day":
        day = today
        step = lambda d: d - timedelta(days=1)  # noqa: E731
    elif schedule.every == "week":
        weekday = WEEKDAYS.index(str(schedule.on_day or "mon").lower())
        day = today - timedelta(days=(today.weekday() - weekday) % 7)
        step = lambda d: d - timedelta(days=7)  # noqa: E731
    else:
        day = today.replace(day=int(schedule.on_day or 1))
        step = lambda d: (d.replace(day=1) - timedelta(days=1)).replace(day=int(schedule.on_day or 1))  # noqa: E731
    while moment(day) > now:
        day = step(day)
    return moment(day)


async def queue_occurrence(conn: asyncpg.Connection, service: "ReportService", schedule: ScheduledReport, occurrence: datetime) -> bool:
    """Queue the report of one occurrence unless some process already did; True if this one did."""
    async with conn.transaction():
        inserted = await conn.fetchval(
            "INSERT INTO report_runs (schedule, occurrence) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
            schedule.name, occurrence,
        )
        if not inserted:
            return False
        period = parse_period(schedule.period or DEFAULT_PERIOD[schedule.every], schedule.timezone, occurrence)
        request = service.request(schedule.kind, period, schedule.scope, schedule.format, schedule.language)
        who = f"schedule:{schedule.name}"
        if schedule.deliver_to.room is not None:
            await requests.add(conn, request, who, {"room_key": schedule.deliver_to.room})
        for address in schedule.deliver_to.mail:
            await requests.add(conn, request, who, {"mail": address}, channel="mail")
    log.info("scheduled report %s of %s queued", schedule.name, occurrence.isoformat())
    return True


class ScheduledReports:
    def __init__(self, pool: asyncpg.Pool, service: "ReportService", schedules: list[ScheduledReport],
                 scheduler: AsyncIOScheduler) -> None:
        self.pool = pool
        self.service = service
        self.schedules = schedules
        self.scheduler = scheduler

    async def start(self) -> None:
        if not self.schedules:
            return
        await self.check()  # what a restart missed is queued at once
        self.scheduler.add_job(self.check, "interval", seconds=CHECK_SECONDS, id=JOB_ID, replace_existing=True,
                               coalesce=True, max_instances=1, misfire_grace_time=None)

    def stop(self) -> None:
        if self.scheduler.get_job(JOB_ID):
            self.scheduler.remove_job(JOB_ID)

    async def check(self, now: datetime | None = None) -> int:
        """Queue every occurrence that is due and not yet queued; returns how many this process queued."""
        now = now or datetime.now(timezone.utc)
        queued = 0
        try:
            async with self.pool.acquire() as conn:
                first_seen = await self._register(conn, now)
                for schedule in self.schedules:
                    occurrence = latest_occurrence(schedule, now)
                    if occurrence < first_seen[schedule.name]:
                        continue  # due before it was configured: not a missed report
                    queued += await queue_occurrence(conn, self.service, schedule, occurrence)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("scheduled reports: database unavailable (%s); checked again in %ss", type(error).__name__, CHECK_SECONDS)
        return queued

    async def _register(self, conn: asyncpg.Connection, now: datetime) -> dict[str, datetime]:
        names = [schedule.name for schedule in self.schedules]
        await conn.execute(
            "INSERT INTO report_schedules (name, first_seen_at) SELECT unnest($1::text[]), $2 ON CONFLICT DO NOTHING", names, now
        )
        rows = await conn.fetch("SELECT name, first_seen_at FROM report_schedules WHERE name = ANY($1::text[])", names)
        return {row["name"]: row["first_seen_at"] for row in rows}
