"""The layers hold: import-linter's contracts in pyproject.toml (composition root > faces >
application > domain > storage; no face imports another) are checked on every test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_the_import_contracts_are_kept() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_a_broken_contract_fails_the_check(tmp_path: Path) -> None:
    """The check is not vacuous: a contract the code breaks (the bot calls the application layer)
    makes lint-imports fail and name the import."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_packages = ["bot", "application"]\n\n'
        '[[tool.importlinter.contracts]]\nname = "the bot never calls the application layer"\n'
        'type = "forbidden"\nsource_modules = ["bot"]\nforbidden_modules = ["application"]\n',
        encoding="utf-8",
    )
    result = lint_imports("--config", str(config))
    assert result.returncode != 0
    assert "bot." in result.stdout and "-> application" in result.stdout
