"""Merging notifications into an alert group's member list."""

from __future__ import annotations

from tickets import alert_groups
from tickets.alert_groups import MAX_STORED_ALERTS, member_name, merge
from tickets.model import Alert

COMMON = {"alertname": "PostgresDown", "service": "postgres"}


def member(instance: str, status: str = "firing") -> Alert:
    return Alert(key=f"fp-{instance}", status=status, labels={**COMMON, "instance": instance})  # type: ignore[arg-type]


def test_members_keep_their_last_state_and_new_ones_are_appended():
    first = merge([], [member("db-01"), member("db-02")], COMMON)
    assert first.firing == 2 and first.fired == ["instance=db-01", "instance=db-02"] and first.changed
    # the next notification leaves db-01 out (resolved earlier, forgotten by the sender): it stays
    second = merge(first.alerts, [member("db-02", "resolved"), member("db-03")], COMMON)
    assert [(a["key"], a["status"]) for a in second.alerts] == [
        ("fp-db-01", "firing"), ("fp-db-02", "resolved"), ("fp-db-03", "firing")]
    assert second.fired == ["instance=db-03"] and second.resolved == ["instance=db-02"]
    assert second.summary() == {"fired": ["instance=db-03"], "resolved": ["instance=db-02"], "more_fired": 0,
                                "more_resolved": 0, "firing": 2, "total": 3}
    # a repeat changes nothing
    again = merge(second.alerts, [member("db-02", "resolved"), member("db-03")], COMMON)
    assert not again.changed and again.alerts == second.alerts
    # a resolved member firing again counts as started
    back = merge(again.alerts, [member("db-02")], COMMON)
    assert back.fired == ["instance=db-02"] and back.firing == 3


def test_a_notification_of_only_resolved_unknown_members_fires_nothing():
    merged = merge([], [member("db-01", "resolved")], COMMON)
    assert merged.firing == 0 and not merged.fired and merged.alerts[0]["status"] == "resolved"


def test_the_stored_list_is_capped_by_dropping_the_oldest_resolved(monkeypatch):
    monkeypatch.setattr(alert_groups, "MAX_STORED_ALERTS", 3)
    stored = merge([], [member("a", "resolved"), member("b", "resolved"), member("c")], COMMON).alerts
    merged = merge(stored, [member("d"), member("e")], COMMON)
    assert [a["key"] for a in merged.alerts] == ["fp-c", "fp-d", "fp-e"] and merged.dropped == 2
    assert MAX_STORED_ALERTS == 500


def test_many_changes_name_the_first_ten():
    merged = merge([], [member(f"db-{n:02}") for n in range(25)], COMMON)
    summary = merged.summary()
    assert len(summary["fired"]) == 10 and summary["more_fired"] == 15 and summary["total"] == 25


def test_member_names_are_the_labels_that_tell_them_apart():
    assert member_name({**COMMON, "instance": "db-01", "job": "pg"}, COMMON) == "instance=db-01, job=pg"
    assert member_name(COMMON, COMMON) == "alertname=PostgresDown"
    assert member_name({"__name__": "x", "job": "a"}, {"job": "a"}) == "-"
