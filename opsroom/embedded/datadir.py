"""The data directory of ``opsroom up``: where each piece of state lives, and how it is written.

Everything a second start must find again (passwords, generated tokens, which accounts
exist) is a small JSON file here. Files holding secrets are written atomically with mode
0600, so a crash never leaves half a file and no other user can read them.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def config_secrets(self) -> Path:
        """Values generated for ``${NAME}`` references the environment does not set."""
        return self.root / "config-secrets.json"

    @property
    def bot(self) -> Path:
        """The bot's (and, if needed, a service admin's) credentials on the embedded homeserver."""
        return self.root / "bot.json"

    @property
    def demo_accounts(self) -> Path:
        return self.root / "demo-accounts.json"

    @property
    def postgres(self) -> Path:
        return self.root / "postgres"

    @property
    def synapse(self) -> Path:
        return self.root / "synapse"

    @property
    def registrations(self) -> Path:
        """Which accounts the homeserver already has; beside its database, so both go together."""
        return self.synapse / "opsroom-registrations.json"

    def shown(self, path: Path | None = None) -> str:
        """A path as the user would type it: relative to the working directory when inside it."""
        target = path or self.root
        try:
            return str(target.relative_to(Path.cwd()))
        except ValueError:
            return str(target)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError as error:
        raise DataDirError(f"{path} is not valid JSON ({error}); repair or remove it") from None


def write_private_json(path: Path, value: Any) -> None:
    """Write atomically (temporary file, then rename) with mode 0600."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), 0o600)
        json.dump(value, handle, indent=2, ensure_ascii=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


class DataDirError(RuntimeError):
    pass


def lock_file(path: Path) -> IO[str]:
    """An exclusive lock held while the returned file is open; the kernel drops it if we die."""
    handle = open(path, "w")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirError(f"{path} is locked by another process") from None
    return handle


def lock_data_dir(layout: Layout) -> IO[str]:
    """One ``opsroom up`` per data directory."""
    layout.root.mkdir(parents=True, exist_ok=True)
    try:
        return lock_file(layout.root / "opsroom.lock")
    except DataDirError:
        raise DataDirError(f"{layout.shown()} is in use by another `opsroom up`") from None
