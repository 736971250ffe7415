from __future__ import annotations

from tests.tickets.conftest import regulated  # noqa: F401  (the staffed room with opsroom running)
