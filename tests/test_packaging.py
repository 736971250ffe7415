"""The package metadata installs without deprecation warnings from the build backend."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def test_the_license_is_an_spdx_expression_and_the_backend_understands_it() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    # a table ({text = ...}) makes setuptools >= 77 warn on every `pip install`
    assert project["project"]["license"] == "AGPL-3.0-or-later"
    requires = " ".join(project["build-system"]["requires"])
    minimum = re.search(r"setuptools>=(\d+)", requires)
    assert minimum and int(minimum.group(1)) >= 77, requires  # the first setuptools that reads SPDX strings
