"""Checking JSON from outside: a 400 names the field and what is wrong with it."""

from __future__ import annotations

import functools
import json
import re
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import orjson
from aiohttp import web

from rooms.model import check_user_id
from texts.i18n import N_, Np_, in_english


def json_error(status: int, error: str, **details: Any) -> web.Response:
    """Every 4xx/5xx opsroom gives has a JSON body naming the problem."""
    return web.json_response({"error": error, **details}, status=status)


def retry_later(response: web.Response, seconds: int) -> web.Response:
    """A 503 that tells the sender when to try again (nothing was stored)."""
    response.headers["Retry-After"] = str(seconds)
    return response


class InvalidInput(Exception):
    """Bad input, named by its field. ``message`` is English (the JSON answer); ``text`` and
    ``values`` let a page show it in its own language (texts marked with ``N_``/``Np_``)."""

    def __init__(self, field: str | None, message: str, values: dict[str, Any] | None = None) -> None:
        self.text = message
        self.values = values or {}
        self.message = in_english(message, self.values)
        super().__init__(self.message)
        self.field = field

    def response(self) -> web.Response:
        body: dict[str, Any] = {"error": f"{self.field}: {self.message}" if self.field else self.message}
        if self.field:
            body["field"] = self.field
        return web.json_response(body, status=400)


async def read_json_object(request: web.Request, max_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object; 413 past ``max_bytes``, 400 when not a JSON object."""
    return parse_json_object(await read_body(request, max_bytes))


async def read_body(request: web.Request, max_bytes: int) -> bytes:
    """The raw request body (signatures are computed over it); 413 past ``max_bytes``."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=request.content_length)
    raw = bytearray()
    while len(raw) <= max_bytes:  # read() returns what has arrived so far, not all of it
        chunk = await request.content.read(max_bytes + 1 - len(raw))
        if not chunk:
            break
        raw += chunk
    if len(raw) > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=len(raw))
    return bytes(raw)


MAX_JSON_DEPTH = 32  # opsroom's own shapes nest 4 levels; senders' extras get room to spare


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """A JSON object whose every string PostgreSQL can store: no NUL, no lone surrogate, not
    nested absurdly deep, no NaN or Infinity. Anything else is a 400 naming where it is.

    Parsed by orjson (several times faster than the standard library); what orjson refuses, or
    may read differently (an integer of 19 digits or more becomes a float there), goes through
    the standard library, so every answer, and the field named in it, is what it always was."""
    if _LONG_INTEGER.search(raw) is None:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = _STRICT
    else:
        data = _STRICT
    if data is _STRICT:
        return _parse_strictly(raw)
    if not isinstance(data, dict):
        raise InvalidInput(None, "expected a JSON object")
    # orjson's strings are valid UTF-8 (no lone surrogate); a NUL comes only from a \u0000 escape,
    # and a document with fewer than MAX_JSON_DEPTH brackets cannot nest deeper than that
    if b"\\u0000" in raw or (raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and _nested_too_deep(data)):
        check_json_text(data)
    return data


_STRICT = object()
_LONG_INTEGER = re.compile(rb"\d{19}")


