"""SNMP settings shared by the trap receiver (intake) and SNMP checks (monitors): protocols of
SNMPv3 users, addresses, engine IDs."""

from __future__ import annotations

from typing import Callable, Literal

AuthProtocol = Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"]
PrivProtocol = Literal["DES", "3DES", "AES", "AES192", "AES256"]


def parse_address(value: str, default_port: int) -> tuple[str, int]:
    """``host:port`` (or ``host``) -> (host, port); raises ValueError with a readable reason."""
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host, port_text = value, str(default_port)
    host = host.strip("[]")
    if not host:
        raise ValueError(f"expected host:port, got {value!r}")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"expected host:port, got {value!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError("a UDP port is between 1 and 65535 (0: any free port)")
    return host, port


def address_check(default_port: int) -> Callable[[str], str | None]:
    """A configuration check of ``host:port`` values."""

    def check(value: str) -> str | None:
        try:
            parse_address(value, default_port)
        except ValueError as error:
            return str(error)
        return None

    return check


def check_engine_id(value: str) -> str | None:
    text = value.lower().removeprefix("0x").replace(":", "")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return "expected the sender's engine ID in hex, e.g. 0x8000000001020304"
    return None if 5 <= len(raw) <= 32 else "an engine ID is 5 to 32 bytes"
