"""The portal in a real browser (headless chromium): logging in with a wrong password, being
locked out, enrolling and using TOTP, a form replayed without its CSRF token, and a specialist
kept out of the administrators' pages. Screenshots at desktop and phone width are kept in the
test's output folder."""

from __future__ import annotations

import time

import pyotp
import pytest

pytestmark = pytest.mark.integration


async def test_wrong_password_then_lockout_in_the_browser(portal_stack, browser):
    stack = await portal_stack(portal={"require_2fa": False,
                                       "login_throttle": {"slow_after": 10, "lock_after": 3, "lock_for": "10m"}})
    web = await browser()
    await web.open(f"{stack.base_url}/admin/")
    assert "/admin/login" in web.url
    await web.shoot("login")
    assert await web.phone_layout_fits()
    await web.fill({"user": stack.specialist.user_id, "password": "wrong"}, submit="form.stack button[type=submit]")
    await web.wait_text("Wrong user ID or password.")
    assert await web.attribute("#user", "value") == stack.specialist.user_id, "what was typed is kept"
    await web.shoot("wrong-password")
    for _ in range(2):
        await web.fill({"password": "still wrong"}, submit="form.stack button[type=submit]")
    await web.wait_text("locked")
    await web.fill({"password": stack.specialist.password}, submit="form.stack button[type=submit]")
    await web.wait_text("Too many failed logins: locked for")
    await web.shoot("locked-out")
    assert "/admin/login" in web.url


async def test_admin_enrols_totp_and_logs_in_with_it(portal_stack, browser):
    stack = await portal_stack()
    web = await browser()
    await web.login(stack.base_url, stack.admin.user_id, stack.admin.password, expect="Administrators must use a second factor")
    await web.shoot("totp-enrolment")
    assert await web.phone_layout_fits()
    qr = await web.attribute("figure.qr img", "src")
    assert qr and qr.startswith("data:image/svg+xml")
    rendered = await web.script("var i = document.querySelector('figure.qr img'); return i.complete && i.naturalWidth > 0")
    assert rendered, "the QR code is shown (CSP allows the data: image)"
    secret = (await web.texts("#totp-secret"))[0]
    await web.fill({"code": pyotp.TOTP(secret).now()}, submit="form.stack button[type=submit]")
    await web.wait_text("Keep these codes somewhere safe")
    codes = await web.texts("#recovery-codes code")
    assert len(codes) == 10
    await web.shoot("recovery-codes")
    await web.click("a.button")
    await web.wait_text(f"Logged in as {stack.admin.user_id}")
    await web.click(".who button.link")  # log out
    await web.wait_text("You have logged out.")
    await web.fill({"user": stack.admin.user_id, "password": stack.admin.password}, submit="form.stack button[type=submit]")
    await web.wait_text("Code from your authenticator app")
    await web.shoot("second-factor")
    await web.fill({"code": "123456"}, submit="form.stack button[type=submit]")
    await web.wait_text("That code is not right")
    await web.fill({"code": pyotp.TOTP(secret).at(time.time() + 30)}, submit="form.stack button[type=submit]")
    await web.wait_text(f"Logged in as {stack.admin.user_id}")
    await web.open(f"{stack.base_url}/admin/audit")
    await web.wait_text("two_factor_enrolled")
    await web.shoot("audit-log")


async def test_a_form_replayed_without_its_csrf_token_is_refused(portal_stack, browser):
    stack = await portal_stack(portal={"require_2fa": False})
    web = await browser()
    await web.login(stack.base_url, stack.manager.user_id, stack.manager.password)
    await web.open(f"{stack.base_url}/admin/account")
    await web.script("document.querySelector('form[action$=\"/account/language\"] input[name=csrf]').remove()")
    await web.fill({"language": "cs"}, submit="form[action$='/account/language'] button")
    await web.wait_text("nothing was changed")
    await web.shoot("csrf-refused")
    await web.open(f"{stack.base_url}/admin/account")
    await web.wait_text("Your account")  # still English: the language was not changed
    await web.fill({"language": "cs"}, submit="form[action$='/account/language'] button")
    await web.wait_text("Jazyk je uložen.")
    await web.shoot("account-in-czech")


async def test_a_specialist_is_refused_the_catalog_and_the_administrators_pages(portal_stack, browser):
    stack = await portal_stack(portal={"require_2fa": False})
    web = await browser()
    await web.login(stack.base_url, stack.specialist.user_id, stack.specialist.password)
    menu = await web.texts("nav a")
    assert "Catalog" not in menu and "Failed logins" not in menu
    await web.open(f"{stack.base_url}/admin/rooms")
    await web.wait_text("only administrators and managers may see the catalog")
    await web.shoot("specialist-refused-catalog")
    await web.open(f"{stack.base_url}/admin/security")
    await web.wait_text("Only administrators may use this page.")


async def test_a_manager_reads_the_catalog_and_asks_where_an_alarm_goes(portal_stack, browser):
    stack = await portal_stack(portal={"require_2fa": False}, regulations={"standard": {
        "claim_within": "5m", "resolve_within": "4h",
        "escalation": {"unclaimed": [{"level": 2, "claim_within": "10m"}, {"level": 3}], "repeat_top": 1}}})
    web = await browser()
    await web.login(stack.base_url, stack.manager.user_id, stack.manager.password)
    await web.click("nav a[href$='/rooms']")
    await web.wait_text("Which room would this alarm go to?")
    await web.fill({"alarm": '{"title": "Disk full", "service": "postgres"}'}, submit="#route")
    await web.wait_text("It goes to General")
    await web.shoot("rooms-route")
    await web.open(f"{stack.base_url}/admin/regulations")
    await web.wait_text("When nobody claims")
    await web.shoot("regulations")
    assert await web.phone_layout_fits()
