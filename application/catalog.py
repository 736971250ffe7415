"""Catalog changes for every face (the REST API now, the portal next): list, read, create,
update, retire and restore catalog entries.

Invariants:
- a change is checked whole: the catalog that would result (every active entry, with the
  change) is loaded by the configuration file's own schema (``validate``, given by the
  composition root); with any problem nothing is changed and every problem is returned with its
  key path (relative to the entry's body when it lies inside it, else the file's path);
- who may: the policy (``catalog_refusal``): administrators only; an entry provisioned from the
  file is changed in that file, and the refusal names it;
- one transaction under the catalog lock: the row, the catalog's version (other processes
  follow it), the change log with secrets masked;
- secrets are never returned (``***``); a ``***`` sent back in an update keeps the stored one.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import asyncpg

from application.actor import Actor
from application.policy import CatalogAction, Refusal, catalog_refusal
from catalog import store
from catalog.entries import KIND_BY_NAME, KINDS, MASK, Entry, document_of, jsonable, masked
from catalog.provisioning import Validator
from catalog.sealing import PLAIN, Sealer, fingerprints
from common.schema import Problem


class Status(enum.Enum):
    DONE = "done"
    NOT_FOUND = "not_found"
    EXISTS = "exists"
    INVALID = "invalid"
    REFUSED = "refused"
    CONFLICT = "conflict"  # edited meanwhile (base version), or retired / active already


@dataclass(frozen=True)
class EntryView:
    kind: str
    key: str
    body: Any  # secrets masked
    origin: str
    provisioned_from: str | None
    retired: bool
    version: int
    updated_at: datetime
    updated_by: str
    # key path of each secret the kind has -> its fingerprint (sha256:<12 hex>), None when not set
    secrets: dict[str, str | None] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "key": self.key, "body": self.body, "origin": self.origin,
            "secrets": {path: {"set": value is not None, "fingerprint": value} for path, value in self.secrets.items()},
            "provisioned_from": self.provisioned_from, "retired": self.retired, "version": self.version,
            "updated_at": self.updated_at.isoformat(), "updated_by": self.updated_by,
        }


@dataclass(frozen=True)
class CatalogOutcome:
    status: Status
    entry: EntryView | None = None
    problems: list[Problem] = field(default_factory=list)
    refusal: Refusal | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status is Status.DONE


def view(row: store.Row, sealer: Sealer = PLAIN) -> EntryView:
    return EntryView(row.kind, row.key, masked(row.body), row.origin, row.provisioned_from, not row.active,
                     row.version, row.updated_at, row.updated_by, fingerprints(row.kind, row.body, sealer))


def unmasked(body: Any, stored: Any) -> Any:
    """``body`` with each ``***`` replaced by the stored secret at the same place."""
    if isinstance(body, dict):
        old = stored if isinstance(stored, dict) else {}
        return {key: (old[key] if item == MASK and key in old else unmasked(item, old.get(key))) for key, item in body.items()}
    if isinstance(body, list):
        old_list = stored if isinstance(stored, list) else []
        return [unmasked(item, old_list[index] if index < len(old_list) else None) for index, item in enumerate(body)]
    return body


def _prefix(kind: str, key: str, entries: list[Entry]) -> str:
    """The key path of an entry in the catalog document ``document_of(entries)`` makes."""
    spec = KIND_BY_NAME[kind]
    if spec.key_field is None:
        return f"{spec.path}.{key}"
    mine = sorted((e for e in entries if e.kind == kind), key=lambda e: (e.position, e.key))
    index = next(i for i, e in enumerate(mine) if e.key == key)
    return f"{spec.path}[{index}]"


def _relative(problems: list[Problem], prefix: str | None) -> list[Problem]:
    if prefix is None:
        return problems
    found = []
    for problem in problems:
        if problem.path == prefix:
            found.append(Problem("", problem.message))
        elif problem.path.startswith(prefix + ".") or problem.path.startswith(prefix + "["):
            found.append(Problem(problem.path[len(prefix):].lstrip("."), problem.message))
        else:
            found.append(problem)
    return found


class CatalogService:
    """The catalog's write path under the policy; ``validate`` checks a catalog document."""

    def __init__(self, pool: asyncpg.Pool, validate: Validator, sealer: Sealer = PLAIN) -> None:
        self.pool = pool
        self.validate = validate
        self.sealer = sealer

    @staticmethod
    def kinds() -> list[str]:
        return [kind.name for kind in KINDS]

    async def entries(self, kind: str, *, retired: bool = False) -> list[EntryView]:
        async with self.pool.acquire() as conn:
            rows = await store.rows(conn, kind=kind)
        return [view(row, self.sealer) for row in rows if retired or row.active]

    async def entry(self, kind: str, key: str) -> EntryView | None:
        async with self.pool.acquire() as conn:
            row = await store.row(conn, kind, key)
        return view(row, self.sealer) if row else None

    async def changes(self, *, limit: int = 100, before_id: int | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            return await store.changes(conn, limit=limit, before_id=before_id, kind=kind)

    async def create(self, actor: Actor, kind: str, key: str, body: Any) -> CatalogOutcome:
        return await self._change(actor, CatalogAction.CREATE, kind, key, jsonable(body))

    async def update(self, actor: Actor, kind: str, key: str, body: Any, *, base_version: int | None = None) -> CatalogOutcome:
        return await self._change(actor, CatalogAction.UPDATE, kind, key, jsonable(body), base_version=base_version)

    async def retire(self, actor: Actor, kind: str, key: str) -> CatalogOutcome:
        return await self._change(actor, CatalogAction.RETIRE, kind, key, None)

    async def restore(self, actor: Actor, kind: str, key: str) -> CatalogOutcome:
        return await self._change(actor, CatalogAction.RESTORE, kind, key, None)

    async def rotate(self, actor: Actor, kind: str, key: str, new_token: str, until: datetime) -> CatalogOutcome:
        """A new bearer token for a source or an API token; the one it replaces is still accepted
        until ``until`` (``previous_token``/``previous_until``; an ``until`` already past: not at all).
        Refused like any update (administrators; not entries of the file); edited meanwhile: CONFLICT."""
        if kind not in ("sources", "api_tokens"):
            return CatalogOutcome(Status.NOT_FOUND, message=f"{kind} entries have no token to rotate")
        async with self.pool.acquire() as conn:
            row = await store.row(conn, kind, key)
        if row is None or not row.active:
            return CatalogOutcome(Status.NOT_FOUND, message=f"no {kind} entry {key!r}")
        body = dict(row.body)
        old = body.get("token")
        body["token"] = new_token
        body.pop("previous_token", None)
        body.pop("previous_until", None)
        if old and until > datetime.now(timezone.utc):
            body["previous_token"], body["previous_until"] = old, until.isoformat(timespec="seconds")
        return await self.update(actor, kind, key, body, base_version=row.version)

    async def _change(self, actor: Actor, action: CatalogAction, kind: str, key: str, body: Any,
                      *, base_version: int | None = None) -> CatalogOutcome:
        refusal = catalog_refusal(actor, action, kind)
        if refusal is not None:
            return CatalogOutcome(Status.REFUSED, refusal=refusal)
        async with self.pool.acquire() as conn, conn.transaction():
            await store.lock(conn)
            rows = await store.rows(conn)
            row = next((r for r in rows if r.kind == kind and r.key == key), None)
            if action is CatalogAction.CREATE:
                if row is not None:
                    what = "retired; restore it" if not row.active else "already there"
                    return CatalogOutcome(Status.EXISTS, view(row), message=f"{kind} {key!r}: {what}")
            elif row is None:
                return CatalogOutcome(Status.NOT_FOUND, message=f"no {kind} entry {key!r}")
            else:
                refusal = catalog_refusal(actor, action, kind, provisioned_from=row.provisioned_from if row.origin == "file" else None)
                if refusal is not None:
                    return CatalogOutcome(Status.REFUSED, view(row), refusal=refusal)
                if base_version is not None and base_version != row.version:
                    return CatalogOutcome(Status.CONFLICT, view(row), message=f"changed meanwhile: version {row.version}, not {base_version}")
                if action is CatalogAction.RETIRE and not row.active:
                    return CatalogOutcome(Status.CONFLICT, view(row), message=f"{kind} {key!r} is retired already")
                if action is CatalogAction.RESTORE and row.active:
                    return CatalogOutcome(Status.CONFLICT, view(row), message=f"{kind} {key!r} is not retired")
                if action is CatalogAction.UPDATE and not row.active:
                    return CatalogOutcome(Status.CONFLICT, view(row), message=f"{kind} {key!r} is retired; restore it first")
            if action is CatalogAction.UPDATE:
                assert row is not None
                body = unmasked(body, row.body)
            if body is not None:  # stored as it will be kept: compared secrets hashed, read-back ones sealed
                body = self.sealer.seal(kind, body)
            active = [Entry(r.kind, r.key, r.body, r.position) for r in rows if r.active and not (r.kind == kind and r.key == key)]
            position = row.position if row is not None else await store.next_position(conn, kind)
            if action in (CatalogAction.CREATE, CatalogAction.UPDATE):
                active.append(Entry(kind, key, body, position))
            elif action is CatalogAction.RESTORE:
                assert row is not None
                active.append(Entry(kind, key, row.body, row.position))
            problems = self.validate(document_of(active))
            if problems:
                prefix = _prefix(kind, key, active) if any(e.kind == kind and e.key == key for e in active) else None
                return CatalogOutcome(Status.INVALID, problems=_relative(problems, prefix))
            version = await store.bump_version(conn)
            by = actor.user_id
            if action is CatalogAction.CREATE:
                await store.insert(conn, kind=kind, key=key, body=body, position=position, origin="database",
                                   provisioned_from=None, by=by)
                before, after, recorded = None, body, "created"
            elif action is CatalogAction.UPDATE:
                assert row is not None
                await store.update(conn, kind=kind, key=key, body=body, position=position, origin="database",
                                   provisioned_from=None, by=by)
                before, after, recorded = row.body, body, "updated"
            elif action is CatalogAction.RETIRE:
                assert row is not None
                await store.retire(conn, kind=kind, key=key, by=by)
                before, after, recorded = row.body, None, "retired"
            else:
                assert row is not None
                await store.update(conn, kind=kind, key=key, body=row.body, position=row.position, origin="database",
                                   provisioned_from=None, by=by)
                before, after, recorded = None, row.body, "restored"
            await store.record_change(conn, catalog_version=version, actor=by, face=actor.face, kind=kind, key=key,
                                      action=recorded, before=masked(before), after=masked(after))
            fresh = await store.row(conn, kind, key)
        assert fresh is not None
        return CatalogOutcome(Status.DONE, view(fresh, self.sealer))
