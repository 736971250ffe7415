"""A small, strict BER reader for SNMPv1/v2c trap messages: the receiver's fast path.

pysnmp decodes a trap through pyasn1 in about 0.3 ms, which alone would eat a core at
2,000 traps/s; reading the handful of SNMP types directly takes a tenth of that. Only
unconfirmed v1 Trap and v2c SNMPv2-Trap PDUs are read here; everything else (SNMPv3,
InformRequest, which needs an answer) goes to the pysnmp engine. Anything malformed raises
:class:`BerError`, so garbage is rejected, never half-read.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

V1, V2C = 0, 1
TRAP_V1_PDU = 0xA4
TRAP_V2_PDU = 0xA7
SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SNMP_TRAP_ENTERPRISE = "1.3.6.1.6.3.1.1.4.3.0"
SNMP_TRAP_ADDRESS = "1.3.6.1.6.3.18.1.3.0"
GENERIC_TRAPS = "1.3.6.1.6.3.1.1.5"  # coldStart.1 ... egpNeighborLoss.6 (RFC 3584 3.1)

# tag -> the name shown with a varbind's value
VALUE_TYPES = {
    0x02: "Integer",
    0x04: "OctetString",
    0x05: "Null",
    0x06: "ObjectIdentifier",
    0x40: "IpAddress",
    0x41: "Counter32",
    0x42: "Gauge32",
    0x43: "TimeTicks",
    0x44: "Opaque",
    0x46: "Counter64",
    0x80: "noSuchObject",
    0x81: "noSuchInstance",
    0x82: "endOfMibView",
}


class BerError(ValueError):
    """The datagram is not a well-formed SNMP message."""


@dataclass(frozen=True)
class Trap:
    """A trap as SNMPv2 sees it (v1 traps are translated per RFC 3584)."""

    version: str  # v1 | v2c | v3
    trap_oid: str
    varbinds: list[tuple[str, str, str]] = field(default_factory=list)  # (oid, type, value)
    agent: str | None = None  # v1: the agent-addr field


def peek_version(data: bytes) -> int | None:
    """The message's version field (0 v1, 1 v2c, 3 v3), or None when it cannot be read."""
    try:
        tag, start, end = _tlv(data, 0)
        if tag != 0x30:
            return None
        tag, v_start, v_end = _tlv(data, start)
        if tag != 0x02:
            return None
        return _integer(data[v_start:v_end])
    except BerError:
        return None


def _tlv(data: bytes, offset: int) -> tuple[int, int, int]:
    """(tag, value start, value end) of the element at ``offset``."""
    try:
        tag = data[offset]
        length = data[offset + 1]
    except IndexError:
        raise BerError("truncated element") from None
    offset += 2
    if tag & 0x1F == 0x1F:
        raise BerError("multi-byte tags are not used by SNMP")
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise BerError("indefinite or oversized length")
        length = int.from_bytes(data[offset:offset + count], "big")
        offset += count
    end = offset + length
    if end > len(data):
        raise BerError("element runs past the end of the datagram")
    return tag, offset, end


def _integer(raw: bytes) -> int:
    if not raw or len(raw) > 9:
        raise BerError("bad integer length")
    return int.from_bytes(raw, "big", signed=True)


def _unsigned(raw: bytes) -> int:
    if not raw or len(raw) > 9:
        raise BerError("bad integer length")
    return int.from_bytes(raw, "big", signed=False)


def _oid(raw: bytes) -> str:
    if not raw:
        raise BerError("empty object identifier")
    parts: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    if raw[-1] & 0x80:
        raise BerError("object identifier ends inside a sub-identifier")
    first = parts[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(p) for p in head + parts[1:])


