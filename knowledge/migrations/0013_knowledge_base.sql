-- The knowledge base (knowledge/): articles with their versions, attachments and links to
-- tickets; one search document per article and per resolved ticket, with the document
-- frequency of each term; and the ticket events knowledge has yet to read.

CREATE TABLE kb_articles (
    id               bigserial PRIMARY KEY,
    slug             text NOT NULL UNIQUE,            -- the article's address: /kb/<slug>, !kb <slug>
    title            text NOT NULL,
    body             text NOT NULL,                   -- Markdown
    language         text NOT NULL,
    folder           text NOT NULL DEFAULT '',        -- 'network/vpn/clients' ('' is the top)
    tags             text[] NOT NULL DEFAULT '{}',
    rooms            text[] NOT NULL DEFAULT '{}',    -- what it applies to: room keys, services, devices
    services         text[] NOT NULL DEFAULT '{}',
    devices          text[] NOT NULL DEFAULT '{}',
    visibility       text NOT NULL CHECK (visibility IN ('draft', 'internal', 'public')),
    version          integer NOT NULL DEFAULT 1,
    source_ticket_id bigint REFERENCES tickets (id), -- drafted from this resolved ticket
    created_by       text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       text NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kb_articles_folder ON kb_articles (folder text_pattern_ops, title);
CREATE INDEX kb_articles_public ON kb_articles (updated_at DESC) WHERE visibility = 'public';

-- Every edit is kept: version 1 is the article as created.
CREATE TABLE kb_article_versions (
    article_id bigint NOT NULL REFERENCES kb_articles (id),
    version    integer NOT NULL,
    title      text NOT NULL,
    body       text NOT NULL,
    language   text NOT NULL,
    folder     text NOT NULL,
    tags       text[] NOT NULL,
    rooms      text[] NOT NULL,
    services   text[] NOT NULL,
    devices    text[] NOT NULL,
    visibility text NOT NULL,
    author     text NOT NULL,
    at         timestamptz NOT NULL,
    PRIMARY KEY (article_id, version)
);

CREATE FUNCTION kb_article_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'kb_article_versions is append-only';
END
$$;
CREATE TRIGGER kb_article_versions_append_only BEFORE UPDATE OR DELETE ON kb_article_versions
    FOR EACH ROW EXECUTE FUNCTION kb_article_versions_append_only();

CREATE TABLE kb_attachments (
    id           bigserial PRIMARY KEY,
    article_id   bigint NOT NULL REFERENCES kb_articles (id),
    filename     text NOT NULL,
    content_type text NOT NULL,
    size_bytes   integer NOT NULL,
    sha256       text NOT NULL,
    data         bytea NOT NULL,
    text         text NOT NULL DEFAULT '',            -- extracted (PDF, DOCX, plain text): searchable
    text_error   text,                                -- why no text could be read
    added_by     text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kb_attachments_article ON kb_attachments (article_id, id);

-- An article used on a ticket: the ticket shows its articles, an article the tickets it solved.
CREATE TABLE kb_links (
    article_id bigint NOT NULL REFERENCES kb_articles (id),
    ticket_id  bigint NOT NULL REFERENCES tickets (id),
    linked_by  text NOT NULL,
    linked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (article_id, ticket_id)
);
CREATE INDEX kb_links_ticket ON kb_links (ticket_id);

-- Tickets resolved with an article linked (recorded once; the ticket's history has the event).
CREATE TABLE kb_solved (
    ticket_id   bigint PRIMARY KEY REFERENCES tickets (id),
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- What is searched: terms normalised in Python (knowledge/text.py), weighted by field
-- (A title, B summary and tags, C body and description, D thread and attachments).
CREATE TABLE kb_documents (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('article', 'ticket')),
    ref_id      bigint NOT NULL,                      -- kb_articles.id or tickets.id
    language    text NOT NULL,
    visibility  text NOT NULL,                        -- an article's; tickets are internal
    room_key    text,                                 -- a ticket's room
    fingerprint text,                                 -- a ticket's: earlier occurrences of one problem
    terms       tsvector NOT NULL,
    indexed_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, ref_id)
);
CREATE INDEX kb_documents_terms ON kb_documents USING gin (terms);
CREATE INDEX kb_documents_fingerprint ON kb_documents (fingerprint, ref_id DESC) WHERE fingerprint IS NOT NULL;

-- Document frequency of each term and the number of documents: rare words weigh more.
CREATE TABLE kb_terms (
    term      text PRIMARY KEY,
    documents integer NOT NULL
);
CREATE TABLE kb_corpus (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    documents integer NOT NULL DEFAULT 0
);
INSERT INTO kb_corpus DEFAULT VALUES;

-- What was suggested when a ticket was announced (once per ticket, never again).
CREATE TABLE kb_suggestions (
    ticket_id    bigint PRIMARY KEY REFERENCES tickets (id),
    items        jsonb NOT NULL,
    suggested_at timestamptz NOT NULL DEFAULT now()
);

-- Ticket events knowledge reads (announced: suggest; resolved, later thread words: index),
-- queued by a trigger in the transaction that wrote them: none is missed, each is taken once.
CREATE TABLE kb_inbox (
    id         bigserial PRIMARY KEY,
    event_id   bigint NOT NULL,
    ticket_id  bigint NOT NULL,
    kind       text NOT NULL,
    queued_at  timestamptz NOT NULL DEFAULT now(),
    not_before timestamptz NOT NULL DEFAULT now(),
    attempts   integer NOT NULL DEFAULT 0,
    last_error text
);
CREATE INDEX kb_inbox_due ON kb_inbox (not_before, id);

CREATE FUNCTION kb_queue_ticket_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO kb_inbox (event_id, ticket_id, kind) VALUES (NEW.id, NEW.ticket_id, NEW.kind);
    PERFORM pg_notify('opsroom_knowledge', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER kb_queue_ticket_event AFTER INSERT ON ticket_events
    FOR EACH ROW WHEN (NEW.kind IN ('announced', 'resolved', 'chat', 'comment'))
    EXECUTE FUNCTION kb_queue_ticket_event();
