"""The catalog at start: the file's catalog sections provisioned into the catalog rows, and
the running configuration rebuilt from the rows.

Invariants:
- rows are loaded and checked by the file's own schema (``parse_config`` on the file's process
  settings with the rows' sections): the key paths of problems are the file's;
- the running configuration is the file's process settings (as given, with what the embedded
  runtime added) with the catalog's active entries; with only the file's entries it equals the
  file's configuration, so a file-only deployment runs exactly as before;
- retired rooms are not routed to, but their tickets still find them (``retired_rooms``).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from catalog import provisioning
from catalog.entries import Entry, document_of, entries_of, without_catalog
from catalog.sealing import PLAIN, Sealer
from common.secrets import SecretBox, SecretKeyError, load_key
from common.schema import Problem, load
from opsroom.config import Config, ConfigError, carried, parse_config
from rooms.model import TopicRoom
from storage.pool import connect

log = logging.getLogger(__name__)

# the Config fields that the catalog sections fill (api: its tokens)
CATALOG_FIELDS = ("rooms", "regulations", "calendars", "customers", "sla_policies", "ticket_types", "sources",
                  "people", "maintenance", "checks", "heartbeats", "api")
NO_FILE = "the configuration file"


@dataclass(frozen=True)
class Catalog:
    config: Config  # the process settings with the catalog's active entries
    retired_rooms: tuple[TopicRoom, ...]
    version: int
    applied: provisioning.Applied | None


def merged(process: dict[str, Any], catalog: dict[str, Any]) -> dict[str, Any]:
    """The process settings with the catalog sections put in (``api`` merged key by key)."""
    document = copy.deepcopy(process)
    for key, value in catalog.items():
        if key == "api" and isinstance(document.get("api"), dict):
            document["api"] = {**document["api"], **value}
        else:
            document[key] = value
    return document


def _process_settings(config: Config) -> dict[str, Any]:
    return without_catalog(config.document or {})


def validator(config: Config) -> provisioning.Validator:
    """Checks a catalog document the way ``check-config`` checks the file it would make."""
    process = _process_settings(config)

    def validate(catalog: dict[str, Any]) -> list[Problem]:
        try:
            parse_config(merged(process, catalog), {})
        except ConfigError as error:
            return list(error.problems)
        return []

    return validate


def config_with(config: Config, entries: list[Entry]) -> Config:
    """``config`` with its catalog sections replaced by ``entries`` (ConfigError if they do not load)."""
    parsed = parse_config(merged(_process_settings(config), document_of(entries)), {})
    live = replace(config, **{name: getattr(parsed, name) for name in CATALOG_FIELDS})
    return carried(live, config)


def retired_rooms(entries: list[Entry]) -> tuple[TopicRoom, ...]:
    rooms = []
    for entry in entries:
        if entry.kind == "rooms":
            room, problems = load(TopicRoom, entry.body)
            if room is not None and not problems:
                rooms.append(room)
    return tuple(rooms)


def sealer_for(environ: Mapping[str, str], data_dir: Path | None = None) -> Sealer:
    """Catalog secrets are sealed with the secret key of the environment (or the data directory
    of ``opsroom up``); without one, read-back secrets stay plain (with a warning)."""
    try:
        return Sealer(SecretBox(load_key(environ, data_dir)))
    except SecretKeyError as error:
        if environ.get("OPSROOM_SECRET_KEY") or environ.get("OPSROOM_SECRET_KEY_FILE"):
            raise  # a key was meant: never fall back to plain
        log.debug("catalog: %s", error)
        return PLAIN


async def apply_file_of(dsn: str, config: Config, sealer: Sealer = PLAIN) -> provisioning.Applied:
    """Apply a configuration file's catalog (``opsroom config reload``, SIGHUP); processes follow."""
    conn = await connect(dsn)
    try:
        return await _apply(conn, config, sealer)
    finally:
        await conn.close()


async def _apply(conn: Any, config: Config, sealer: Sealer) -> provisioning.Applied:
    applied = await provisioning.apply_file(
        conn, entries_of(config.document or {}), provisioned_from=config.source_path or NO_FILE,
        validate=validator(config), sealer=sealer,
    )
    if applied.changed:
        log.info("catalog provisioned from %s: %s (catalog version %d)",
                 config.source_path or NO_FILE, applied.summary(), applied.version)
    return applied


async def provision(dsn: str, config: Config, sealer: Sealer = PLAIN) -> Catalog:
    """Apply the file's catalog (when ``config`` came from a file) and load the catalog.
    Raises ``CatalogProblems`` (nothing changed) when the catalog that would result is invalid."""
    conn = await connect(dsn)
    try:
        applied = None
        if config.document is not None:
            applied = await _apply(conn, config, sealer)
        active, retired, version = await provisioning.load(conn, sealer)
    finally:
        await conn.close()
    live = config if config.document is None else config_with(config, active)
    if live == config:
        live = config
    return Catalog(live, retired_rooms(retired), version, applied)


async def export(dsn: str, sealer: Sealer = PLAIN) -> str:
    """The whole active catalog as a configuration file (``check-config --mode up`` accepts it;
    applied to an empty database it gives the same catalog)."""
    conn = await connect(dsn)
    try:
        active, _retired, version = await provisioning.load(conn, sealer)
    finally:
        await conn.close()
    header = (f"# opsroom catalog, version {version}: the catalog sections only (process settings stay in your file).\n"
              "# It holds the catalog's secrets: keep it as safe as the configuration file.\n")
    return header + yaml.safe_dump(document_of(active), sort_keys=False, allow_unicode=True, width=120)
