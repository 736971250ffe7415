-- Tickets raised by people (web form, chat, REST API, mail): who reported them, about which
-- device, and their attachments, kept in PostgreSQL like everything else.

ALTER TABLE tickets
    ADD COLUMN reporter_name    text,
    ADD COLUMN reporter_email   text,
    ADD COLUMN reporter_user_id text,
    ADD COLUMN device           text;

CREATE TABLE ticket_attachments (
    id           bigserial PRIMARY KEY,
    ticket_id    bigint NOT NULL REFERENCES tickets (id),
    filename     text NOT NULL,
    content_type text NOT NULL,
    size_bytes   integer NOT NULL,
    sha256       text NOT NULL,
    data         bytea NOT NULL,
    added_by     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    mxc_uri      text                           -- set once uploaded to the homeserver's media store
);
CREATE INDEX ticket_attachments_ticket ON ticket_attachments (ticket_id, id);
