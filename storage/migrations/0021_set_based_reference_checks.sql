-- The rows written for every alarm check what they refer to once per statement, not once per row.
--
-- A foreign key checks each new row with its own lookup and locks the row it refers to (FOR KEY
-- SHARE). For a batch of alarms that is three lookups and locks per ticket (its deadline, its
-- `created` and `folded` events), and every ticket of a storm locks the room's one digest row from
-- concurrent transactions (a multixact that grows with each). Measured under `bench intake_load`
-- (auto_explain): those checks were most of the time of the intake's statements.
--
-- The statement-level checks below find a missing ticket, digest or silence just as the keys did,
-- and raise foreign_key_violation. They need no lock because what they refer to is never deleted
-- and its id never changes: enforced here too (tickets, their digests and silences are history).

CREATE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never deleted and their ids never change (other rows refer to them)', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END
$$;

CREATE TRIGGER tickets_kept BEFORE DELETE OR TRUNCATE ON tickets
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();
CREATE TRIGGER tickets_id_kept BEFORE UPDATE OF id ON tickets
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();
CREATE TRIGGER storm_digests_kept BEFORE DELETE OR TRUNCATE ON storm_digests
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();
CREATE TRIGGER storm_digests_id_kept BEFORE UPDATE OF id ON storm_digests
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();
CREATE TRIGGER silences_kept BEFORE DELETE OR TRUNCATE ON silences
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();
CREATE TRIGGER silences_id_kept BEFORE UPDATE OF id ON silences
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();
CREATE TRIGGER deadlines_ticket_kept BEFORE UPDATE OF ticket_id ON deadlines
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();

-- ticket_events and deadlines: every new row's ticket exists. Written as a lookup per new row (a
-- subquery with the row's id) rather than NOT EXISTS: the planner would turn that into an anti-join,
-- and a plan made while tickets was small (a fresh database) scans every ticket for the life of
-- the connection.
CREATE FUNCTION check_new_rows_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows WHERE (SELECT id FROM tickets WHERE tickets.id = new_rows.ticket_id) IS NULL) THEN
        RAISE EXCEPTION 'insert into % refers to a ticket that does not exist', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

ALTER TABLE ticket_events DROP CONSTRAINT ticket_events_ticket_id_fkey;
CREATE TRIGGER ticket_events_ticket_exists AFTER INSERT ON ticket_events REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION check_new_rows_ticket();

ALTER TABLE deadlines DROP CONSTRAINT deadlines_ticket_id_fkey;
CREATE TRIGGER deadlines_ticket_exists AFTER INSERT ON deadlines REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION check_new_rows_ticket();

-- tickets: the digest and silence a ticket names exist (without the foreign key's lock on the
-- room's one digest row, which every ticket of a storm takes from concurrent transactions)
CREATE FUNCTION check_new_tickets_refs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows WHERE digest_id IS NOT NULL
               AND (SELECT id FROM storm_digests WHERE storm_digests.id = new_rows.digest_id) IS NULL) THEN
        RAISE EXCEPTION 'a ticket refers to a storm digest that does not exist' USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM new_rows WHERE silence_id IS NOT NULL
               AND (SELECT id FROM silences WHERE silences.id = new_rows.silence_id) IS NULL) THEN
        RAISE EXCEPTION 'a ticket refers to a silence that does not exist' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION check_ticket_refs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.digest_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM storm_digests WHERE id = NEW.digest_id) THEN
        RAISE EXCEPTION 'ticket % refers to a storm digest that does not exist', NEW.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF NEW.silence_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM silences WHERE id = NEW.silence_id) THEN
        RAISE EXCEPTION 'ticket % refers to a silence that does not exist', NEW.id USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

ALTER TABLE tickets DROP CONSTRAINT tickets_digest_id_fkey, DROP CONSTRAINT tickets_silence_id_fkey;
CREATE TRIGGER tickets_refs_exist AFTER INSERT ON tickets REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION check_new_tickets_refs();
CREATE TRIGGER tickets_refs_exist_on_update AFTER UPDATE OF digest_id, silence_id ON tickets FOR EACH ROW
    WHEN (NEW.digest_id IS DISTINCT FROM OLD.digest_id OR NEW.silence_id IS DISTINCT FROM OLD.silence_id)
    EXECUTE FUNCTION check_ticket_refs();
