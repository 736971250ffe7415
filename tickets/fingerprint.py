"""Deduplication keys: the same problem reported again must find its open ticket."""

from __future__ import annotations

import hashlib
import json

from tickets.model import AlarmInput


def derive_fingerprint(alarm: AlarmInput) -> str:
    """The sender's fingerprint when given, else one derived from the source and the labels.

    Service and host count as labels. An alarm with no labels at all also counts its title,
    so that unrelated label-less alarms of one source do not fold into one ticket.
    """
    if alarm.fingerprint:
        return f"{alarm.source}:{alarm.fingerprint}"
    identity = {str(k): str(v) for k, v in alarm.labels.items()}
    for name in ("service", "host"):
        value = getattr(alarm, name)
        if value and name not in identity:
            identity[name] = value
    if not alarm.labels:
        identity["title"] = alarm.title
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{alarm.source}:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]
