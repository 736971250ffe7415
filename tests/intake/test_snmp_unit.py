"""The trap fast path's BER reader against pysnmp's encoder, and trap rules on their own."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from pyasn1.codec.ber import encoder
from pysnmp.proto import api

from monitors.probes import failing
from intake.snmp.ber import BerError, decode_trap
from intake.snmp.mibs import MibError, MibTranslator
from intake.snmp.rules import StoredTrap, TrapRules
from intake.snmp.settings import TrapRule

LINK_DOWN = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)


def v2c_message(varbinds, community="public", pdu_type="trap") -> bytes:
    v2c = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = v2c.SNMPv2TrapPDU() if pdu_type == "trap" else v2c.InformRequestPDU()
    v2c.apiTrapPDU.set_defaults(pdu)
    v2c.apiTrapPDU.set_varbinds(pdu, varbinds)
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, community)
    v2c.apiMessage.set_pdu(message, pdu)
    return encoder.encode(message)


def test_v2c_trap_values_read_like_pysnmp_shows_them():
    v2c = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    data = v2c_message([
        ((1, 3, 6, 1, 2, 1, 1, 3, 0), v2c.TimeTicks(4294967295)),
        ((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0), v2c.ObjectIdentifier(LINK_DOWN)),
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 5), v2c.Integer(-5)),
        ((1, 3, 6, 1, 4, 1, 9, 1), v2c.OctetString(b"\xff\x00binary")),
        ((1, 3, 6, 1, 4, 1, 9, 2), v2c.IpAddress("10.1.2.3")),
        ((1, 3, 6, 1, 4, 1, 9, 3), v2c.Counter64(2**64 - 1)),
        ((1, 3, 6, 1, 4, 1, 9, 4), v2c.OctetString("žluťoučký kůň".encode())),
    ], community="s3cret")
    version, community, trap = decode_trap(data)
    assert (version, community, trap.version, trap.trap_oid) == (1, b"s3cret", "v2c", "1.3.6.1.6.3.1.1.5.3")
    assert trap.varbinds[2:] == [
        ("1.3.6.1.2.1.2.2.1.1.5", "Integer", "-5"),
        ("1.3.6.1.4.1.9.1", "OctetString", "0xff0062696e617279"),
        ("1.3.6.1.4.1.9.2", "IpAddress", "10.1.2.3"),
        ("1.3.6.1.4.1.9.3", "Counter64", str(2**64 - 1)),
        ("1.3.6.1.4.1.9.4", "OctetString", "žluťoučký kůň"),
    ]


def test_informs_go_to_the_engine_and_garbage_is_refused():
    v2c = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    inform = v2c_message([((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0), v2c.ObjectIdentifier(LINK_DOWN))], pdu_type="inform")
    assert decode_trap(inform) is None
    good = v2c_message([((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0), v2c.ObjectIdentifier(LINK_DOWN))])
    for garbage in (b"", b"\x30", good[:-1], good + b"\x00", b"\x30\x03\x02\x01\x01", good.replace(b"\x06\x0a", b"\x09\x0a", 1)):
        with pytest.raises(BerError):
            decode_trap(garbage)
    no_trap_oid = v2c_message([((1, 3, 6, 1, 2, 1, 1, 3, 0), v2c.TimeTicks(1))])
    with pytest.raises(BerError, match="snmpTrapOID"):
        decode_trap(no_trap_oid)


def trap(oid: str, *varbinds: tuple[str, str, str], agent: str = "10.0.0.1") -> StoredTrap:
    return StoredTrap(1, datetime.now(timezone.utc), "switches", agent, "v2c", oid, list(varbinds))


def test_rules_match_varbind_values_by_label_or_number_and_fill_texts():
    rules = TrapRules(MibTranslator(), [
        TrapRule(trap="IF-MIB::linkDown", match={"ifAdminStatus": ["down"]}, title="{ifDescr} shut down on {agent}",
                 severity="info", fingerprint="admin:{agent}:{ifIndex}", labels={"team": "net-{source}"}),
    ])
    admin_down = trap("1.3.6.1.6.3.1.1.5.3", ("1.3.6.1.2.1.2.2.1.1.4", "Integer", "4"),
                      ("1.3.6.1.2.1.2.2.1.2.4", "OctetString", "eth4"), ("1.3.6.1.2.1.2.2.1.7.4", "Integer", "2"))
    alarm = rules.alarm(admin_down)
    assert (alarm.title, alarm.severity, alarm.fingerprint, alarm.status) == ("eth4 shut down on 10.0.0.1", "info", "admin:10.0.0.1:4", "firing")
    assert alarm.labels == {"trap": "IF-MIB::linkDown", "agent": "10.0.0.1", "team": "net-switches"}
    assert "IF-MIB::ifAdminStatus.4 = down(2)" in alarm.description
    # an operational linkDown falls to the built-in rule; its linkUp resolves the same fingerprint
    oper_down = trap("1.3.6.1.6.3.1.1.5.3", ("1.3.6.1.2.1.2.2.1.1.4", "Integer", "4"), ("1.3.6.1.2.1.2.2.1.7.4", "Integer", "1"))
    link_up = trap("1.3.6.1.6.3.1.1.5.4", ("1.3.6.1.2.1.2.2.1.1.4", "Integer", "4"))
    down, up = rules.alarm(oper_down), rules.alarm(link_up)
    assert down.status == "firing" and up.status == "resolved" and down.fingerprint == up.fingerprint == "link:10.0.0.1:4"
    # unknown traps keep their raw OIDs; missing placeholders read "?"
    unknown = rules.alarm(trap("1.3.6.1.4.1.5.0.1", ("1.3.6.1.4.1.5.1", "OctetString", "x" * 1000)))
    assert unknown.title == "SNMP trap 1.3.6.1.4.1.5.0.1 from 10.0.0.1" and unknown.severity == "warning"
    assert "1.3.6.1.4.1.5.1 = " + "x" * 300 + "…" in unknown.description
    assert TrapRules(MibTranslator(), [TrapRule(trap="IF-MIB::linkDown", title="{nope}")]).alarm(oper_down).title == "?"


def test_a_rule_naming_an_unknown_trap_stops_the_start_with_its_path():
    with pytest.raises(MibError, match=r"snmp.rules\[0\].trap: no MIB names 'ACME-MIB::nothing'"):
        TrapRules(MibTranslator(), [TrapRule(trap="ACME-MIB::nothing")])


def test_mib_files_that_do_not_compile_are_named(tmp_path):
    (tmp_path / "BROKEN-MIB.txt").write_text("BROKEN-MIB DEFINITIONS ::= BEGIN\n IMPORTS nothing FROM NOWHERE-MIB;\nEND\n")
    with pytest.raises(MibError, match="BROKEN-MIB"):
        MibTranslator.build([tmp_path], cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("value, compare, threshold, fails", [
    ("7", ">", 5.0, True), ("5", ">", 5.0, False), ("5", ">=", 5.0, True), ("3", "<", 5.0, True),
    ("up", "==", "up", True), ("up", "!=", "up", False), ("4.5", "<=", 4.5, True),
])
def test_snmp_check_comparisons(value, compare, threshold, fails):
    assert failing(value, compare, threshold) is fails


def test_compiling_mibs_leaves_no_folder_behind(tmp_path, monkeypatch):
    """Without a cache directory the compiled modules go to a temporary folder that is removed once
    the names are learned (it leaked one /tmp/opsroom-mibs-* per start), also when compiling fails."""
    import tempfile
    from pathlib import Path

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    mibs = Path(__file__).resolve().parents[1] / "fixtures" / "mibs"
    translator = MibTranslator.build([mibs])
    assert translator.oid_of("ACME-TRAP-MIB::acmeFanFailure")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "BROKEN-MIB.txt").write_text("BROKEN-MIB DEFINITIONS ::= BEGIN\n IMPORTS nothing FROM NOWHERE-MIB;\nEND\n")
    with pytest.raises(MibError):
        MibTranslator.build([broken])
    assert list((tmp_path / "tmp").iterdir()) == []
