"""Names for OIDs: the standard traps and objects built in, the user's MIB files compiled with
pysmi, and names given in the configuration.

A trap is shown and matched by name (``IF-MIB::linkDown``, ``ifDescr``) when one is known,
and by its raw OID otherwise; nothing needs a name to be accepted.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

log = logging.getLogger(__name__)

BASE_MIBS_DIR = Path(__file__).with_name("base_mibs")

# SNMPv2-MIB and IF-MIB: what every device sends, named without any MIB file
STANDARD_NAMES: dict[str, tuple[str, str]] = {
    "1.3.6.1.6.3.1.1.5.1": ("SNMPv2-MIB", "coldStart"),
    "1.3.6.1.6.3.1.1.5.2": ("SNMPv2-MIB", "warmStart"),
    "1.3.6.1.6.3.1.1.5.3": ("IF-MIB", "linkDown"),
    "1.3.6.1.6.3.1.1.5.4": ("IF-MIB", "linkUp"),
    "1.3.6.1.6.3.1.1.5.5": ("SNMPv2-MIB", "authenticationFailure"),
    "1.3.6.1.6.3.1.1.5.6": ("RFC1213-MIB", "egpNeighborLoss"),
    "1.3.6.1.2.1.1.1": ("SNMPv2-MIB", "sysDescr"),
    "1.3.6.1.2.1.1.2": ("SNMPv2-MIB", "sysObjectID"),
    "1.3.6.1.2.1.1.3": ("SNMPv2-MIB", "sysUpTime"),
    "1.3.6.1.2.1.1.4": ("SNMPv2-MIB", "sysContact"),
    "1.3.6.1.2.1.1.5": ("SNMPv2-MIB", "sysName"),
    "1.3.6.1.2.1.1.6": ("SNMPv2-MIB", "sysLocation"),
    "1.3.6.1.6.3.1.1.4.1": ("SNMPv2-MIB", "snmpTrapOID"),
    "1.3.6.1.6.3.1.1.4.3": ("SNMPv2-MIB", "snmpTrapEnterprise"),
    "1.3.6.1.6.3.18.1.3": ("SNMP-COMMUNITY-MIB", "snmpTrapAddress"),
    "1.3.6.1.2.1.2.2.1.1": ("IF-MIB", "ifIndex"),
    "1.3.6.1.2.1.2.2.1.2": ("IF-MIB", "ifDescr"),
    "1.3.6.1.2.1.2.2.1.3": ("IF-MIB", "ifType"),
    "1.3.6.1.2.1.2.2.1.5": ("IF-MIB", "ifSpeed"),
    "1.3.6.1.2.1.2.2.1.7": ("IF-MIB", "ifAdminStatus"),
    "1.3.6.1.2.1.2.2.1.8": ("IF-MIB", "ifOperStatus"),
    "1.3.6.1.2.1.31.1.1.1.1": ("IF-MIB", "ifName"),
    "1.3.6.1.2.1.31.1.1.1.18": ("IF-MIB", "ifAlias"),
}
_IF_STATUS = {1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent", 7: "lowerLayerDown"}
STANDARD_ENUMS: dict[str, dict[int, str]] = {
    "1.3.6.1.2.1.2.2.1.7": {1: "up", 2: "down", 3: "testing"},
    "1.3.6.1.2.1.2.2.1.8": _IF_STATUS,
}


@dataclass(frozen=True)
class Name:
    module: str
    symbol: str
    suffix: str  # the instance part after the object's OID ("2" for ifDescr.2), "" for none

    @property
    def full(self) -> str:
        return f"{self.module}::{self.symbol}"

    def __str__(self) -> str:
        return f"{self.full}.{self.suffix}" if self.suffix else self.full


class MibError(Exception):
    """A configured MIB file could not be compiled or loaded (the message names it)."""


@dataclass
class MibTranslator:
    names: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(STANDARD_NAMES))
    enums: dict[str, dict[int, str]] = field(default_factory=lambda: {k: dict(v) for k, v in STANDARD_ENUMS.items()})

    @classmethod
    def build(cls, mib_dirs: Iterable[Path] = (), mappings: dict[str, str] | None = None,
              cache_dir: Path | None = None) -> "MibTranslator":
        translator = cls()
        dirs = [Path(d) for d in mib_dirs]
        if dirs:
            translator.load_mib_dirs(dirs, cache_dir)
        for oid, name in (mappings or {}).items():
            module, _, symbol = name.rpartition("::")
            translator.names[oid.strip(".")] = (module or "local", symbol)
        return translator

    def name(self, oid: str) -> Name | None:
        """The longest known prefix of ``oid`` and the instance suffix after it."""
        parts = oid.split(".")
        for length in range(len(parts), 0, -1):
            found = self.names.get(".".join(parts[:length]))
            if found is not None:
                return Name(found[0], found[1], ".".join(parts[length:]))
        return None

    def label(self, oid: str) -> str:
        """``IF-MIB::ifDescr.2``, or the OID itself when no name is known."""
        name = self.name(oid)
        return str(name) if name else oid

    def oid_of(self, text: str) -> str | None:
        """The OID named ``MODULE::symbol``, ``symbol`` or a dotted OID (for rules)."""
        text = text.strip().lstrip(".")
        if text and text.replace(".", "").isdigit():
            return text
        module, _, symbol = text.rpartition("::")
        for oid, (mod, sym) in self.names.items():
            if sym == symbol and (not module or module == mod):
                return oid
        return None

    def display(self, oid: str, value: str, value_type: str) -> str:
        """Enumerated integers read as ``down(2)``."""
        name = self.name(oid)
        if name is not None and value_type == "Integer":
            base = oid[: len(oid) - len(name.suffix) - 1] if name.suffix else oid
            labels = self.enums.get(base)
            if labels:
                try:
                    label = labels.get(int(value))
                except ValueError:
                    label = None
                if label:
                    return f"{label}({value})"
        return value

    # ---- user MIBs ---------------------------------------------------------------------

    def load_mib_dirs(self, dirs: list[Path], cache_dir: Path | None) -> None:
        """Compile every MIB file in ``dirs`` with pysmi and learn its names."""
        for directory in dirs:
            if not directory.is_dir():
                raise MibError(f"{directory}: not a directory")
        modules = sorted({_module_name(path) for d in dirs for path in d.iterdir() if path.is_file() and _module_name(path)})
        if not modules:
            return
        if cache_dir is None:  # compiled into a folder of its own, removed once the names are learned
            with tempfile.TemporaryDirectory(prefix="opsroom-mibs-") as temporary:
                self._compile_and_learn(dirs, modules, Path(temporary))
        else:
            cache_dir.mkdir(parents=True, exist_ok=True)
            self._compile_and_learn(dirs, modules, cache_dir)
        log.info("snmp: learned names from %d MIB modules: %s", len(modules), ", ".join(modules))

    def _compile_and_learn(self, dirs: list[Path], modules: list[str], output: Path) -> None:
        from pysmi.codegen import PySnmpCodeGen
        from pysmi.compiler import MibCompiler
        from pysmi.parser import SmiStarParser
        from pysmi.reader import FileReader
        from pysmi.searcher import PyFileSearcher, StubSearcher
        from pysmi.writer import PyFileWriter
        from pysnmp.smi import builder

        compiler = MibCompiler(SmiStarParser(), PySnmpCodeGen(), PyFileWriter(str(output)))
        compiler.add_sources(*(FileReader(str(d)) for d in dirs), FileReader(str(BASE_MIBS_DIR)))
        compiler.add_searchers(PyFileSearcher(str(output)), StubSearcher(*PySnmpCodeGen.baseMibs))
        results = compiler.compile(*modules, rebuild=True)
        failed = {name: str(getattr(status, "error", status)) for name, status in results.items()
                  if name in modules and status in ("failed", "missing")}
        if failed:
            raise MibError("; ".join(f"{name}: {reason}" for name, reason in sorted(failed.items())))
        mib_builder = builder.MibBuilder()
        mib_builder.add_mib_sources(builder.DirMibSource(str(output)))
        for module in modules:
            try:
                mib_builder.load_modules(module)
            except Exception as error:  # pysnmp raises many kinds for a broken module
                raise MibError(f"{module}: cannot load the compiled module ({error})") from None
            for symbol, node in mib_builder.mibSymbols.get(module, {}).items():
                oid = getattr(node, "name", None)
                if not isinstance(oid, tuple) or not oid:
                    continue
                key = ".".join(str(part) for part in oid)
                self.names[key] = (module, symbol)
                syntax = getattr(node, "syntax", None)
                named = getattr(syntax, "namedValues", None) if syntax is not None else None
                if named:
                    self.enums[key] = {int(number): str(label) for label, number in named.items()}


def _module_name(path: Path) -> str | None:
    """The module a MIB file defines, read from its first definition line."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                text = line.split("--", 1)[0].strip()
                if "DEFINITIONS" in text:
                    return text.split()[0]
    except OSError:
        return None
    return None
