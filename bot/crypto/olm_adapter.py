"""The ``olm`` module that mautrix.crypto imports, implemented on vodozemac.

mautrix.crypto is written against python-olm, the binding of libolm, which is deprecated and
has published vulnerabilities; it must never run in opsroom. ``fresholm`` (a drop-in on
vodozemac) was measured not to interoperate with mautrix 0.21: its session creation recurses
through mautrix's ``OlmAccount`` overrides, and its group messages use the Megolm v2 format
(32-byte MACs) where ``m.megolm.v1.aes-sha2`` clients send and expect 8. This adapter exposes
exactly the part of python-olm's API that mautrix.crypto uses, on the ``vodozemac`` package
(the Rust implementation Element and matrix-nio use), with the v1 wire formats:

- ``Account``, ``Session``, ``InboundSession``, ``OutboundSession``, ``OlmMessage``,
  ``OlmPreKeyMessage`` (Olm, to-device);
- ``InboundGroupSession``, ``OutboundGroupSession`` (Megolm, room messages);
- ``PkSigning`` (cross-signing keys; ed25519 from ``cryptography``).

Invariants: ciphertexts, keys and signatures are unpadded base64 strings as on the wire;
pickles are vodozemac pickles encrypted with SHA-256 of the passphrase (they cannot be read by
libolm and need not be); failures raise the python-olm exception classes mautrix catches.
vodozemac decrypts a pre-key message while creating the inbound session, so the plaintext is
kept in memory until mautrix asks the new session to decrypt that same message (which it
does right after creating it) instead of failing on a message key already used.

:func:`install` registers this module as ``olm`` (and an empty ``_libolm``) in ``sys.modules``;
it must run before ``mautrix.crypto`` is imported, which ``bot.crypto`` guarantees.
"""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import types
from collections import OrderedDict
from typing import Any

import vodozemac
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

OLM_MESSAGE_TYPE_PRE_KEY = 0
OLM_MESSAGE_TYPE_MESSAGE = 1


class OlmAccountError(Exception):
    """An account operation failed (python-olm's name)."""


class OlmSessionError(Exception):
    """An Olm session could not be created, or a message not decrypted."""


class OlmGroupSessionError(Exception):
    """A Megolm session could not be created, or a message not decrypted."""


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _text(value: str | bytes) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _pickle_key(passphrase: str | bytes) -> bytes:
    """vodozemac wants a 32-byte key; python-olm callers pass a passphrase of any length."""
    return hashlib.sha256(_bytes(passphrase)).digest()


class _OlmMessage:
    message_type: int

    def __init__(self, ciphertext: str | bytes) -> None:
        if not ciphertext:
            raise ValueError("ciphertext can't be empty")
        self.ciphertext = _text(ciphertext)

    def _vodozemac(self) -> Any:
        return vodozemac.AnyOlmMessage.from_parts(self.message_type, _decode(self.ciphertext))


class OlmMessage(_OlmMessage):
    """A normal Olm message (type 1)."""

    message_type = OLM_MESSAGE_TYPE_MESSAGE


class OlmPreKeyMessage(_OlmMessage):
    """A pre-key Olm message (type 0): the first messages of a session, until it is answered."""

    message_type = OLM_MESSAGE_TYPE_PRE_KEY

    def _pre_key(self) -> Any:
        return vodozemac.PreKeyMessage.from_base64(self.ciphertext)


# plaintexts of pre-key messages decrypted while creating inbound sessions: (session id, ciphertext)
_FIRST_PLAINTEXTS: OrderedDict[tuple[str, str], bytes] = OrderedDict()
_FIRST_PLAINTEXTS_KEPT = 256


def _keep_first_plaintext(session_id: str, ciphertext: str, plaintext: bytes) -> None:
    _FIRST_PLAINTEXTS[(session_id, ciphertext)] = plaintext
    while len(_FIRST_PLAINTEXTS) > _FIRST_PLAINTEXTS_KEPT:
        _FIRST_PLAINTEXTS.popitem(last=False)


def _unpickle(inner: Any, pickle: str | bytes, passphrase: str | bytes, error: type[Exception], what: str) -> Any:
    """vodozemac's object from a pickle as mautrix stores it; a wrong key or a broken pickle is olm's error."""
    try:
        return inner.from_pickle(_text(pickle), _pickle_key(passphrase))
    except ValueError as cause:
        raise error(f"cannot unpickle the {what}: {cause}") from cause


