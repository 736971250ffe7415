"""`opsroom up`: cold and warm start to a healthy /healthz, and idle memory of the stack.

The clock stops when /healthz says ok, which is when opsroom is ready: the bot logged in,
its topic rooms provisioned and its first sync done (the moment `opsroom up` prints "is up";
the banner's moment is measured too).

Runs the real command in a fresh data directory on free ports, as a user would:
cold = first start (initdb, Synapse keys, account registration, rooms); warm = the
second and later starts over the same directory (3 runs, median). Memory is read from
/proc after ~10 s idle: RSS of the opsroom process, and for the whole stack both the RSS
sum (counts shared pages once per process, so it overstates) and the PSS sum (shared
pages split between their users: what the stack really occupies).
"""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from opsroom.config import ENVIRONMENT_OVERRIDES, EXAMPLE_CONFIG
from opsroom.embedded.process import cmdline, descendants

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "startup.json"
WARM_RUNS = 3
IDLE_SECONDS = 10.0
TARGETS = {"warm_seconds": 10.0, "rss_opsroom_mb": 150.0, "stack_mb": 600.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status_kb(pid: int, path: str, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb(pid: int) -> float:
    return _status_kb(pid, "status", "VmRSS") / 1024


def pss_mb(pid: int) -> float:
    return _status_kb(pid, "smaps_rollup", "Pss") / 1024


@dataclass
class Up:
    data_dir: Path
    config: Path
    http_port: int
    process: subprocess.Popen[bytes] | None = None
    banner_seconds: float | None = None

    def start(self) -> float:
        """Seconds from launching `opsroom up` to /healthz answering status ok (and, in
        ``self.banner_seconds``, to the "opsroom is up" banner)."""
        environment = {key: value for key, value in os.environ.items() if key not in ENVIRONMENT_OVERRIDES}
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environment.get("PYTHONPATH")]))
        log = open(self.data_dir.parent / "up.log", "ab")
        began = time.monotonic()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "opsroom", "up", "--data-dir", str(self.data_dir), "--config", str(self.config)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment, cwd=self.data_dir.parent,
        )
        log.close()
        log_path = self.data_dir.parent / "up.log"
        logged_before = log_path.stat().st_size
        healthy: float | None = None
        self.banner_seconds = None
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"opsroom up exited with {self.process.returncode}; see {log_path}")
            if healthy is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=2) as response:
                        if response.status == 200 and json.loads(response.read()).get("status") == "ok":
                            healthy = time.monotonic() - began
                except (urllib.error.URLError, OSError, ValueError):
                    pass
            if self.banner_seconds is None:
                with log_path.open("rb") as handle:
                    handle.seek(logged_before)
                    if b"opsroom is up" in handle.read():
                        self.banner_seconds = time.monotonic() - began
            if healthy is not None and self.banner_seconds is not None:
                return healthy
            if time.monotonic() - began > 180:
                raise RuntimeError("no healthy /healthz within 180 s")
            time.sleep(0.05)

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(60)
        if code != 0:
            raise RuntimeError(f"opsroom up stopped with exit code {code}")

    def memory(self) -> dict[str, Any]:
        assert self.process is not None
        pid = self.process.pid
        children = descendants(pid)
        synapse = {p for p in children if "synapse.app.homeserver" in cmdline(p)}
        postmaster = {p for p in children if (cmdline(p) or [""])[0].endswith("/postgres")}
        postgres = postmaster | {p for master in postmaster for p in descendants(master)}
        every = {pid} | children
        return {
            "rss_opsroom_mb": rss_mb(pid),
            "rss_postgres_mb": sum(rss_mb(p) for p in postgres),
            "pss_postgres_mb": sum(pss_mb(p) for p in postgres),
            "postgres_processes": len(postgres),
            "rss_synapse_mb": sum(rss_mb(p) for p in synapse),
            "rss_stack_mb": sum(rss_mb(p) for p in every),
            "pss_stack_mb": sum(pss_mb(p) for p in every),
            "processes": len(every),
        }


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="opsroom-bench-") as temporary:
        root = Path(temporary)
        config = yaml.safe_load(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
        http_port = free_port()
        config["embedded"]["homeserver_port"] = free_port()
        config["http"]["port"] = http_port
        config_path = root / "opsroom.yaml"
        config_path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        up = Up(root / "data", config_path, http_port)
        try:
            cold = up.start()
            banners = [up.banner_seconds]
            up.stop()
            warm = []
            for run in range(WARM_RUNS):
                warm.append(up.start())
                banners.append(up.banner_seconds)
                if run < WARM_RUNS - 1:
                    up.stop()
            time.sleep(IDLE_SECONDS)
            memory = up.memory()
            up.stop()
        finally:
            if up.process is not None and up.process.poll() is None:
                up.process.kill()
                up.process.wait()
    return {"cold_seconds": cold, "warm_seconds": warm, "warm_median_seconds": statistics.median(warm),
            "banner_seconds": banners, **memory}


def verdict(value: float, target: float) -> str:
    return "ok" if value <= target else "OVER"


def report(figures: dict[str, Any]) -> str:
    warm = figures["warm_seconds"]
    median = figures["warm_median_seconds"]
    rows: list[tuple[str, str, str, str]] = [
        ("cold first start -> /healthz ok (ready)", f"{figures['cold_seconds']:.1f} s", "(reported)", ""),
        ("  ... -> 'opsroom is up' printed", f"{figures['banner_seconds'][0]:.1f} s", "", ""),
    ]
    for index, seconds in enumerate(warm, 1):
        rows.append((f"warm start {index} -> /healthz ok (ready)", f"{seconds:.1f} s", "", ""))
        rows.append(("  ... -> 'opsroom is up' printed", f"{figures['banner_seconds'][index]:.1f} s", "", ""))
    rows.append(("warm start, median", f"{median:.1f} s", f"<= {TARGETS['warm_seconds']:.0f} s",
                 verdict(median, TARGETS["warm_seconds"])))
    rows.append((f"idle RSS, opsroom process (after {IDLE_SECONDS:.0f} s)", f"{figures['rss_opsroom_mb']:.0f} MB",
                 f"<= {TARGETS['rss_opsroom_mb']:.0f} MB", verdict(figures["rss_opsroom_mb"], TARGETS["rss_opsroom_mb"])))
    rows.append(("idle RSS, Synapse", f"{figures['rss_synapse_mb']:.0f} MB", "", ""))
    rows.append((f"idle RSS, PostgreSQL ({figures['postgres_processes']} processes)",
                 f"{figures['rss_postgres_mb']:.0f} MB (PSS {figures['pss_postgres_mb']:.0f} MB)", "", ""))
    rows.append((f"idle memory, whole stack ({figures['processes']} processes), PSS", f"{figures['pss_stack_mb']:.0f} MB",
                 f"<= {TARGETS['stack_mb']:.0f} MB", verdict(figures["pss_stack_mb"], TARGETS["stack_mb"])))
    rows.append(("idle memory, whole stack, RSS sum", f"{figures['rss_stack_mb']:.0f} MB",
                 f"<= {TARGETS['stack_mb']:.0f} MB", verdict(figures["rss_stack_mb"], TARGETS["stack_mb"])))
    header = ("figure", "measured", "target", "")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    lines = [f"opsroom up on {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.machine()}", ""]
    for row in [header, *rows]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if row is header:
            lines.append("  ".join("-" * width for width in widths).rstrip())
    lines.append("")
    lines.append("RSS sums count each shared page (PostgreSQL's shared buffers, libraries) once per process;")
    lines.append("PSS splits shared pages between the processes using them.")
    return "\n".join(lines)


def main() -> int:
    figures = measure()
    print(report(figures), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **figures}, indent=2) + "\n")
    print(f"\n(figures also in {RESULTS.relative_to(REPO)})")
    over = (
        figures["warm_median_seconds"] > TARGETS["warm_seconds"]
        or figures["rss_opsroom_mb"] > TARGETS["rss_opsroom_mb"]
        or figures["pss_stack_mb"] > TARGETS["stack_mb"]
    )
    return 1 if over else 0  # a target missed is worth a failing exit code


if __name__ == "__main__":
    sys.exit(main())
