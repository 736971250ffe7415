"""Secrets at rest: what is only compared is kept as a hash, what must be read back is encrypted.

- Tokens, routing keys and basic passwords are compared with what a caller presents: they are
  kept as SHA-256 digests and compared digest to digest in constant time.
- HMAC keys and SNMPv3 keys must be read back to compute or answer: they are encrypted with
  Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) under the secret key, which comes
  from ``OPSROOM_SECRET_KEY`` (a Fernet key), ``OPSROOM_SECRET_KEY_FILE``, or a file in the
  data directory created on first use (mode 0600), never from the database.

A secret is shown only as "set" and a fingerprint (the first 12 hex digits of its SHA-256), in
the API, the audit trail and logs.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Mapping

from cryptography.fernet import Fernet, InvalidToken

log = logging.getLogger(__name__)

KEY_VARIABLE = "OPSROOM_SECRET_KEY"
KEY_FILE_VARIABLE = "OPSROOM_SECRET_KEY_FILE"
KEY_FILE_NAME = "secret.key"


class SecretKeyError(RuntimeError):
    """No usable secret key, or a secret that this key cannot decrypt. Never carries a secret."""


def digest(value: str | bytes) -> bytes:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).digest()


def fingerprint_of(sha256: bytes) -> str:
    return "sha256:" + sha256.hex()[:12]


class SecretBox:
    """Encrypts and decrypts secrets that must be read back."""

    def __init__(self, key: bytes) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError):
            raise SecretKeyError("the secret key is not a Fernet key (32 url-safe base64-encoded bytes)") from None

    @staticmethod
    def generate_key() -> bytes:
        return Fernet.generate_key()

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretKeyError("a stored secret cannot be decrypted with this secret key (was the key changed?)") from None


def load_key(environ: Mapping[str, str], data_dir: Path | None) -> bytes:
    """The secret key: from the environment, a key file it names, or ``<data_dir>/secret.key``
    (created with a new key when missing). Raises SecretKeyError when there is none."""
    if environ.get(KEY_VARIABLE):
        return environ[KEY_VARIABLE].strip().encode()
    if environ.get(KEY_FILE_VARIABLE):
        path = Path(environ[KEY_FILE_VARIABLE])
        try:
            return path.read_bytes().strip()
        except OSError as error:
            raise SecretKeyError(f"{KEY_FILE_VARIABLE}: cannot read {path}: {error.strerror}") from None
    if data_dir is None:
        raise SecretKeyError(f"no secret key: set {KEY_VARIABLE} or {KEY_FILE_VARIABLE}, or give a data directory")
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(SecretBox.generate_key() + b"\n")
        log.info("created the secret key %s (keep it: secrets stored in the database are encrypted with it)", path)
    return path.read_bytes().strip()
