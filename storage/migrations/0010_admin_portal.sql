-- The admin portal's own state: who has a second factor, the sessions behind the cookie,
-- failed logins (slowdown and lockout) and the audit of logins.

CREATE TABLE portal_accounts (
    user_id          text PRIMARY KEY,
    language         text,                      -- chosen in the portal; NULL: Accept-Language
    totp_secret      text,                      -- base32; NULL: no second factor
    totp_confirmed   boolean NOT NULL DEFAULT false,
    totp_last_step   bigint,                    -- a code is accepted once
    recovery_codes   text[] NOT NULL DEFAULT '{}',  -- SHA-256 (hex) of the unused codes
    last_login_at    timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- the cookie holds a random token; only its SHA-256 is stored
CREATE TABLE portal_sessions (
    token_hash    bytea PRIMARY KEY,
    user_id       text NOT NULL,
    -- second_factor: password accepted, TOTP asked; enrol: an admin must set up TOTP first
    stage         text NOT NULL CHECK (stage IN ('second_factor', 'enrol', 'full')),
    csrf_token    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,         -- absolute end
    address       text,
    user_agent    text
);
CREATE INDEX portal_sessions_user ON portal_sessions (user_id);

CREATE TABLE portal_login_failures (
    kind            text NOT NULL CHECK (kind IN ('account', 'address')),
    key             text NOT NULL,
    failures        integer NOT NULL,
    first_failed_at timestamptz NOT NULL,
    last_failed_at  timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,       -- slowdown: attempts before this are refused
    locked_until    timestamptz,
    lockouts        integer NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, key)
);

CREATE TABLE portal_audit (
    id       bigserial PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    actor    text,                              -- the Matrix user, or NULL before login
    action   text NOT NULL,                     -- login, login_failed, logout, totp_enrolled, ...
    address  text,
    detail   jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX portal_audit_at ON portal_audit (at DESC);
