"""The catalog in PostgreSQL, provisioned from the file: created, updated, retired (never
deleted), database entries left alone, the same schema's problems, and the export round trip."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from catalog import store
from catalog.entries import document_of, entries_of, masked
from catalog.provisioning import CatalogProblems
from catalog.sealing import Sealer, hashed
from common.secrets import SecretBox
from intake.auth import SourceBook, credential_digest
from opsroom.cli import check_file
from opsroom.config import EXAMPLE_CONFIG, Config, parse_config, read_config
from opsroom.provision import provision, export
from storage.pool import connect
from tests.support import postgres

EXAMPLE_ENV = {"OPSROOM_PROMETHEUS_TOKEN": "prom-token-123", "OPSROOM_API_TOKEN": "api-token-456",
               "OPSROOM_BOT_PICKLE_KEY": "pickle-key-789"}


def example_data() -> dict[str, Any]:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["checks"] = [{"name": "intranet", "interval": "1m", "http": {"url": "https://intranet.example.org/health"}}]
    data["heartbeats"] = [{"name": "nightly-backup", "every": "26h", "sources": ["prometheus"]}]
    return data


def config_of(data: dict[str, Any], database: str) -> Config:
    return parse_config({**copy.deepcopy(data), "database": {"url": database}}, EXAMPLE_ENV)


async def rows_by_key(database: str) -> dict[tuple[str, str], store.Row]:
    conn = await connect(database)
    try:
        return {(row.kind, row.key): row for row in await store.rows(conn)}
    finally:
        await conn.close()


def test_entries_give_back_the_file_sections():
    config = read_config(None, EXAMPLE_ENV)
    assert config.document is not None and config.source_path == str(EXAMPLE_CONFIG.resolve())
    entries = entries_of(config.document)
    assert {"rooms", "regulations", "calendars", "sources", "api_tokens", "maintenance"} <= {e.kind for e in entries}
    catalog = document_of(entries)
    assert [room["key"] for room in catalog["rooms"]] == ["databases", "network", "general"]
    assert catalog["api"]["tokens"][0]["token"] == "api-token-456"
    assert masked(catalog["api"]["tokens"][0])["token"] == "***"
    assert catalog["regulations"] == config.document["regulations"]


async def test_provisioning_creates_updates_retires_and_keeps_database_entries(database: str):
    data = example_data()
    first = await provision(database, config_of(data, database))
    assert first.applied is not None and len(first.applied.created) == len(entries_of(first.config.document or {}))
    expected = config_of(data, database)  # a file-only catalog runs as the file says (tokens as their digests)
    assert replace(first.config, sources=expected.sources, api=expected.api) == expected
    assert [s.token.reveal() for s in first.config.sources if s.token] == [hashed("prom-token-123")]
    rows = await rows_by_key(database)
    assert rows[("rooms", "databases")].origin == "file" and rows[("rooms", "databases")].provisioned_from
    again = await provision(database, config_of(data, database))
    assert again.applied is not None and not again.applied.changed and again.version == first.version

    # an entry made through the API belongs to the database: the file never touches it
    conn = await connect(database)
    try:
        async with conn.transaction():
            await store.insert(conn, kind="rooms", key="storage", body={"key": "storage", "name": "Storage",
                               "match": {"service": ["ceph"]}}, position=5000, origin="database",
                               provisioned_from=None, by="api:admin")
            await store.bump_version(conn)
    finally:
        await conn.close()

    changed = copy.deepcopy(data)
    changed["rooms"] = [room for room in changed["rooms"] if room["key"] != "network"]
    changed["rooms"][0]["name"] = "Databases and storage"
    changed["rooms"].append({"key": "storage", "name": "Not this one"})
    second = await provision(database, config_of(changed, database))
    assert second.applied is not None
    assert second.applied.retired == [("rooms", "network")]
    assert ("rooms", "databases") in second.applied.updated
    assert second.applied.left_out == [("rooms", "storage")]
    assert [room.key for room in second.config.rooms] == ["databases", "general", "storage"]
    assert second.config.rooms[2].name == "Storage" and second.config.rooms[2].match == {"service": ["ceph"]}
    assert [room.key for room in second.retired_rooms] == ["network"]
    rows = await rows_by_key(database)
    assert rows[("rooms", "network")].retired_at is not None  # retired, not deleted
    assert rows[("rooms", "storage")].origin == "database" and rows[("rooms", "storage")].body["name"] == "Storage"

    # the network room comes back when the file declares it again; each change is in the audit
    third = await provision(database, config_of(data, database))
    assert third.applied is not None and ("rooms", "network") in third.applied.restored
    conn = await connect(database)
    try:
        changes = await store.changes(conn, kind="rooms")
    finally:
        await conn.close()
    actions = [(c["action"], c["key"]) for c in changes if c["key"] == "network"]
    assert actions == [("restored", "network"), ("retired", "network"), ("created", "network")]
    assert all(c["actor"] == "file" for c in changes)
    tokens = (await rows_by_key(database))[("api_tokens", "reporting")]
    assert tokens.body["token"] == hashed("api-token-456")  # compared secrets are kept as hashes
    conn = await connect(database)
    try:
        audit = await conn.fetchval("SELECT after::text FROM catalog_changes WHERE kind = 'api_tokens'")
    finally:
        await conn.close()
    assert "api-token-456" not in audit and "***" in audit


async def test_an_invalid_catalog_changes_nothing_and_names_the_key_path(database: str):
    data = example_data()
    await provision(database, config_of(data, database))
    before = await rows_by_key(database)
    conn = await connect(database)
    try:  # a database room that names a regulation the file is about to drop
        await store.insert(conn, kind="rooms", key="storage", body={"key": "storage", "name": "Storage",
                           "regulation": "relaxed"}, position=5000, origin="database", provisioned_from=None, by="api:admin")
    finally:
        await conn.close()
    data["regulations"]["relaxed"] = copy.deepcopy(data["regulations"]["standard"])
    await provision(database, config_of(data, database))
    changed = copy.deepcopy(data)
    del changed["regulations"]["relaxed"]
    with pytest.raises(CatalogProblems) as caught:
        await provision(database, config_of(changed, database))
    assert any(p.path.endswith(".regulation") and "relaxed" in p.message for p in caught.value.problems)
    after = await rows_by_key(database)
    assert after[("regulations", "relaxed")].retired_at is None
    assert set(after) == set(before) | {("rooms", "storage"), ("regulations", "relaxed")}


async def test_export_round_trips_through_an_empty_database(database: str, postgres_admin_dsn: str,
                                                            template_database: str, tmp_path: Path):
    data = example_data()
    await provision(database, config_of(data, database))
    conn = await connect(database)
    try:
        await store.insert(conn, kind="people", key="@carol:localhost", body={"user": "@carol:localhost",
                           "email": "carol@example.org"}, position=5000, origin="database", provisioned_from=None, by="api:admin")
    finally:
        await conn.close()
    text = await export(database)
    exported = tmp_path / "catalog.yaml"
    exported.write_text(text, encoding="utf-8")
    config, problems = check_file(exported, "up", {})
    assert problems == [] and config is not None
    empty = await postgres.create_database(postgres_admin_dsn, template_database)
    try:
        copied = read_config(exported, {})
        again = await provision(empty, copied)
        assert again.applied is not None and again.applied.created
        original = {key: (row.body, row.position) for key, row in (await rows_by_key(database)).items()}
        copy_rows = {key: (row.body, row.position) for key, row in (await rows_by_key(empty)).items()}
        assert {key: body for key, (body, _) in copy_rows.items()} == {key: body for key, (body, _) in original.items()}
        body = lambda exported_text: exported_text.split("\n", 2)[2]  # noqa: E731 (after the two header lines)
        assert body(await export(empty)) == body(text)
    finally:
        await postgres.drop_database(postgres_admin_dsn, empty)


async def test_secrets_are_hashed_or_sealed_at_rest_and_opened_when_loaded(database: str):
    data = example_data()
    data["sources"].append({"name": "scripts", "hmac": {"secret": "hmac-key-0123456789"},
                            "basic": {"username": "am", "password": "basic-pass-0123"}})
    sealer = Sealer(SecretBox(SecretBox.generate_key()))
    first = await provision(database, config_of(data, database), sealer)
    conn = await connect(database)
    try:
        dump = await conn.fetchval("SELECT string_agg(body::text, ' ') FROM catalog_entries")
        audit = await conn.fetchval("SELECT string_agg(coalesce(after::text, ''), ' ') FROM catalog_changes")
    finally:
        await conn.close()
    for secret in ("prom-token-123", "api-token-456", "hmac-key-0123456789", "basic-pass-0123"):
        assert secret not in dump and secret not in audit
    scripts = (await rows_by_key(database))[("sources", "scripts")].body
    assert scripts["hmac"]["secret"].startswith("fernet:") and scripts["basic"]["password"] == hashed("basic-pass-0123")
    # loaded: read-back secrets opened, compared ones as digests the books take
    loaded = next(source for source in first.config.sources if source.name == "scripts")
    assert loaded.hmac is not None and loaded.hmac.secret.reveal() == "hmac-key-0123456789"
    book = SourceBook.from_config(first.config.sources)
    prometheus = next(s for s in book.sources if s.name == "prometheus")
    assert prometheus.token == credential_digest("prom-token-123")
    # unchanged secrets are not rewritten at the next start (sealing is randomised)
    again = await provision(database, config_of(data, database), sealer)
    assert again.applied is not None and not again.applied.changed
    data["sources"][-1]["hmac"]["secret"] = "hmac-key-rotated-0123"
    third = await provision(database, config_of(data, database), sealer)
    assert third.applied is not None and third.applied.updated == [("sources", "scripts")]


def test_config_reload_and_export_on_the_command_line(database: str, tmp_path: Path, capsys, monkeypatch):
    from opsroom.cli import main

    monkeypatch.delenv("OPSROOM_SECRET_KEY", raising=False)
    monkeypatch.delenv("OPSROOM_SECRET_KEY_FILE", raising=False)
    data = {"database": {"url": database}, "regulations": {"standard": {"claim_within": "5m", "resolve_within": "4h"}},
            "rooms": [{"key": "cli-room", "name": "CLI", "default": True}],
            "sources": [{"name": "cli", "token": "cli-token-0123456789"}]}
    path = tmp_path / "opsroom.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    args = ["--config", str(path), "--data-dir", str(tmp_path / "no-up")]
    assert main(["config", "reload", *args]) == 0
    assert "3 created" in capsys.readouterr().out
    data["rooms"][0]["name"] = "CLI renamed"
    data["regulations"]["standard"]["resolve_within"] = "nonsense"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["config", "reload", *args]) == 2  # the file's problems, with their key paths; nothing applied
    assert "regulations.standard.resolve_within" in capsys.readouterr().err
    data["regulations"]["standard"]["resolve_within"] = "8h"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["config", "reload", *args]) == 0
    assert "2 updated" in capsys.readouterr().out
    assert main(["config", "export", *args]) == 0
    exported = yaml.safe_load(capsys.readouterr().out)
    assert exported["rooms"] == [{"key": "cli-room", "name": "CLI renamed", "default": True}]
    assert exported["sources"][0]["token"] == hashed("cli-token-0123456789")


def test_secrets_read_back_from_the_catalog_are_kept_out_of_logs():
    import logging

    from opsroom.logs import RedactSecrets

    redact = RedactSecrets(["file-secret-123"])
    redact.add(["hmac-key-from-the-database"])
    record = logging.LogRecord("t", logging.WARNING, __file__, 1, "signed with %s, %s", ("hmac-key-from-the-database", "file-secret-123"), None)
    redact.filter(record)
    assert record.getMessage() == "signed with ***, ***"


def test_opsroom_up_seals_catalog_secrets_with_its_data_directory_key(make_config, tmp_path: Path, monkeypatch):
    """`opsroom up` sets no OPSROOM_SECRET_KEY: the key in its data directory (the portal's) seals the catalog."""
    from catalog.sealing import PLAIN
    from opsroom.app import Opsroom

    monkeypatch.delenv("OPSROOM_SECRET_KEY", raising=False)
    monkeypatch.delenv("OPSROOM_SECRET_KEY_FILE", raising=False)
    config = make_config()
    app = Opsroom(config, secret_dir=tmp_path)
    assert app.sealer is not PLAIN and (tmp_path / "secret.key").exists()
    assert Opsroom(config).sealer is PLAIN  # no key anywhere: plain, as documented
