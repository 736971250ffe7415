"""The catalog's entries in the file's shape: which sections are catalog, how an entry is
named, and the way between a configuration document and a list of entries.

Invariants:
- an entry's ``body`` is exactly what its section holds in the YAML file for it (for dict
  sections, the value under its name), so the file's own schema loads and checks rows;
- ``document_of(entries_of(doc))`` gives back the catalog sections of ``doc`` (same order);
- process settings (database, homeserver, bot, http, mail, snmp, logging, ...) are never
  entries: they stay in the file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping

SECRET_KEYS = frozenset({"token", "previous_token", "password", "secret", "routing_key", "auth_key", "priv_key", "credentials",
                         "community", "pickle_key"})
MASK = "***"


@dataclass(frozen=True)
class Kind:
    """A catalog section: ``section`` is its key path in the file (``api.tokens``), ``key_field``
    names an entry in a list section (dict sections are named by their keys)."""

    name: str
    section: tuple[str, ...]
    key_field: str | None  # None: a mapping of name -> body

    @property
    def path(self) -> str:
        return ".".join(self.section)


KINDS: tuple[Kind, ...] = (
    Kind("calendars", ("calendars",), None),
    Kind("regulations", ("regulations",), None),
    Kind("ticket_types", ("ticket_types",), None),
    Kind("rooms", ("rooms",), "key"),
    Kind("customers", ("customers",), "name"),
    Kind("sla_policies", ("sla_policies",), "name"),
    Kind("sources", ("sources",), "name"),
    Kind("api_tokens", ("api", "tokens"), "name"),
    Kind("people", ("people",), "user"),
    Kind("maintenance", ("maintenance",), "name"),
    Kind("checks", ("checks",), "name"),
    Kind("heartbeats", ("heartbeats",), "name"),
)
KIND_BY_NAME = {kind.name: kind for kind in KINDS}


@dataclass(frozen=True)
class Entry:
    kind: str
    key: str
    body: Any
    position: int


def jsonable(value: Any) -> Any:
    """The value as JSON stores it (YAML dates become ISO strings, keys strings)."""
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return value


def _section(document: Mapping[str, Any], kind: Kind) -> Any:
    value: Any = document
    for part in kind.section:
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def entries_of(document: Mapping[str, Any]) -> list[Entry]:
    """The catalog entries a (checked) configuration document declares, in file order. An
    entry without its name (which the schema would refuse) is named by a hash of its body."""
    entries: list[Entry] = []
    for kind in KINDS:
        section = _section(document, kind)
        if isinstance(section, Mapping) and kind.key_field is None:
            entries += [Entry(kind.name, str(key), jsonable(body), position)
                        for position, (key, body) in enumerate(section.items())]
        elif isinstance(section, list) and kind.key_field is not None:
            seen: set[str] = set()
            for position, body in enumerate(section):
                body = jsonable(body)
                key = body.get(kind.key_field) if isinstance(body, dict) else None
                if not isinstance(key, str) or key in seen:
                    key = f"#{hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]}"
                seen.add(key)
                entries.append(Entry(kind.name, key, body, position))
    return entries


def document_of(entries: list[Entry]) -> dict[str, Any]:
    """The catalog sections made of ``entries`` (each section in position order); sections with
    no entry are left out, so the file's defaults apply as they would to a file without them."""
    document: dict[str, Any] = {}
    for kind in KINDS:
        mine = sorted((e for e in entries if e.kind == kind.name), key=lambda e: (e.position, e.key))
        if not mine:
            continue
        value: Any = {e.key: e.body for e in mine} if kind.key_field is None else [e.body for e in mine]
        holder = document
        for part in kind.section[:-1]:
            holder = holder.setdefault(part, {})
        holder[kind.section[-1]] = value
    return document


def without_catalog(document: Mapping[str, Any]) -> dict[str, Any]:
    """The document's process settings: every catalog section taken out."""
    rest = json.loads(json.dumps(jsonable(document)))
    for kind in KINDS:
        holder = rest
        for part in kind.section[:-1]:
            holder = holder.get(part) if isinstance(holder, dict) else None
        if isinstance(holder, dict):
            holder.pop(kind.section[-1], None)
    if isinstance(rest.get("api"), dict) and not rest["api"]:
        del rest["api"]
    return rest


def masked(body: Any) -> Any:
    """The body with every secret replaced by ``***`` (for the audit and answers)."""
    if isinstance(body, dict):
        return {key: (MASK if key in SECRET_KEYS and isinstance(item, str) and item else masked(item))
                for key, item in body.items()}
    if isinstance(body, list):
        return [masked(item) for item in body]
    return body
