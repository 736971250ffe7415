"""``opsroom`` command line: up, run, migrate, outbox, config, check-config."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Iterable, Mapping

from opsroom.config import Config, ConfigError, check_production, read_config, under
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
    for secret in (config.bot.password, config.bot.access_token, config.bot.encryption.pickle_key,
                   config.bot.encryption.recovery_key):
        if secret:
            yield secret.reveal()
    for source in config.sources:
        for _key, secret in source.secrets():
            yield secret.reveal()
    for entry in config.api.tokens:
        yield entry.token.reveal()
        if entry.previous_token is not None:
            yield entry.previous_token.reveal()


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


def check_file(path: Path, mode: str, environ: Mapping[str, str]) -> tuple[Config | None, list[Problem]]:
    """Every problem of a configuration file for ``opsroom run`` or ``opsroom up``, in one pass.

    For ``up``, a ``${NAME}`` the environment does not set is fine: ``opsroom up`` generates it."""
    from opsroom.embedded.up import check_up, missing_references

    if mode == "up":
        placeholders = {name: f"generated-by-opsroom-up-{index}-{name}" for index, name in
                        enumerate(missing_references(path, environ))}
        environ = {**placeholders, **environ}
    set_aside: set[str] = set()
    try:
        config: Config | None = read_config(path, environ)
        problems: list[Problem] = []
    except ConfigError as error:
        problems = list(error.problems)
        config = getattr(error, "partial", None)
        set_aside = getattr(error, "set_aside", set())
    if config is not None:
        more = check_production(config) if mode == "run" else check_up(config)
        problems += [p for p in more if p not in problems and not under(p.path, set_aside)]
    return (config if not problems else None), problems


def cmd_check_config(args: argparse.Namespace) -> int:
    config, problems = check_file(Path(args.file), args.mode, os.environ)
    if problems or config is None:
        print_problems(problems, args.file)
        return 2
    print(
        f"{args.file}: OK ({len(config.rooms)} rooms, {len(config.regulations)} regulations, "
        f"{len(config.sources)} sources, checked for `opsroom {args.mode}`)"
    )
    return 0


def _database_url(args: argparse.Namespace) -> str | None:
    """The database of ``--config FILE``, else OPSROOM_DATABASE_URL, else the embedded one of
    ``--data-dir`` (where `opsroom up` keeps it). Problems are printed; None then."""
    if args.config:
        config = _load(args.config)
        if config is None:
            return None
        if config.database.url is not None:
            return config.database.url.reveal()
    elif os.environ.get("OPSROOM_DATABASE_URL"):
        return os.environ["OPSROOM_DATABASE_URL"]
    data_dir = getattr(args, "data_dir", None)
    if data_dir and (Path(data_dir) / "postgres" / "data").is_dir():
        from opsroom.embedded.datadir import Layout
        from opsroom.embedded.postgres import EmbeddedPostgres

        return EmbeddedPostgres(Layout(Path(data_dir).resolve()).postgres).dsn("opsroom")
    where = "in --config FILE, OPSROOM_DATABASE_URL" + (f" or an `opsroom up` data directory ({data_dir} has none)" if data_dir else "")
    print(f"database.url: required ({where})", file=sys.stderr)
    return None


def cmd_migrate(args: argparse.Namespace) -> int:
    from opsroom.app import apply_migrations

    dsn = _database_url(args)
    if not dsn:
        return 2
    setup_logging("INFO", [dsn])
    try:
        applied = asyncio.run(apply_migrations(dsn))
    except (OSError, Exception) as error:  # connection refused, authentication, SQL
        print(f"migration failed: {type(error).__name__}: {error}".replace(dsn, "***"), file=sys.stderr)
        return 1
    print(f"applied migrations: {applied}" if applied else "database schema is up to date")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    """``opsroom outbox dead``: messages given up; ``opsroom outbox ack [ID ...]``: acknowledge them."""
    dsn = _database_url(args)
    if not dsn:
        return 2
    try:
        return asyncio.run(_outbox(args, dsn))
    except Exception as error:  # connection refused, authentication
        print(f"cannot reach the database: {type(error).__name__}: {error}".replace(dsn, "***"), file=sys.stderr)
        return 1


async def _outbox(args: argparse.Namespace, dsn: str) -> int:
    from storage import outbox
    from storage.pool import connect

    conn = await connect(dsn)
    try:
        if args.action == "ack":
            count = await outbox.acknowledge_dead(conn, args.ids or None)
            print(f"acknowledged {count} dead outbox row{'s' if count != 1 else ''}; /healthz no longer counts them")
            return 0
        rows = await outbox.dead_rows(conn, unacknowledged_only=not args.all)
        if not rows:
            print("no dead outbox rows" + ("" if args.all else " waiting for acknowledgement"))
            return 0
        for row in reversed(rows):
            state = "acknowledged" if row["dead_acknowledged_at"] else "unacknowledged"
            print(f"#{row['id']}  {row['dead_at']:%Y-%m-%d %H:%M:%S}  {row['queue']}  {row['kind']}  "
                  f"{row['dead_reason'] or 'refused'} after {row['attempts']} attempts ({state})")
            print(f"    {row['last_error']}")
        return 0
    finally:
        await conn.close()


def cmd_config(args: argparse.Namespace) -> int:
    """``opsroom config export``: the catalog as a configuration file, on standard output;
    ``opsroom config reload``: the file's catalog applied (every running process follows)."""
    if args.action == "reload":
        return _reload(args)
    dsn = _database_url(args)
    if not dsn:
        return 2
    from opsroom.provision import export, sealer_for

    try:
        data_dir = Path(args.data_dir)
        up_key = (data_dir / "postgres" / "data").is_dir() and not args.config
        text = asyncio.run(export(dsn, sealer_for(os.environ, data_dir.resolve() if up_key else None)))
    except Exception as error:  # connection refused, authentication, not migrated
        print(f"cannot read the catalog: {type(error).__name__}: {error}".replace(dsn, "***"), file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


def _reload(args: argparse.Namespace) -> int:
    """Through the database: the file is checked and applied here, the processes follow the
    catalog's version within a moment (no signal, no process ID needed)."""
    from opsroom.provision import apply_file_of, sealer_for
    from catalog.provisioning import CatalogProblems
    from common.secrets import SecretKeyError

    up_data = Path(args.data_dir) / "postgres" / "data"
    try:
        if up_data.is_dir() and not os.environ.get("OPSROOM_DATABASE_URL"):  # the stack of `opsroom up`
            from opsroom.embedded.datadir import Layout
            from opsroom.embedded.postgres import EmbeddedPostgres
            from opsroom.embedded.up import load_config

            layout = Layout(Path(args.data_dir).resolve())
            config = load_config(Path(args.config) if args.config else None, layout, os.environ).config
            dsn: str | None = EmbeddedPostgres(layout.postgres).dsn("opsroom")
            sealer = sealer_for(os.environ, layout.root)
        elif args.config:
            config = read_config(Path(args.config))
            dsn = config.database.url.reveal() if config.database.url else os.environ.get("OPSROOM_DATABASE_URL")
            sealer = sealer_for(os.environ)
        else:
            print("config reload: give --config FILE (or the --data-dir of `opsroom up`)", file=sys.stderr)
            return 2
    except ConfigError as error:
        print_problems(error.problems, args.config or "configuration")
        return 2
    except SecretKeyError as error:
        print(f"secret key: {error}", file=sys.stderr)
        return 2
    if not dsn:
        print("database.url: required (in --config FILE or OPSROOM_DATABASE_URL)", file=sys.stderr)
        return 2
    try:
        applied = asyncio.run(apply_file_of(dsn, config, sealer))
    except CatalogProblems as error:
        print_problems(error.problems, f"{args.config or 'configuration'} (with the catalog's database entries)")
        return 2
    except Exception as error:  # connection refused, authentication, not migrated
        print(f"cannot apply the catalog: {type(error).__name__}: {error}".replace(dsn, "***"), file=sys.stderr)
        return 1
    for kind, key in applied.left_out:
        print(f"{kind} {key!r}: left out, an entry of that name belongs to the database", file=sys.stderr)
    print(f"catalog: {applied.summary()} (version {applied.version}); running processes follow within 2 s")
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
    from opsroom.eventloop import run

    return run(serve(config))


async def serve(config: Config) -> int:
    """Run until SIGINT/SIGTERM (exit 0) or until a part fails (exit 1)."""
    from opsroom.app import Opsroom
    from opsroom.workers import default_count

    app = Opsroom(config, workers=config.http.workers or default_count())
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
    loop.add_signal_handler(signal.SIGHUP, app.request_reload)  # apply the file again
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

    box = commands.add_parser("outbox", help="messages the outbox gave up on: list them, acknowledge them")
    box.add_argument("action", choices=("dead", "ack"), help="dead: list them; ack: acknowledge them (/healthz is ok again)")
    box.add_argument("ids", nargs="*", type=int, metavar="ID", help="ack only these rows (default: all)")
    box.add_argument("--config", help="configuration file (else OPSROOM_DATABASE_URL, else --data-dir)")
    box.add_argument("--data-dir", default="./.opsroom", help="the data directory of `opsroom up` (default ./.opsroom)")
    box.add_argument("--all", action="store_true", help="dead: list acknowledged rows too")
    box.set_defaults(handler=cmd_outbox)

    catalog = commands.add_parser("config", help="the catalog in the database: export it, reload it from the file")
    catalog.add_argument("action", choices=("export", "reload"),
                         help="export: print the whole catalog as a configuration file; reload: apply the file's catalog "
                              "(running processes follow within 2 s; SIGHUP to a process does the same)")
    catalog.add_argument("--config", help="configuration file (else OPSROOM_DATABASE_URL, else --data-dir)")
    catalog.add_argument("--data-dir", default="./.opsroom", help="the data directory of `opsroom up` (default ./.opsroom)")
    catalog.set_defaults(handler=cmd_config)

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
