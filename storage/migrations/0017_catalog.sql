-- The catalog in PostgreSQL: rooms, regulations, calendars, customers, SLA policies, ticket
-- types, sources, API tokens, people, maintenance windows, checks and heartbeats are rows, each
-- in the shape its section has in the configuration file (so the file's schema loads and checks
-- them). Entries the file declares are provisioned from it at every start (origin 'file'); those
-- created through the API or portal belong to the database (origin 'database') and the file
-- never touches them. Nothing is deleted: an entry gone from the file is retired (retired_at)
-- and comes back if the file declares it again.
CREATE TABLE catalog_entries (
    kind             text NOT NULL,
    key              text NOT NULL,
    body             jsonb NOT NULL,
    position         integer NOT NULL,           -- order within its section (routing order of rooms)
    origin           text NOT NULL CHECK (origin IN ('file', 'database')),
    provisioned_from text,                       -- the file that declares it (origin 'file')
    retired_at       timestamptz,
    version          bigint NOT NULL DEFAULT 1,  -- of this entry, raised at each change
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       text NOT NULL,              -- 'file', an API caller, a portal user
    PRIMARY KEY (kind, key),
    CONSTRAINT catalog_entries_provisioned CHECK ((origin = 'file') = (provisioned_from IS NOT NULL))
);

-- One row: the catalog's version, raised by every change (processes compare it with theirs).
CREATE TABLE catalog_state (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL DEFAULT 0
);
INSERT INTO catalog_state DEFAULT VALUES;

-- Every change of an entry: who, when, what (secrets masked before they are written here).
CREATE TABLE catalog_changes (
    id              bigserial PRIMARY KEY,
    catalog_version bigint NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,               -- 'file', an API caller's name, a portal user's Matrix ID
    face            text NOT NULL,               -- file, api, portal
    kind            text NOT NULL,
    key             text NOT NULL,
    action          text NOT NULL CHECK (action IN ('created', 'updated', 'retired', 'restored')),
    before          jsonb,
    after           jsonb
);
CREATE INDEX catalog_changes_at ON catalog_changes (at DESC, id DESC);
