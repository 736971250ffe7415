"""CSV (the tickets, one row each) and JSON (any kind, for the API): streamed as they are
written, so a million tickets never sit in memory."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from datetime import datetime
from typing import Any, Iterable

from reports.document import Column
from reports.texts import N_, Texts


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {key: json_value(item) for key, item in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    return value


def csv_header(texts: Texts, columns: list[Column]) -> list[str]:
    return [texts.column(c.key) + (" " + texts._(N_("(seconds)")) if c.type == "duration" else "") for c in columns]


class CsvWriter:
    """UTF-8 with a byte order mark (Excel reads the accents right); local times with their
    offset, durations in whole seconds. Call :meth:`start`, :meth:`rows` per batch, :meth:`end`."""

    def __init__(self, texts: Texts, columns: list[Column]) -> None:
        self.texts = texts
        self.columns = columns
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def _take(self) -> bytes:
        data = self._buffer.getvalue().encode("utf-8")
        self._buffer.seek(0)
        self._buffer.truncate()
        return data

    def start(self) -> bytes:
        self._buffer.write("\ufeff")
        self._writer.writerow(csv_header(self.texts, self.columns))
        return self._take()

    def rows(self, rows: Iterable[tuple[Any, ...]]) -> bytes:
        for row in rows:
            self._writer.writerow([_csv_value(self.texts, value, column) for value, column in zip(row, self.columns)])
        return self._take()

    def end(self) -> bytes:
        return b""


def _csv_value(texts: Texts, value: Any, column: Column) -> Any:
    if value is None:
        return ""
    if column.type == "datetime":
        return value.astimezone(texts.zone).isoformat(timespec="seconds")
    if column.type == "duration":
        return round(value)
    if column.type == "bool":
        return "true" if value else "false"
    return value


class JsonWriter:
    """``head`` with ``key`` holding every row as an object (keys: the columns' keys)."""

    def __init__(self, head: dict[str, Any], key: str, columns: list[Column]) -> None:
        self.head = head
        self.key = key
        self.names = [column.key for column in columns]
        self._count = 0

    def start(self) -> bytes:
        opening = json.dumps(json_value(self.head), ensure_ascii=False)[:-1]
        return (opening + (", " if self.head else "") + json.dumps(self.key) + ": [").encode("utf-8")

    def rows(self, rows: Iterable[tuple[Any, ...]]) -> bytes:
        parts = []
        for row in rows:
            parts.append(("," if self._count else "") + json.dumps(json_value(dict(zip(self.names, row))), ensure_ascii=False))
            self._count += 1
        return "".join(parts).encode("utf-8")

    def end(self) -> bytes:
        return b"]}"
