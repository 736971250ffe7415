"""Watching IMAP mailboxes: IDLE where the server offers it (new mail is taken within a moment),
else polling; reconnecting with backoff when the server goes away.

Each pass searches the mails not yet processed (not flagged with the mailbox's flag, or
everything in the folder when processed mails are moved away), fetches each without marking
it seen, hands it to :class:`MailIngest` in one database transaction, and only then flags or
moves it on the server. Nothing is flagged before its ticket is stored.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timezone
from typing import Any

import aioimaplib
import asyncpg

from intake.mail import store
from intake.mail.ingest import MailIngest
from intake.mail.settings import ImapMailboxConfig

log = logging.getLogger(__name__)

_UIDVALIDITY = re.compile(rb"UIDVALIDITY (\d+)")
_EXISTS = re.compile(rb"^\d+ EXISTS\b")


class MailboxError(Exception):
    """The server refused something (login, folder); the watcher retries after a pause."""


class MailboxWatcher:
    def __init__(
        self, config: ImapMailboxConfig, pool: asyncpg.Pool, ingest: MailIngest, *, timeout: float = 30.0, max_backoff: float = 60.0
    ) -> None:
        self.config = config
        self._pool = pool
        self._ingest = ingest
        self._timeout = timeout
        self._max_backoff = max_backoff
        self._task: asyncio.Task[None] | None = None
        self._client: aioimaplib.IMAP4 | None = None
        self.connected = asyncio.Event()
        self.idling = False
        self.last_error: str | None = None
        self.counts: dict[str, int] = {"created": 0, "replied": 0, "duplicate": 0, "already": 0}
        self.passes = 0
        self._announced = False  # the server said EXISTS since the current sweep began

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"imap:{self.config.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._close()

    def health(self) -> dict[str, Any]:
        return {
            "connected": self.connected.is_set(),
            "idle": self.idling,
            "last_error": self.last_error,
            "mails": dict(self.counts),
        }

    async def _run(self) -> None:
        attempt = 0
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                # the error's class and the server's words; the password is never part of them
                self.last_error = f"{type(error).__name__}: {str(error)[:200]}"
                log.warning("mailbox %s: %s; reconnecting", self.config.name, self.last_error)
            self.connected.clear()
            self.idling = False
            await self._close()
            attempt += 1
            await asyncio.sleep(min(self._max_backoff, 0.5 * 2 ** min(attempt, 8)))

    async def _close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.has_pending_idle():
                client.idle_done()
            await asyncio.wait_for(client.logout(), 2)
        except Exception:
            pass
        transport = getattr(client.protocol, "transport", None)
        if transport is not None:
            transport.close()

    async def _session(self) -> None:
        config = self.config
        if config.tls:
            client: aioimaplib.IMAP4 = aioimaplib.IMAP4_SSL(host=config.host, port=config.effective_port, timeout=self._timeout)
        else:
            client = aioimaplib.IMAP4(host=config.host, port=config.effective_port, timeout=self._timeout)
        self._client = client
        await client.wait_hello_from_server()
        response = await client.login(config.username, config.password.reveal())
        if response.result != "OK":
            raise MailboxError(f"login refused for {config.username}")
        if config.processed_folder:
            await client.create(config.processed_folder)  # NO when it exists: fine
        response = await client.select(config.folder)
        if response.result != "OK":
            raise MailboxError(f"cannot select folder {config.folder!r}")
        uidvalidity = _uidvalidity(response.lines)
        self._hear_new_mail(client)
        use_idle = config.idle and client.has_capability("IDLE")
        self.connected.set()
        self.last_error = None
        log.info("mailbox %s: watching %s on %s (%s)", config.name, config.folder, config.host, "IDLE" if use_idle else "polling")
        while True:
            announced = await self._sweep(client, uidvalidity)
            self.passes += 1
            if announced:
                continue  # new mail was announced while sweeping: the server will not say it again
            if use_idle:
                await self._idle(client)
            else:
                await asyncio.sleep(config.poll_interval.total_seconds())
                await client.noop()

    def _hear_new_mail(self, client: aioimaplib.IMAP4) -> None:
        """Note every ``* N EXISTS`` the server sends, whichever command it comes with.

        aioimaplib drops untagged answers that no pending command claims (an EXISTS during a
        SEARCH, FETCH or STORE), and the server says EXISTS only once: a mail that arrived while
        the mailbox was being swept would otherwise wait for the next poll."""
        protocol = client.protocol
        handle = protocol._untagged_response

        def untagged(line: bytes) -> Any:
            if _EXISTS.match(line.removeprefix(b"* ")):
                self._announced = True
            return handle(line)

        protocol._untagged_response = untagged  # type: ignore[method-assign]

    async def _sweep(self, client: aioimaplib.IMAP4, uidvalidity: int) -> bool:
        """Take every unprocessed mail. True when the server announced new mail (EXISTS) while
        sweeping: it may have come after the search, and IDLE would not hear of it again."""
        self._announced = False
        response = await client.uid_search(*self.config.unprocessed_search, charset=None)
        if response.result != "OK":
            raise MailboxError("search refused")
        for uid in _search_uids(response.lines):
            raw = await self._fetch(client, uid)
            if raw is None:
                continue  # expunged meanwhile
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    result = await self._ingest.ingest(conn, self.config, uidvalidity, uid, raw, datetime.now(timezone.utc))
            except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
                raise  # the database is away: reconnect later, the mail stays unflagged
            except Exception as error:  # one mail opsroom cannot take must not hold up the others
                self.last_error = f"UID {uid}: {type(error).__name__}"
                log.exception("mailbox %s: UID %d not taken; it stays unflagged and is retried", self.config.name, uid)
                continue
            self.counts[result.outcome] = self.counts.get(result.outcome, 0) + 1
            log.info("mailbox %s: UID %d -> %s #%s", self.config.name, uid, result.outcome, result.ticket_id)
            await self._settle(client, uid)
            async with self._pool.acquire() as conn:
                await store.settled(conn, self.config.name, uidvalidity, uid)
        return self._announced

    async def _fetch(self, client: aioimaplib.IMAP4, uid: int) -> bytes | None:
        response = await client.uid("fetch", str(uid), "(UID BODY.PEEK[])")
        if response.result != "OK":
            raise MailboxError(f"fetch of UID {uid} refused")
        for line in response.lines:
            if isinstance(line, bytearray):
                return bytes(line)
        return None

    async def _settle(self, client: aioimaplib.IMAP4, uid: int) -> None:
        """Flag or move a mail whose ticket is stored."""
        config = self.config
        if config.processed_folder:
            if client.has_capability("MOVE"):
                response = await client.uid("move", str(uid), config.processed_folder)
            else:
                response = await client.uid("copy", str(uid), config.processed_folder)
                if response.result == "OK":
                    response = await client.uid("store", str(uid), "+FLAGS.SILENT", "(\\Deleted)")
                    if response.result == "OK" and client.has_capability("UIDPLUS"):
                        response = await client.uid("expunge", str(uid))
        else:
            response = await client.uid("store", str(uid), "+FLAGS.SILENT", f"({config.flag})")
        if response.result != "OK":
            raise MailboxError(f"cannot mark UID {uid} as processed")

    async def _idle(self, client: aioimaplib.IMAP4) -> None:
        """Wait for the server to announce new mail, at most ``poll_interval``."""
        idle = await client.idle_start(timeout=self.config.poll_interval.total_seconds())
        self.idling = True
        try:
            while client.has_pending_idle():
                pushed = await client.wait_server_push(timeout=self.config.poll_interval.total_seconds() + self._timeout)
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH or any(b"EXISTS" in line for line in pushed):
                    break
        finally:
            self.idling = False
            if client.has_pending_idle():
                client.idle_done()
            async with asyncio.timeout(self._timeout):  # not wait_for: it can swallow a cancellation on 3.11
                await idle


def _uidvalidity(lines: list[Any]) -> int:
    for line in lines:
        match = _UIDVALIDITY.search(bytes(line))
        if match:
            return int(match.group(1))
    raise MailboxError("the server gave no UIDVALIDITY")


def _search_uids(lines: list[Any]) -> list[int]:
    uids: list[int] = []
    for line in lines:
        text = bytes(line).decode("ascii", errors="replace").strip()
        if text and all(part.isdigit() for part in text.split()):
            uids.extend(int(part) for part in text.split())
    return sorted(set(uids))


class MailIntake:
    """All configured mailboxes."""

    def __init__(self, mailboxes: list[ImapMailboxConfig], pool: asyncpg.Pool, ingest: MailIngest) -> None:
        self.watchers = [MailboxWatcher(mailbox, pool, ingest) for mailbox in mailboxes]

    async def start(self) -> None:
        for watcher in self.watchers:
            await watcher.start()

    async def stop(self) -> None:
        for watcher in self.watchers:
            await watcher.stop()

    def health(self) -> dict[str, Any]:
        return {watcher.config.name: watcher.health() for watcher in self.watchers}
