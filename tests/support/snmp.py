"""Real SNMP peers for the device-intake tests: net-snmp's ``snmptrap`` as the sender, ``snmpd``
as the polled agent (on a loopback port, with a community, a v3 user with auth+priv and a
settable sysContact to flip a check), and a small HTTP server that fails on command."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

SNMPTRAP = shutil.which("snmptrap") or "/usr/bin/snmptrap"
SNMPSET = shutil.which("snmpset") or "/usr/bin/snmpset"
SNMPD = "/usr/sbin/snmpd"

COMMUNITY = "traps-community-1"
V3_USER = "trapper"
V3_AUTH = "auth-pass-1234"
V3_PRIV = "priv-pass-5678"
V3_ENGINE_ID = "0x80001f8880a1b2c3d4e5f60718"

AGENT_COMMUNITY = "agent-public-1"
AGENT_WRITE_COMMUNITY = "agent-private-1"
AGENT_USER = "checker"
AGENT_AUTH = "check-auth-123"
AGENT_PRIV = "check-priv-456"

SYS_CONTACT = "1.3.6.1.2.1.1.4.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"

LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
LINK_UP = "1.3.6.1.6.3.1.1.5.4"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"


def require(binary: str, package: str) -> None:
    if not Path(binary).exists():
        pytest.skip(reason=f"{binary} is not installed (Debian package {package}; .ci/run installs it)")


def _quiet_env() -> dict[str, str]:
    # no MIB files are needed: every OID is numeric; keeps net-snmp from loading (and warning about) MIBs
    return {**os.environ, "MIBS": "", "MIBDIRS": "/nonexistent"}


async def run(*argv: str) -> subprocess.CompletedProcess[str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_quiet_env()
    )
    out, err = await asyncio.wait_for(process.communicate(), 10)
    return subprocess.CompletedProcess(list(argv), process.returncode or 0, out.decode(), err.decode())


def varbind_args(varbinds: list[tuple[str, str, str]]) -> list[str]:
    return [part for varbind in varbinds for part in varbind]


async def trap_v2c(port: int, trap_oid: str, varbinds: list[tuple[str, str, str]] = (), *, community: str = COMMUNITY) -> None:
    require(SNMPTRAP, "snmp")
    result = await run(SNMPTRAP, "-v", "2c", "-c", community, f"udp:127.0.0.1:{port}", "", trap_oid, *varbind_args(list(varbinds)))
    assert result.returncode == 0, result.stderr


async def trap_v1(port: int, enterprise: str, agent: str, generic: int, specific: int,
                  varbinds: list[tuple[str, str, str]] = (), *, community: str = COMMUNITY) -> None:
    require(SNMPTRAP, "snmp")
    result = await run(SNMPTRAP, "-v", "1", "-c", community, f"udp:127.0.0.1:{port}", enterprise, agent, str(generic),
                       str(specific), "", *varbind_args(list(varbinds)))
    assert result.returncode == 0, result.stderr


async def trap_v3(port: int, trap_oid: str, varbinds: list[tuple[str, str, str]] = (), *, user: str = V3_USER,
                  auth: str = V3_AUTH, priv: str = V3_PRIV, engine_id: str = V3_ENGINE_ID) -> None:
    require(SNMPTRAP, "snmp")
    result = await run(SNMPTRAP, "-v", "3", "-e", engine_id, "-u", user, "-l", "authPriv", "-a", "SHA", "-A", auth,
                       "-x", "AES", "-X", priv, f"udp:127.0.0.1:{port}", "", trap_oid, *varbind_args(list(varbinds)))
    assert result.returncode == 0, result.stderr


@dataclass
class Agent:
    """A running snmpd on 127.0.0.1:<port>."""

    port: int
    process: subprocess.Popen[bytes]
    directory: Path

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def set_contact(self, value: str) -> None:
        require(SNMPSET, "snmp")
        result = await run(SNMPSET, "-v", "2c", "-c", AGENT_WRITE_COMMUNITY, f"udp:{self.target}", SYS_CONTACT, "s", value)
        assert result.returncode == 0, result.stderr

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_agent(directory: Path, port: int) -> Agent:
    require(SNMPD, "snmpd")
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "snmpd.conf"
    conf.write_text(
        f"rocommunity {AGENT_COMMUNITY} 127.0.0.1\n"
        f"rwcommunity {AGENT_WRITE_COMMUNITY} 127.0.0.1\n"
        f"createUser {AGENT_USER} SHA {AGENT_AUTH} AES {AGENT_PRIV}\n"
        f"rouser {AGENT_USER} authpriv\n"
        "sysName test-device\n"
        "sysLocation lab\n"
    )
    log = (directory / "snmpd.log").open("wb")
    env = {**_quiet_env(), "SNMP_PERSISTENT_DIR": str(directory / "persist")}
    process = subprocess.Popen(
        [SNMPD, "-f", "-Lo", "-C", "-c", str(conf), f"udp:127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT, env=env
    )
    return Agent(port, process, directory)


async def wait_agent(agent: Agent) -> None:
    """Until snmpd answers a GET (it needs a moment to read its configuration)."""
    require(SNMPSET, "snmp")
    snmpget = shutil.which("snmpget") or "/usr/bin/snmpget"
    for _ in range(50):
        result = await run(snmpget, "-v", "2c", "-c", AGENT_COMMUNITY, "-t", "0.2", "-r", "0", f"udp:{agent.target}", SYS_NAME)
        if result.returncode == 0:
            return
        if agent.process.poll() is not None:
            raise AssertionError(f"snmpd exited: {(agent.directory / 'snmpd.log').read_text()[-2000:]}")
        await asyncio.sleep(0.1)
    raise AssertionError("snmpd did not answer within 5s")


class FlakyServer:
    """An HTTP server whose ``/health`` answers 200 "all good" or 500 on command."""

    def __init__(self) -> None:
        self.failing = False
        self.requests = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _health(self, request: web.Request) -> web.Response:
        self.requests += 1
        if self.failing:
            return web.Response(status=500, text="broken")
        return web.Response(text="status: all good")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/health", self._health)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

