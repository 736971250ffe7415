"""Secrets of catalog rows at rest.

Invariants:
- what is only compared (bearer tokens, basic passwords, routing keys) is stored as
  ``sha256:<hex>``, which the credential books accept as it is (intake/auth.py); it cannot be
  read back, only matched;
- what must be read back (HMAC keys, SNMP community and v3 keys) is stored sealed,
  ``fernet:<token>``, with :class:`common.secrets.SecretBox` (its key never in the database) and
  opened when the rows are loaded; without a key it is stored as given and a warning says so;
- sealing is idempotent (a hashed or sealed value is left as it is), so a body read back and
  written again (``***`` kept, an update) keeps its secrets;
- ``comparable`` makes a stored body and a declared one equal when they mean the same secrets,
  so the file's unchanged entries are not rewritten at every start.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import re
from typing import Any, Callable

from common.secrets import SecretBox, SecretKeyError

log = logging.getLogger(__name__)

HASHED = re.compile(r"^sha256:[0-9a-f]{64}$")
SEALED_PREFIX = "fernet:"

# kind -> key paths inside a body
COMPARED: dict[str, tuple[tuple[str, ...], ...]] = {
    "sources": (("token",), ("basic", "password"), ("routing_key",), ("previous_token",)),
    "api_tokens": (("token",), ("previous_token",)),
}
READ_BACK: dict[str, tuple[tuple[str, ...], ...]] = {
    "sources": (("hmac", "secret"),),
    "checks": (("snmp", "community"), ("snmp", "auth_key"), ("snmp", "priv_key")),
}


def hashed(value: str) -> str:
    return value if HASHED.match(value) else "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def _each(body: Any, paths: tuple[tuple[str, ...], ...], change: Callable[[str], str]) -> Any:
    if not isinstance(body, dict):
        return body
    body = copy.deepcopy(body)
    for path in paths:
        holder: Any = body
        for part in path[:-1]:
            holder = holder.get(part) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and isinstance(holder.get(path[-1]), str) and holder[path[-1]]:
            holder[path[-1]] = change(holder[path[-1]])
    return body


class Sealer:
    """Seals bodies for storage and opens them for loading; ``box`` None: read-back secrets stay plain."""

    def __init__(self, box: SecretBox | None) -> None:
        self.box = box
        self._warned = False

    def seal(self, kind: str, body: Any) -> Any:
        body = _each(body, COMPARED.get(kind, ()), hashed)
        return _each(body, READ_BACK.get(kind, ()), self._seal_one)

    def open(self, kind: str, body: Any) -> Any:
        return _each(body, READ_BACK.get(kind, ()), self._open_one)

    def comparable(self, kind: str, body: Any) -> Any:
        """Compared secrets hashed, read-back ones opened: equal when the secrets are."""
        return self.open(kind, _each(body, COMPARED.get(kind, ()), hashed))

    def _seal_one(self, value: str) -> str:
        if value.startswith(SEALED_PREFIX):
            return value
        if self.box is None:
            if not self._warned:
                log.warning("catalog: no secret key (OPSROOM_SECRET_KEY): HMAC and SNMP keys are stored unencrypted")
                self._warned = True
            return value
        return SEALED_PREFIX + self.box.encrypt(value)

    def _open_one(self, value: str) -> str:
        if not value.startswith(SEALED_PREFIX):
            return value
        if self.box is None:
            raise SecretKeyError("a catalog secret is encrypted, but no secret key is set (OPSROOM_SECRET_KEY)")
        return self.box.decrypt(value.removeprefix(SEALED_PREFIX))


PLAIN = Sealer(None)



def fingerprints(kind: str, body: Any, sealer: Sealer) -> dict[str, str | None]:
    """Each secret a body of ``kind`` may hold: its fingerprint (``sha256:`` and the first 12 hex
    digits of the secret's SHA-256), None when not set; what the API and the portal show
    instead of the secret. A secret sealed under another key shows as set, fingerprint ``?``."""
    try:
        opened, readable = sealer.open(kind, body), True
    except SecretKeyError:
        opened, readable = body, False
    found: dict[str, str | None] = {}
    for path in COMPARED.get(kind, ()) + READ_BACK.get(kind, ()):
        value: Any = opened
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, str) or not value:
            found[".".join(path)] = None
        elif not readable and value.startswith(SEALED_PREFIX):
            found[".".join(path)] = "?"
        else:
            found[".".join(path)] = hashed(value)[: len("sha256:") + 12]
    return found
