"""The lifecycle's statuses and transitions (pure)."""

from __future__ import annotations

from tickets.workflow import (
    ANALYSIS, CLOSED, IN_PROGRESS, NEW, RESOLVED, SUSPENDED, WAITING_FOR_CUSTOMER, WAITING_FOR_FIX,
    TicketTypeConfig, Workflow, check_workflow,
)


def test_the_default_workflow_follows_the_log_procedure() -> None:
    flow = Workflow.standard()
    for a, b in [(NEW, ANALYSIS), (ANALYSIS, IN_PROGRESS), (IN_PROGRESS, WAITING_FOR_FIX), (WAITING_FOR_FIX, IN_PROGRESS),
                 (IN_PROGRESS, RESOLVED), (RESOLVED, CLOSED), (RESOLVED, ANALYSIS), (CLOSED, ANALYSIS), (NEW, SUSPENDED)]:
        assert flow.allows(a, b), (a, b)
    for a, b in [(ANALYSIS, NEW), (CLOSED, RESOLVED), (NEW, CLOSED), (IN_PROGRESS, CLOSED), (IN_PROGRESS, IN_PROGRESS)]:
        assert not flow.allows(a, b), (a, b)
    assert flow.stops_clock(WAITING_FOR_CUSTOMER) and flow.stops_clock(SUSPENDED)
    assert not flow.stops_clock(WAITING_FOR_FIX)
    assert flow.reopen_status == ANALYSIS
    assert flow.on_claim(NEW) == IN_PROGRESS and flow.on_claim(ANALYSIS) == IN_PROGRESS
    assert flow.on_claim(WAITING_FOR_FIX) is None
    assert flow.pause_status == SUSPENDED


def test_a_short_type_reopens_to_its_first_working_status() -> None:
    flow = TicketTypeConfig(statuses=[NEW, IN_PROGRESS, WAITING_FOR_CUSTOMER, RESOLVED, CLOSED]).workflow([WAITING_FOR_CUSTOMER, SUSPENDED])
    assert flow.reopen_status == IN_PROGRESS
    assert flow.stop_clock == frozenset({WAITING_FOR_CUSTOMER})
    assert flow.pause_status == WAITING_FOR_CUSTOMER
    assert not flow.allows(NEW, ANALYSIS)


def test_configured_transitions_are_checked() -> None:
    statuses = [NEW, IN_PROGRESS, RESOLVED, CLOSED]
    assert check_workflow(statuses, {NEW: [IN_PROGRESS], IN_PROGRESS: [RESOLVED], RESOLVED: [CLOSED, IN_PROGRESS], CLOSED: [IN_PROGRESS]}, []) == []
    assert ("transitions.in_progress", "nothing goes back to new") in check_workflow(statuses, {NEW: [IN_PROGRESS], IN_PROGRESS: [NEW, RESOLVED]}, [])
    assert ("transitions", "cannot be reached from new: closed") in check_workflow(statuses, {NEW: [IN_PROGRESS], IN_PROGRESS: [RESOLVED]}, [])
    assert check_workflow([NEW, RESOLVED], {}, [])[0][0] == "statuses"
    assert check_workflow(statuses, {}, [SUSPENDED])[0] == ("stop_clock", "'suspended' is not one of this type's statuses")
    assert "unknown status" in check_workflow([*statuses, "parked"], {}, [])[0][1]
