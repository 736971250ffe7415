-- Foundation: instance identity, the outbox, the bot's Matrix session and inbox, topic rooms.

-- One row naming this database. Matrix transaction IDs include it, so a fresh database used
-- with the same bot device never collides with transaction IDs of an older one.
CREATE TABLE opsroom_instance (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    instance_id text NOT NULL DEFAULT replace(gen_random_uuid()::text, '-', ''),
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO opsroom_instance DEFAULT VALUES;

-- Every effect outside the database is first a row here, written in the transaction that
-- caused it, then delivered by the dispatcher in order per queue.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    queue         text NOT NULL,              -- delivery order is kept per queue (a Matrix room ID, ...)
    channel       text NOT NULL DEFAULT 'matrix',
    kind          text NOT NULL,
    payload       jsonb NOT NULL,
    coalesce_key  text,                       -- a newer undelivered row with the same key supersedes this one
    created_at    timestamptz NOT NULL DEFAULT now(),
    not_before    timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    delivered_at  timestamptz,
    result        jsonb,
    dead_at       timestamptz                 -- given up after permanent errors; visible in /healthz
);
CREATE INDEX outbox_pending ON outbox (queue, id) WHERE delivered_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_coalesce ON outbox (queue, coalesce_key, id)
    WHERE delivered_at IS NULL AND dead_at IS NULL AND coalesce_key IS NOT NULL;

-- The bot's login and sync position.
CREATE TABLE bot_session (
    user_id      text PRIMARY KEY,
    device_id    text NOT NULL,
    access_token text,
    next_batch   text,
    filter_id    text,
    synced_at    timestamptz,                 -- when next_batch was stored (bounds backfill)
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Events from /sync, stored in the same transaction as the sync token that follows them and
-- marked handled in the transaction of their effects: each is handled once, none is lost.
CREATE TABLE bot_inbox (
    seq         bigserial UNIQUE,
    event_id    text PRIMARY KEY,
    room_id     text NOT NULL,
    sender      text NOT NULL,
    type        text NOT NULL,
    state_key   text,
    content     jsonb NOT NULL,
    origin_ts   timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    handled_at  timestamptz,
    outcome     text
);
CREATE INDEX bot_inbox_unhandled ON bot_inbox (room_id, seq) WHERE handled_at IS NULL;

-- Room state the bot needs: who is in which room.
CREATE TABLE bot_room_members (
    room_id    text NOT NULL,
    user_id    text NOT NULL,
    membership text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, user_id)
);

CREATE TABLE bot_rooms (
    room_id    text PRIMARY KEY,
    membership text NOT NULL,                 -- the bot's own: invite, join, leave
    is_direct  boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The direct-message room the bot uses for each person.
CREATE TABLE bot_direct_rooms (
    user_id    text PRIMARY KEY,
    room_id    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Configured topic rooms and the Matrix rooms created for them.
CREATE TABLE topic_rooms (
    key        text PRIMARY KEY,
    room_id    text NOT NULL UNIQUE,
    alias      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
