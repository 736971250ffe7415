"""The sample payloads in ``tests/fixtures/samples`` (copied from the shared samples: CI clones
only this repository)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "samples"


def sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text())


def sample_bytes(name: str) -> bytes:
    return (SAMPLES / f"{name}.json").read_bytes()
