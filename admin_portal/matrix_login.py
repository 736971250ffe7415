"""Checking a person's Matrix credentials against the homeserver.

The portal never keeps a Matrix access token: a successful ``m.login.password`` (or
``m.login.token`` after SSO) proves who the person is, and the token it returns is logged
out at once, so each portal login leaves no device behind on the account. The portal's own
session (a cookie) is what keeps the person logged in.
"""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

DEVICE_NAME = "opsroom admin portal (login check)"
# a busy homeserver checks a password slowly (bcrypt); the shared client's short probe timeout is too short
LOGIN_TIMEOUT = aiohttp.ClientTimeout(total=20)


@dataclass(frozen=True)
class LoginResult:
    """``user_id`` when the homeserver accepted; else ``refused`` (wrong credentials) or
    ``unavailable`` (the homeserver could not be asked: nobody's fault, not counted)."""

    user_id: str | None = None
    refused: bool = False
    unavailable: bool = False


class HomeserverLogin:
    def __init__(self, homeserver_url: str, session: aiohttp.ClientSession) -> None:
        self.base = homeserver_url.rstrip("/")
        self.http = session

    async def flows(self) -> set[str]:
        """The login types the homeserver offers (``m.login.password``, ``m.login.sso``, ...)."""
        try:
            async with self.http.get(f"{self.base}/_matrix/client/v3/login") as response:
                if response.status != 200:
                    return set()
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return set()
        return {flow.get("type") for flow in body.get("flows", []) if isinstance(flow, dict)}

    def sso_redirect_url(self, return_to: str) -> str:
        query = urllib.parse.urlencode({"redirectUrl": return_to})
        return f"{self.base}/_matrix/client/v3/login/sso/redirect?{query}"

    async def password(self, user_id: str, password: str) -> LoginResult:
        return await self._login({
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": user_id},
            "password": password,
        })

    async def login_token(self, token: str) -> LoginResult:
        return await self._login({"type": "m.login.token", "token": token})

    async def _login(self, body: dict[str, Any]) -> LoginResult:
        body = {**body, "initial_device_display_name": DEVICE_NAME}
        try:
            async with self.http.post(f"{self.base}/_matrix/client/v3/login", json=body, timeout=LOGIN_TIMEOUT) as response:
                answer = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            log.warning("portal login: homeserver unavailable (%s)", type(error).__name__)
            return LoginResult(unavailable=True)
        if status == 200 and isinstance(answer, dict) and answer.get("user_id") and answer.get("access_token"):
            await self._logout(str(answer["access_token"]))
            return LoginResult(user_id=str(answer["user_id"]))
        errcode = answer.get("errcode") if isinstance(answer, dict) else None
        if status in (400, 401, 403) and errcode in ("M_FORBIDDEN", "M_USER_DEACTIVATED", "M_INVALID_PARAM", "M_UNKNOWN_TOKEN", "M_UNAUTHORIZED"):
            return LoginResult(refused=True)
        log.warning("portal login: homeserver answered %d %s", status, errcode)
        return LoginResult(unavailable=True)

    async def _logout(self, access_token: str) -> None:
        try:
            async with self.http.post(
                f"{self.base}/_matrix/client/v3/logout", json={}, headers={"Authorization": f"Bearer {access_token}"},
                timeout=LOGIN_TIMEOUT,
            ) as response:
                if response.status != 200:
                    log.warning("portal login: logging the check's device out answered %d", response.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("portal login: logging the check's device out failed (%s)", type(error).__name__)
