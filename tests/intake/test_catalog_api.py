"""The catalog over the REST API: admin scope, the file's schema and key paths, provisioned
entries refused with the file's name, secrets never returned, changes live and audited."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from tests.support.people import ADMIN_TOKEN, people_desk  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

SOURCE_TOKEN = "catalog-api-source-token-0123456789"


async def until(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never: {what}")
        await asyncio.sleep(0.05)


async def catalog_rows(desk) -> int:
    async with desk.app.pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) + sum(version) FROM catalog_entries")


async def test_catalog_entries_are_created_changed_and_retired_through_the_api(people_desk):
    desk = await people_desk()
    general = desk.rooms[0]
    # the admin scope is needed
    status, answer = await desk.api("GET", "/api/v1/rooms")
    assert status == 403 and answer["scope"] == "admin"
    status, _ = await desk.api("GET", "/api/v1/rooms", token=None)
    assert status == 401

    status, answer = await desk.api("GET", "/api/v1/rooms", token=ADMIN_TOKEN)
    assert status == 200 and [entry["key"] for entry in answer["entries"]] == desk.rooms
    assert answer["entries"][0]["origin"] == "file" and answer["entries"][0]["provisioned_from"]

    # a provisioned entry is changed in its file
    status, answer = await desk.api("PUT", f"/api/v1/rooms/{general}", token=ADMIN_TOKEN,
                                    json={"key": general, "name": "Renamed", "default": True})
    assert status == 403 and answer["provisioned_from"] and answer["provisioned_from"] in answer["error"]

    # problems are those of check-config, with their key paths; nothing is stored
    before = await catalog_rows(desk)
    status, answer = await desk.api("POST", "/api/v1/rooms", token=ADMIN_TOKEN, json={
        "key": "storage", "name": "Storage", "regulation": "nonesuch", "default": True,
        "staff": [{"user": "not-a-user", "level": "one"}]})
    assert status == 400
    paths = {problem["path"] for problem in answer["problems"]}
    assert {"staff[0].user", "staff[0].level"} <= paths, answer
    status, answer = await desk.api("POST", "/api/v1/rooms", token=ADMIN_TOKEN, json={
        "key": "storage", "name": "Storage", "regulation": "nonesuch", "default": True})
    assert status == 400 and {"regulation", "default"} <= {p["path"] for p in answer["problems"]}, answer
    assert await catalog_rows(desk) == before

    # a valid room: created, in force in the process at once
    status, answer = await desk.api("POST", "/api/v1/rooms", token=ADMIN_TOKEN, json={
        "key": "storage", "name": "Storage", "match": {"service": ["ceph"]}})
    assert status == 201 and answer["origin"] == "database" and answer["updated_by"] == "api:catalog-admin"
    await until(lambda: any(room.key == "storage" for room in desk.app.domain.rules.rooms), "the new room in force")
    status, again = await desk.api("POST", "/api/v1/rooms", token=ADMIN_TOKEN, json={"key": "storage", "name": "Twice"})
    assert status == 409

    # a source: its token accepted at once, never shown, kept when sent back as ***
    status, source = await desk.api("POST", "/api/v1/sources", token=ADMIN_TOKEN,
                                    json={"name": "zabbix", "token": SOURCE_TOKEN})
    assert status == 201 and source["body"]["token"] == "***"
    fingerprint = "sha256:" + hashlib.sha256(SOURCE_TOKEN.encode()).hexdigest()[:12]
    assert source["secrets"]["token"] == {"set": True, "fingerprint": fingerprint}
    assert source["secrets"]["routing_key"] == {"set": False, "fingerprint": None}
    await until(lambda: any(s.name == "zabbix" for s in desk.app.intake.sources.sources), "the new source accepted")
    status, answer = await desk.api("POST", "/api/v1/alarms", token=SOURCE_TOKEN, json={"title": "Ceph slow", "service": "ceph"})
    assert status == 202
    async with desk.app.pool.acquire() as conn:
        assert await conn.fetchval("SELECT room_key FROM tickets WHERE id = $1", answer["ticket"]) == "storage"
    status, changed = await desk.api("PUT", "/api/v1/sources/zabbix", token=ADMIN_TOKEN,
                                     headers={"If-Match": str(source["version"])}, json={"name": "zabbix", "token": "***"})
    assert status == 200 and changed["version"] == source["version"] + 1
    status, answer = await desk.api("PUT", "/api/v1/sources/zabbix", token=ADMIN_TOKEN,
                                    headers={"If-Match": str(source["version"])}, json={"name": "zabbix", "token": "***"})
    assert status == 409  # changed meanwhile
    status, answer = await desk.api("POST", "/api/v1/alarms", token=SOURCE_TOKEN, json={"title": "still me"})
    assert status == 202

    # retired: refused at once, kept (and listed with retired=true)
    status, retired = await desk.api("DELETE", "/api/v1/sources/zabbix", token=ADMIN_TOKEN)
    assert status == 200 and retired["retired"] is True
    await until(lambda: not any(s.name == "zabbix" for s in desk.app.intake.sources.sources), "the source refused")
    status, _ = await desk.api("POST", "/api/v1/alarms", token=SOURCE_TOKEN, json={"title": "gone"})
    assert status == 401
    status, listed = await desk.api("GET", "/api/v1/sources?retired=true", token=ADMIN_TOKEN)
    assert [e["key"] for e in listed["entries"] if e["retired"]] == ["zabbix"]

    # a regulation still named by a room cannot be retired
    status, answer = await desk.api("DELETE", "/api/v1/regulations/standard", token=ADMIN_TOKEN)
    assert status == 403  # provisioned from the file
    status, answer = await desk.api("POST", "/api/v1/regulations", token=ADMIN_TOKEN,
                                    json={"name": "relaxed", "claim_within": "1h", "resolve_within": "1d"})
    assert status == 201 and answer["key"] == "relaxed"
    status, _ = await desk.api("PUT", "/api/v1/rooms/storage", token=ADMIN_TOKEN,
                               json={"name": "Storage", "regulation": "relaxed", "match": {"service": ["ceph"]}})
    assert status == 200
    status, answer = await desk.api("DELETE", "/api/v1/regulations/relaxed", token=ADMIN_TOKEN)
    assert status == 400 and any("relaxed" in p["message"] for p in answer["problems"]), answer

    # the other kinds of the catalog: a calendar, an SLA policy on it, an API token (its secret never returned)
    status, answer = await desk.api("POST", "/api/v1/calendars", token=ADMIN_TOKEN,
                                    json={"name": "office", "timezone": "Europe/Prague", "hours": {"mon-fri": ["08:00-17:00"]}})
    assert status == 201 and answer["key"] == "office", answer
    status, answer = await desk.api("POST", "/api/v1/sla-policies", token=ADMIN_TOKEN,
                                    json={"name": "gold", "calendar": "nowhere", "first_response": "1h", "resolution": "8h"})
    assert status == 400 and any("nowhere" in p["message"] for p in answer["problems"]), answer
    status, listed = await desk.api("GET", "/api/v1/sla-policies", token=ADMIN_TOKEN)
    assert status == 200 and listed["kind"] == "sla_policies" and "gold" not in str(listed)
    status, answer = await desk.api("POST", "/api/v1/api-tokens", token=ADMIN_TOKEN,
                                    json={"name": "grafana-reader", "token": "grafana-reader-token-0123456789", "scopes": ["read"]})
    assert status == 201 and "grafana-reader-token-0123456789" not in str(answer), answer
    await until(lambda: "grafana-reader" in desk.app.intake.api_callers.tokens.values(), "the new API token accepted")
    status, answer = await desk.api("GET", "/api/v1/tickets?limit=1", token="grafana-reader-token-0123456789")
    assert status == 200, answer

    # the change log: who, what, secrets masked
    status, log = await desk.api("GET", "/api/v1/catalog/changes?kind=sources", token=ADMIN_TOKEN)
    assert status == 200
    assert [(c["action"], c["actor"]) for c in log["changes"]] == [
        ("retired", "api:catalog-admin"), ("updated", "api:catalog-admin"), ("created", "api:catalog-admin")]
    assert SOURCE_TOKEN not in str(log) and log["changes"][-1]["after"]["token"] == "***"
    status, answer = await desk.api("GET", "/api/v1/catalog/changes?limit=0", token=ADMIN_TOKEN)
    assert status == 400 and answer["field"] == "limit"

    # a retired room takes no new tickets, but its tickets still find it (and then its regulation may go)
    status, answer = await desk.api("DELETE", "/api/v1/rooms/storage", token=ADMIN_TOKEN)
    assert status == 200 and answer["retired"] is True
    await until(lambda: all(room.key != "storage" for room in desk.app.domain.rules.rooms), "the room retired")
    assert desk.app.domain.rules.find_room("storage") is not None
    await until(lambda: desk.app.bot.directory.by_key("storage") is not None, "the bot still knowing the retired room")
    status, answer = await desk.api("POST", "/api/v1/tickets", json={"title": "for storage", "room": "storage"})
    assert status == 400 and answer["field"] == "room"
    status, answer = await desk.api("DELETE", "/api/v1/regulations/relaxed", token=ADMIN_TOKEN)
    assert status == 200 and answer["retired"] is True
    # the retired room's tickets still escalate by it; restoring the room alone is refused, naming it
    await until(lambda: "relaxed" in desk.app.domain.rules.regulations, "the regulation kept for the retired room")
    status, answer = await desk.api("POST", "/api/v1/rooms/storage/restore", token=ADMIN_TOKEN)
    assert status == 400 and any("relaxed" in p["message"] for p in answer["problems"]), answer
