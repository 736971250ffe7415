-- Service levels: ticket types and lifecycle statuses, SLA clocks (every figure kept for the
-- reports), more kinds of deadline (SLA warnings and breaches, reminders, closing), ratings.

-- The lifecycle status (new, analysis, in_progress, waiting_for_*, suspended, resolved, closed)
-- beside the regulation's state (open/claimed/resolved: who answers for it).
ALTER TABLE tickets
    ADD COLUMN ticket_type  text NOT NULL DEFAULT 'incident',
    ADD COLUMN status       text NOT NULL DEFAULT 'new',
    ADD COLUMN status_since timestamptz,
    ADD COLUMN customer     text,                 -- the organisation that raised it (customers[].name)
    ADD COLUMN sla_policy   text,                 -- the policy matched when it opened (sla_policies[].name)
    ADD COLUMN closed_at    timestamptz,
    ADD COLUMN reopened     integer NOT NULL DEFAULT 0;
UPDATE tickets SET status = CASE
    WHEN state = 'resolved' THEN 'resolved'
    WHEN paused_at IS NOT NULL THEN 'suspended'
    WHEN state = 'claimed' THEN 'in_progress'
    ELSE 'new' END;
ALTER TABLE tickets ADD CONSTRAINT tickets_status CHECK (status IN (
    'new', 'analysis', 'in_progress', 'waiting_for_fix', 'waiting_for_release', 'waiting_for_customer',
    'suspended', 'resolved', 'closed'));
CREATE INDEX tickets_status ON tickets (status) WHERE status <> 'closed';

-- Deadlines: more kinds; several of one kind per ticket told apart by a tag (an SLA warning
-- per target and fraction); business-time deadlines name their calendar, and while paused
-- keep their remaining *working* time.
ALTER TABLE deadlines DROP CONSTRAINT deadlines_kind_check;
ALTER TABLE deadlines ADD CONSTRAINT deadlines_kind_check CHECK (kind IN (
    'claim', 'resolve', 'sla_warning', 'sla_breach', 'incomplete_remind', 'incomplete_close', 'auto_close'));
ALTER TABLE deadlines
    ADD COLUMN tag      text NOT NULL DEFAULT '',
    ADD COLUMN calendar text;
DROP INDEX deadlines_one_active;
CREATE UNIQUE INDEX deadlines_one_active ON deadlines (ticket_id, kind, tag) WHERE state IN ('pending', 'paused');

-- One row per SLA target of a ticket: the promise (target, in running time), how much of it
-- was used, and how it ended. Reports count met/breached per policy from here. The clock runs
-- while running_since is set (business time on `calendar`, or wall time when it is NULL).
CREATE TABLE sla_clocks (
    ticket_id      bigint NOT NULL REFERENCES tickets (id),
    target         text NOT NULL CHECK (target IN ('first_response', 'resolution')),
    policy         text NOT NULL,
    calendar       text,
    target_span    interval NOT NULL,            -- the promise, in running time
    elapsed        interval NOT NULL DEFAULT '0', -- running time used before running_since
    running_since  timestamptz,                  -- NULL: stopped (waiting, or finished)
    started_at     timestamptz NOT NULL,
    due_at         timestamptz,                  -- when it breaches if it keeps running
    warn_at        real[] NOT NULL DEFAULT '{}', -- fractions that warn
    warned         real[] NOT NULL DEFAULT '{}', -- fractions already warned
    breached_at    timestamptz,
    finished_at    timestamptz,                  -- the response was given / the ticket resolved
    outcome        text CHECK (outcome IN ('met', 'breached')),  -- NULL while open
    PRIMARY KEY (ticket_id, target)
);
CREATE INDEX sla_clocks_policy ON sla_clocks (policy, started_at);

-- Ratings by the reporter (1-5 with a comment), through a signed single-use link or a reaction.
CREATE TABLE ticket_ratings (
    id         bigserial PRIMARY KEY,
    ticket_id  bigint NOT NULL REFERENCES tickets (id),
    score      integer NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment    text,
    via        text NOT NULL,                   -- link | reaction
    rated_by   text,                            -- the reporter (Matrix ID or e-mail)
    cycle      integer NOT NULL DEFAULT 0,      -- tickets.reopened when asked: one rating per resolution
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (ticket_id, cycle)
);

-- Keys opsroom makes for itself on first use (e.g. the one signing rating links), shared by
-- every process on the database.
CREATE TABLE app_secrets (
    name       text PRIMARY KEY,
    value      bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The direct messages asking a reporter for a rating: a reaction on one is their rating.
CREATE TABLE rating_requests (
    event_id   text PRIMARY KEY,
    ticket_id  bigint NOT NULL REFERENCES tickets (id),
    cycle      integer NOT NULL,
    user_id    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
