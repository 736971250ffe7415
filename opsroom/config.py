"""opsroom's configuration: one YAML file, secrets optionally from the environment.

The shape is declared as dataclasses; :mod:`common.schema` loads and checks it. Parts that
are configured (rooms, regulations) own their dataclasses; this module composes them and
adds the checks that span several sections.
"""

from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from admin_portal.settings import PortalConfig
from intake.settings import ReportFormConfig, check_origin, check_source_expression
from intake.mail.settings import MailConfig
from catalog.sources import ApiToken, BasicAuthConfig, HmacConfig, SourceConfig  # noqa: F401 (part of the file's shape)
from monitors.settings import CheckConfig, HeartbeatConfig, check_monitors
from intake.snmp.settings import SnmpConfig, check_snmp
from common.schema import Problem, SchemaError, Secret, load
from knowledge.settings import KnowledgeConfig
from opsroom.service_levels import check_service_levels
from regulations.calendar import CalendarConfig
from regulations.model import Regulation
from regulations.sla import CustomerConfig, SlaPolicy
from reports.schedule import ScheduledReport, check_schedules
from rooms.model import Person, TopicRoom, check_user_id
from rooms.silences import MaintenanceWindow
from tickets.workflow import LifecycleConfig, TicketTypeConfig
from texts.i18n import LANGUAGES

EXAMPLE_CONFIG = Path(__file__).with_name("opsroom.example.yaml")

# environment variable -> key path it overrides
ENVIRONMENT_OVERRIDES: dict[str, tuple[str, ...]] = {
    "OPSROOM_DATABASE_URL": ("database", "url"),
    "OPSROOM_HOMESERVER_URL": ("homeserver", "url"),
    "OPSROOM_BOT_USER_ID": ("bot", "user_id"),
    "OPSROOM_BOT_PASSWORD": ("bot", "password"),
    "OPSROOM_BOT_ACCESS_TOKEN": ("bot", "access_token"),
    "OPSROOM_HTTP_PORT": ("http", "port"),
}

_ENV_REFERENCE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def _check_port(value: int) -> str | None:
    return None if 1 <= value <= 65535 else "a TCP port is between 1 and 65535"


def _check_listen_port(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "a TCP port is between 1 and 65535 (0: any free port)"


def _check_url(value: str) -> str | None:
    return None if value.startswith(("http://", "https://")) else "expected an http:// or https:// URL"


def _check_database_url(value: Secret) -> str | None:
    if value.reveal().startswith(("postgresql://", "postgres://")):
        return None
    return "expected a postgresql:// URL"


def _check_positive(value: int) -> str | None:
    return None if value > 0 else "must be greater than zero"


@dataclass(frozen=True)
class DatabaseConfig:
    # absent: `opsroom up` starts an embedded PostgreSQL; `opsroom run` requires it
    url: Secret | None = field(default=None, metadata={"check": _check_database_url})
    min_connections: int = field(default=2, metadata={"check": _check_positive})
    max_connections: int = field(default=10, metadata={"check": _check_positive})


@dataclass(frozen=True)
class HomeserverConfig:
    url: str = field(metadata={"check": _check_url})
    # the server part of user IDs; defaults to the bot's
    server_name: str | None = None


@dataclass(frozen=True)
class EncryptionConfig:
    """End-to-end encryption of the bot (mautrix.crypto on vodozemac)."""

    enabled: bool = True
    # protects the Olm/Megolm keys stored in PostgreSQL; changing it makes them unreadable
    pickle_key: Secret | None = None
    # printed once when the bot's cross-signing keys are created; lets a new device be signed
    recovery_key: Secret | None = None


def _check_page_window(value: timedelta) -> str | None:
    if value < timedelta(0) or value > timedelta(hours=1):
        return "must be between 0s (a message per page) and 1h"
    return None


@dataclass(frozen=True)
class BotConfig:
    user_id: str | None = field(default=None, metadata={"check": check_user_id})
    password: Secret | None = None
    access_token: Secret | None = None
    # kept stable so that Matrix transaction IDs stay idempotent across restarts
    device_id: str = "OPSROOM"
    display_name: str = "opsroom"
    command_prefix: str = "!"
    # invitations are accepted only from these users
    admins: list[str] = field(default_factory=list)
    # whose direct-message invitations the bot accepts: anyone, people of its own homeserver, or admins
    direct_messages: Literal["anyone", "local", "admins"] = "local"
    # escalation pages to one person within this window are one direct message, edited as it grows
    page_window: timedelta = field(default=timedelta(minutes=1), metadata={"check": _check_page_window})
    encryption: EncryptionConfig = field(default_factory=EncryptionConfig)


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata={"check": _check_listen_port})
    # the address people and monitoring systems use to reach opsroom (links in messages)
    public_url: str | None = field(default=None, metadata={"check": _check_url})
    max_body_bytes: int = field(default=1024 * 1024, metadata={"check": _check_positive})
    # processes accepting on the port (the alarm gateways run in each); unset: one per core
    workers: int | None = field(default=None, metadata={"check": _check_positive})


