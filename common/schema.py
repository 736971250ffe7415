"""Typed loading of YAML data into dataclasses, collecting every problem with its key path.

Configuration errors are reported as ``rooms[1].staff[0].level: expected an integer, got 'x'``
instead of a traceback, and all problems are found in one pass, so a user fixes a file once.
The dataclasses themselves live with the parts they configure; this module only knows how
to walk type hints.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import timedelta
from typing import Any, Literal, Union

from common.durations import format_duration, parse_duration

__all__ = [
    "Problem",
    "Secret",
    "load",
    "parse_duration",
    "format_duration",
    "SchemaError",
]


@dataclasses.dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(top level)'}: {self.message}"


class SchemaError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class Secret:
    """A configuration value that must never be shown: repr and str hide it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {value!r}"
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class _Loader:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str) -> Any:
        self.problems.append(Problem(path, message))
        return _INVALID

    def load(self, hint: Any, value: Any, path: str) -> Any:
        origin = typing.get_origin(hint)
        if hint is Any:
            return value
        if origin in (Union, types.UnionType):
            members = typing.get_args(hint)
            if value is None and type(None) in members:
                return None
            non_none = [m for m in members if m is not type(None)]
            if len(non_none) == 1:
                return self.load(non_none[0], value, path)
            # A union of several types: the first that loads without problems wins.
            for member in non_none:
                trial = _Loader()
                result = trial.load(member, value, path)
                if not trial.problems:
                    return result
            return self.fail(path, f"expected one of {', '.join(_type_name(m) for m in non_none)}, got {_describe(value)}")
        if origin is Literal:
            allowed = typing.get_args(hint)
            if value not in allowed:
                return self.fail(path, f"must be one of {', '.join(repr(a) for a in allowed)}, got {_describe(value)}")
            return value
        if origin in (list, tuple):
            if not isinstance(value, list):
                return self.fail(path, f"expected a list, got {_describe(value)}")
            (item_hint, *_rest) = typing.get_args(hint) or (Any,)
            items = [self.load(item_hint, item, _join(path, index)) for index, item in enumerate(value)]
            return tuple(items) if origin is tuple else items
        if origin is dict:
            if not isinstance(value, dict):
                return self.fail(path, f"expected a mapping, got {_describe(value)}")
            key_hint, value_hint = typing.get_args(hint) or (str, Any)
            result = {}
            for key, item in value.items():
                if not isinstance(key, str):
                    self.fail(_join(path, str(key)), "keys must be strings")
                    continue
                result[key] = self.load(value_hint, item, _join(path, key))
            return result
        if isinstance(hint, type) and hasattr(hint, "from_config"):
            # a value type that parses itself (durations that may be business time, per-severity values)
            try:
                return hint.from_config(value)
            except ValueError as error:
                return self.fail(path, str(error))
        if dataclasses.is_dataclass(hint):
            return self.load_dataclass(hint, value, path)
        if hint is bool:
            if not isinstance(value, bool):
                return self.fail(path, f"expected true or false, got {_describe(value)}")
            return value
        if hint is int:
            if isinstance(value, bool) or not isinstance(value, int):
                return self.fail(path, f"expected an integer, got {_describe(value)}")
            return value
        if hint is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return self.fail(path, f"expected a number, got {_describe(value)}")
            return float(value)
        if hint is str:
            if not isinstance(value, str):
                return self.fail(path, f"expected a string, got {_describe(value)}")
            return value
        if hint is Secret:
            if isinstance(value, Secret):
                return value
            if not isinstance(value, str) or not value:
                return self.fail(path, "expected a non-empty string")
            return Secret(value)
        if hint is timedelta:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return timedelta(seconds=value)
            if not isinstance(value, str):
                return self.fail(path, f"expected a duration such as 90s, 5m, 2h or 1d, got {_describe(value)}")
            try:
                return parse_duration(value)
            except ValueError as error:
                return self.fail(path, str(error))
        raise TypeError(f"schema: unsupported type {hint!r} at {path}")

    def load_dataclass(self, cls: type, value: Any, path: str) -> Any:
        if value is None:
            value = {}
        if not isinstance(value, dict):
            return self.fail(path, f"expected a mapping, got {_describe(value)}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        aliases = {f.metadata.get("key", f.name): f.name for f in fields.values()}
        for key in value:
            if key not in aliases:
                suggestion = _closest(str(key), aliases)
                hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
                self.fail(_join(path, str(key)), f"unknown key{hint}")
        kwargs: dict[str, Any] = {}
        failed = False
        for key, name in aliases.items():
            field = fields[name]
            child_path = _join(path, key)
            if key in value:
                before = len(self.problems)
                loaded = self.load(hints[name], value[key], child_path)
                if loaded is _INVALID or len(self.problems) > before:
                    failed = True
                    continue
                check = field.metadata.get("check")
                if check is not None:
                    message = check(loaded)
                    if message:
                        self.fail(child_path, message)
                        failed = True
                        continue
                kwargs[name] = loaded
            elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                self.fail(child_path, "required")
                failed = True
        if failed:
            return _INVALID
        return cls(**kwargs)


def _closest(key: str, candidates: typing.Iterable[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(key, list(candidates), n=1, cutoff=0.75)
    return matches[0] if matches else None


def _type_name(hint: Any) -> str:
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return {int: "an integer", str: "a string", bool: "true/false", float: "a number", timedelta: "a duration"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


class _InvalidType:
    def __repr__(self) -> str:
        return "<invalid>"


_INVALID: Any = _InvalidType()


def load(cls: type, data: Any, path: str = "") -> tuple[Any, list[Problem]]:
    """Load ``data`` into dataclass ``cls``. Returns (value or None, problems)."""
    loader = _Loader()
    value = loader.load_dataclass(cls, data, path)
    if loader.problems:
        return None, loader.problems
    return value, []


def field(default: Any = dataclasses.MISSING, *, key: str | None = None, check: Any = None, factory: Any = None) -> Any:
    """A dataclass field with an optional YAML key alias and a value check returning an error message."""
    metadata = {}
    if key:
        metadata["key"] = key
    if check:
        metadata["check"] = check
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)
