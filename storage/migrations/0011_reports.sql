-- Reports: indexes for the figures read by period, report requests (chat, schedules) and the
-- runs of scheduled reports.

-- the steps that reports count by when they happened (not the intake's hot kinds)
CREATE INDEX ticket_events_reporting ON ticket_events (at)
    WHERE kind IN ('claimed', 'taken_over', 'escalated', 'escalation_exhausted', 'resolved');
-- pauses and resumes of a ticket, in order: paused time is left out of MTTA/MTTR
CREATE INDEX ticket_events_pauses ON ticket_events (ticket_id, id) WHERE kind IN ('paused', 'resumed');
CREATE INDEX tickets_resolved_at ON tickets (resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX tickets_claimed_at ON tickets (claimed_at) WHERE claimed_at IS NOT NULL;
-- deadlines that passed (missed): when, per ticket
CREATE INDEX deadlines_fired ON deadlines (ended_at) WHERE state = 'fired';
CREATE INDEX deadlines_ticket ON deadlines (ticket_id);

-- A report someone asked for (or a schedule queued), delivered through the outbox. The file is
-- built at delivery; its content URI is kept once uploaded, so a retry posts the same file.
CREATE TABLE report_requests (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL,
    format        text NOT NULL,
    period_start  timestamptz NOT NULL,
    period_end    timestamptz NOT NULL,
    period_label  text NOT NULL,
    timezone      text NOT NULL,
    language      text NOT NULL,
    rooms         text[],                        -- NULL: every room
    label_name    text,                          -- a label filter (customer=acme)
    label_value   text,
    requested_by  text NOT NULL,                 -- a user ID, or schedule:<name>
    deliver       jsonb NOT NULL,                -- {"room_id", "relates_to"} or {"mail"}
    created_at    timestamptz NOT NULL DEFAULT now(),
    content_uri   text,
    filename      text,
    size_bytes    bigint,
    finished_at   timestamptz,
    failure       text
);

-- When each scheduled report was first configured: occurrences before it are not caught up.
CREATE TABLE report_schedules (
    name          text PRIMARY KEY,
    first_seen_at timestamptz NOT NULL DEFAULT now()
);

-- One row per schedule and occurrence, inserted with its requests and outbox rows: whichever
-- process inserts it queues the report, so two processes never send one twice.
CREATE TABLE report_runs (
    schedule    text NOT NULL,
    occurrence  timestamptz NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule, occurrence)
);

-- the key figures posted with the file (plain and HTML), kept with the content URI
ALTER TABLE report_requests ADD COLUMN summary jsonb, ADD COLUMN sha256 text;  -- of the file as uploaded
