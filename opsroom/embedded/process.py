"""Child processes that die with opsroom, even when opsroom is killed outright."""

from __future__ import annotations

import ctypes
import signal
import sys
from typing import Callable

_PR_SET_PDEATHSIG = 1


def child_preexec(death_signal: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A preexec_fn asking Linux to signal the child when its parent dies (no orphans)."""
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(death_signal), 0, 0, 0)

    return preexec
