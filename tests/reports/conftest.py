from __future__ import annotations

from tests.mail.conftest import smtp_server  # noqa: F401  (fixture: an SMTP server that can refuse for a while)
from tests.tickets.conftest import regulated  # noqa: F401  (fixture: a staffed topic room with opsroom running)
