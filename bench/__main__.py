"""`python -m bench` runs every benchmark; `python -m bench startup` runs the named ones."""

from __future__ import annotations

import importlib
import sys

# name -> module with a main() that prints its figures
BENCHMARKS = {
    "startup": "bench.startup",
    "deadlines": "bench.deadlines",
    "latency": "bench.latency",
    "intake_load": "bench.intake_load",
    "people": "bench.people",
    "snmp_traps": "bench.snmp_traps",
    "mail": "bench.mail",
    "alert_groups": "bench.alert_groups",
    "knowledge": "bench.knowledge",
    "business_time": "bench.business_time",
    "e2ee_memory": "bench.e2ee_memory",
    "reports": "bench.reports",
    "portal": "bench.portal",
    "portal_live": "bench.portal_live",
    "catalog": "bench.catalog",
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown or any(name in ("-h", "--help") for name in names):
        print(f"usage: python -m bench [{' | '.join(BENCHMARKS)}] ...", file=sys.stderr)
        return 2 if unknown else 0
    code = 0
    for name in names:
        print(f"== {name} ==", flush=True)
        code = max(code, importlib.import_module(BENCHMARKS[name]).main() or 0)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
