"""A real Prometheus Alertmanager (Debian's ``prometheus-alertmanager``) for the gateway tests:
one webhook receiver pointing at opsroom, alerts grouped by alertname and service, and group
timers of one second, so a change reaches opsroom within about two seconds. Alerts are pushed
through Alertmanager's own API, as Prometheus pushes them."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import aiohttp
import pytest
import yaml

from opsroom.embedded.process import child_preexec, stop_pid
from tests.conftest import free_port

BINARY = Path("/usr/bin/prometheus-alertmanager")
INSTALL_HINT = "prometheus-alertmanager is not installed: apt-get install prometheus-alertmanager (.ci/run does)"


def available() -> bool:
    return BINARY.exists()


class Alertmanager:
    def __init__(self, directory: Path, webhook_url: str, http_config: dict[str, Any]) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = {
            "route": {
                "receiver": "opsroom",
                "group_by": ["alertname", "service"],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {"name": "opsroom", "webhook_configs": [{"url": webhook_url, "send_resolved": True, "http_config": http_config}]}
            ],
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> None:
        config_file = self.directory / "alertmanager.yml"
        config_file.write_text(yaml.safe_dump(self.config))
        log = (self.directory / "alertmanager.log").open("wb")
        self.process = subprocess.Popen(
            [
                str(BINARY),
                f"--config.file={config_file}",
                f"--storage.path={self.directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--web.external-url={self.url}",
                "--cluster.listen-address=",  # no clustering: one instance, no gossip port
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=child_preexec(),
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"Alertmanager exited: {(self.directory / 'alertmanager.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Alertmanager did not become ready within {timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            stop_pid(self.process.pid, [(signal.SIGTERM, 5), (signal.SIGKILL, 5)])
            self.process.wait()

    async def push(self, *alerts: dict[str, Any]) -> None:
        """``POST /api/v2/alerts``, as Prometheus does."""
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{self.url}/api/v2/alerts", json=list(alerts)) as response:
                assert response.status == 200, await response.text()


def alert(alertname: str, service: str, instance: str, *, resolved: bool = False, **annotations: str) -> dict[str, Any]:
    """An alert as Prometheus sends it; ``resolved`` ends it a second ago."""
    now = datetime.now(timezone.utc)
    body: dict[str, Any] = {
        "labels": {"alertname": alertname, "service": service, "instance": instance, "severity": "critical", "job": service},
        "annotations": {"summary": f"{alertname} on {service}", "description": f"{alertname} on {instance}", **annotations},
        "generatorURL": f"http://prometheus.example.org/graph?g0.expr={alertname}",
    }
    if resolved:
        body["startsAt"] = (now - timedelta(minutes=5)).isoformat()
        body["endsAt"] = (now - timedelta(seconds=1)).isoformat()
    return body


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Callable[..., Alertmanager]]:
    """Factory: a started real Alertmanager whose webhook receiver posts to ``webhook_url``."""
    if not available():
        pytest.skip(reason=INSTALL_HINT)
    started: list[Alertmanager] = []

    def start(webhook_url: str, http_config: dict[str, Any]) -> Alertmanager:
        instance = Alertmanager(tmp_path / f"alertmanager-{len(started)}", webhook_url, http_config)
        instance.directory.mkdir()
        started.append(instance)
        instance.start()
        return instance

    yield start
    for instance in started:
        instance.stop()
