"""``opsroom`` command line: up, run, migrate, check-config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Iterable

from opsroom.config import Config, ConfigError, check_production, read_config
from opsroom.logs import setup_logging
from common.schema import Problem

log = logging.getLogger("opsroom")


def config_secrets(config: Config) -> Iterable[str]:
    """Every configured secret, for redaction from logs."""
    if config.database.url is not None:
        url = config.database.url.reveal()
        yield url
        if "@" in url and ":" in url.split("@", 1)[0].split("//", 1)[-1]:
            yield url.split("@", 1)[0].split("//", 1)[-1].split(":", 1)[1]
    for secret in (config.bot.password, config.bot.access_token):
        if secret:
            yield secret.reveal()
    for source in config.sources:
        for _key, secret in source.secrets():
            yield secret.reveal()
    for entry in config.api.tokens:
        yield entry.token.reveal()


def print_problems(problems: list[Problem], source: str) -> None:
    print(f"{source}: {len(problems)} problem{'s' if len(problems) != 1 else ''}", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def _load(path: str | None) -> Config | None:
    try:
        return read_config(Path(path) if path else None)
    except ConfigError as error:
        print_problems(error.problems, path or "configuration")
        return None


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        config = read_config(Path(args.file))
    except ConfigError as error:
        print_problems(error.problems, args.file)
        return 2
    problems = check_production(config) if args.mode == "run" else []
    if problems:
        print_problems(problems, args.file)
        return 2
    print(
        f"{args.file}: OK ({len(config.rooms)} rooms, {len(config.regulations)} regulations, "
        f"{len(config.sources)} sources, checked for `opsroom {args.mode}`)"
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from opsroom.app import apply_migrations

    dsn = os.environ.get("OPSROOM_DATABASE_URL")
    if args.config:
        config = _load(args.config)
        if config is None:
            return 2
        dsn = config.database.url.reveal() if config.database.url else None
    if not dsn:
        print("database.url: required (in --config FILE or OPSROOM_DATABASE_URL)", file=sys.stderr)
        return 2
    setup_logging("INFO", [dsn])
    try:
        applied = asyncio.run(apply_migrations(dsn))
    except (OSError, Exception) as error:  # connection refused, authentication, SQL
        print(f"migration failed: {type(error).__name__}: {error}".replace(dsn, "***"), file=sys.stderr)
        return 1
    print(f"applied migrations: {applied}" if applied else "database schema is up to date")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 2
    problems = check_production(config)
    if problems:
        print_problems(problems, args.config)
        return 2
    setup_logging(config.logging.level, config_secrets(config))
    return asyncio.run(serve(config))


async def serve(config: Config) -> int:
    """Run until SIGINT/SIGTERM (exit 0) or until a part fails (exit 1)."""
    from opsroom.app import Opsroom

    app = Opsroom(config)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await app.start()
    except Exception as error:
        log.error("opsroom could not start: %s: %s", type(error).__name__, error)
        await app.stop()
        return 1
    failed = asyncio.create_task(app.wait_failed())
    stop_wait = asyncio.create_task(stopping.wait())
    await asyncio.wait([failed, stop_wait], return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if failed.done():
        log.error("a part of opsroom stopped: %r", failed.result())
        code = 1
    else:
        log.info("stopping")
        failed.cancel()
    stop_wait.cancel()
    await app.stop()
    return code


def cmd_up(args: argparse.Namespace) -> int:
    from opsroom.embedded.up import up

    return up(data_dir=Path(args.data_dir), config_path=Path(args.config) if args.config else None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opsroom", description="Chat-ops incident regulation in Matrix rooms.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="run the whole stack on this machine (embedded PostgreSQL and Synapse)")
    up.add_argument("--data-dir", default="./.opsroom", help="where the embedded stack keeps its data (default ./.opsroom)")
    up.add_argument("--config", help="configuration file (default: the shipped example)")
    up.set_defaults(handler=cmd_up)

    run = commands.add_parser("run", help="run against a configured PostgreSQL and homeserver (production)")
    run.add_argument("--config", required=True, help="configuration file")
    run.set_defaults(handler=cmd_run)

    migrate = commands.add_parser("migrate", help="apply database migrations and exit")
    migrate.add_argument("--config", help="configuration file (else OPSROOM_DATABASE_URL)")
    migrate.set_defaults(handler=cmd_migrate)

    check = commands.add_parser("check-config", help="check a configuration file and print every problem")
    check.add_argument("file")
    check.add_argument(
        "--mode", choices=("run", "up"), default="run",
        help="check for `opsroom run` (default: database and homeserver required) or `opsroom up`",
    )
    check.set_defaults(handler=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
