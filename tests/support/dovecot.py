"""A real IMAP server for the mail tests: Debian's Dovecot on a free loopback port, users in a
passwd-file (one new user per test, so mailboxes never mix), Maildir storage in a temp dir.

Mails are delivered with IMAP APPEND, as a mail server's delivery agent would put them."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aioimaplib

from tests.conftest import free_port

DOVECOT = "/usr/sbin/dovecot"


def available() -> bool:
    return Path(DOVECOT).exists()


@dataclass(frozen=True)
class MailUser:
    name: str
    password: str


class Dovecot:
    def __init__(self) -> None:
        # not under pytest's 0700 temp dirs: the mail processes run as an unprivileged user
        self.root = Path(tempfile.mkdtemp(prefix="opsroom-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        if os.getuid() == 0:
            # Dovecot refuses mail processes as root: mail belongs to nobody, logins to its own users
            nobody = pwd.getpwnam("nobody")
            self.uid, self.gid = nobody.pw_uid, nobody.pw_gid
            self.login_user, self.internal_user = "dovenull", "dovecot"
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
            self.login_user = self.internal_user = pwd.getpwuid(os.getuid()).pw_name
        self.users_file = self.root / "users"
        self.users_file.write_text("")
        self.users_file.chmod(0o644)
        (self.root / "mail").mkdir()
        os.chown(self.root / "mail", self.uid, self.gid)

    @property
    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        config = self.root / "dovecot.conf"
        config.write_text(
            f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {self.login_user}
default_internal_user = {self.internal_user}
first_valid_uid = 1
mail_location = maildir:{self.root}/mail/%u
mailbox_idle_check_interval = 1 secs
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.users_file}
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.users_file}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""
        )
        self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self.process.stderr.read().decode(errors='replace') if self.process.stderr else ''}{self.log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not listen on {self.port}: {self.log}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def add_user(self, prefix: str = "support") -> MailUser:
        """A new mailbox; Dovecot re-reads the passwd-file when it changes."""
        user = MailUser(f"{prefix}{uuid.uuid4().hex[:8]}", uuid.uuid4().hex)
        with self.users_file.open("a") as handle:
            handle.write(f"{user.name}:{{PLAIN}}{user.password}:{self.uid}:{self.gid}::{self.root}/mail/{user.name}\n")
        return user

    async def client(self, user: MailUser) -> aioimaplib.IMAP4:
        client = aioimaplib.IMAP4(host="127.0.0.1", port=self.port, timeout=5)
        await client.wait_hello_from_server()
        response = await client.login(user.name, user.password)
        assert response.result == "OK", response
        return client

    async def append(self, user: MailUser, *mails: bytes, folder: str = "INBOX") -> None:
        client = await self.client(user)
        try:
            for raw in mails:
                response = await client.append(raw, mailbox=folder)
                assert response.result == "OK", response
        finally:
            await client.logout()

    async def messages(self, user: MailUser, folder: str = "INBOX") -> list[tuple[int, str]]:
        """(UID, flags) of every mail in a folder."""
        client = await self.client(user)
        try:
            response = await client.select(folder)
            if response.result != "OK":
                return []
            response = await client.uid("fetch", "1:*", "(UID FLAGS)")
            found = []
            for line in response.lines:
                text = bytes(line).decode(errors="replace")
                if " FETCH " in text and "UID " in text:
                    uid = int(text.split("UID ", 1)[1].split()[0].rstrip(")"))
                    flags = text.split("FLAGS (", 1)[1].split(")", 1)[0] if "FLAGS (" in text else ""
                    found.append((uid, flags))
            return found
        finally:
            await client.logout()
