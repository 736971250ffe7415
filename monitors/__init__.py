"""Active checks (HTTP, SNMP GET) and heartbeats of sources: their settings, probes, state and
the runner that raises and recovers their alarms. The HTTP routes are in ``intake``."""
