"""Accounts on the embedded homeserver: the bot, demo people, and the rate-limit exemption.

Passwords are generated once and written to the data directory *before* anything is
registered, and each registration is recorded as it happens; so a start interrupted
half-way resumes with the same passwords and never registers an account twice.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from opsroom.config import Config
from opsroom.embedded.datadir import Layout, read_json, write_private_json
from opsroom.embedded.synapse import SynapseError, exempt_from_rate_limits, login, logout, register_user

log = logging.getLogger(__name__)

LEVEL_NAMES = {1: "specialist", 2: "shift lead", 3: "head"}
SERVICE_ADMIN_LOCALPART = "opsroom-admin"


@dataclass(frozen=True)
class Account:
    user_id: str
    password: str
    role: str = ""
    admin: bool = False

    @property
    def localpart(self) -> str:
        return self.user_id[1:].split(":", 1)[0]

    @property
    def display_name(self) -> str:
        return self.localpart.replace("_", " ").replace(".", " ").title()


@dataclass
class AccountPlan:
    """What the homeserver must hold: the bot, the demo accounts, and who can call admin APIs."""

    bot: Account
    demo: list[Account] = field(default_factory=list)
    service_admin: Account | None = None  # only when no demo account is an admin
    created: list[str] = field(default_factory=list)  # user IDs registered by this start

    @property
    def admin(self) -> Account:
        for account in self.demo:
            if account.admin:
                return account
        assert self.service_admin is not None
        return self.service_admin

    @property
    def passwords(self) -> list[str]:
        return [a.password for a in (self.bot, *self.demo, *([self.service_admin] if self.service_admin else []))]


def new_password() -> str:
    return secrets.token_urlsafe(12)


def _server(user_id: str) -> str:
    return user_id.split(":", 1)[1]


def describe_role(admin: bool, levels: dict[int, list[str]]) -> str:
    """E.g. ``administrator; databases, general: specialist (level 1)``: rooms sharing a level are combined."""
    parts = ["administrator"] if admin else []
    for level in sorted(levels):
        name = LEVEL_NAMES.get(level, "staff")
        parts.append(f"{', '.join(levels[level])}: {name} (level {level})")
    return "; ".join(parts) or "member"


def demo_roles(config: Config, server_name: str, bot_user_id: str) -> dict[str, tuple[bool, str]]:
    """Every local staff member and bot admin, in configuration order: user ID -> (admin, role)."""
    users: dict[str, dict[int, list[str]]] = {}
    admins = {user for user in config.bot.admins if _server(user) == server_name}
    for user in config.bot.admins:
        if user in admins:
            users.setdefault(user, {})
    for room in config.rooms:
        for member in room.staff:
            if _server(member.user) == server_name:
                users.setdefault(member.user, {}).setdefault(member.level, []).append(room.key)
    users.pop(bot_user_id, None)
    return {user: (user in admins, describe_role(user in admins, levels)) for user, levels in users.items()}


def plan_bot(config: Config, layout: Layout, server_name: str) -> tuple[Account, dict[str, Any]]:
    """The bot's account on the embedded server; its password is generated once and kept in bot.json."""
    user_id = config.bot.user_id or f"@opsroom:{server_name}"
    stored = read_json(layout.bot) or {}
    if stored.get("user_id") != user_id or not stored.get("password"):
        password = config.bot.password.reveal() if config.bot.password else new_password()
        stored = {**stored, "user_id": user_id, "password": password}
        write_private_json(layout.bot, stored)
    return Account(user_id, stored["password"], "the opsroom bot"), stored


def plan_accounts(config: Config, layout: Layout, server_name: str) -> AccountPlan:
    bot, stored_bot = plan_bot(config, layout, server_name)
    plan = AccountPlan(bot=bot)
    if config.embedded.demo_accounts:
        existing = {entry["user_id"]: entry for entry in read_json(layout.demo_accounts) or []}
        for user_id, (admin, role) in demo_roles(config, server_name, bot.user_id).items():
            password = existing.pop(user_id, {}).get("password") or new_password()
            plan.demo.append(Account(user_id, password, role, admin))
        for user_id, entry in existing.items():  # people no longer configured keep their account
            plan.demo.append(Account(user_id, entry["password"], "no longer in the configuration", bool(entry.get("admin"))))
        entries = [{"user_id": a.user_id, "password": a.password, "role": a.role} for a in plan.demo]
        if read_json(layout.demo_accounts) != entries:
            write_private_json(layout.demo_accounts, entries)
    if not any(account.admin for account in plan.demo):
        service = stored_bot.get("service_admin") or {}
        if not service.get("password"):
            service = {"user_id": f"@{SERVICE_ADMIN_LOCALPART}:{server_name}", "password": new_password()}
            write_private_json(layout.bot, {**stored_bot, "service_admin": service})
        plan.service_admin = Account(service["user_id"], service["password"], "opsroom's own homeserver admin", True)
    return plan


def provision(plan: AccountPlan, layout: Layout, base_url: str, registration_secret: str) -> None:
    """Register what is missing and exempt the bot from message rate limits (blocking: run in a thread)."""
    state = read_json(layout.registrations) or {"registered": [], "rate_limit_exempt": []}
    tokens: dict[str, str] = {}

    def record() -> None:
        write_private_json(layout.registrations, state)

    everyone = [plan.bot, *plan.demo, *([plan.service_admin] if plan.service_admin else [])]
    try:
        for account in everyone:
            if account.user_id in state["registered"]:
                continue
            try:
                response = register_user(
                    base_url, registration_secret, account.localpart, account.password,
                    admin=account.admin, displayname=account.display_name if account is not plan.bot else "opsroom",
                )
                tokens[account.user_id] = response["access_token"]
                plan.created.append(account.user_id)
                log.info("registered %s%s", account.user_id, " (homeserver admin)" if account.admin else "")
            except SynapseError as error:
                if "M_USER_IN_USE" not in str(error):
                    raise
                log.info("%s is already registered", account.user_id)
            state["registered"].append(account.user_id)
            record()
        if plan.bot.user_id not in state["rate_limit_exempt"]:
            admin = plan.admin
            try:  # worth a warning, not a failed start: the bot then waits out 429s
                if admin.user_id not in tokens:
                    tokens[admin.user_id] = login(base_url, admin.user_id, admin.password)
                exempt_from_rate_limits(base_url, tokens[admin.user_id], plan.bot.user_id)
            except SynapseError as error:
                log.warning("could not exempt %s from message rate limits as %s: %s", plan.bot.user_id, admin.user_id, error)
            else:
                log.info("%s is exempt from message rate limits", plan.bot.user_id)
                state["rate_limit_exempt"].append(plan.bot.user_id)
                record()
    finally:
        for token in tokens.values():  # registration and admin tokens were needed once only
            try:
                logout(base_url, token)
            except (SynapseError, OSError):
                pass
