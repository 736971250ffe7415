"""A local Synapse as a child process, and account registration through its admin API.

Used by ``opsroom up`` and by the test fixtures. The configuration is rendered from
``synapse-config/homeserver.yaml.j2``; the homeserver keeps its SQLite database and keys in
its data directory, so a second start reuses everything.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from opsroom.embedded.process import child_preexec, cmdline, stop_pid

TEMPLATE_DIR = Path(os.environ.get("OPSROOM_SYNAPSE_CONFIG_DIR", Path(__file__).resolve().parents[2] / "synapse-config"))


@dataclass(frozen=True)
class SynapseSettings:
    data_dir: Path
    port: int = 8008
    server_name: str = "localhost"
    lift_rate_limits: bool = False  # tests lift every limit; the embedded demo keeps sane ones
    log_level: str = "WARNING"
    bcrypt_rounds: int = 12

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class SynapseError(RuntimeError):
    pass


def _secrets(data_dir: Path) -> dict[str, str]:
    """Homeserver secrets, generated on first start and kept (mode 0600) in the data dir."""
    path = data_dir / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {name: secrets.token_urlsafe(32) for name in ("registration_shared_secret", "macaroon_secret_key", "form_secret")}
    path.touch(mode=0o600)
    path.write_text(json.dumps(values, indent=2))
    return values


def render_config(settings: SynapseSettings) -> Path:
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (TEMPLATE_DIR / "homeserver.yaml.j2").exists():  # a non-editable install has no synapse-config/
        raise SynapseError(f"Synapse configuration templates not found in {TEMPLATE_DIR}; "
                           "set OPSROOM_SYNAPSE_CONFIG_DIR to the synapse-config folder of the opsroom sources")
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), undefined=jinja2.StrictUndefined)
    values: dict[str, Any] = {
        "data_dir": str(data_dir),
        "port": settings.port,
        "server_name": settings.server_name,
        "lift_rate_limits": settings.lift_rate_limits,
        "bcrypt_rounds": settings.bcrypt_rounds,
        "log_level": settings.log_level,
        **_secrets(data_dir),
    }
    config_path = data_dir / "homeserver.yaml"
    config_path.write_text(environment.get_template("homeserver.yaml.j2").render(values))
    (data_dir / "log.config").write_text(environment.get_template("log.config.j2").render(values))
    config_path.chmod(0o600)
    if not (data_dir / f"{settings.server_name}.signing.key").exists():
        subprocess.run(
            [sys.executable, "-m", "synapse.app.homeserver", "-c", str(config_path), "--generate-keys"],
            check=True,
            capture_output=True,
        )
    return config_path


def shared_secret(settings: SynapseSettings) -> str:
    return _secrets(settings.data_dir.resolve())["registration_shared_secret"]


class SynapseProcess:
    """Synapse as a child: started, waited for, stopped; dies with its parent."""

    def __init__(self, settings: SynapseSettings) -> None:
        self.settings = settings
        self.process: subprocess.Popen[bytes] | None = None
        self._config_path: Path | None = None

    def start(self, timeout: float = 60.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def prepare(self) -> Path:
        """The slow part before a start (configuration, keys on first start, a leftover); any thread may run it."""
        config_path = render_config(self.settings)
        self._stop_leftover(config_path)
        self._config_path = config_path
        return config_path

    def launch(self) -> None:
        """Spawn Synapse without waiting for it (``opsroom up`` starts PostgreSQL meanwhile).

        Call it from a thread that lives as long as Synapse: Linux sends the parent-death
        signal when the *thread* that forked the child ends, not only the process.
        """
        config_path = self._config_path or self.prepare()
        self._config_path = None
        if _port_answers(self.settings.port):
            raise SynapseError(
                f"port {self.settings.port} on 127.0.0.1 is already in use; stop what listens there "
                "or choose another embedded.homeserver_port"
            )
        stdout = open(self.settings.data_dir / "homeserver.stdout.log", "ab")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "synapse.app.homeserver", "-c", str(config_path)],
                stdout=stdout,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=child_preexec(signal.SIGTERM),
                start_new_session=True,  # Ctrl-C reaches opsroom, which stops children in order
            )
        finally:
            stdout.close()

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.process is not None, "launch() first"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SynapseError(f"Synapse exited with code {self.process.returncode}; see {self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.05)
        self.stop()
        raise SynapseError(f"Synapse did not answer within {timeout:.0f}s; see {self.log_tail()}")

    def _stop_leftover(self, config_path: Path) -> None:
        """A Synapse of this data dir that outlived a killed opsroom (still shutting down): stop it."""
        pid_file = self.settings.data_dir / "homeserver.pid"
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        arguments = cmdline(pid)
        if "synapse.app.homeserver" not in arguments or str(config_path) not in arguments:
            return
        stop_pid(pid, ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)))

    def log_tail(self) -> str:
        return str(self.settings.data_dir / "homeserver.stdout.log")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.settings.url}/health", timeout=1) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def poll(self) -> int | None:
        return self.process.poll() if self.process else None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self, timeout: float = 15.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _request(url: str, body: dict[str, Any] | None = None, token: str | None = None, method: str | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        payload = error.read()
        try:
            details = json.loads(payload)
        except ValueError:
            details = {"error": payload.decode(errors="replace")}
        raise SynapseError(f"{error.code} {details.get('errcode', '')}: {details.get('error', '')}") from None


def register_user(
    base_url: str, registration_secret: str, localpart: str, password: str, *, admin: bool = False, displayname: str | None = None
) -> dict[str, Any]:
    """Register through the shared-secret admin API. Returns user_id, access_token, device_id."""
    endpoint = f"{base_url.rstrip('/')}/_synapse/admin/v1/register"
    nonce = _request(endpoint)["nonce"]
    body = {
        "nonce": nonce,
        "username": localpart,
        "password": password,
        "admin": admin,
        "mac": _mac(registration_secret, nonce, localpart, password, admin),
    }
    if displayname:
        body["displayname"] = displayname
    return _request(endpoint, body)


def _mac(registration_secret: str, nonce: str, localpart: str, password: str, admin: bool) -> str:
    """HMAC-SHA1 over nonce, user, password and admin flag, NUL-separated, as Synapse expects."""
    message = b"\x00".join(part.encode() for part in (nonce, localpart, password, "admin" if admin else "notadmin"))
    return hmac.new(registration_secret.encode(), message, hashlib.sha1).hexdigest()


def exempt_from_rate_limits(base_url: str, admin_token: str, user_id: str) -> None:
    """Lift message rate limits for one account (the bot) through the admin API."""
    _request(
        f"{base_url.rstrip('/')}/_synapse/admin/v1/users/{urllib.request.quote(user_id)}/override_ratelimit",
        {"messages_per_second": 0, "burst_count": 0},
        token=admin_token,
    )


def login(base_url: str, user_id: str, password: str, *, device_name: str = "opsroom up") -> str:
    """A password login; returns the access token (log it out when done)."""
    response = _request(
        f"{base_url.rstrip('/')}/_matrix/client/v3/login",
        {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": password,
            "initial_device_display_name": device_name,
        },
    )
    return str(response["access_token"])


def logout(base_url: str, access_token: str) -> None:
    """Drop a token (and its device) that was only needed for one task."""
    _request(f"{base_url.rstrip('/')}/_matrix/client/v3/logout", {}, token=access_token)
