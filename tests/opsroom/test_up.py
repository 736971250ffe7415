"""`opsroom up` end to end: a real embedded PostgreSQL and Synapse, started as the user would.

One data directory is shared by the module's tests, which run in order: first start,
a demo user's `!help`, SIGTERM and a second start, a dead Synapse, a killed opsroom.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import asyncpg
import pytest
import yaml
from nio import AsyncClient, LoginError, RoomResolveAliasError

from opsroom.config import ENVIRONMENT_OVERRIDES, EXAMPLE_CONFIG, parse_config
from opsroom.embedded.accounts import describe_role
from opsroom.embedded.postgres import EmbeddedPostgres
from opsroom.embedded.process import alive, cmdline, descendants
from opsroom.embedded.up import check_up, env_references
from tests.support.matrix import Specialist, body, replying_to

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DEMO_USERS = {"@admin:localhost", "@alice:localhost", "@bob:localhost", "@lead:localhost", "@head:localhost", "@jana:localhost"}
BOT = "@opsroom:localhost"
ALIASES = ["#opsroom-databases:localhost", "#opsroom-network:localhost", "#opsroom-general:localhost"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- processes --------------------------------------------------------------------------


def wait_gone(pids: set[int], timeout: float = 15.0) -> set[int]:
    """The pids still alive after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.1)
    return {pid for pid in pids if alive(pid)}


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def out(self) -> str:
        return self.stdout.read_text(errors="replace")

    @property
    def err(self) -> str:
        return self.stderr.read_text(errors="replace")

    def child(self, name: str) -> int:
        """The pid of the Synapse or PostgreSQL (postmaster) child."""
        for pid in descendants(self.process.pid):
            args = cmdline(pid)
            if name == "synapse" and "synapse.app.homeserver" in args:
                return pid
            if name == "postgres" and args and args[0].endswith("/postgres") and "-D" in args:
                return pid
        raise AssertionError(f"no {name} child of opsroom ({self.process.pid})")


@dataclass
class Stack:
    root: Path
    http_port: int = field(default_factory=free_port)
    homeserver_port: int = field(default_factory=free_port)
    runs: list[Run] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def homeserver(self) -> str:
        return f"http://127.0.0.1:{self.homeserver_port}"

    def write_config(self) -> Path:
        config = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
        config["embedded"]["homeserver_port"] = self.homeserver_port
        config["http"]["port"] = self.http_port
        path = self.root / "opsroom.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        return path

    def healthz(self) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def start(self, timeout: float = 90.0) -> Run:
        """`opsroom up` as a user runs it; returns once /healthz says ok and the banner is out."""
        index = len(self.runs)
        environment = {key: value for key, value in os.environ.items()
                       if key not in ENVIRONMENT_OVERRIDES and key not in ("OPSROOM_PROMETHEUS_TOKEN", "OPSROOM_API_TOKEN", "OPSROOM_BOT_PICKLE_KEY")}
        # the editable install maps only the packages that existed when it was made
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environment.get("PYTHONPATH")]))
        stdout, stderr = self.root / f"up{index}.out", self.root / f"up{index}.err"
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "opsroom", "up", "--data-dir", str(self.data_dir), "--config", str(self.write_config())],
                cwd=self.root, env=environment, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
            )
        run = Run(process, stdout, stderr)
        self.runs.append(run)
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"opsroom up exited with {process.returncode}:\n{run.out}\n{run.err}")
            try:
                status, report = self.healthz()
                if status == 200 and report.get("status") == "ok" and "Press Ctrl-C to stop." in run.out:
                    return run
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"/healthz not ok within {timeout}s:\n{run.out}\n{run.err}")
            time.sleep(0.1)

    def stop(self, run: Run, signum: int = signal.SIGTERM, timeout: float = 40.0) -> int:
        run.process.send_signal(signum)
        return run.process.wait(timeout)

    def kill_all(self) -> None:
        for run in self.runs:
            if run.process.poll() is None:
                run.process.kill()
                run.process.wait()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("up"))
    stack.start()
    try:
        yield stack
    finally:
        stack.kill_all()


def demo_accounts(stack: Stack) -> list[dict[str, str]]:
    return json.loads((stack.data_dir / "demo-accounts.json").read_text())


def password_of(stack: Stack, user_id: str) -> str:
    return next(entry["password"] for entry in demo_accounts(stack) if entry["user_id"] == user_id)


async def password_login(stack: Stack, user_id: str) -> Specialist:
    """A person signing in with the password `opsroom up` printed (nio, not opsroom's code)."""
    client = AsyncClient(stack.homeserver, user_id)
    response = await client.login(password_of(stack, user_id), device_name="test")
    if isinstance(response, LoginError):
        await client.close()
        raise AssertionError(f"{user_id} cannot log in: {response.message}")
    specialist = Specialist(client)
    await specialist.sync_once(timeout_ms=0)
    return specialist


