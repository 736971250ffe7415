"""End-to-end encryption of the bot: mautrix.crypto on vodozemac (see ``olm_adapter``).

Importing this package installs the adapter as ``olm`` first, so every ``bot.crypto``
module can import ``mautrix.crypto`` after it.
"""

from __future__ import annotations

from bot.crypto.olm_adapter import install as _install_olm_adapter

_install_olm_adapter()
