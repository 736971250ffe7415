"""Fingerprints: the same problem twice has the same key; different problems do not."""

from __future__ import annotations

from tickets.fingerprint import derive_fingerprint
from tickets.model import AlarmInput


def test_label_order_does_not_matter():
    one = AlarmInput(title="a", source="prom", labels={"alertname": "X", "instance": "h1"})
    two = AlarmInput(title="b", source="prom", labels={"instance": "h1", "alertname": "X"})
    assert derive_fingerprint(one) == derive_fingerprint(two)


def test_source_host_and_labels_separate_problems():
    base = AlarmInput(title="a", source="prom", labels={"alertname": "X"}, host="h1")
    assert derive_fingerprint(base) != derive_fingerprint(AlarmInput(title="a", source="zabbix", labels={"alertname": "X"}, host="h1"))
    assert derive_fingerprint(base) != derive_fingerprint(AlarmInput(title="a", source="prom", labels={"alertname": "X"}, host="h2"))


def test_label_less_alarms_count_their_title():
    assert derive_fingerprint(AlarmInput(title="a", source="web")) != derive_fingerprint(AlarmInput(title="b", source="web"))


def test_a_given_fingerprint_is_scoped_to_its_source():
    assert derive_fingerprint(AlarmInput(title="a", source="s1", fingerprint="f")) == "s1:f"
    assert derive_fingerprint(AlarmInput(title="a", source="s2", fingerprint="f")) == "s2:f"
