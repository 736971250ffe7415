"""An embedded PostgreSQL: pgserver's bundled binaries, run as a direct child of opsroom.

pgserver ships PostgreSQL binaries in a wheel; its own ``get_server`` starts them through
``pg_ctl``, which daemonises: the server would outlive a killed opsroom. Here ``initdb``
runs once and the ``postgres`` binary itself is a child process that listens on a unix
socket only and is asked by Linux to shut down (SIGINT, fast shutdown) when its parent
dies, so no path leaves an orphan server behind.

PostgreSQL refuses to run as root. When opsroom runs as root, the server runs as the
system user ``pgserver`` (the same user pgserver itself creates), and the directories on
the way to the data directory get the traversal bit for others (not read: listing stays
closed).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import IO
from urllib.parse import quote

from opsroom.embedded.datadir import DataDirError, lock_file
from opsroom.embedded.process import alive, child_preexec, cmdline, stop_pid

log = logging.getLogger(__name__)

SOCKET_PORT = 5432  # TCP is off; the port only names the socket file .s.PGSQL.5432
SYSTEM_USER = "pgserver"
MAX_SOCKET_PATH = 107  # sun_path is 108 bytes including the terminating NUL
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class EmbeddedPostgresError(RuntimeError):
    pass


def postgres_bin() -> Path:
    """pgserver's bin directory, found without importing pgserver (its import warns and loads psutil)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedPostgresError("pgserver is not installed: pip install 'opsroom[embedded]'")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _system_user() -> pwd.struct_passwd | None:
    """The account the server runs as when opsroom is root (created on first use); None otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise EmbeddedPostgresError(f"running as root needs a system user {SYSTEM_USER!r}; useradd is not available") from None
        subprocess.run([useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
                       check=True, capture_output=True)
        return pwd.getpwnam(SYSTEM_USER)


def _allow_traversal(path: Path) -> None:
    """Give others the x bit on every ancestor of ``path``, so the server's user can reach it."""
    for ancestor in [path, *path.parents]:
        mode = ancestor.stat().st_mode
        if not mode & stat.S_IXOTH:
            ancestor.chmod(mode | stat.S_IXOTH)


def _read_pid(path: Path) -> int | None:
    try:
        first = path.read_text().split("\n", 1)[0].strip()
        return int(first)
    except (OSError, ValueError):
        return None