class Account:
    """An Olm account: the device's identity keys and one-time keys."""

    def __init__(self) -> None:
        self._account = vodozemac.Account()

    @classmethod
    def from_pickle(cls, pickle: str | bytes, passphrase: str | bytes = "") -> "Account":
        account = cls.__new__(cls)
        account._account = _unpickle(vodozemac.Account, pickle, passphrase, OlmAccountError, "account")
        return account

    def pickle(self, passphrase: str | bytes = "") -> bytes:
        return self._account.pickle(_pickle_key(passphrase)).encode("ascii")

    @property
    def identity_keys(self) -> dict[str, str]:
        return {"curve25519": self._account.curve25519_key.to_base64(), "ed25519": self._account.ed25519_key.to_base64()}

    def sign(self, message: str | bytes) -> str:
        return self._account.sign(_bytes(message)).to_base64()

    @property
    def max_one_time_keys(self) -> int:
        return int(self._account.max_number_of_one_time_keys)

    def generate_one_time_keys(self, count: int) -> None:
        self._account.generate_one_time_keys(count)

    @property
    def one_time_keys(self) -> dict[str, dict[str, str]]:
        """Unpublished one-time keys, as python-olm shapes them."""
        return {"curve25519": {key_id: key.to_base64() for key_id, key in self._account.one_time_keys.items()}}

    def mark_keys_as_published(self) -> None:
        self._account.mark_keys_as_published()

    def remove_one_time_keys(self, session: "Session") -> None:
        """Nothing to do: vodozemac removes the one-time key when the inbound session is created."""


class Session:
    """An Olm session between this device and one other device."""

    def __init__(self) -> None:
        self._session: Any = None

    @classmethod
    def from_pickle(cls, pickle: str | bytes, passphrase: str | bytes = "") -> "Session":
        session = cls.__new__(cls)
        session._session = _unpickle(vodozemac.Session, pickle, passphrase, OlmSessionError, "session")
        return session

    def pickle(self, passphrase: str | bytes = "") -> bytes:
        return self._session.pickle(_pickle_key(passphrase)).encode("ascii")

    @property
    def id(self) -> str:
        return str(self._session.session_id)

    def matches(self, message: OlmPreKeyMessage, identity_key: str | None = None) -> bool:
        """Whether a pre-key message belongs to this session (the sender's key is part of it)."""
        if not isinstance(message, OlmPreKeyMessage):
            raise TypeError("matches() needs a pre-key message")
        try:
            return bool(self._session.session_matches(message._pre_key()))
        except ValueError:
            return False

    def decrypt(self, message: _OlmMessage, unicode_errors: str = "replace") -> str:
        if isinstance(message, OlmPreKeyMessage):
            first = _FIRST_PLAINTEXTS.pop((self.id, message.ciphertext), None)
            if first is not None:
                return first.decode("utf-8", errors=unicode_errors)
        try:
            plaintext = self._session.decrypt(message._vodozemac())
        except ValueError as error:
            raise OlmSessionError(f"cannot decrypt the Olm message: {error}") from error
        return bytes(plaintext).decode("utf-8", errors=unicode_errors)

    def encrypt(self, plaintext: str | bytes) -> OlmMessage | OlmPreKeyMessage:
        message_type, ciphertext = self._session.encrypt(_bytes(plaintext)).to_parts()
        if message_type == OLM_MESSAGE_TYPE_PRE_KEY:
            return OlmPreKeyMessage(_encode(bytes(ciphertext)))
        return OlmMessage(_encode(bytes(ciphertext)))

    def describe(self) -> str:
        return f"vodozemac Olm session {self.id}"


class InboundSession(Session):
    """A session created by another device's pre-key message (which it decrypts, see above)."""

    def __init__(self, account: Account, message: OlmPreKeyMessage, identity_key: str | None = None) -> None:
        super().__init__()
        if identity_key is None:
            raise OlmSessionError("the sender's identity key is required")
        try:
            session, plaintext = account._account.create_inbound_session(
                vodozemac.Curve25519PublicKey.from_base64(identity_key), message._pre_key()
            )
        except ValueError as error:
            raise OlmSessionError(f"cannot create the inbound session: {error}") from error
        self._session = session
        _keep_first_plaintext(self.id, message.ciphertext, bytes(plaintext))


