"""docker-compose.yml and the files it mounts, checked without a Docker engine.

Parsed as data: services, mounts, ports, health checks, secrets from the environment;
the configurations it mounts are checked by their own parsers (opsroom's, Synapse's).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from opsroom.config import check_production, read_config

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / "deploy" / "compose.env.example"
VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::?[-?][^}]*)?\}")
SECRET_WORDS = ("password", "secret", "token", "macaroon", "key")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes") or []:
        source, target = volume.split(":")[:2]
        mounts.append((source, target))
    return mounts


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def test_the_four_services_exist_and_opsroom_runs_in_production_mode(compose: dict[str, Any]) -> None:
    assert {"postgres", "synapse", "opsroom", "element"} <= set(services(compose))
    opsroom = services(compose)["opsroom"]
    assert opsroom["command"] == ["opsroom", "run", "--config", "/config/opsroom.yaml"]
    assert ("./deploy/opsroom-compose.yaml", "/config/opsroom.yaml") in bind_mounts(opsroom)
    context = REPO / (opsroom["build"] if isinstance(opsroom["build"], str) else opsroom["build"]["context"])
    dockerfile = (context / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.11-slim" in dockerfile and "pip install ." in dockerfile
    assert ("./synapse-config/homeserver-compose.yaml", "/config/homeserver.yaml") in bind_mounts(services(compose)["synapse"])


def test_referenced_files_volumes_and_services_exist(compose: dict[str, Any]) -> None:
    named_volumes = set(compose.get("volumes") or {})
    for name, service in services(compose).items():
        for source, target in bind_mounts(service):
            assert target.startswith("/"), f"{name}: {target}"
            if source.startswith("."):
                assert (REPO / source).exists(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in named_volumes, f"{name} uses volume {source}, not declared"
        for dependency in service.get("depends_on") or {}:
            assert dependency in services(compose), f"{name} depends on unknown {dependency}"
        for secret in service.get("secrets") or []:
            assert secret in compose["secrets"], f"{name} uses undeclared secret {secret}"
    assert (REPO / ".dockerignore").exists()


def test_ports_are_published_on_loopback_and_match_the_configurations(compose: dict[str, Any]) -> None:
    published: dict[str, list[tuple[int, int]]] = {}
    for name, service in services(compose).items():
        for port in service.get("ports") or []:
            host, host_port, container_port = str(port).split(":")
            assert host == "127.0.0.1", f"{name} publishes {port} beyond this machine"
            assert 1 <= int(host_port) <= 65535 and 1 <= int(container_port) <= 65535
            published.setdefault(name, []).append((int(host_port), int(container_port)))
    host_ports = [host for ports in published.values() for host, _ in ports]
    assert len(host_ports) == len(set(host_ports)), "two services publish the same host port"
    synapse = yaml.safe_load((REPO / "synapse-config" / "homeserver-compose.yaml").read_text())
    assert published["synapse"] == [(8008, synapse["listeners"][0]["port"])]
    opsroom = yaml.safe_load((REPO / "deploy" / "opsroom-compose.yaml").read_text())
    assert published["opsroom"] == [(8080, opsroom["http"]["port"])]
    assert opsroom["http"]["host"] == "0.0.0.0"  # reachable from the published port
    assert opsroom["homeserver"]["url"] == f"http://synapse:{synapse['listeners'][0]['port']}"


def test_every_long_running_service_has_a_health_check(compose: dict[str, Any]) -> None:
    for name in ("postgres", "synapse", "opsroom", "element"):
        check = services(compose)[name].get("healthcheck") or {}
        assert check.get("test"), f"{name} has no health check"
    assert "/healthz" in " ".join(services(compose)["opsroom"]["healthcheck"]["test"])
    for name, service in services(compose).items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            if isinstance(rule, dict) and rule.get("condition") == "service_healthy":
                assert services(compose)[dependency].get("healthcheck"), f"{name} waits for {dependency}'s health"


def test_no_secret_literals_are_committed(compose: dict[str, Any]) -> None:
    referenced: set[str] = set()
    for name, service in services(compose).items():
        for key, value in environment(service).items():
            referenced.update(VARIABLE.findall(value))
            if any(word in key.lower() for word in SECRET_WORDS) or "://" in value and "@" in value:
                assert VARIABLE.search(value), f"{name}.{key} holds a literal secret"
                if "@" in value:  # a URL with credentials: the password part is a reference
                    credentials = value.split("://", 1)[1].split("@", 1)[0]
                    assert VARIABLE.fullmatch(credentials.split(":", 1)[1]), f"{name}.{key}"
    for secret in compose["secrets"].values():
        assert set(secret) == {"environment"}, "compose secrets come from environment variables"
        referenced.add(secret["environment"])
    example = env_example()
    assert referenced <= set(example), f"not documented in {ENV_EXAMPLE.name}: {referenced - set(example)}"
    assert all(value == "" for value in example.values()), "the example env file must not carry values"

    synapse = yaml.safe_load((REPO / "synapse-config" / "homeserver-compose.yaml").read_text())
    for key in ("registration_shared_secret", "macaroon_secret_key", "form_secret"):
        assert key not in synapse and synapse[f"{key}_path"].startswith("/run/secrets/")
    assert "password" not in synapse["database"]["args"]

    opsroom_text = (REPO / "deploy" / "opsroom-compose.yaml").read_text()
    opsroom = yaml.safe_load(opsroom_text)
    assert VARIABLE.fullmatch(opsroom["database"]["url"]) and VARIABLE.fullmatch(opsroom["bot"]["password"])
    for entry in [*opsroom["sources"], *opsroom["api"]["tokens"]]:
        assert VARIABLE.fullmatch(entry["token"]), entry["name"]
    assert "access_token" not in opsroom["bot"]


def test_the_mounted_configurations_are_valid_and_agree(compose: dict[str, Any]) -> None:
    fake = {name: f"value-of-{name.lower()}" for name in env_example()}
    fake["OPSROOM_DATABASE_URL"] = "postgresql://opsroom:pw@postgres:5432/opsroom"
    opsroom = read_config(REPO / "deploy" / "opsroom-compose.yaml", {**fake, **environment(services(compose)["opsroom"])})
    assert check_production(opsroom) == []
    synapse = yaml.safe_load((REPO / "synapse-config" / "homeserver-compose.yaml").read_text())
    element = json.loads((REPO / "deploy" / "element-config.json").read_text())
    assert opsroom.server_name == synapse["server_name"]
    assert element["default_server_config"]["m.homeserver"]["server_name"] == synapse["server_name"]
    assert element["default_server_config"]["m.homeserver"]["base_url"].rstrip("/") == synapse["public_baseurl"].rstrip("/")
    bootstrap = services(compose)["synapse-bootstrap"]["entrypoint"]
    assert f"--user={opsroom.bot.user_id[1:].split(':')[0]}" in bootstrap


def test_synapse_accepts_the_compose_homeserver_config(tmp_path: Path) -> None:
    """Synapse's own parser, with the secret files and data directory redirected to tmp_path."""
    pytest.importorskip("synapse")
    for name in ("synapse_registration_shared_secret", "synapse_macaroon_secret_key", "synapse_form_secret"):
        (tmp_path / name).write_text(f"test-{name}\n")
    text = (REPO / "synapse-config" / "homeserver-compose.yaml").read_text()
    config = tmp_path / "homeserver.yaml"
    config.write_text(text.replace("/run/secrets/", f"{tmp_path}/").replace('"/data/', f'"{tmp_path}/'))
    probe = (
        "import sys\n"
        "from synapse.config.homeserver import HomeServerConfig\n"
        "c = HomeServerConfig.load_or_generate_config('check', ['-c', sys.argv[1]])\n"
        "print(c.server.server_name, c.database.databases[0].config['name'], c.registration.registration_shared_secret)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe, str(config)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1].split() == ["localhost", "psycopg2", "test-synapse_registration_shared_secret"]