def _parse_strictly(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidInput(None, f"malformed JSON: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, an integer of over 4300 digits, NaN
        raise InvalidInput(None, f"malformed JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidInput(None, "expected a JSON object")
    check_json_text(data)
    return data


def _nested_too_deep(data: Any) -> bool:
    """Whether containers nest MAX_JSON_DEPTH levels or more (only containers are visited)."""
    stack = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth >= MAX_JSON_DEPTH:
            return True
        for item in value.values() if type(value) is dict else value:
            if type(item) is dict or type(item) is list:
                stack.append((item, depth + 1))
    return False


def text_problem(value: str) -> str | None:
    """What makes a string unstorable (PostgreSQL text holds neither NUL nor lone surrogates)."""
    if "\x00" in value:
        return N_("contains a NUL character (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return N_("contains a lone surrogate (not valid Unicode)")
    return None


def clean_text(name: str, value: str) -> str:
    """``value`` if it can be stored, else a 400 naming ``name`` (for query and form values)."""
    problem = text_problem(value)
    if problem:
        raise InvalidInput(name, problem)
    return value


def check_json_text(data: Any) -> None:
    """Every key and string of a parsed JSON document can be stored; it nests at most
    MAX_JSON_DEPTH levels. Iterative, so a deep document cannot exhaust the stack."""
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise InvalidInput(path or None, problem)
            continue
        if isinstance(value, (dict, list)) and depth >= MAX_JSON_DEPTH:
            raise InvalidInput(path or None, f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                key_problem = text_problem(key)
                if key_problem:
                    raise InvalidInput(path or None, f"a key {key_problem}")
                stack.append((f"{path}.{key}" if path else key, item, depth + 1))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((f"{path}[{index}]", item, depth + 1))


def string(data: dict[str, Any], name: str, *, required: bool = False, max_length: int = 1000) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidInput(name, N_("required"))
        return None
    if not isinstance(value, str):
        raise InvalidInput(name, f"expected a string, got {type(value).__name__}")
    clean_text(name, value)
    value = value.strip()
    if required and not value:
        raise InvalidInput(name, N_("must not be empty"))
    if len(value) > max_length:
        raise InvalidInput(name, Np_("longer than %(count)s character", "longer than %(count)s characters"), {"count": max_length})
    return value or None


def choice(data: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = data.get(name, default)
    if value is None:
        return default
    if not isinstance(value, str) or value.lower() not in allowed:
        raise InvalidInput(name, f"must be one of {', '.join(allowed)}")
    return value.lower()


def string_map(data: dict[str, Any], name: str, *, max_entries: int = 64, max_length: int = 1000) -> dict[str, str]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInput(name, "expected an object of strings")
    if len(value) > max_entries:
        raise InvalidInput(name, f"more than {max_entries} entries")
    result = {}
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise InvalidInput(f"{name}.{key}", "expected a string")
        text = str(item)
        if len(text) > max_length or len(key) > 200:
            raise InvalidInput(f"{name}.{key}", "too long")
        result[str(key)] = text
    return result


def http_url(data: dict[str, Any], name: str) -> str | None:
    value = string(data, name, max_length=2000)
    if value is not None and not value.startswith(("http://", "https://")):
        raise InvalidInput(name, "expected an http:// or https:// URL")
    return value


def no_unknown_fields(data: dict[str, Any], known: frozenset[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(unknown[0], "unknown field")


_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


def email(data: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = string(data, name, required=required, max_length=254)
    if value is not None and not _EMAIL.match(value):
        raise InvalidInput(name, N_("not an e-mail address (expected name@example.org)"))
    return value


def matrix_user_id(data: dict[str, Any], name: str) -> str | None:
    value = string(data, name, max_length=255)
    if value is not None and check_user_id(value):
        raise InvalidInput(name, "not a Matrix user ID (expected @name:server)")
    return value


@contextmanager
def within(prefix: str) -> Iterator[None]:
    """Problems found inside a nested object name their full path (``alerts[2].labels.job``)."""
    try:
        yield
    except InvalidInput as error:
        raise InvalidInput(f"{prefix}.{error.field}" if error.field else prefix, error.message) from None


def mapping(data: dict[str, Any], name: str, *, required: bool = False) -> dict[str, Any] | None:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidInput(name, N_("required"))
        return None
    if not isinstance(value, dict):
        raise InvalidInput(name, f"expected an object, got {type(value).__name__}")
    return value


def array(data: dict[str, Any], name: str, *, required: bool = False, max_items: int = 1000) -> list[Any]:
    value = data.get(name)
    if value is None:
        if required:
            raise InvalidInput(name, N_("required"))
        return []
    if not isinstance(value, list):
        raise InvalidInput(name, f"expected a list, got {type(value).__name__}")
    if len(value) > max_items:
        raise InvalidInput(name, f"more than {max_items} items")
    return value


# times outside these are typos or probes (9999-12-31T23:59:59-23:59 is past what a datetime
# holds in UTC); stored, they would break every later rendering of the ticket
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)
RANGE_TEXT = "must lie between 1970-01-01 and 2199-12-31"


def in_range(moment: datetime) -> bool:
    """Whether an aware time lies in the range opsroom accepts and can show in any zone."""
    try:
        return EARLIEST <= moment.astimezone(timezone.utc) < LATEST
    except OverflowError:
        return False


def timestamp(data: dict[str, Any], name: str) -> datetime | None:
    """An RFC 3339 time between 1970 and 2199; Go's zero time (``0001-01-01T00:00:00Z``) means none."""
    value = string(data, name, max_length=64)
    if value is None:
        return None
    moment = _moment(value)
    if isinstance(moment, str):
        raise InvalidInput(name, moment)
    return moment


@functools.lru_cache(maxsize=4096)
def _moment(value: str) -> datetime | str | None:
    """The time a text names, or what is wrong with it (the alerts of one notification share
    their times: each is read once)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return "expected an RFC 3339 time such as 2026-11-20T08:14:03Z"
    if moment.tzinfo is None:
        return "the time needs a zone (Z or +01:00)"
    if moment.replace(tzinfo=None) == datetime(1, 1, 1) and moment.utcoffset() == timedelta(0):
        return None  # Go's zero time (Alertmanager's endsAt of a firing alert): no time given
    if not in_range(moment):
        return RANGE_TEXT
    return moment


_MAX_TICKET_NUMBER = 2**63 - 1  # PostgreSQL bigint


def ascii_number(text: str) -> int | None:
    """A whole number written in ASCII digits (``²`` and ``١`` are digits to ``str.isdigit``, not here)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else None


def ticket_number(request: web.Request) -> int:
    """The ticket number in the path (``{ticket_id}``, ``#`` allowed)."""
    number = ascii_number(request.match_info["ticket_id"].lstrip("#"))
    if number is None or not 0 < number <= _MAX_TICKET_NUMBER:
        raise InvalidInput("ticket", "expected a ticket number")
    return number
