"""The admin portal from the outside: a cookie-keeping HTTP client that fills in forms the way
a browser does (with the page's CSRF token), for tests that need no real browser."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp
import pyotp

CSRF_INPUT = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Page:
    status: int
    url: str
    text: str
    headers: Any

    @property
    def csrf(self) -> str:
        match = CSRF_INPUT.search(self.text)
        assert match, f"no CSRF token on {self.url}"
        return match.group(1)


class PortalClient:
    def __init__(self, base_url: str, *, accept_language: str = "en", forwarded_for: str | None = None) -> None:
        """``forwarded_for``: the client address a trusted proxy would name (X-Forwarded-For)."""
        self.base = base_url.rstrip("/")
        headers = {"Accept-Language": accept_language}
        if forwarded_for:
            headers["X-Forwarded-For"] = forwarded_for
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers=headers)

    def url(self, path: str) -> str:
        return f"{self.base}{path}"

    async def get(self, path: str, **options: Any) -> Page:
        async with self.http.get(self.url(path), **options) as response:
            return Page(response.status, str(response.url), await response.text(), response.headers)

    async def post(self, path: str, data: dict[str, str], *, csrf: str | None, **options: Any) -> Page:
        body = dict(data)
        if csrf is not None:
            body["csrf"] = csrf
        async with self.http.post(self.url(path), data=body, **options) as response:
            return Page(response.status, str(response.url), await response.text(), response.headers)

    async def submit(self, page_path: str, action: str, data: dict[str, str]) -> Page:
        """Open a page, then post one of its forms with the page's CSRF token."""
        page = await self.get(page_path)
        return await self.post(action, data, csrf=page.csrf)

    async def login(self, user_id: str, password: str) -> Page:
        return await self.submit("/admin/login", "/admin/login", {"user": user_id, "password": password})

    async def login_with_totp(self, user_id: str, password: str, secret: str, *, at: float | None = None) -> Page:
        page = await self.login(user_id, password)
        assert "/admin/login/second-factor" in page.url, page.url
        totp = pyotp.TOTP(secret)
        code = totp.at(at) if at is not None else totp.now()
        return await self.post("/admin/login/second-factor", {"code": code, "next": "/admin/"}, csrf=page.csrf)

    def cookie(self, name: str) -> Any:
        for cookie in self.http.cookie_jar:
            if cookie.key == name:
                return cookie
        return None

    async def close(self) -> None:
        await self.http.close()


def totp_secret(page: Page) -> str:
    match = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text)
    assert match, "no TOTP secret on the enrolment page"
    return match.group(1)


def recovery_codes(page: Page) -> list[str]:
    return re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", page.text)
