-- Pages follow the ticket and the reporter's direct chat is a conversation (issue 14).
--
-- Escalation pages follow the ticket: the pages to one person within a window share
-- one direct message (a bundle), posted once (it notifies) and edited as tickets join it and
-- as they are claimed, taken over or resolved (edits notify nobody).

CREATE TABLE page_bundles (
    id         bigserial PRIMARY KEY,
    user_id    text NOT NULL,
    opened_at  timestamptz NOT NULL,
    closes_at  timestamptz NOT NULL,   -- pages from this moment on open a new bundle
    room_id    text,                   -- the direct room and the message, once posted
    event_id   text
);
CREATE INDEX page_bundles_open ON page_bundles (user_id, closes_at);

-- Each ticket paged to the person in the bundle: the record that they were paged for it
-- (the latest call's parameters; `calls` counts the calls within the window).
CREATE TABLE page_bundle_tickets (
    bundle_id  bigint NOT NULL REFERENCES page_bundles (id),
    ticket_id  bigint NOT NULL REFERENCES tickets (id),
    params     jsonb NOT NULL DEFAULT '{}',
    paged_at   timestamptz NOT NULL,
    calls      integer NOT NULL DEFAULT 1,
    seq        bigserial,              -- the order they joined the bundle
    PRIMARY KEY (bundle_id, ticket_id)
);
CREATE INDEX page_bundle_tickets_ticket ON page_bundle_tickets (ticket_id);

-- `!mine`: the tickets a person raised, newest first.
CREATE INDEX tickets_reporter_user ON tickets (reporter_user_id, id) WHERE reporter_user_id IS NOT NULL;
