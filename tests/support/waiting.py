"""Waiting for something another process or task does, without sleeping a fixed time."""

from __future__ import annotations

import asyncio
from typing import Any


async def eventually(predicate: Any, timeout: float = 10, what: str = "the condition") -> Any:
    """Poll an async predicate until it returns something truthy; that value is returned."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
