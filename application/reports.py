"""Reports as every face asks for them: which rooms a person may have reports of, and whether
a request's scope is allowed, decided by the policy (``application.policy``) so that ``!report``,
``GET /api/v1/reports`` and the portal's report page give the same answer and refusal text.

Invariant: faces never decide report access themselves; they call :func:`decide` (and
:func:`allowed_rooms` to offer choices) with the catalog's rooms at that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from application.actor import Actor
from application.policy import Refusal, report_rooms, report_scope, sees_every_room_in_reports
from reports.model import Scope
from reports.service import ReportFailed, ReportService
from rooms.model import TopicRoom

__all__ = ["Decision", "ReportFailed", "ReportService", "allowed_rooms", "decide", "sees_every_room"]


@dataclass(frozen=True)
class Decision:
    scope: Scope | None  # the scope allowed (``None``: refused)
    refusal: Refusal | None = None


def _keys(rooms: Sequence[TopicRoom]) -> list[str]:
    return [room.key for room in rooms]


def sees_every_room(actor: Actor) -> bool:
    return sees_every_room_in_reports(actor)


def allowed_rooms(actor: Actor, rooms: Sequence[TopicRoom]) -> tuple[str, ...]:
    """The keys of the rooms (of the catalog's ``rooms``) whose reports ``actor`` may ask for."""
    return report_rooms(actor, _keys(rooms))


def decide(actor: Actor, scope: Scope, rooms: Sequence[TopicRoom]) -> Decision:
    """The scope ``actor`` gets for ``scope`` (no room named: every room they may see), or the refusal."""
    allowed = report_scope(actor, scope.rooms, _keys(rooms))
    if allowed.refusal is not None:
        return Decision(None, allowed.refusal)
    return Decision(scope if allowed.rooms == scope.rooms else Scope(allowed.rooms, scope.label))
