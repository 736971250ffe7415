"""The event loop opsroom's processes run on: uvloop (libuv) where it is installed, which
halves the loop's own cost per request; asyncio's own loop otherwise."""

from __future__ import annotations

import asyncio
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; a platform without it still runs
        return asyncio.run(main)
    return uvloop.run(main)