class EmbeddedPostgres:
    """One PostgreSQL server kept in ``data_dir``: ``data/`` (the cluster), ``postgres.log``, ``run/`` (socket)."""

    def __init__(self, data_dir: Path, *, shared_buffers: str = "32MB", max_connections: int = 100) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.pgdata = self.data_dir / "data"
        self.log_path = self.data_dir / "postgres.log"
        self.shared_buffers = shared_buffers
        self.max_connections = max_connections
        self.process: subprocess.Popen[bytes] | None = None
        self.socket_dir = self._choose_socket_dir()
        self._bin = postgres_bin()
        self._user = _system_user()
        self._lock: IO[str] | None = None
        self._prepared = False

    # ---- life cycle ------------------------------------------------------------------

    def start(self, timeout: float = 60.0, database: str | None = "opsroom") -> None:
        """Initialise if new, start, wait until it accepts connections, ensure ``database`` exists."""
        self.launch()
        self.wait_ready(timeout)
        if database:
            self.ensure_database(database)

    def prepare(self) -> None:
        """The slow part before a start (lock, directories, initdb, leftovers); any thread may run it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        self._prepare_directories()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self._clear_stale_server()
        self._prepared = True

    def launch(self) -> None:
        """Spawn the server without waiting for it (``opsroom up`` starts Synapse meanwhile).

        Call it from a thread that lives as long as the server: Linux sends the parent-death
        signal when the *thread* that forked the child ends, not only the process.
        """
        if self.process is not None and self.process.poll() is None:
            return
        if not self._prepared:
            self.prepare()
        log_file = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                [
                    str(self._bin / "postgres"), "-D", str(self.pgdata), "-p", str(SOCKET_PORT),
                    "-c", "listen_addresses=",
                    "-c", f"unix_socket_directories={self.socket_dir}",
                    "-c", "unix_socket_permissions=0700",
                    "-c", f"shared_buffers={self.shared_buffers}",
                    "-c", f"max_connections={self.max_connections}",
                    "-c", "huge_pages=off",
                    "-c", "logging_collector=off",
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches opsroom only, which stops children in order
                preexec_fn=child_preexec(signal.SIGINT),  # runs after the uid switch, which would clear it
                **self._as_server_user(),
            )
        finally:
            log_file.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the server reports ``ready`` in postmaster.pid and its socket exists."""
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        pid_file = self.pgdata / "postmaster.pid"
        socket_path = self.socket_dir / f".s.PGSQL.{SOCKET_PORT}"
        while True:
            code = self.process.poll()
            if code is not None:
                raise EmbeddedPostgresError(f"PostgreSQL exited with code {code} while starting; see {self.log_path}")
            try:
                lines = pid_file.read_text().splitlines()
            except OSError:
                lines = []
            if len(lines) >= 8 and lines[0].strip() == str(self.process.pid) and lines[7].strip() == "ready" and socket_path.exists():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise EmbeddedPostgresError(f"PostgreSQL was not ready within {timeout:.0f}s; see {self.log_path}")
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT: roll back sessions, checkpoint); immediate, then kill, if it hangs."""
        process = self.process
        if process is not None and process.poll() is None:
            for signum, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 5.0), (signal.SIGKILL, None)):
                process.send_signal(signum)
                try:
                    process.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    log.warning("PostgreSQL did not stop after %s; sending the next signal", signal.Signals(signum).name)
        if self._lock is not None:
            self._lock.close()
            self._lock = None
        self._prepared = False
        if self.socket_dir.parent != self.data_dir and (self.process is None or self.process.poll() is not None):
            try:  # the fallback directory in /tmp: empty once the server is gone
                self.socket_dir.rmdir()
            except OSError:
                pass

    def poll(self) -> int | None:
        return self.process.poll() if self.process else None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    # ---- use -------------------------------------------------------------------------

    def dsn(self, database: str = "opsroom") -> str:
        """An asyncpg/libpq URL over the unix socket; trust authentication, socket dir closed to others."""
        return f"postgresql://postgres@/{database}?host={quote(str(self.socket_dir), safe='/')}&port={SOCKET_PORT}"

    def ensure_database(self, name: str) -> None:
        if not _DATABASE_NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        script = (
            f"SELECT 'CREATE DATABASE {name}' WHERE NOT EXISTS "
            f"(SELECT FROM pg_database WHERE datname = '{name}')\\gexec\n"
        )
        result = subprocess.run(
            [str(self._bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
             "-p", str(SOCKET_PORT), "-U", "postgres", "-d", "postgres", "-f", "-"],
            input=script.encode(), capture_output=True, timeout=30,
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"could not create database {name}: {result.stderr.decode(errors='replace').strip()}")

    # ---- preparation -----------------------------------------------------------------

    def _choose_socket_dir(self) -> Path:
        """``run/`` beside the data if the socket path fits in sun_path, else a per-cluster dir in /tmp."""
        preferred = self.data_dir / "run"
        if len(str(preferred / f".s.PGSQL.{SOCKET_PORT}").encode()) <= MAX_SOCKET_PATH:
            return preferred
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        return Path("/tmp") / f"opsroom-pg-{digest}"

    def _take_lock(self) -> None:
        """One server per data directory: a second starter fails instead of killing the first."""
        if self._lock is None:
            try:
                self._lock = lock_file(self.data_dir / "lock")
            except DataDirError:
                raise EmbeddedPostgresError(f"{self.data_dir} is in use by another process (is opsroom already running?)") from None

    def _prepare_directories(self) -> None:
        owner = self._user.pw_uid if self._user else os.geteuid()
        for directory in (self.pgdata, self.socket_dir):
            directory.mkdir(mode=0o700, exist_ok=True)
            info = directory.lstat()
            if not stat.S_ISDIR(info.st_mode):
                raise EmbeddedPostgresError(f"{directory} is not a directory")
            if info.st_uid != owner:
                if directory == self.socket_dir and self.socket_dir.parent == Path("/tmp") and info.st_uid not in (0, owner):
                    raise EmbeddedPostgresError(f"{directory} belongs to another user; remove it")
                os.chown(directory, owner, self._user.pw_gid if self._user else -1)
            directory.chmod(0o700)
        if self._user is not None:
            _allow_traversal(self.data_dir)
            _allow_traversal(self._bin)

    def _as_server_user(self) -> dict[str, object]:
        if self._user is None:
            return {}
        return {"user": self._user.pw_uid, "group": self._user.pw_gid, "extra_groups": [],
                "env": {**os.environ, "HOME": str(self.data_dir), "USER": SYSTEM_USER}}

    def _initdb(self) -> None:
        log.info("initialising a PostgreSQL cluster in %s", self.pgdata)
        with open(self.log_path, "ab") as log_file:
            result = subprocess.run(
                [str(self._bin / "initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--no-locale", "--no-instructions"],
                stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **self._as_server_user(),
            )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"initdb failed with code {result.returncode}; see {self.log_path}")

    def _clear_stale_server(self) -> None:
        """After a killed run: stop a server of this cluster still shutting down; drop stale lock files.

        Holding the data-dir lock means no live opsroom owns a server here, so one that runs
        is a leftover. A dead PID in postmaster.pid could be reused by an unrelated process,
        which would make PostgreSQL refuse to start: the stale files go.
        """
        pid_file = self.pgdata / "postmaster.pid"
        pid = _read_pid(pid_file)
        if pid is None:
            return
        if alive(pid) and str(self.pgdata) in cmdline(pid) and Path(cmdline(pid)[0]).name == "postgres":
            log.warning("a PostgreSQL server (pid %d) of %s is still running; stopping it", pid, self.pgdata)
            if not stop_pid(pid, ((signal.SIGINT, 15.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0))):
                raise EmbeddedPostgresError(f"a PostgreSQL server (pid {pid}) of {self.pgdata} does not stop")
        if pid_file.exists():
            log.info("removing the stale postmaster.pid of %s (pid %d is not its server)", self.pgdata, pid)
            pid_file.unlink(missing_ok=True)
        socket_lock = self.socket_dir / f".s.PGSQL.{SOCKET_PORT}.lock"
        if _read_pid(socket_lock) == pid:
            socket_lock.unlink(missing_ok=True)
