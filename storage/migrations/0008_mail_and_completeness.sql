-- Mail in and out, and the completeness of reports.

-- Every mail of a ticket, in and out, by its Message-ID: replies are threaded by it both
-- ways (a reporter's reply finds its ticket; our replies carry In-Reply-To/References).
CREATE TABLE ticket_mails (
    id          bigserial PRIMARY KEY,
    ticket_id   bigint NOT NULL REFERENCES tickets (id),
    direction   text NOT NULL CHECK (direction IN ('in', 'out')),
    message_id  text NOT NULL,                 -- without the angle brackets
    address     text,                          -- the sender (in) or the recipient (out)
    subject     text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX ticket_mails_message ON ticket_mails (message_id, direction);
CREATE INDEX ticket_mails_ticket ON ticket_mails (ticket_id, id);

-- What each IMAP mailbox has handed over, written in the transaction that stores the ticket
-- (or the comment): a crash before the mail is flagged or moved only repeats the flag/move.
CREATE TABLE mail_processed (
    mailbox      text NOT NULL,                -- the configured mailbox name
    uidvalidity  bigint NOT NULL,
    uid          bigint NOT NULL,
    message_id   text,
    ticket_id    bigint REFERENCES tickets (id),
    outcome      text NOT NULL,                -- created | replied | duplicate
    processed_at timestamptz NOT NULL DEFAULT now(),
    settled_at   timestamptz,                  -- flagged or moved on the server
    PRIMARY KEY (mailbox, uidvalidity, uid)
);
CREATE INDEX mail_processed_message ON mail_processed (message_id) WHERE message_id IS NOT NULL;

-- Required fields a report lacks (names from rooms[].required_fields); empty when complete.
ALTER TABLE tickets ADD COLUMN missing_fields text[] NOT NULL DEFAULT '{}';