@dataclass(frozen=True)
class EmbeddedConfig:
    """Used by ``opsroom up`` only."""

    homeserver_port: int = field(default=8008, metadata={"check": _check_port})
    server_name: str = "localhost"
    # register staff of the local server as demo accounts with printed passwords
    demo_accounts: bool = True


@dataclass(frozen=True)
class LoggingConfig:
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


@dataclass(frozen=True)
class ApiConfig:
    tokens: list[ApiToken] = field(default_factory=list)


@dataclass(frozen=True)
class AttachmentsConfig:
    # a file above this is refused with a note in the ticket's thread; the ticket is still created
    max_bytes: int = field(default=10 * 1024 * 1024, metadata={"check": _check_positive})


@dataclass(frozen=True)
class Config:
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    homeserver: HomeserverConfig | None = None
    bot: BotConfig = field(default_factory=BotConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    embedded: EmbeddedConfig = field(default_factory=EmbeddedConfig)
    sources: list[SourceConfig] = field(default_factory=list)
    api: ApiConfig = field(default_factory=ApiConfig)
    attachments: AttachmentsConfig = field(default_factory=AttachmentsConfig)
    report_form: ReportFormConfig = field(default_factory=ReportFormConfig)
    rooms: list[TopicRoom] = field(default_factory=list)
    regulations: dict[str, Regulation] = field(default_factory=dict)
    maintenance: list[MaintenanceWindow] = field(default_factory=list)
    # devices: SNMP traps, active checks (HTTP, SNMP GET), heartbeats of sources
    snmp: SnmpConfig = field(default_factory=SnmpConfig)
    checks: list[CheckConfig] = field(default_factory=list)
    heartbeats: list[HeartbeatConfig] = field(default_factory=list)
    mail: MailConfig = field(default_factory=MailConfig)
    # people known by Matrix ID and e-mail: mail senders, mail pages (staff may carry `email` too)
    people: list[Person] = field(default_factory=list)
    # service levels: business-hours calendars, customers, SLA policies, ticket types and their lifecycle
    calendars: dict[str, CalendarConfig] = field(default_factory=dict)
    customers: list[CustomerConfig] = field(default_factory=list)
    sla_policies: list[SlaPolicy] = field(default_factory=list)
    ticket_types: dict[str, TicketTypeConfig] = field(default_factory=dict)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    # knowledge base: summary hints, suggestions on new tickets, the public board
    knowledge: KnowledgeConfig = field(default_factory=KnowledgeConfig)
    # the admin portal at /admin/
    portal: PortalConfig = field(default_factory=PortalConfig)
    # scheduled reports, delivered to a room or by mail
    reports: list[ScheduledReport] = field(default_factory=list)
    # the checked file's data (environment expanded): the catalog is provisioned from it
    # (opsroom/provision.py); not part of the file's keys, of equality or of repr (it holds secrets)
    document: dict[str, Any] | None = field(default=None, init=False, compare=False, repr=False)
    # the file it was read from (named by provisioned catalog entries)
    source_path: str | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def server_name(self) -> str:
        if self.homeserver and self.homeserver.server_name:
            return self.homeserver.server_name
        if self.bot.user_id:
            return self.bot.user_id.split(":", 1)[1]
        return self.embedded.server_name

    def room(self, key: str) -> TopicRoom | None:
        for room in self.rooms:
            if room.key == key:
                return room
        return None

    @property
    def default_room(self) -> TopicRoom | None:
        for room in self.rooms:
            if room.default:
                return room
        return None


class ConfigError(SchemaError):
    """The configuration has problems; each names its key path."""


def read_config(path: Path | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read, override from the environment, and check a configuration file.

    ``path=None`` reads the shipped example, which ``opsroom up`` uses for its demo.
    """
    environ = os.environ if environ is None else environ
    source = path or EXAMPLE_CONFIG
    try:
        text = Path(source).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem("", f"configuration file not found: {source}")]) from None
    except OSError as error:
        raise ConfigError([Problem("", f"cannot read {source}: {error.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        reason = getattr(error, "problem", None) or "not valid YAML"
        raise ConfigError([Problem("", f"{where}{reason}")]) from None
    config = parse_config(data, environ)
    object.__setattr__(config, "source_path", str(Path(source).resolve()))
    return config


def parse_config(data: Any, environ: Mapping[str, str]) -> Config:
    if data is None:
        data = {}
    problems: list[Problem] = []
    if not isinstance(data, dict):
        raise ConfigError([Problem("", "the configuration must be a mapping of sections")])
    data = _expand_environment(data, environ, "", problems)
    _apply_overrides(data, environ)
    config, load_problems, set_aside = _load_set_aside(data)
    problems.extend(load_problems)
    if config is not None:
        # what refers to a part set aside (a regulation of that name) is not a problem of its own
        names = {repr(_path_parts(path)[-1]) for path in set_aside if isinstance(_path_parts(path)[-1], str)}
        holders = {_parent(path) for path in set_aside}  # an entry whose part was set aside is not missing it
        problems.extend(
            p for p in check_consistency(config)
            if not under(p.path, set_aside) and p.path not in holders
            and not (set_aside and any(name in p.message for name in names))
        )
    if problems:
        error = ConfigError(problems)
        error.partial = config  # type: ignore[attr-defined]  # what the rest could be checked on
        error.set_aside = set_aside  # type: ignore[attr-defined]
        raise error
    object.__setattr__(config, "document", data)
    return config


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
SET_ASIDE_ROUNDS = 8


def _path_parts(path: str) -> list[str | int]:
    return [int(index) if index else key for key, index in _PATH_PART.findall(path)]


def under(path: str, prefixes: set[str]) -> bool:
    """Whether ``path`` is one of ``prefixes`` or lies inside one."""
    return any(path == prefix or path.startswith((prefix + ".", prefix + "[")) for prefix in prefixes)


def _set_aside(data: Any, path: str) -> str | None:
    """Remove what ``path`` names from ``data``; returns the path removed (a list item takes its
    whole list along, since the items after it would change their numbers), None if not found."""
    parts = _path_parts(path)
    if not parts:
        return None
    parent: Any = data
    walked: list[str | int] = []
    for part in parts[:-1]:
        if isinstance(part, int) and isinstance(parent, list) and part < len(parent):
            if not isinstance(parent[part], (dict, list)):
                break
        elif not (isinstance(part, str) and isinstance(parent, dict) and part in parent):
            break
        parent, walked = parent[part], [*walked, part]
    else:
        last = parts[-1]
        if isinstance(last, str) and isinstance(parent, dict) and last in parent:
            del parent[last]
            return path
    # a list item (or something unreachable): set the nearest mapping key above it aside
    while walked and not isinstance(walked[-1], str):
        walked.pop()
    if not walked:
        return None
    holder: Any = data
    for part in walked[:-1]:
        holder = holder[part]
    del holder[walked[-1]]
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(walked))


def _load_set_aside(data: dict[str, Any]) -> tuple[Config | None, list[Problem], set[str]]:
    """Load the configuration; where parts do not load, set them aside and load the rest again,
    so that the checks across sections still run and every problem is told in one pass."""
    config, problems = load(Config, data)
    if config is not None:
        return config, problems, set()
    trimmed = copy.deepcopy(data)
    set_aside: set[str] = set()
    reported = list(problems)
    new = problems
    for _round in range(SET_ASIDE_ROUNDS):
        removed = {_set_aside(trimmed, problem.path) for problem in new}
        if None in removed:
            return None, reported, set_aside
        set_aside |= {path for path in removed if path}
        config, again = load(Config, trimmed)
        if config is not None:
            return config, reported, set_aside
        new = [p for p in again if not under(p.path, set_aside)]
        reported += [p for p in new if p not in reported]
        if not new:  # only what was set aside fails now (a required key): set its parent aside
            new = [Problem(_parent(p.path), "") for p in again if _parent(p.path)]
            if not new:
                return None, reported, set_aside
    return None, reported, set_aside


def _parent(path: str) -> str:
    parts = _path_parts(path)[:-1]
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(parts))


def _expand_environment(value: Any, environ: Mapping[str, str], path: str, problems: list[Problem]) -> Any:
    """Replace ``${NAME}`` in string values by the environment variable NAME."""
    if isinstance(value, dict):
        return {
            key: _expand_environment(item, environ, f"{path}.{key}" if path else str(key), problems)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_expand_environment(item, environ, f"{path}[{index}]", problems) for index, item in enumerate(value)]
    if isinstance(value, str) and "${" in value:

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                problems.append(Problem(path, f"environment variable {name} is not set"))
                return match.group(0)  # kept as written, so no second problem follows
            return environ[name]

        return _ENV_REFERENCE.sub(substitute, value)
    return value


def _apply_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for variable, (section, key) in ENVIRONMENT_OVERRIDES.items():
        value = environ.get(variable)
        if not value:
            continue
        target = data.get(section)
        if not isinstance(target, dict):
            target = {}
            data[section] = target
        target[key] = int(value) if key == "port" and value.isdigit() else value


def check_consistency(config: Config) -> list[Problem]:
    """Checks that span sections: references between rooms and regulations, uniqueness."""
    problems: list[Problem] = []
    seen_keys: set[str] = set()
    defaults = []
    for index, room in enumerate(config.rooms):
        path = f"rooms[{index}]"
        if room.key in seen_keys:
            problems.append(Problem(f"{path}.key", f"duplicate room key {room.key!r}"))
        seen_keys.add(room.key)
        if room.default:
            defaults.append(path)
        if room.language not in LANGUAGES:
            problems.append(Problem(f"{path}.language", _not_shipped(room.language)))
        if room.regulation not in config.regulations:
            known = ", ".join(sorted(config.regulations)) or "none defined"
            problems.append(Problem(f"{path}.regulation", f"unknown regulation {room.regulation!r} (known: {known})"))
        seen_users: set[str] = set()
        for staff_index, member in enumerate(room.staff):
            if member.user in seen_users:
                problems.append(Problem(f"{path}.staff[{staff_index}].user", f"{member.user} is listed twice"))
            seen_users.add(member.user)
        for match_key, values in room.match.items():
            if not values:
                problems.append(Problem(f"{path}.match.{match_key}", "needs at least one value"))
    if config.rooms and not defaults:
        problems.append(Problem("rooms", "one room needs `default: true` to receive alarms that no rule matches"))
    for extra in defaults[1:]:
        problems.append(Problem(f"{extra}.default", "only one room can be the default"))
    for index, window in enumerate(config.maintenance):
        for room_index, key in enumerate(window.rooms):
            if key not in seen_keys:
                problems.append(Problem(f"maintenance[{index}].rooms[{room_index}]", f"unknown room {key!r}"))
    for name, regulation in config.regulations.items():
        path = f"regulations.{name}.escalation"
        for kind, steps in (("unclaimed", regulation.escalation.unclaimed), ("unresolved", regulation.escalation.unresolved)):
            levels = [step.level for step in steps]
            if levels != sorted(set(levels)):
                problems.append(Problem(f"{path}.{kind}", "levels must rise from step to step"))
        if regulation.escalation.repeat_top < 0:
            problems.append(Problem(f"{path}.repeat_top", "must be zero or more"))
    problems.extend(_check_sources(config.sources))
    names: set[str] = set()
    tokens: set[str] = set()
    for index, entry in enumerate(config.api.tokens):
        if entry.name in names:
            problems.append(Problem(f"api.tokens[{index}].name", f"duplicate name {entry.name!r}"))
        if entry.token.reveal() in tokens:
            problems.append(Problem(f"api.tokens[{index}].token", "the same token is used twice"))
        names.add(entry.name)
        tokens.add(entry.token.reveal())
    for index, admin in enumerate(config.bot.admins):
        message = check_user_id(admin)
        if message:
            problems.append(Problem(f"bot.admins[{index}]", message))
    problems.extend(_check_report_form(config))
    source_names = {source.name for source in config.sources}
    problems.extend(check_snmp(config.snmp, source_names))
    problems.extend(check_monitors(config.checks, config.heartbeats, source_names))
    problems.extend(_check_mail(config))
    problems.extend(check_service_levels(config))
    problems.extend(Problem(f"reports[{index}].language", _not_shipped(report.language))
                    for index, report in enumerate(config.reports) if report.language not in LANGUAGES)
    problems.extend(Problem(path, message) for path, message in check_schedules(config.reports, seen_keys, config.mail.smtp is not None))
    if config.bot.password and config.bot.access_token:
        problems.append(Problem("bot", "give either password or access_token, not both"))
    return problems


def _not_shipped(language: str) -> str:
    """A known language whose catalogue is not in this build yet (texts.i18n.LANGUAGES)."""
    return f"{language!r} is not translated in this version yet (shipped: {', '.join(LANGUAGES)})"


def _check_report_form(config: Config) -> list[Problem]:
    form = config.report_form
    problems = [
        Problem(f"report_form.frame_ancestors[{index}]", message)
        for index, source in enumerate(form.frame_ancestors)
        if (message := check_source_expression(source))
    ]
    problems += [
        Problem(f"report_form.allowed_origins[{index}]", message)
        for index, origin in enumerate(form.allowed_origins)
        if (message := check_origin(origin))
    ]
    if "'none'" in form.frame_ancestors and len(form.frame_ancestors) > 1:
        problems.append(Problem("report_form.frame_ancestors", "'none' cannot be combined with other sources"))
    if form.enabled and not config.rooms:
        problems.append(Problem("report_form.enabled", "the form needs topic rooms (`rooms`) to route tickets to"))
    return problems


def _check_sources(sources: list[SourceConfig]) -> list[Problem]:
    """Every source can authenticate somehow, and no credential could name two sources."""
    problems: list[Problem] = []
    names: set[str] = set()
    used: dict[str, str] = {}  # secret -> key path of its first use
    basic_users: set[str] = set()
    for index, source in enumerate(sources):
        path = f"sources[{index}]"
        if source.name in names:
            problems.append(Problem(f"{path}.name", f"duplicate name {source.name!r}"))
        names.add(source.name)
        if not (source.token or source.basic or source.hmac or source.routing_key):
            problems.append(Problem(path, "give at least one credential: token, basic, hmac or routing_key"))
        for key, secret in source.secrets():
            first = used.setdefault(secret.reveal(), f"{path}.{key}")
            if first != f"{path}.{key}":
                problems.append(Problem(f"{path}.{key}", f"the same secret is already used at {first}"))
        if source.basic:
            if source.basic.username in basic_users:
                problems.append(Problem(f"{path}.basic.username", f"user {source.basic.username!r} is used by another source"))
            basic_users.add(source.basic.username)
    return problems


def _check_mail(config: Config) -> list[Problem]:
    """Mailboxes, people, required fields and mail pages against the rest of the configuration."""
    problems: list[Problem] = []
    room_keys = {room.key for room in config.rooms}
    names: set[str] = set()
    for index, mailbox in enumerate(config.mail.imap):
        path = f"mail.imap[{index}]"
        if mailbox.name in names:
            problems.append(Problem(f"{path}.name", f"duplicate mailbox name {mailbox.name!r}"))
        names.add(mailbox.name)
        if mailbox.room is not None and mailbox.room not in room_keys:
            problems.append(Problem(f"{path}.room", f"unknown room {mailbox.room!r} (known: {', '.join(sorted(room_keys)) or 'none'})"))
        if mailbox.processed_folder is not None and mailbox.processed_folder == mailbox.folder:
            problems.append(Problem(f"{path}.processed_folder", "must differ from folder"))
    smtp = config.mail.smtp
    if smtp is not None and (smtp.username is None) != (smtp.password is None):
        problems.append(Problem("mail.smtp", "give both username and password, or neither"))
    users: set[str] = set()
    emails: set[str] = set()
    for index, person in enumerate(config.people):
        if person.user in users:
            problems.append(Problem(f"people[{index}].user", f"{person.user} is listed twice"))
        if person.email and person.email.lower() in emails:
            problems.append(Problem(f"people[{index}].email", f"{person.email} is listed twice"))
        users.add(person.user)
        if person.email:
            emails.add(person.email.lower())
    for room_index, room in enumerate(config.rooms):
        seen_fields: set[str] = set()
        for field_index, required in enumerate(room.required_fields):
            path = f"rooms[{room_index}].required_fields[{field_index}]"
            if required.name in seen_fields:
                problems.append(Problem(f"{path}.name", f"duplicate field {required.name!r}"))
            seen_fields.add(required.name)
            if not required.patterns and not required.attachment:
                problems.append(Problem(path, "give patterns, an attachment name pattern, or both"))
    for name, regulation in config.regulations.items():
        if regulation.escalation.email_levels and smtp is None:
            problems.append(Problem(f"regulations.{name}.escalation.email_levels", "mail pages need mail.smtp"))
    return problems


def check_production(config: Config) -> list[Problem]:
    """What ``opsroom run`` needs beyond a well-formed file: an external database and homeserver."""
    problems = []
    if config.database.url is None:
        problems.append(Problem("database.url", "required for `opsroom run` (or set OPSROOM_DATABASE_URL)"))
    if config.homeserver is None:
        problems.append(Problem("homeserver.url", "required for `opsroom run` (or set OPSROOM_HOMESERVER_URL)"))
    if not config.bot.user_id:
        problems.append(Problem("bot.user_id", "required for `opsroom run`"))
    if not (config.bot.password or config.bot.access_token):
        problems.append(
            Problem("bot.password", "required for `opsroom run`: a password or an access_token (or OPSROOM_BOT_PASSWORD)")
        )
    return problems


def with_runtime(config: Config, *, database_url: str | None = None, homeserver_url: str | None = None,
                 bot_user_id: str | None = None, bot_password: str | None = None) -> Config:
    """A copy completed with what the embedded runtime provides."""
    original = config
    if database_url is not None:
        config = replace(config, database=replace(config.database, url=Secret(database_url)))
    if homeserver_url is not None:
        config = replace(config, homeserver=HomeserverConfig(url=homeserver_url, server_name=config.embedded.server_name))
    if bot_user_id is not None:
        config = replace(config, bot=replace(config.bot, user_id=bot_user_id))
    if bot_password is not None:
        config = replace(config, bot=replace(config.bot, password=Secret(bot_password), access_token=None))
    return carried(config, original)


def carried(config: Config, original: Config) -> Config:
    """``config`` (a ``replace`` of ``original``) with the file's document and path kept."""
    object.__setattr__(config, "document", original.document)
    object.__setattr__(config, "source_path", original.source_path)
    return config
