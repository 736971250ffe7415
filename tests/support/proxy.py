"""A TCP proxy a test can cut: stopping it closes every connection through it and refuses new
ones, as a PostgreSQL outage (or a network partition) does; starting it again heals it."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit


class TcpProxy:
    """Listens on 127.0.0.1; forwards to a PostgreSQL DSN's server (TCP or unix socket)."""

    def __init__(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        query = parse_qs(parts.query)
        if "host" in query:  # postgresql://user@/db?host=/socket/dir&port=5432
            self._unix_path: str | None = f"{query['host'][0]}/.s.PGSQL.{query.get('port', ['5432'])[0]}"
        else:
            self._unix_path = None
        self._tcp = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self._dsn = parts
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        """Listen (on the same port as before, once it has one)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self._unix_path:
                upstream_reader, upstream_writer = await asyncio.open_unix_connection(self._unix_path)
            else:
                upstream_reader, upstream_writer = await asyncio.open_connection(*self._tcp)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream_writer))
        pipes = [asyncio.ensure_future(self._pipe(reader, upstream_writer)), asyncio.ensure_future(self._pipe(upstream_reader, writer))]
        self._pipes.update(pipes)
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            for side in (writer, upstream_writer):
                side.transport.abort()
                self._writers.discard(side)
            self._pipes.difference_update(pipes)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()

    @property
    def dsn(self) -> str:
        """The DSN given, pointed at this proxy."""
        parts = self._dsn
        query = {k: v for k, v in parse_qs(parts.query).items() if k not in ("host", "port")}
        user = f"{parts.username}@" if parts.username else ""
        return urlunsplit((parts.scheme, f"{user}127.0.0.1:{self.port}", parts.path, urlencode(query, doseq=True), ""))
