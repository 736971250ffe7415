"""Provisioning: the file's catalog sections applied to the catalog rows, the way Grafana
provisions dashboards.

Invariants:
- what the file declares is created or updated (origin 'file', ``provisioned_from`` the file);
  a file entry gone from the file is retired, never deleted (its tickets, events and Matrix
  room stay; declared again, it comes back);
- an active entry that belongs to the database (made through the API or portal) is never
  touched by the file: a file entry of the same name is left out, with a warning;
- the whole catalog that would result is checked first with the file's own schema (the caller's
  ``validate``); with a problem nothing is changed;
- one transaction under the catalog lock; the catalog's version is raised once, and every
  change is recorded with ``file`` as its actor.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import asyncpg

from catalog import store
from catalog.entries import Entry, document_of, masked
from catalog.sealing import PLAIN, Sealer
from common.schema import Problem, SchemaError

log = logging.getLogger(__name__)

FILE_ACTOR = "file"

# checks a catalog document (the catalog sections) together with the process settings
Validator = Callable[[dict[str, Any]], list[Problem]]


class CatalogProblems(SchemaError):
    """The catalog that would result has problems; each names its key path. Nothing changed."""


@dataclass
class Applied:
    """What applying the file changed."""

    created: list[tuple[str, str]] = field(default_factory=list)
    updated: list[tuple[str, str]] = field(default_factory=list)
    retired: list[tuple[str, str]] = field(default_factory=list)
    restored: list[tuple[str, str]] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)  # declared, but the database's
    version: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.retired or self.restored)

    def summary(self) -> str:
        return (f"{len(self.created)} created, {len(self.updated)} updated, {len(self.restored)} restored, "
                f"{len(self.retired)} retired")


def active_entries(rows: list[store.Row]) -> list[Entry]:
    return [Entry(row.kind, row.key, row.body, row.position) for row in rows if row.active]


async def apply_file(conn: asyncpg.Connection, declared: list[Entry], *, provisioned_from: str,
                     validate: Validator, sealer: Sealer = PLAIN) -> Applied:
    """Make the file-origin rows what ``declared`` says; see the module's invariants."""
    applied = Applied()
    async with conn.transaction():
        await store.lock(conn)
        existing = {(row.kind, row.key): row for row in await store.rows(conn)}
        kept: list[Entry] = []
        for entry in declared:
            row = existing.get((entry.kind, entry.key))
            if row is not None and row.origin == "database" and row.active:
                applied.left_out.append((entry.kind, entry.key))
                continue
            kept.append(entry)
        declared_names = {(entry.kind, entry.key) for entry in kept}
        database_rows = [row for row in existing.values() if row.origin == "database" and row.active]
        result = kept + active_entries(database_rows)
        problems = validate(document_of(result))
        if problems:
            raise CatalogProblems(problems)
        changes: list[tuple[str, Entry | store.Row, Any, Any]] = []
        for entry in kept:
            row = existing.get((entry.kind, entry.key))
            if row is None:
                changes.append(("created", entry, None, entry.body))
            elif not row.active:
                changes.append(("restored", entry, row.body, entry.body))
            elif sealer.comparable(row.kind, row.body) != sealer.comparable(entry.kind, entry.body) \
                    or row.position != entry.position or row.origin != "file" \
                    or row.provisioned_from != provisioned_from:
                changes.append(("updated", entry, row.body, entry.body))
        for row in existing.values():
            if row.origin == "file" and row.active and (row.kind, row.key) not in declared_names:
                changes.append(("retired", row, row.body, None))
        if not changes:
            applied.version = await store.version(conn)
            return applied
        applied.version = await store.bump_version(conn)
        for action, item, before, after in changes:
            if action == "created":
                assert isinstance(item, Entry)
                await store.insert(conn, kind=item.kind, key=item.key, body=sealer.seal(item.kind, item.body), position=item.position,
                                   origin="file", provisioned_from=provisioned_from, by=FILE_ACTOR)
            elif action == "retired":
                await store.retire(conn, kind=item.kind, key=item.key, by=FILE_ACTOR)
            else:
                assert isinstance(item, Entry)
                await store.update(conn, kind=item.kind, key=item.key, body=sealer.seal(item.kind, item.body), position=item.position,
                                   origin="file", provisioned_from=provisioned_from, by=FILE_ACTOR)
            getattr(applied, action).append((item.kind, item.key))
            if action == "updated" and sealer.comparable(item.kind, before) == sealer.comparable(item.kind, after):
                continue  # moved or taken over by the file: nothing to tell in the audit
            await store.record_change(conn, catalog_version=applied.version, actor=FILE_ACTOR, face="file",
                                      kind=item.kind, key=item.key, action=action,
                                      before=masked(before), after=masked(after))
    for kind, key in applied.left_out:
        log.warning("catalog: %s %r in the file is left out: an entry of that name belongs to the database "
                    "(made through the API or portal); remove it from the file, or retire the other one", kind, key)
    return applied


async def load(conn: asyncpg.Connection, sealer: Sealer = PLAIN) -> tuple[list[Entry], list[Entry], int]:
    """The active entries, the retired ones and the catalog's version, read in one snapshot;
    read-back secrets opened (compared ones stay hashed: the credential books take them so)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        rows = await store.rows(conn)
        version = await store.version(conn)
    retired = [Entry(row.kind, row.key, sealer.open(row.kind, row.body), row.position) for row in rows if not row.active]
    active = [Entry(row.kind, row.key, sealer.open(row.kind, row.body), row.position) for row in rows if row.active]
    return active + kept_for_retired_rooms(active, retired), retired, version


def kept_for_retired_rooms(active: list[Entry], retired: list[Entry]) -> list[Entry]:
    """Retired regulations that a retired room still names: its open tickets escalate by them
    (no active room can name them: the catalog's checks refuse that)."""
    named = {entry.body.get("regulation", "standard") for entry in retired
             if entry.kind == "rooms" and isinstance(entry.body, dict)}
    present = {entry.key for entry in active if entry.kind == "regulations"}
    return [entry for entry in retired if entry.kind == "regulations" and entry.key in named - present]