async def room_ids(specialist: Specialist) -> list[str]:
    found = []
    for alias in ALIASES:
        response = await specialist.client.room_resolve_alias(alias)
        assert not isinstance(response, RoomResolveAliasError), f"{alias}: {response.message}"
        found.append(response.room_id)
    return found


async def user_count(stack: Stack) -> int:
    admin = await password_login(stack, "@admin:localhost")
    try:
        request = urllib.request.Request(f"{stack.homeserver}/_synapse/admin/v2/users?limit=1000&guests=false")
        request.add_header("Authorization", f"Bearer {admin.client.access_token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(json.loads(response.read())["total"])
    finally:
        await admin.client.logout()
        await admin.close()


# ---- the tests, in order ------------------------------------------------------------------


def test_first_start_is_healthy_and_writes_demo_accounts(stack: Stack) -> None:
    status, report = stack.healthz()
    assert status == 200 and report["status"] == "ok"
    assert report["database"]["ok"] is True
    assert report["homeserver"]["ok"] is True

    accounts = demo_accounts(stack)
    assert isinstance(accounts, list)
    assert all(set(entry) == {"user_id", "password", "role"} for entry in accounts)
    assert {entry["user_id"] for entry in accounts} == DEMO_USERS
    roles = {entry["user_id"]: entry["role"] for entry in accounts}
    assert roles["@admin:localhost"] == "administrator"
    assert roles["@alice:localhost"] == "databases, general: specialist (level 1)"
    assert roles["@lead:localhost"] == "databases, network, general: shift lead (level 2)"
    assert roles["@head:localhost"] == "databases, network, general: head (level 3)"
    for name in ("demo-accounts.json", "bot.json", "config-secrets.json"):
        assert (stack.data_dir / name).stat().st_mode & 0o777 == 0o600, name

    run = stack.runs[0]
    out, err = run.out, run.err
    assert stack.homeserver in out
    assert f"http://127.0.0.1:{stack.http_port}/healthz" in out
    assert f"Admin portal http://127.0.0.1:{stack.http_port}/admin/" in out
    with urllib.request.urlopen(f"http://127.0.0.1:{stack.http_port}/admin/", timeout=5) as response:
        assert response.status == 200 and "/admin/login?next=" in response.url
        assert "Log in to the opsroom portal" in response.read().decode()
    assert "demo-accounts.json" in out and "#opsroom-databases:localhost" in out
    assert "OPSROOM_PROMETHEUS_TOKEN" in out and "config-secrets.json" in out  # what was generated, and where
    generated = json.loads((stack.data_dir / "config-secrets.json").read_text())
    assert set(generated) == {"OPSROOM_PROMETHEUS_TOKEN", "OPSROOM_API_TOKEN", "OPSROOM_BOT_PICKLE_KEY"}
    bot_password = json.loads((stack.data_dir / "bot.json").read_text())["password"]
    for secret in [*generated.values(), bot_password]:
        assert secret not in out and secret not in err
    for entry in accounts:
        assert entry["password"] in out  # the demo banner shows them: a local demo
        assert entry["password"] not in err  # the log never does


async def test_demo_user_gets_an_answer_to_help(stack: Stack) -> None:
    alice = await password_login(stack, "@alice:localhost")
    try:
        room_id = (await room_ids(alice))[0]
        await alice.wait_for_invite(room_id, timeout=30)
        await alice.join(room_id)
        asked = await alice.send(room_id, "!help")
        answer = await alice.wait_for(replying_to(asked), timeout=30, what="the bot's answer to !help")
        assert answer["sender"] == BOT
        assert "!help" in body(answer)
    finally:
        await alice.close()


async def test_sigterm_stops_everything_and_a_second_start_reuses_it(stack: Stack) -> None:
    first = stack.runs[-1]
    alice = await password_login(stack, "@alice:localhost")
    rooms_before = await room_ids(alice)
    await alice.close()
    users_before = await user_count(stack)
    files_before = {name: (stack.data_dir / name).read_bytes() for name in ("demo-accounts.json", "bot.json", "config-secrets.json")}
    children = descendants(first.process.pid)
    postgres_pid, synapse_pid = first.child("postgres"), first.child("synapse")

    # the bot's cross-signing was set up on the first start: its recovery key shown once, never logged
    assert first.out.count("its recovery key is shown only now") == 1
    recovery_key = first.out.split("its recovery key is shown only now:", 1)[1].split()[0:12]
    assert len(recovery_key) == 12 and " ".join(recovery_key) not in first.err

    assert stack.stop(first) == 0
    assert "stopping" in first.out
    assert wait_gone(children | {postgres_pid, synapse_pid}, timeout=5) == set()

    second = stack.start()
    status, report = stack.healthz()
    assert status == 200 and report["database"]["ok"] and report["homeserver"]["ok"]
    for name, content in files_before.items():
        assert (stack.data_dir / name).read_bytes() == content, f"{name} changed"
    alice = await password_login(stack, "@alice:localhost")  # the same password still works
    try:
        assert await room_ids(alice) == rooms_before
        assert alice.client.rooms.keys() >= {rooms_before[0]}  # still a member of the room joined before
    finally:
        await alice.close()
    assert await user_count(stack) == users_before
    assert "registered @" not in second.err and ": created !" not in second.err
    assert "Generated values" not in second.out and "created now" not in second.out
    assert "recovery key" not in second.out


@pytest.mark.parametrize("dies, named, log", [("synapse", "Synapse", "homeserver.log"), ("postgres", "PostgreSQL", "postgres.log")])
def test_a_dead_child_stops_everything_and_each_part_says_so_in_one_line(stack: Stack, dies: str, named: str, log: str) -> None:
    run = stack.runs[-1] if stack.runs and stack.runs[-1].process.poll() is None else stack.start()
    children = descendants(run.process.pid)
    os.kill(run.child(dies), signal.SIGKILL)
    code = run.process.wait(40)
    assert code != 0
    assert named in run.err and log in run.err and "SIGKILL" in run.err
    assert "Traceback" not in run.err, run.err  # the parts that noticed say so in a line each
    assert wait_gone(children, timeout=5) == set()


def test_a_killed_opsroom_leaves_no_orphans_and_starts_again(stack: Stack) -> None:
    run = stack.start()
    children = descendants(run.process.pid)
    assert run.child("postgres") in children and run.child("synapse") in children
    stack.stop(run, signal.SIGKILL)
    assert wait_gone(children, timeout=20) == set()  # the children die with their parent

    again = stack.start()  # over a cluster and a homeserver that were stopped by their death signal
    assert stack.stop(again) == 0


async def test_embedded_postgres_alone_keeps_data_across_restarts(tmp_path: Path) -> None:
    long_dir = tmp_path / ("x" * 90)  # too long for a unix socket path: the socket goes to /tmp
    server = EmbeddedPostgres(long_dir)
    server.start()
    try:
        assert len(str(server.socket_dir)) < 60
        conn = await asyncpg.connect(server.dsn("opsroom"))
        await conn.execute("CREATE TABLE kept (value text)")
        await conn.execute("INSERT INTO kept VALUES ('still here')")
        await conn.close()
    finally:
        server.stop()
    assert server.poll() is not None and not alive(server.pid or 0)
    assert not server.socket_dir.exists()  # the fallback socket directory is not left behind in /tmp

    stale = long_dir / "data" / "postmaster.pid"  # as a killed run leaves it: naming a dead pid
    dead_pid = subprocess.Popen(["true"])
    dead_pid.wait()
    stale.write_text(f"{dead_pid.pid}\n{long_dir / 'data'}\n0\n5432\n{server.socket_dir}\n\n  0 0\nready\n")

    server = EmbeddedPostgres(long_dir)
    server.start()
    try:
        conn = await asyncpg.connect(server.dsn("opsroom"))
        assert await conn.fetchval("SELECT value FROM kept") == "still here"
        await conn.close()
        admin = await asyncpg.connect(server.dsn("postgres"))
        assert await admin.fetchval("SELECT count(*) FROM pg_database WHERE datname = 'opsroom'") == 1
        await admin.close()
    finally:
        server.stop()


def test_references_roles_and_up_specific_checks() -> None:
    data = yaml.safe_load(
        "# ${IN_A_COMMENT} is no reference\n"
        "sources: [{name: a, token: '${TOKEN_A}'}]\n"
        "api: {tokens: [{name: b, token: 'x-${TOKEN_B}-${TOKEN_A}'}]}\n"
    )
    assert env_references(data) == {"TOKEN_A": ["sources[0].token", "api.tokens[0].token"], "TOKEN_B": ["api.tokens[0].token"]}
    assert describe_role(True, {2: ["db", "net"], 1: ["general"]}) == (
        "administrator; general: specialist (level 1); db, net: shift lead (level 2)"
    )
    assert describe_role(False, {}) == "member"
    regulations = {"standard": {"claim_within": "5m", "resolve_within": "4h"}}
    foreign_bot = parse_config({"bot": {"user_id": "@bot:example.org"}, "regulations": regulations}, {})
    assert [p.path for p in check_up(foreign_bot)] == ["bot.user_id"]  # the embedded server is localhost
    external = parse_config({"homeserver": {"url": "https://matrix.example.org"}, "regulations": regulations}, {})
    assert {p.path for p in check_up(external)} == {"bot.user_id", "bot.password"}
