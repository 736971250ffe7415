"""Login with Matrix accounts, roles, sessions and the portal's defences, over plain HTTP
against a real opsroom, Synapse and PostgreSQL."""

from __future__ import annotations

import asyncio

import aiohttp
import asyncpg
import pyotp
import pytest

from admin_portal.matrix_login import DEVICE_NAME
from tests.support.portal import recovery_codes, totp_secret

pytestmark = pytest.mark.integration

NO_2FA = {"require_2fa": False}


async def devices_of(homeserver: str, access_token: str) -> list[dict]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{homeserver}/_matrix/client/v3/devices",
                            headers={"Authorization": f"Bearer {access_token}"}) as response:
            assert response.status == 200
            return (await response.json())["devices"]


async def audit_actions(dsn: str, actor: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [row["action"] for row in await conn.fetch("SELECT action FROM portal_audit WHERE actor = $1 ORDER BY id", actor)]
    finally:
        await conn.close()


async def test_password_login_makes_a_portal_session_and_leaves_no_matrix_device(portal_stack, portal_client, synapse, database):
    stack = await portal_stack(portal=NO_2FA)
    client = portal_client(stack.base_url)
    page = await client.get("/admin/")
    assert page.url.endswith("/admin/login?next=/admin/")
    page = await client.login(stack.specialist.user_id, stack.specialist.password)
    assert page.status == 200 and page.url == f"{stack.base_url}/admin/"
    assert stack.specialist.user_id in page.text
    cookie = client.cookie("opsroom_portal")
    assert cookie is not None and cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/admin/"
    assert not cookie["secure"]  # plain http here; see the https test below
    names = [device.get("display_name") for device in await devices_of(synapse.settings.url, stack.specialist.access_token)]
    assert DEVICE_NAME not in names, "the login check's Matrix token must be logged out at once"
    assert await audit_actions(database, stack.specialist.user_id) == ["login"]


async def test_short_user_names_and_wrong_passwords(portal_stack, portal_client, database):
    stack = await portal_stack(portal=NO_2FA)
    client = portal_client(stack.base_url)
    page = await client.login(stack.specialist.user_id, "not the password")
    assert page.status == 401 and "Wrong user ID or password." in page.text
    assert client.cookie("opsroom_portal") is None
    localpart = stack.specialist.user_id.split(":")[0][1:]
    page = await client.login(localpart.upper(), stack.specialist.password)
    assert page.status == 200 and page.url.endswith("/admin/")
    assert await audit_actions(database, stack.specialist.user_id) == ["login_failed", "login"]


async def test_an_account_without_a_role_is_refused(portal_stack, portal_client, database):
    stack = await portal_stack(portal=NO_2FA)
    client = portal_client(stack.base_url)
    page = await client.login(stack.outsider.user_id, stack.outsider.password)
    assert page.status == 403 and "no role in opsroom" in page.text
    assert client.cookie("opsroom_portal") is None
    assert await audit_actions(database, stack.outsider.user_id) == ["login_refused"]


THROTTLE = {"slow_after": 2, "max_delay": "1s", "lock_after": 4, "lock_for": "10m"}
BEHIND_PROXY = {"trusted_proxies": ["127.0.0.1"]}


async def test_failed_logins_slow_down_then_lock_out_and_an_admin_sees_and_lifts_it(portal_stack, portal_client, database):
    stack = await portal_stack(portal={**NO_2FA, **BEHIND_PROXY, "login_throttle": THROTTLE})
    client = portal_client(stack.base_url, forwarded_for="203.0.113.7")
    user = stack.specialist.user_id
    assert (await client.login(user, "wrong-1")).status == 401
    assert (await client.login(user, "wrong-2")).status == 401  # second failure: slowed from now on
    page = await client.login(user, stack.specialist.password)
    assert page.status == 429 and "wait" in page.text, "a slowed-down account is not checked at all"
    await asyncio.sleep(1.1)
    assert (await client.login(user, "wrong-3")).status == 401
    await asyncio.sleep(1.1)
    assert (await client.login(user, "wrong-4")).status == 401  # the fourth: locked
    await asyncio.sleep(1.1)
    elsewhere = portal_client(stack.base_url, forwarded_for="198.51.100.9")
    page = await elsewhere.login(user, stack.specialist.password)
    assert page.status == 429 and "locked" in page.text, "the account is locked from any address"
    # an admin (from another address) sees the lock, counted, and lifts it
    admin = portal_client(stack.base_url, forwarded_for="198.51.100.2")
    assert (await admin.login(stack.admin.user_id, stack.admin.password)).status == 200
    page = await admin.get("/admin/security")
    assert user in page.text and "locked until" in page.text
    assert "203.0.113.7" in page.text, "the address is counted and locked too"
    page = await admin.post("/admin/security/unlock", {"kind": "account", "key": user}, csrf=page.csrf)
    assert page.status == 200 and "The lock is lifted." in page.text
    page = await elsewhere.login(user, stack.specialist.password)
    assert page.status == 200 and page.url.endswith("/admin/")
    assert (await client.login(user, stack.specialist.password)).status == 429, "its address stays locked"
    actions = await audit_actions(database, user)
    assert actions.count("login_failed") == 4 and "locked_out" in actions and "login_throttled" in actions
    assert actions[-2:] == ["login", "login_throttled"]
    assert "unlocked" in await audit_actions(database, stack.admin.user_id)


async def test_failures_from_one_address_lock_it_for_every_account(portal_stack, portal_client):
    stack = await portal_stack(portal={**NO_2FA, **BEHIND_PROXY, "login_throttle": {**THROTTLE, "slow_after": 10, "lock_after": 3}})
    guesser = portal_client(stack.base_url, forwarded_for="203.0.113.8")
    for index in range(3):
        assert (await guesser.login(f"@guess{index}:localhost", "123456")).status == 401
    page = await guesser.login(stack.manager.user_id, stack.manager.password)
    assert page.status == 429 and "locked" in page.text
    other = portal_client(stack.base_url, forwarded_for="203.0.113.9")
    assert (await other.login(stack.manager.user_id, stack.manager.password)).status == 200


async def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(portal_stack, portal_client, database):
    stack = await portal_stack(portal=NO_2FA)
    client = portal_client(stack.base_url)
    # before login: the login form itself
    page = await client.post("/admin/login", {"user": stack.specialist.user_id, "password": stack.specialist.password}, csrf=None)
    assert page.status == 403 and client.cookie("opsroom_portal") is None
    page = await client.login(stack.specialist.user_id, stack.specialist.password)
    assert page.status == 200
    # logged in: a form replayed without its token, with a wrong one, or from another site
    assert (await client.post("/admin/account/language", {"language": "cs"}, csrf=None)).status == 403
    assert (await client.post("/admin/account/language", {"language": "cs"}, csrf="forged")).status == 403
    account = await client.get("/admin/account")
    evil = await client.post("/admin/account/language", {"language": "cs"}, csrf=account.csrf,
                             headers={"Origin": "https://evil.example.org"})
    assert evil.status == 403
    assert (await client.post("/admin/logout", {}, csrf=None)).status == 403
    page = await client.get("/admin/account")
    assert page.status == 200 and 'lang="en"' in page.text, "nothing changed, still logged in"
    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT language FROM portal_accounts WHERE user_id = $1", stack.specialist.user_id) is None
        assert await conn.fetchval("SELECT count(*) FROM portal_audit WHERE action = 'csrf_refused'") == 5
    finally:
        await conn.close()
    # with the token it works
    page = await client.post("/admin/account/language", {"language": "cs"}, csrf=account.csrf)
    assert page.status == 200 and 'lang="cs"' in page.text


async def test_security_headers_on_every_page(portal_stack, portal_client):
    stack = await portal_stack(portal=NO_2FA)
    client = portal_client(stack.base_url)
    for path in ("/admin/login", "/admin/no-such-page", "/admin/static/portal.css"):
        page = await client.get(path)
        csp = page.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert page.headers["X-Content-Type-Options"] == "nosniff", path
    page = await client.get("/admin/login")
    assert "<script>" not in page.text and " style=" not in page.text and "onclick" not in page.text
    assert (await client.get("/admin/no-such-page")).status == 404


async def test_sessions_end_when_idle_and_log_out_everywhere(portal_stack, portal_client, database):
    stack = await portal_stack(portal={**NO_2FA, "idle_timeout": "2s"})
    first, second = portal_client(stack.base_url), portal_client(stack.base_url)
    for client in (first, second):
        assert (await client.login(stack.manager.user_id, stack.manager.password)).status == 200
    page = await first.get("/admin/account")
    assert page.text.count("<tr") == 3  # the header and two sessions
    await asyncio.sleep(2.5)
    page = await first.get("/admin/account")
    assert "/admin/login" in page.url, "idle too long: logged out"
    assert (await first.login(stack.manager.user_id, stack.manager.password)).status == 200
    assert (await second.login(stack.manager.user_id, stack.manager.password)).status == 200
    page = await first.get("/admin/account")
    page = await first.post("/admin/logout/everywhere", {}, csrf=page.csrf)
    assert "/admin/login" in page.url and "logged out everywhere" in page.text
    assert "/admin/login" in (await second.get("/admin/account")).url
    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM portal_sessions WHERE user_id = $1", stack.manager.user_id) == 0
    finally:
        await conn.close()


async def test_absolute_session_lifetime(portal_stack, portal_client):
    stack = await portal_stack(portal={**NO_2FA, "session_lifetime": "2s"})
    client = portal_client(stack.base_url)
    assert (await client.login(stack.manager.user_id, stack.manager.password)).status == 200
    for _ in range(3):
        await asyncio.sleep(0.8)
        page = await client.get("/admin/account")
    assert "/admin/login" in page.url, "busy, but past the absolute end"


async def test_cookies_are_secure_when_served_over_https(portal_stack, portal_client):
    stack = await portal_stack(portal=NO_2FA, http={"public_url": "https://opsroom.example.org"})
    client = portal_client(stack.base_url)
    async with client.http.get(client.url("/admin/login")) as response:
        login_cookie = response.cookies["opsroom_portal_login"]
        assert login_cookie["secure"] and login_cookie["httponly"] and login_cookie["samesite"] == "Strict"
        page_text = await response.text()
    csrf = page_text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    # the client keeps Secure cookies to itself over plain http, as a browser would: send it by hand
    async with client.http.post(client.url("/admin/login"), allow_redirects=False, headers={
        "Cookie": f"opsroom_portal_login={login_cookie.value}",
    }, data={"user": stack.specialist.user_id, "password": stack.specialist.password, "csrf": csrf}) as response:
        assert response.status == 303
        cookie = response.cookies["opsroom_portal"]
        assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


async def test_admins_must_enrol_totp_then_log_in_with_it_or_a_recovery_code(portal_stack, portal_client, database):
    stack = await portal_stack()
    client = portal_client(stack.base_url)
    page = await client.login(stack.admin.user_id, stack.admin.password)
    assert page.url.endswith("/admin/account/two-factor") and "must use a second factor" in page.text
    assert "/admin/account/two-factor" in (await client.get("/admin/security")).url, "nothing else before enrolment"
    secret = totp_secret(page)
    assert 'src="data:image/svg+xml' in page.text
    wrong = await client.post("/admin/account/two-factor", {"code": "000000"}, csrf=page.csrf)
    assert wrong.status == 400
    page = await client.post("/admin/account/two-factor", {"code": pyotp.TOTP(secret).now()}, csrf=wrong.csrf)
    codes = recovery_codes(page)
    assert len(codes) == 10 and len(set(codes)) == 10
    conn = await asyncpg.connect(database)
    try:
        stored = await conn.fetchrow("SELECT totp_secret, totp_sealed FROM portal_accounts WHERE user_id = $1", stack.admin.user_id)
    finally:
        await conn.close()
    assert stored["totp_sealed"] and secret not in stored["totp_secret"], "the secret is kept encrypted"
    assert stack.app.secret_box is not None and stack.app.secret_box.decrypt(stored["totp_secret"]) == secret
    assert (await client.get("/admin/security")).status == 200, "enrolled: in"
    page = await client.get("/admin/account")
    await client.post("/admin/logout", {}, csrf=page.csrf)
    # the next login asks for the code; the code already used (same time step) is refused
    page = await client.login(stack.admin.user_id, stack.admin.password)
    assert page.url.endswith("/admin/login/second-factor?next=/admin/")
    assert "/admin/login/second-factor" in (await client.get("/admin/audit")).url, "nothing else before the code"
    import time
    used = await client.post("/admin/login/second-factor", {"code": pyotp.TOTP(secret).now()}, csrf=page.csrf)
    assert used.status in (200, 401)
    if used.status == 401:  # the enrolment's step: a replay
        page = await client.post("/admin/login/second-factor", {"code": pyotp.TOTP(secret).at(time.time() + 30)}, csrf=used.csrf)
        assert page.url.endswith("/admin/")
    # a recovery code works once
    page = await client.get("/admin/account")
    await client.post("/admin/logout", {}, csrf=page.csrf)
    other = portal_client(stack.base_url)
    page = await other.login(stack.admin.user_id, stack.admin.password)
    page = await other.post("/admin/login/second-factor", {"code": codes[0].upper(), "next": "/admin/audit"}, csrf=page.csrf)
    assert page.url.endswith("/admin/audit") and "two_factor_enrolled" in page.text
    page = await other.get("/admin/account")
    await other.post("/admin/logout", {}, csrf=page.csrf)
    page = await other.login(stack.admin.user_id, stack.admin.password)
    again = await other.post("/admin/login/second-factor", {"code": codes[0]}, csrf=page.csrf)
    assert again.status == 401
    actions = await audit_actions(database, stack.admin.user_id)
    assert actions.count("second_factor_failed") >= 1 and "two_factor_enrolled" in actions


async def test_totp_secrets_stored_before_encryption_are_sealed_and_still_work(database):
    from admin_portal import store
    from common.secrets import SecretBox

    box = SecretBox(SecretBox.generate_key())
    secret = pyotp.random_base32()
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("INSERT INTO portal_accounts (user_id, totp_secret, totp_confirmed) VALUES ($1, $2, true)",
                           "@old:example.org", secret)
        assert (await store.account(conn, "@old:example.org", box)).totp_secret == secret, "read while still plain"
        assert await store.seal_plain_secrets(conn, box) == 1
        stored = await conn.fetchrow("SELECT totp_secret, totp_sealed FROM portal_accounts WHERE user_id = $1", "@old:example.org")
        assert stored["totp_sealed"] and stored["totp_secret"] != secret
        assert (await store.account(conn, "@old:example.org", box)).totp_secret == secret
        assert await store.seal_plain_secrets(conn, box) == 0, "sealed once"
    finally:
        await conn.close()


async def test_specialists_and_managers_do_not_get_admin_pages(portal_stack, portal_client):
    stack = await portal_stack(portal=NO_2FA)
    for account in (stack.specialist, stack.manager):
        client = portal_client(stack.base_url)
        assert (await client.login(account.user_id, account.password)).status == 200
        for path in ("/admin/security", "/admin/audit"):
            page = await client.get(path)
            assert page.status == 403 and "Only administrators" in page.text


async def test_language_from_the_browser_then_from_the_person(portal_stack, portal_client):
    stack = await portal_stack(portal=NO_2FA)
    client = portal_client(stack.base_url, accept_language="cs-CZ,cs;q=0.9,en;q=0.5")
    page = await client.get("/admin/login")
    assert 'lang="cs"' in page.text and "Přihlásit" in page.text
    await client.login(stack.manager.user_id, stack.manager.password)
    page = await client.get("/admin/account")
    page = await client.post("/admin/account/language", {"language": "en"}, csrf=page.csrf)
    assert 'lang="en"' in page.text and "Language saved." in page.text


async def test_sso_is_offered_only_where_the_homeserver_has_it_and_its_answer_is_bound_to_the_browser(
        portal_stack, portal_client, synapse, database):
    """The test homeserver has no identity provider, so the redirect to it cannot be followed;
    what it would send back (a one-time m.login.token) is minted for an account directly and
    handed to the portal's callback as the homeserver would."""
    stack = await portal_stack(portal=NO_2FA)
    client = portal_client(stack.base_url)
    page = await client.get("/admin/login")
    assert "single sign-on" not in page.text, "this homeserver offers no m.login.sso"
    assert (await client.get("/admin/login/sso")).status == 404

    async def login_token(account) -> str:  # Synapse mints one a minute per account
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{synapse.settings.url}/_matrix/client/v1/login/get_token", json={},
                                 headers={"Authorization": f"Bearer {account.access_token}"}) as response:
                assert response.status == 200, await response.text()
                return (await response.json())["login_token"]

    # an answer without this browser's state cookie (someone sent a link) is refused
    token = await login_token(stack.manager)
    page = await client.get(f"/admin/login/sso/callback?loginToken={token}&state=guessed")
    assert page.status == 400 and client.cookie("opsroom_portal") is None
    # with the state the portal set when it sent the browser away, the token logs in
    from yarl import URL
    client.http.cookie_jar.update_cookies({"opsroom_portal_sso": "state-1234"}, URL(f"{stack.base_url}/admin/login/sso/"))
    page = await client.get(f"/admin/login/sso/callback?loginToken={await login_token(stack.specialist)}&state=state-1234&next=/admin/account")
    assert page.status == 200 and page.url.endswith("/admin/account") and stack.specialist.user_id in page.text
    assert await audit_actions(database, stack.specialist.user_id) == ["login"]
    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT detail->>'method' FROM portal_audit WHERE action = 'login'") == "sso"
    finally:
        await conn.close()
