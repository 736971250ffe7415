-- Silences (by command or recurring maintenance windows) and storm control: alarms that
-- are stored under the regulation but not announced one by one.

CREATE TABLE silences (
    id          bigserial PRIMARY KEY,
    room_key    text,                           -- NULL: every room
    matchers    jsonb NOT NULL,                 -- [{"name": "host", "op": "=", "value": "db-01"}, ...]
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    reason      text NOT NULL,
    created_by  text NOT NULL,
    maintenance text,                           -- the recurring window this occurrence belongs to
    ended_at    timestamptz,                    -- when it ended and its still-firing tickets were announced
    ended_by    text,
    CHECK (ends_at > starts_at),
    UNIQUE (maintenance, room_key, starts_at)
);
CREATE INDEX silences_active ON silences (ends_at) WHERE ended_at IS NULL;

-- One digest message per room and storm window, edited as it grows.
CREATE TABLE storm_digests (
    id         bigserial PRIMARY KEY,
    room_key   text NOT NULL,
    started_at timestamptz NOT NULL,
    event_id   text,                            -- the digest message, once sent
    room_id    text
);

-- How many tickets a room has announced in its current window (a row lock serialises the count).
CREATE TABLE room_storm_state (
    room_key     text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    announced    integer NOT NULL,
    digest_id    bigint REFERENCES storm_digests (id)
);

ALTER TABLE tickets
    ADD COLUMN silence_id bigint REFERENCES silences (id),
    ADD COLUMN digest_id  bigint REFERENCES storm_digests (id);
CREATE INDEX tickets_silenced ON tickets (silence_id) WHERE silence_id IS NOT NULL AND state <> 'resolved';
CREATE INDEX tickets_digest ON tickets (digest_id) WHERE digest_id IS NOT NULL;
