"""Several writes in one round trip: each store module describes an insert as a :class:`Write`,
and :func:`run` sends any number of them as one statement (data-modifying CTEs).

Why: a group commit of alarms writes deadlines, events and outbox rows for the whole batch; as
one statement they cost one round trip instead of three, and the server plans and executes once.
Every part sees the same snapshot and none reads what another writes, so the result is the same
as running them one after the other in one transaction; rows are inserted in the order given.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import asyncpg

_PARAMETER = re.compile(r"\$(\d+)")


@dataclass(frozen=True)
class Write:
    """An INSERT with parameters ``$1..$n`` (``args``) and, optionally, a query reading what it
    returned as ``{rows}`` (the notifications to send; its parameters continue the insert's
    numbering, and it returns one void column, as ``pg_notify`` does)."""

    insert: str
    args: tuple[Any, ...]
    then: str | None = None


def compose(writes: Sequence[Write]) -> tuple[str, list[Any]]:
    """One statement doing every write, and its arguments."""
    parts: list[str] = []
    reads: list[str] = []
    args: list[Any] = []
    for index, write in enumerate(writes):
        name, offset = f"w{index}", len(args)
        parts.append(f"{name} AS ({_shifted(write.insert, offset)})")
        if write.then is not None:
            reads.append(_shifted(write.then, offset).format(rows=name))
        args += write.args
    return f"WITH {', '.join(parts)} {' UNION ALL '.join(reads) or 'SELECT NULL'}", args


def _shifted(sql: str, offset: int) -> str:
    return _PARAMETER.sub(lambda found: f"${int(found.group(1)) + offset}", sql)


async def run(conn: asyncpg.Connection, writes: Sequence[Write | None]) -> None:
    """Every write given (None: nothing to write there), in one round trip."""
    present = [write for write in writes if write is not None]
    if not present:
        return
    sql, args = compose(present)
    await conn.execute(sql, *args)
