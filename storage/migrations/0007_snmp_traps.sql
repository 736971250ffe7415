-- Every accepted SNMP trap, stored in batches as it arrives and turned into an alarm after:
-- a burst of traps never waits on ticket work, and a trap once stored is never lost.

CREATE TABLE snmp_traps (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    source       text NOT NULL,                -- the configured source (community) or v3 user it came from
    agent        text NOT NULL,                -- the sender's address (v1: the agent-addr field)
    version      text NOT NULL CHECK (version IN ('v1', 'v2c', 'v3')),
    trap_oid     text NOT NULL,
    varbinds     jsonb NOT NULL,               -- [[oid, type, value], ...] as received
    processed_at timestamptz,
    ticket_id    bigint,
    result       text,                         -- created | deduplicated | recovered | unmatched | failed: ...
    CHECK ((processed_at IS NULL) = (result IS NULL))
);
CREATE INDEX snmp_traps_pending ON snmp_traps (id) WHERE processed_at IS NULL;
