from __future__ import annotations

from tests.tickets.conftest import regulated  # noqa: F401  (fixture: a staffed topic room with opsroom running)
