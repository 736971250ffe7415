"""The domain services, each one concern, composed over one set of rules (the live catalog)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from escalation.steps import Escalation
from rooms.store import AnnouncementCounter
from tickets.alarms import AlarmIntake
from tickets.group_alarms import AlertGroupIntake
from tickets.by_people import ByPeople
from tickets.rules import TicketRules
from tickets.silencing import Silences
from tickets.status_steps import StatusSteps
from tickets.steps import PersonSteps


@dataclass(frozen=True)
class Domain:
    rules: TicketRules
    alarms: AlarmIntake
    groups: AlertGroupIntake
    steps: PersonSteps
    escalation: Escalation
    silences: Silences
    by_people: ByPeople
    statuses: StatusSteps

    @classmethod
    def build(
        cls, rules: TicketRules, *, announcements: AnnouncementCounter | None = None, page_window: timedelta | None = None
    ) -> Domain:
        """``announcements``: alarm intake counts storm windows on this connection of its own;
        ``page_window``: escalation pages to one person within it are one direct message."""
        return cls(
            rules=rules,
            alarms=AlarmIntake(rules, announcements),
            groups=AlertGroupIntake(rules, announcements),
            steps=PersonSteps(rules),
            escalation=Escalation(rules) if page_window is None else Escalation(rules, page_window=page_window),
            silences=Silences(rules),
            by_people=ByPeople(rules),
            statuses=StatusSteps(rules),
        )
