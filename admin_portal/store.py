"""The portal's own tables: accounts (language, second factor), sessions, failed logins, the
audit of logins. Raw SQL lives here and nowhere else in the portal; everything about tickets
and the catalog goes through the application layer instead.

Invariants: a session row is found only by the SHA-256 of its cookie token (the database
never holds a usable token); a session past its absolute end or idle too long is never
returned; recovery codes are stored as SHA-256 and each is accepted once; a TOTP secret is
stored encrypted with the portal's secret box (``totp_sealed``), so the database alone cannot
produce codes; rows from before encryption are sealed at start (``seal_plain_secrets``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from common.secrets import SecretBox

Connection = asyncpg.Connection | asyncpg.Pool


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True)
class SessionRow:
    token_hash: bytes
    user_id: str
    stage: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    address: str | None
    user_agent: str | None


@dataclass(frozen=True)
class AccountRow:
    user_id: str
    language: str | None
    totp_secret: str | None
    totp_confirmed: bool
    totp_last_step: int | None
    recovery_codes: list[str]
    last_login_at: datetime | None


# ---- sessions ---------------------------------------------------------------------------


async def create_session(db: Connection, token: str, user_id: str, stage: str, csrf_token: str, *,
                         lifetime: timedelta, address: str | None, user_agent: str | None) -> None:
    await db.execute(
        """INSERT INTO portal_sessions (token_hash, user_id, stage, csrf_token, expires_at, address, user_agent)
           VALUES ($1, $2, $3, $4, now() + $5::interval, $6, $7)""",
        token_hash(token), user_id, stage, csrf_token, lifetime, address, (user_agent or "")[:300],
    )


async def live_session(db: Connection, token: str, idle: timedelta, touch_after: timedelta) -> SessionRow | None:
    """The session behind this cookie token, if neither expired nor idle too long; it is
    marked seen (at most once per ``touch_after``, to keep reads cheap)."""
    row = await db.fetchrow(
        """WITH found AS (
               SELECT * FROM portal_sessions
                WHERE token_hash = $1 AND expires_at > now() AND last_seen_at > now() - $2::interval
           ), touched AS (
               UPDATE portal_sessions s SET last_seen_at = now() FROM found
                WHERE s.token_hash = found.token_hash AND found.last_seen_at < now() - $3::interval
           )
           SELECT * FROM found""",
        token_hash(token), idle, touch_after,
    )
    return SessionRow(**dict(row)) if row else None


async def delete_session(db: Connection, token: str) -> None:
    await db.execute("DELETE FROM portal_sessions WHERE token_hash = $1", token_hash(token))


async def delete_sessions_of(db: Connection, user_id: str) -> int:
    result = await db.execute("DELETE FROM portal_sessions WHERE user_id = $1", user_id)
    return int(result.split()[-1])


async def sessions_of(db: Connection, user_id: str) -> list[SessionRow]:
    rows = await db.fetch(
        "SELECT * FROM portal_sessions WHERE user_id = $1 AND expires_at > now() ORDER BY last_seen_at DESC", user_id
    )
    return [SessionRow(**dict(row)) for row in rows]


async def purge_expired_sessions(db: Connection, idle: timedelta) -> int:
    result = await db.execute(
        "DELETE FROM portal_sessions WHERE expires_at <= now() OR last_seen_at <= now() - $1::interval", idle
    )
    return int(result.split()[-1])


# ---- accounts ---------------------------------------------------------------------------


async def account(db: Connection, user_id: str, box: SecretBox) -> AccountRow | None:
    """The account, its TOTP secret decrypted (a plain one not yet sealed is read as it is)."""
    row = await db.fetchrow(
        """SELECT user_id, language, totp_secret, totp_sealed, totp_confirmed, totp_last_step, recovery_codes,
                  last_login_at
             FROM portal_accounts WHERE user_id = $1""",
        user_id,
    )
    if row is None:
        return None
    values = dict(row)
    sealed = values.pop("totp_sealed")
    if sealed and values["totp_secret"] is not None:
        values["totp_secret"] = box.decrypt(values["totp_secret"])
    return AccountRow(**values)


async def account_language(db: Connection, user_id: str) -> str | None:
    return await db.fetchval("SELECT language FROM portal_accounts WHERE user_id = $1", user_id)


async def seal_plain_secrets(db: Connection, box: SecretBox) -> int:
    """Encrypt the TOTP secrets stored before they were encrypted (migration 0020); returns how many."""
    rows = await db.fetch("SELECT user_id, totp_secret FROM portal_accounts WHERE NOT totp_sealed AND totp_secret IS NOT NULL")
    for row in rows:
        await db.execute(
            "UPDATE portal_accounts SET totp_secret = $3, totp_sealed = true WHERE user_id = $1 AND totp_secret = $2 AND NOT totp_sealed",
            row["user_id"], row["totp_secret"], box.encrypt(row["totp_secret"]),
        )
    return len(rows)


async def record_login(db: Connection, user_id: str) -> None:
    await db.execute(
        """INSERT INTO portal_accounts (user_id, last_login_at) VALUES ($1, now())
           ON CONFLICT (user_id) DO UPDATE SET last_login_at = now()""",
        user_id,
    )


async def set_language(db: Connection, user_id: str, language: str | None) -> None:
    await db.execute(
        """INSERT INTO portal_accounts (user_id, language) VALUES ($1, $2)
           ON CONFLICT (user_id) DO UPDATE SET language = $2""",
        user_id, language,
    )


async def start_totp(db: Connection, user_id: str, secret: str, box: SecretBox) -> None:
    """A new, unconfirmed secret (enrolment shows it until a code confirms it), stored encrypted."""
    await db.execute(
        """INSERT INTO portal_accounts (user_id, totp_secret, totp_sealed, totp_confirmed) VALUES ($1, $2, true, false)
           ON CONFLICT (user_id) DO UPDATE SET totp_secret = $2, totp_sealed = true, totp_confirmed = false,
                                               totp_last_step = NULL
           WHERE portal_accounts.totp_confirmed = false""",
        user_id, box.encrypt(secret),
    )


async def confirm_totp(db: Connection, user_id: str, step: int, recovery_hashes: list[str]) -> bool:
    result = await db.execute(
        """UPDATE portal_accounts SET totp_confirmed = true, totp_last_step = $2, recovery_codes = $3
            WHERE user_id = $1 AND totp_secret IS NOT NULL AND NOT totp_confirmed""",
        user_id, step, recovery_hashes,
    )
    return result.endswith(" 1")


async def use_totp_step(db: Connection, user_id: str, step: int) -> bool:
    """Accept a code's time step once: a step at or before the last one used is refused."""
    result = await db.execute(
        """UPDATE portal_accounts SET totp_last_step = $2
            WHERE user_id = $1 AND totp_confirmed AND (totp_last_step IS NULL OR totp_last_step < $2)""",
        user_id, step,
    )
    return result.endswith(" 1")


