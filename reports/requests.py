"""Report requests kept in PostgreSQL until delivered: what was asked, where the file goes, and
the content URI once uploaded (a retry posts the same file instead of uploading it again)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from reports.model import ReportRequest, Scope
from reports.periods import Period
from storage import outbox
from storage import outbox_kinds as kinds

QUEUE_PREFIX = "report:"


@dataclass(frozen=True)
class StoredRequest:
    id: int
    request: ReportRequest
    requested_by: str
    deliver: dict[str, Any]
    content_uri: str | None
    size_bytes: int | None
    summary: dict[str, str] | None
    finished_at: datetime | None


async def add(conn: asyncpg.Connection, request: ReportRequest, requested_by: str, deliver: dict[str, Any], *,
              channel: str = "matrix") -> int:
    """Store the request and queue its delivery (an outbox row of its own queue, so a long build
    holds up no room's messages); call inside the transaction that accepted it."""
    label = request.scope.label
    request_id = await conn.fetchval(
        """
        INSERT INTO report_requests (kind, format, period_start, period_end, period_label, timezone, language, rooms,
                                     label_name, label_value, requested_by, deliver)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id
        """,
        request.kind, request.format, request.period.start, request.period.end, request.period.label,
        request.period.timezone, request.language, list(request.scope.rooms) if request.scope.rooms is not None else None,
        label[0] if label else None, label[1] if label else None, requested_by, deliver,
    )
    kind = kinds.REPORT_FILE if channel == "matrix" else kinds.REPORT_MAIL
    await outbox.enqueue(conn, kind.row(f"{QUEUE_PREFIX}{request_id}", kinds.ReportRequestRef(request_id)))
    return request_id


async def get(conn: asyncpg.Connection, request_id: int) -> StoredRequest | None:
    row = await conn.fetchrow("SELECT * FROM report_requests WHERE id = $1", request_id)
    if row is None:
        return None
    label = (row["label_name"], row["label_value"]) if row["label_name"] else None
    period = Period(row["period_start"], row["period_end"], row["timezone"], row["period_label"])
    scope = Scope(tuple(row["rooms"]) if row["rooms"] is not None else None, label)
    request = ReportRequest(row["kind"], period, scope, row["format"], row["language"])
    return StoredRequest(row["id"], request, row["requested_by"], row["deliver"], row["content_uri"], row["size_bytes"],
                         row["summary"], row["finished_at"])


async def set_uploaded(conn: asyncpg.Connection, request_id: int, content_uri: str, filename: str, size: int,
                       summary: dict[str, str], sha256: str) -> None:
    await conn.execute(
        "UPDATE report_requests SET content_uri = $2, filename = $3, size_bytes = $4, summary = $5, sha256 = $6 WHERE id = $1",
        request_id, content_uri, filename, size, summary, sha256,
    )


async def finish(conn: asyncpg.Connection, request_id: int, failure: str | None = None) -> None:
    await conn.execute("UPDATE report_requests SET finished_at = now(), failure = $2 WHERE id = $1", request_id, failure)