class OutboundSession(Session):
    """A session this device starts with another device from its identity and one-time key."""

    def __init__(self, account: Account, identity_key: str, one_time_key: str) -> None:
        super().__init__()
        try:
            self._session = account._account.create_outbound_session(
                vodozemac.Curve25519PublicKey.from_base64(identity_key),
                vodozemac.Curve25519PublicKey.from_base64(one_time_key),
            )
        except ValueError as error:
            raise OlmSessionError(f"cannot create the outbound session: {error}") from error


class InboundGroupSession:
    """A Megolm session to decrypt one sender's room messages."""

    def __init__(self, session_key: str) -> None:
        try:
            self._session = vodozemac.InboundGroupSession(vodozemac.SessionKey(_text(session_key)))
        except ValueError as error:
            raise OlmGroupSessionError(f"invalid session key: {error}") from error

    @classmethod
    def from_pickle(cls, pickle: str | bytes, passphrase: str | bytes = "") -> "InboundGroupSession":
        session = cls.__new__(cls)
        session._session = _unpickle(vodozemac.InboundGroupSession, pickle, passphrase, OlmGroupSessionError, "group session")
        return session

    @classmethod
    def import_session(cls, session_key: str) -> "InboundGroupSession":
        """From an exported key (forwarded keys, key backups), which carries no signature."""
        session = cls.__new__(cls)
        try:
            session._session = vodozemac.InboundGroupSession.import_session(vodozemac.ExportedSessionKey(_text(session_key)))
        except ValueError as error:
            raise OlmGroupSessionError(f"invalid exported session key: {error}") from error
        return session

    def pickle(self, passphrase: str | bytes = "") -> bytes:
        return self._session.pickle(_pickle_key(passphrase)).encode("ascii")

    @property
    def id(self) -> str:
        return str(self._session.session_id)

    @property
    def first_known_index(self) -> int:
        return int(self._session.first_known_index)

    def decrypt(self, ciphertext: str | bytes, unicode_errors: str = "replace") -> tuple[str, int]:
        try:
            decrypted = self._session.decrypt(vodozemac.MegolmMessage.from_base64(_text(ciphertext)))
        except ValueError as error:
            raise OlmGroupSessionError(f"cannot decrypt the Megolm message: {error}") from error
        return bytes(decrypted.plaintext).decode("utf-8", errors=unicode_errors), int(decrypted.message_index)

    def export_session(self, message_index: int) -> str:
        exported = self._session.export_at(message_index)
        if exported is None:
            raise OlmGroupSessionError(f"the session is not known at index {message_index}")
        return str(exported.to_base64())


class OutboundGroupSession:
    """This device's Megolm session for one room (m.megolm.v1.aes-sha2: 8-byte MACs)."""

    def __init__(self) -> None:
        self._session = vodozemac.GroupSession()

    @classmethod
    def from_pickle(cls, pickle: str | bytes, passphrase: str | bytes = "") -> "OutboundGroupSession":
        session = cls.__new__(cls)
        session._session = _unpickle(vodozemac.GroupSession, pickle, passphrase, OlmGroupSessionError, "group session")
        return session

    def pickle(self, passphrase: str | bytes = "") -> bytes:
        return self._session.pickle(_pickle_key(passphrase)).encode("ascii")

    def encrypt(self, plaintext: str | bytes) -> str:
        return str(self._session.encrypt(_bytes(plaintext)).to_base64())

    @property
    def id(self) -> str:
        return str(self._session.session_id)

    @property
    def message_index(self) -> int:
        return int(self._session.message_index)

    @property
    def session_key(self) -> str:
        """The key at the current index, as shared in m.room_key events."""
        return str(self._session.session_key.to_base64())


class PkSigning:
    """An ed25519 signing key from a 32-byte seed (the cross-signing keys)."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("the seed must be 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = _encode(self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    @staticmethod
    def generate_seed() -> bytes:
        return os.urandom(32)

    def sign(self, message: str | bytes) -> str:
        return _encode(self._key.sign(_bytes(message)))


def install() -> None:
    """Make ``import olm`` (and mautrix's ``from _libolm import ffi, lib``) resolve to this adapter."""
    module = sys.modules[__name__]
    existing = sys.modules.get("olm")
    if existing is not None and existing is not module:
        raise RuntimeError("another 'olm' module (libolm?) is already imported; opsroom uses vodozemac only")
    sys.modules["olm"] = module
    if "_libolm" not in sys.modules:
        libolm = types.ModuleType("_libolm", "No libolm here: mautrix only probes it for describe().")
        libolm.ffi = None  # type: ignore[attr-defined]
        libolm.lib = None  # type: ignore[attr-defined]
        sys.modules["_libolm"] = libolm
