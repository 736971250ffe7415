"""Configuration: every problem reported with its key path, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from opsroom import config as config_module
from opsroom.config import EXAMPLE_CONFIG, ConfigError, check_production, parse_config, read_config
from common.durations import Duration
from common.languages import KNOWN
from common.schema import Secret

EXAMPLE_ENV = {"OPSROOM_PROMETHEUS_TOKEN": "prom-token-123", "OPSROOM_API_TOKEN": "api-token-456",
               "OPSROOM_BOT_PICKLE_KEY": "pickle-key-789"}


def problems_of(data, environ=None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, environ or {})
    return [str(problem) for problem in caught.value.problems]


def test_the_shipped_example_is_valid():
    config = read_config(None, EXAMPLE_ENV)
    assert [room.key for room in config.rooms] == ["databases", "network", "general"]
    assert config.default_room.key == "general"
    standard = config.regulations["standard"]
    assert standard.claim_within.of("critical") == Duration(timedelta(minutes=5))
    assert [step.level for step in standard.escalation.unclaimed] == [2, 3]
    assert standard.escalation.repeat_top == 2
    assert config.sources[0].token == Secret("prom-token-123")
    assert "prom-token-123" not in repr(config)


def test_unknown_keys_wrong_types_and_missing_values_name_their_paths():
    found = problems_of(
        {
            "http": {"port": "eighty", "hots": "x"},
            "rooms": [{"key": "db", "staff": [{"user": "alice", "level": 1}]}],
            "regulations": {"standard": {"claim_within": "soon", "resolve_within": "4h"}},
            "colour": "blue",
        }
    )
    assert "http.port: expected an integer, got 'eighty'" in found
    assert "http.hots: unknown key (did you mean 'host'?)" in found
    assert "rooms[0].name: required" in found
    assert "rooms[0].staff[0].user: not a Matrix user ID: 'alice' (expected @name:server)" in found
    assert any(p.startswith("regulations.standard.claim_within: not a duration") for p in found)
    assert "colour: unknown key" in found


def test_references_between_sections_are_checked():
    found = problems_of(
        {
            "rooms": [
                {"key": "db", "name": "DB", "regulation": "fast", "staff": [{"user": "@a:x"}, {"user": "@a:x"}]},
                {"key": "db", "name": "DB again"},
            ],
            "regulations": {
                "standard": {
                    "claim_within": "5m",
                    "resolve_within": "1h",
                    "escalation": {"unclaimed": [{"level": 3}, {"level": 2}]},
                }
            },
        }
    )
    assert "rooms[0].regulation: unknown regulation 'fast' (known: standard)" in found
    assert "rooms[0].staff[1].user: @a:x is listed twice" in found
    assert "rooms[1].key: duplicate room key 'db'" in found
    assert "rooms: one room needs `default: true` to receive alarms that no rule matches" in found
    assert "regulations.standard.escalation.unclaimed: levels must rise from step to step" in found


def test_rooms_speak_every_known_language_whose_texts_ship(monkeypatch):
    rooms = [{"key": code, "name": code, "language": code, "default": code == "en"} for code in KNOWN]
    monkeypatch.setattr(config_module, "LANGUAGES", KNOWN)
    regulations = {"standard": {"claim_within": "5m", "resolve_within": "1h"}}
    assert [room.language for room in parse_config({"rooms": rooms, "regulations": regulations}, {}).rooms] == list(KNOWN)
    monkeypatch.setattr(config_module, "LANGUAGES", ("en", "cs"))  # a build with two catalogues
    report = {"name": "monthly", "kind": "overview", "language": "zh", "deliver_to": {"room": "en"}}
    found = problems_of({"rooms": rooms, "regulations": regulations, "reports": [report]})
    assert [problem for problem in found if "not translated" in problem] == [
        *(f"rooms[{index}].language: {code!r} is not translated in this version yet (shipped: en, cs)"
          for index, code in enumerate(KNOWN) if code not in ("en", "cs")),
        "reports[0].language: 'zh' is not translated in this version yet (shipped: en, cs)",
    ]
    assert any(problem.startswith("rooms[0].language: must be one of 'en', 'cs', 'pl', 'ru', 'hr', 'zh'")
               for problem in problems_of({"rooms": [{"key": "x", "name": "X", "default": True, "language": "de"}]}))


def test_secrets_come_from_the_environment():
    config = parse_config(
        {"sources": [{"name": "prom", "token": "${PROM_TOKEN}"}]},
        {"PROM_TOKEN": "s3cret-value", "OPSROOM_DATABASE_URL": "postgresql://u:pw@db/opsroom", "OPSROOM_BOT_PASSWORD": "botpw"},
    )
    assert config.sources[0].token.reveal() == "s3cret-value"
    assert config.database.url.reveal() == "postgresql://u:pw@db/opsroom"
    assert config.bot.password.reveal() == "botpw"
    found = problems_of({"sources": [{"name": "prom", "token": "${MISSING_TOKEN}"}]})
    assert found == ["sources[0].token: environment variable MISSING_TOKEN is not set"]


def test_production_needs_database_homeserver_and_bot():
    config = read_config(None, EXAMPLE_ENV)
    found = [str(p) for p in check_production(config)]
    assert any(p.startswith("database.url: required") for p in found)
    assert any(p.startswith("homeserver.url: required") for p in found)
    assert any(p.startswith("bot.user_id: required") for p in found)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    environment = {k: v for k, v in os.environ.items() if not k.startswith("OPSROOM_")}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "opsroom", *args], capture_output=True, text=True, env=environment, timeout=60)


def test_check_config_prints_every_problem_and_exits_non_zero(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("http:\n  port: -1\nrooms:\n  - key: x\n    name: X\n    default: true\n    regulation: nope\n")
    result = run_cli("check-config", str(bad))
    assert result.returncode == 2
    assert "http.port: a TCP port is between 1 and 65535 (0: any free port)" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_reports_yaml_syntax_with_its_line(tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("rooms:\n  - key: a\n   name: b\n")
    result = run_cli("check-config", str(broken))
    assert result.returncode == 2
    assert "line 3" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_config_accepts_a_complete_production_file(tmp_path: Path):
    good = tmp_path / "good.yaml"
    good.write_text(
        EXAMPLE_CONFIG.read_text()
        + "\ndatabase:\n  url: ${DB_URL}\nhomeserver:\n  url: https://matrix.example.org\n"
    )
    env = {**EXAMPLE_ENV, "DB_URL": "postgresql://opsroom@db/opsroom", "OPSROOM_BOT_USER_ID": "@opsroom:example.org", "OPSROOM_BOT_PASSWORD": "pw"}
    result = run_cli("check-config", str(good), env=env)
    assert result.returncode == 0, result.stderr
    assert "OK (3 rooms" in result.stdout
    result = run_cli("check-config", str(good), env={k: v for k, v in env.items() if k != "DB_URL"})
    assert result.returncode == 2
    assert "database.url: environment variable DB_URL is not set" in result.stderr


ELEVEN_PROBLEMS = """
database: {url: "mysql://db/opsroom", min_connections: many}
bot: {user_id: "@opsroom:example.org", admins: [nope]}
http: {port: 99999}
rooms:
  - {key: db, name: Databases, regulation: nosuch, staff: [{user: "@a:example.org", level: high}]}
  - {key: db, name: Duplicate, default: true}
  - {key: net, name: Network, default: true, language: xx}
