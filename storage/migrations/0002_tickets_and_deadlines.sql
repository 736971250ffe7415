-- Tickets, their append-only history, and the deadlines of the response regulation.

CREATE TABLE tickets (
    id                    bigserial PRIMARY KEY,          -- the #N people use
    room_key              text NOT NULL,
    fingerprint           text,                            -- deduplication key while the ticket is open
    source                text NOT NULL,
    title                 text NOT NULL,
    severity              text NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning', 'info')),
    service               text,
    host                  text,
    description           text,
    url                   text,
    labels                jsonb NOT NULL DEFAULT '{}',
    details               jsonb NOT NULL DEFAULT '{}',     -- what a gateway adds (alert group members, ...)
    state                 text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'claimed', 'resolved')),
    paused_at             timestamptz,                     -- pending: deadlines stand still
    pause_reason          text,
    responsible           text,
    responsible_level     integer,
    chain                 text NOT NULL DEFAULT 'unclaimed' CHECK (chain IN ('unclaimed', 'unresolved')),
    escalation_level      integer NOT NULL DEFAULT 1,      -- the highest level called in the current chain
    top_repeats           integer NOT NULL DEFAULT 0,      -- calls repeated at the top level
    escalation_exhausted  boolean NOT NULL DEFAULT false,
    wanted_at             timestamptz,                     -- a solver is sought (!wanted)
    occurrences           integer NOT NULL DEFAULT 1,
    first_seen_at         timestamptz NOT NULL DEFAULT now(),
    last_seen_at          timestamptz NOT NULL DEFAULT now(),
    source_recovered_at   timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    claimed_at            timestamptz,
    resolved_at           timestamptz,
    resolved_by           text,
    resolution            text,
    announcement_event_id text,                            -- the root message, edited at every change
    room_id               text                             -- the Matrix room of the announcement
);
CREATE UNIQUE INDEX tickets_open_fingerprint ON tickets (fingerprint) WHERE state <> 'resolved';
CREATE INDEX tickets_room_state ON tickets (room_key, state);
CREATE UNIQUE INDEX tickets_announcement ON tickets (announcement_event_id) WHERE announcement_event_id IS NOT NULL;

CREATE TABLE ticket_events (
    id        bigserial PRIMARY KEY,
    ticket_id bigint NOT NULL REFERENCES tickets (id),
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text NOT NULL,
    actor     text NOT NULL,                               -- a user ID, source:<name>, or opsroom
    data      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);

CREATE FUNCTION ticket_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ticket_events is append-only';
END
$$;
CREATE TRIGGER ticket_events_append_only BEFORE UPDATE OR DELETE ON ticket_events
    FOR EACH ROW EXECUTE FUNCTION ticket_events_append_only();

CREATE TABLE deadlines (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    kind        text NOT NULL CHECK (kind IN ('claim', 'resolve')),
    state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'paused', 'fired', 'cancelled')),
    due_at      timestamptz,                               -- null while paused
    remaining   interval,                                  -- kept while paused
    created_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    CHECK ((state = 'paused') = (due_at IS NULL))
);
CREATE INDEX deadlines_due ON deadlines (due_at) WHERE state = 'pending';
CREATE UNIQUE INDEX deadlines_one_active ON deadlines (ticket_id, kind) WHERE state IN ('pending', 'paused');
