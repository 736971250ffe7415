-- Ticket search by words (the portal's and the REST API's q) through an index instead of a scan
-- of every ticket: the title and description as words, punctuation made spaces (so host names,
-- addresses and versions split into their parts: db-01.example.org -> db 01 example org). The
-- punctuation list is tickets.store.SEARCH_PUNCTUATION; both must stay the same.
ALTER TABLE tickets ADD COLUMN search_words tsvector GENERATED ALWAYS AS (
    to_tsvector('simple'::regconfig, translate(lower(coalesce(title, '') || ' ' || coalesce(description, '')),
                                               '.-_/:@,;!?()[]{}<>"''=+*&|#%~^$`\', repeat(' ', 32)))
) STORED;
CREATE INDEX tickets_search_words ON tickets USING gin (search_words);

-- the portal's dashboard: escalations and exhausted chains of the day
CREATE INDEX ticket_events_escalations ON ticket_events (at) WHERE kind IN ('escalated', 'escalation_exhausted');