def printable(raw: bytes) -> str:
    """An octet string as people read it: text when it is text, else hex."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()
    if all(ch.isprintable() or ch in "\t\r\n" for ch in text):
        return text
    return "0x" + raw.hex()


def _value(tag: int, raw: bytes) -> str:
    if tag == 0x02:
        return str(_integer(raw))
    if tag in (0x41, 0x42, 0x43, 0x46):
        return str(_unsigned(raw))
    if tag in (0x04, 0x44):
        return printable(raw)
    if tag == 0x06:
        return _oid(raw)
    if tag == 0x40:
        if len(raw) != 4:
            raise BerError("IpAddress is not 4 bytes")
        return str(ipaddress.IPv4Address(raw))
    if tag in (0x05, 0x80, 0x81, 0x82):
        return ""
    raise BerError(f"unknown value type 0x{tag:02x}")


def _varbinds(data: bytes, start: int, end: int) -> list[tuple[str, str, str]]:
    result = []
    offset = start
    while offset < end:
        tag, vb_start, vb_end = _tlv(data, offset)
        if tag != 0x30:
            raise BerError("varbind is not a sequence")
        tag, o_start, o_end = _tlv(data, vb_start)
        if tag != 0x06:
            raise BerError("varbind name is not an object identifier")
        oid = _oid(data[o_start:o_end])
        tag, v_start, v_end = _tlv(data, o_end)
        if v_end != vb_end:
            raise BerError("trailing bytes in a varbind")
        result.append((oid, VALUE_TYPES.get(tag, "?"), _value(tag, data[v_start:v_end])))
        offset = vb_end
    if offset != end:
        raise BerError("varbind list length mismatch")
    return result


def decode_trap(data: bytes) -> tuple[int, bytes, Trap] | None:
    """(version, community, trap) of a v1/v2c trap; None when it is another kind of message
    (for the engine). Raises BerError when the datagram is malformed."""
    tag, start, end = _tlv(data, 0)
    if tag != 0x30 or end != len(data):
        raise BerError("not an SNMP message")
    tag, v_start, v_end = _tlv(data, start)
    if tag != 0x02:
        raise BerError("no version field")
    version = _integer(data[v_start:v_end])
    if version not in (V1, V2C):
        return None
    tag, c_start, c_end = _tlv(data, v_end)
    if tag != 0x04:
        raise BerError("no community field")
    community = data[c_start:c_end]
    pdu_tag, p_start, p_end = _tlv(data, c_end)
    if p_end != end:
        raise BerError("trailing bytes after the PDU")
    if version == V1 and pdu_tag == TRAP_V1_PDU:
        return version, community, _v1_trap(data, p_start, p_end)
    if version == V2C and pdu_tag == TRAP_V2_PDU:
        return version, community, _v2_trap(data, p_start, p_end)
    return None


def _v2_trap(data: bytes, start: int, end: int) -> Trap:
    offset = start
    for _ in range(3):  # request-id, error-status, error-index
        tag, _s, offset = _tlv(data, offset)
        if tag != 0x02:
            raise BerError("bad PDU header")
    tag, vb_start, vb_end = _tlv(data, offset)
    if tag != 0x30 or vb_end != end:
        raise BerError("bad varbind list")
    varbinds = _varbinds(data, vb_start, vb_end)
    trap_oid = next((value for oid, _type, value in varbinds if oid == SNMP_TRAP_OID), None)
    if trap_oid is None:
        raise BerError("an SNMPv2 trap without snmpTrapOID.0")
    return Trap("v2c", trap_oid, varbinds)


def _v1_trap(data: bytes, start: int, end: int) -> Trap:
    tag, e_start, e_end = _tlv(data, start)
    if tag != 0x06:
        raise BerError("v1 trap without enterprise")
    enterprise = _oid(data[e_start:e_end])
    tag, a_start, a_end = _tlv(data, e_end)
    if tag != 0x40:
        raise BerError("v1 trap without agent-addr")
    agent = _value(0x40, data[a_start:a_end])
    tag, g_start, g_end = _tlv(data, a_end)
    generic = _integer(data[g_start:g_end]) if tag == 0x02 else -1
    tag, s_start, s_end = _tlv(data, g_end)
    specific = _integer(data[s_start:s_end]) if tag == 0x02 else -1
    tag, t_start, t_end = _tlv(data, s_end)
    if tag != 0x43:
        raise BerError("v1 trap without time-stamp")
    uptime = _value(0x43, data[t_start:t_end])
    tag, vb_start, vb_end = _tlv(data, t_end)
    if tag != 0x30 or vb_end != end:
        raise BerError("bad varbind list")
    if generic == 6:
        trap_oid = f"{enterprise}.0.{specific}"
    elif 0 <= generic <= 5:
        trap_oid = f"{GENERIC_TRAPS}.{generic + 1}"
    else:
        raise BerError(f"generic-trap {generic} out of range")
    varbinds = [
        (SYS_UPTIME, "TimeTicks", uptime),
        (SNMP_TRAP_OID, "ObjectIdentifier", trap_oid),
        *_varbinds(data, vb_start, vb_end),
        (SNMP_TRAP_ADDRESS, "IpAddress", agent),
        (SNMP_TRAP_ENTERPRISE, "ObjectIdentifier", enterprise),
    ]
    return Trap("v1", trap_oid, varbinds, agent=agent)
