-- End-to-end encryption of the bot (issue 14). The Olm/Megolm state itself lives in the
-- crypto_* tables of mautrix's PgCryptoStore, created by its own versioned upgrade
-- (crypto_version) when the bot first starts with encryption enabled.

-- A room's m.room.encryption content (NULL: not encrypted). encryption_known is false for
-- rooms joined before this migration: their state is asked of the homeserver once.
ALTER TABLE bot_rooms
    ADD COLUMN encryption jsonb,
    ADD COLUMN encryption_known boolean NOT NULL DEFAULT false,
    -- the bot's outbound Megolm session of the room and the members it was shared with:
    -- another member set at the next send starts a new session
    ADD COLUMN megolm_session_id text,
    ADD COLUMN megolm_members text[];

-- Key material of each /sync batch (to-device events, device list changes), stored in the
-- transaction that stores the batch's timeline and its next token, and handled before them.
CREATE TABLE bot_crypto_inbox (
    seq         bigserial PRIMARY KEY,
    content     jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    handled_at  timestamptz,
    outcome     text
);
CREATE INDEX bot_crypto_inbox_unhandled ON bot_crypto_inbox (seq) WHERE handled_at IS NULL;

-- Events the bot could not decrypt: the room is told once per sender session.
CREATE TABLE bot_undecryptable (
    room_id     text NOT NULL,
    session_key text NOT NULL,       -- the sender's Megolm session (or the event when unknown)
    event_id    text NOT NULL,       -- the first such event, which the notice answers
    sender      text NOT NULL,
    reason      text NOT NULL,
    noticed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (room_id, session_key)
);
