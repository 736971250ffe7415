"""Child processes that die with opsroom, even when opsroom is killed outright."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

_PR_SET_PDEATHSIG = 1


def child_preexec(death_signal: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A preexec_fn asking Linux to signal the child when its parent dies (no orphans).

    Linux ties the signal to the *thread* that forked the child: spawn long-lived children
    from a thread that lives as long as they do (the main thread), never from a worker pool.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0)

    return preexec


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def cmdline(pid: int) -> list[str]:
    """A process's arguments; empty if it is gone (used to recognise our own leftovers)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def stop_pid(pid: int, steps: Sequence[tuple[int, float]]) -> bool:
    """Signal a process that is not our child, escalating step by step; True once it is gone."""
    for signum, wait in steps:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while alive(pid):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        else:
            return True
    return not alive(pid)


def descendants(root: int) -> set[int]:
    """Every living process below ``root`` (children, their children ...), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    queue = [root]
    while queue:
        for child in children.get(queue.pop(), []):
            if child not in found:
                found.add(child)
                queue.append(child)
    return {pid for pid in found if alive(pid)}
