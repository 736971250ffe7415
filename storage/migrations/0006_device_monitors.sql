-- Active checks (HTTP, SNMP GET) and heartbeats: their state survives a restart, and the row
-- is the lock that keeps two opsroom processes from running one check or raising one alarm twice.

CREATE TABLE monitor_state (
    kind                 text NOT NULL CHECK (kind IN ('check', 'heartbeat')),
    name                 text NOT NULL,
    probe                text NOT NULL,          -- http | snmp | heartbeat
    room_key             text,                   -- where its alarm goes (the routing rules' answer)
    target               text NOT NULL DEFAULT '', -- what it looks at: a URL, host:port and OID
    interval_seconds     double precision NOT NULL, -- how often it runs; heartbeats: the longest silence allowed
    state                text NOT NULL DEFAULT 'unknown' CHECK (state IN ('unknown', 'ok', 'failing', 'alarm')),
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_result          text,                   -- what the last run saw, for people: "HTTP 500", "value 42 > 10"
    last_ok              boolean,
    last_latency_ms      double precision,
    last_run_at          timestamptz,
    last_beat_at         timestamptz,            -- heartbeats: the last call of POST /api/v1/heartbeat/<name>
    beats                bigint NOT NULL DEFAULT 0,
    lease_until          timestamptz,            -- a process running the check holds it until then
    alarm_ticket_id      bigint,                 -- the ticket the current alarm raised or joined
    changed_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, name)
);