regulations:
  standard: {claim_within: soon, resolve_within: 4h}
sources:
  - {name: prom}
  - {name: prom, token: "zabbix-token-0123456789"}
"""


def test_check_config_reports_every_problem_in_one_pass(tmp_path: Path):
    """Problems of single values and problems between sections (and what `opsroom run` needs)
    come in one answer, not in rounds that appear as the first ones are fixed."""
    bad = tmp_path / "eleven.yaml"
    bad.write_text(ELEVEN_PROBLEMS)
    result = run_cli("check-config", str(bad))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    reported = result.stderr.splitlines()[1:]
    expected = [
        "database.url: expected a postgresql:// URL",
        "database.min_connections: expected an integer",
        "http.port: a TCP port is between 1 and 65535",
        "rooms[0].staff[0].level: expected an integer",
        "rooms[2].language: must be one of",
        "regulations.standard.claim_within: not a duration",
        "rooms[0].regulation: unknown regulation 'nosuch'",
        "rooms[1].key: duplicate room key 'db'",
        "rooms[2].default: only one room can be the default",
        "sources[0]: give at least one credential",
        "sources[1].name: duplicate name 'prom'",
        "bot.admins[0]: not a Matrix user ID",
        "homeserver.url: required for `opsroom run`",  # what `run` needs, in the same pass
    ]
    for text in expected:
        assert any(line.strip().startswith(text) for line in reported), (text, result.stderr)
    assert result.stderr.startswith(f"{bad}: {len(reported)} problems")
    assert not any("standard" in line and "regulation" in line and "claim_within" not in line for line in reported)


def test_the_example_passes_check_config_for_up_as_the_readme_says():
    """`opsroom up` generates the ${...} values the environment does not set; check-config --mode up
    knows that. For `run` they must be set."""
    result = run_cli("check-config", str(EXAMPLE_CONFIG), "--mode", "up", env={})
    assert result.returncode == 0, result.stderr
    assert "checked for `opsroom up`" in result.stdout
    result = run_cli("check-config", str(EXAMPLE_CONFIG), env={})
    assert result.returncode == 2 and "OPSROOM_API_TOKEN is not set" in result.stderr


def test_missing_file_is_a_clear_error(tmp_path: Path):
    result = run_cli("check-config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "configuration file not found" in result.stderr


def test_a_dead_peer_is_one_log_line_without_a_traceback(capsys):
    """What asyncpg's pool and APScheduler log when the database dies or the process stops is
    one line each: the message and the error's name, not a traceback; other errors keep theirs."""
    import asyncio
    import logging

    from opsroom.logs import setup_logging

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    setup_logging("INFO", ["s3cret-value"])
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError:
        logging.getLogger("asyncpg.pool").warning("Failed to restore the pool connection floor; retrying", exc_info=True)
    try:
        raise asyncio.CancelledError()
    except asyncio.CancelledError:
        logging.getLogger("apscheduler.executors.default").error('Job "ring" raised an exception', exc_info=True)
    try:
        raise KeyError("s3cret-value")
    except KeyError:
        logging.getLogger("asyncpg.pool").error("something else", exc_info=True)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "asyncpg.pool: Failed to restore the pool connection floor; retrying (ConnectionRefusedError: [Errno 111] Connection refused)" in lines[0]
    assert 'Job "ring" raised an exception (CancelledError)' in lines[1]
    root.handlers[:], root.level = saved
    assert "Traceback" in err and err.count("Traceback") == 1 and "KeyError" in err  # a real error keeps its traceback


def test_ticket_types_route_by_their_match_in_configuration_order():
    import yaml

    from opsroom.service_levels import build_service_levels

    data = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["ticket_types"] = {"incident": {}, "problem": {"match": {"kind": ["recurring"]}},
                            "service_request": {"match": {"source": ["web"], "device": ["INV-1"]}}}
    levels = build_service_levels(parse_config(data, EXAMPLE_ENV))
    assert levels.type_rules == [("problem", {"kind": ["recurring"]}), ("service_request", {"source": ["web"], "device": ["INV-1"]})]
    data["ticket_types"]["problem"]["match"] = {"kind": "recurring"}  # a list is needed
    assert any(problem.startswith("ticket_types.problem.match.kind") for problem in problems_of(data, EXAMPLE_ENV))