async def use_recovery_code(db: Connection, user_id: str, code: str) -> bool:
    result = await db.execute(
        """UPDATE portal_accounts SET recovery_codes = array_remove(recovery_codes, $2)
            WHERE user_id = $1 AND totp_confirmed AND $2 = ANY(recovery_codes)""",
        user_id, code_hash(code),
    )
    return result.endswith(" 1")


async def replace_recovery_codes(db: Connection, user_id: str, hashes: list[str]) -> None:
    await db.execute("UPDATE portal_accounts SET recovery_codes = $2 WHERE user_id = $1 AND totp_confirmed", user_id, hashes)


async def remove_totp(db: Connection, user_id: str) -> None:
    await db.execute(
        """UPDATE portal_accounts SET totp_secret = NULL, totp_sealed = false, totp_confirmed = false,
                  totp_last_step = NULL, recovery_codes = '{}' WHERE user_id = $1""",
        user_id,
    )


# ---- failed logins ----------------------------------------------------------------------


@dataclass(frozen=True)
class FailureRow:
    kind: str
    key: str
    failures: int
    first_failed_at: datetime
    last_failed_at: datetime
    next_attempt_at: datetime
    locked_until: datetime | None
    lockouts: int


async def failures_for(db: Connection, keys: list[tuple[str, str]]) -> list[FailureRow]:
    rows = await db.fetch(
        """SELECT f.* FROM portal_login_failures f
             JOIN unnest($1::text[], $2::text[]) AS k(kind, key) ON f.kind = k.kind AND f.key = k.key""",
        [kind for kind, _ in keys], [key for _, key in keys],
    )
    return [FailureRow(**dict(row)) for row in rows]


async def lock_failure_rows(db: asyncpg.Connection, keys: list[tuple[str, str]]) -> list[FailureRow]:
    """The rows of these keys, locked for this transaction (absent ones are not created)."""
    rows = await db.fetch(
        """SELECT f.* FROM portal_login_failures f
             JOIN unnest($1::text[], $2::text[]) AS k(kind, key) ON f.kind = k.kind AND f.key = k.key
            ORDER BY f.kind, f.key FOR UPDATE OF f""",
        [kind for kind, _ in keys], [key for _, key in keys],
    )
    return [FailureRow(**dict(row)) for row in rows]


async def save_failure(db: Connection, row: FailureRow) -> None:
    await db.execute(
        """INSERT INTO portal_login_failures
               (kind, key, failures, first_failed_at, last_failed_at, next_attempt_at, locked_until, lockouts)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (kind, key) DO UPDATE SET failures = $3, first_failed_at = $4, last_failed_at = $5,
               next_attempt_at = $6, locked_until = $7, lockouts = $8""",
        row.kind, row.key, row.failures, row.first_failed_at, row.last_failed_at, row.next_attempt_at,
        row.locked_until, row.lockouts,
    )


async def clear_failures(db: Connection, kind: str, key: str) -> None:
    await db.execute("DELETE FROM portal_login_failures WHERE kind = $1 AND key = $2", kind, key)


async def recent_failures(db: Connection, since: timedelta) -> list[FailureRow]:
    rows = await db.fetch(
        """SELECT * FROM portal_login_failures
            WHERE last_failed_at > now() - $1::interval OR locked_until > now()
            ORDER BY (locked_until > now()) DESC NULLS LAST, last_failed_at DESC LIMIT 200""",
        since,
    )
    return [FailureRow(**dict(row)) for row in rows]


# ---- audit ------------------------------------------------------------------------------


async def audit(db: Connection, action: str, *, actor: str | None, address: str | None,
                detail: dict[str, Any] | None = None) -> None:
    await db.execute(
        "INSERT INTO portal_audit (actor, action, address, detail) VALUES ($1, $2, $3, $4)",
        actor, action, address, detail or {},
    )


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    actor: str | None
    action: str
    address: str | None
    detail: dict[str, Any]


async def audit_page(db: Connection, *, before: int | None, limit: int, actor: str | None = None,
                     action: str | None = None) -> list[AuditRow]:
    rows = await db.fetch(
        """SELECT id, at, actor, action, address, detail FROM portal_audit
            WHERE ($1::bigint IS NULL OR id < $1) AND ($2::text IS NULL OR actor = $2)
              AND ($3::text IS NULL OR action = $3)
            ORDER BY id DESC LIMIT $4""",
        before, actor, action, limit,
    )
    return [AuditRow(**dict(row)) for row in rows]
