"""Login (password, SSO, second factor), enrolment of the second factor, the person's own
account page (language, sessions) and logout.

A session is created only after the homeserver accepted the credentials and the person has a
role; it starts at the stage the second factor requires (``second_factor`` when enrolled,
``enrol`` for an admin who must enrol first, else ``full``) and gets a new token at every
promotion, so a token seen before login is worth nothing after it. Every login, failure,
refusal and change here is written to the portal's audit.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from admin_portal import store, throttle, two_factor
from admin_portal.access import Visitor
from admin_portal.context import (
    PREFIX, SESSION_COOKIE, SESSION_TOKEN, SSO_STATE_COOKIE, client_address, gettext, is_secure, new_token, portal, redirect,
    render, same_token, session_of, visitor_of,
)
from admin_portal.middleware import error_page
from texts.i18n import N_

log = logging.getLogger(__name__)

SECOND_FACTOR_WITHIN = timedelta(minutes=10)  # a half-finished login ends after this


# ---- helpers ----------------------------------------------------------------------------


def safe_next(value: Any) -> str:
    """Where to go after login: a page of this portal, never another site."""
    if isinstance(value, str) and value.startswith(f"{PREFIX}/") and not value.startswith("//") and "\\" not in value:
        if not value.startswith(f"{PREFIX}/login") and not value.startswith(f"{PREFIX}/logout"):
            return value
    return f"{PREFIX}/"


def require(request: web.Request, *, admin: bool = False, catalog: bool = False) -> Visitor:
    """The logged-in visitor, or a redirect to login / a 403 page for this request."""
    session = session_of(request)
    visitor = visitor_of(request)
    if session is None or visitor is None:
        target = request.path_qs if request.method == "GET" else f"{PREFIX}/"
        raise redirect(f"/login?{urlencode({'next': target})}")
    if session.stage == "second_factor":
        raise redirect("/login/second-factor")
    if session.stage == "enrol":
        raise redirect("/account/two-factor")
    if not visitor.may_enter:
        raise web.HTTPForbidden(reason=gettext(request, N_("Your account no longer has a role in opsroom.")))
    if admin and not visitor.is_admin:
        raise web.HTTPForbidden(reason=gettext(request, N_("Only administrators may use this page.")))
    if catalog and not visitor.sees_catalog:
        raise web.HTTPForbidden(reason=gettext(request, N_("Only administrators and managers may see the catalog.")))
    return visitor


async def open_session(request: web.Request, response: web.StreamResponse, user_id: str, stage: str,
                       lifetime: timedelta) -> None:
    """A new session (and cookie) for this person; the request's old session, if any, ends."""
    context = portal(request)
    old = request.get(SESSION_TOKEN)
    session = session_of(request)
    token = new_token()
    async with context.pool.acquire() as conn, conn.transaction():
        if old:
            await store.delete_session(conn, old)
        if session is not None and stage == "full":
            # the absolute end counts from the password, not from the second factor
            lifetime = max(timedelta(seconds=1), session.created_at + context.settings.session_lifetime - datetime.now(timezone.utc))
        await store.create_session(conn, token, user_id, stage, new_token(), lifetime=lifetime,
                                   address=client_address(request), user_agent=request.headers.get("User-Agent"))
    response.set_cookie(SESSION_COOKIE, token, path=f"{PREFIX}/", httponly=True, samesite="Lax", secure=is_secure(request))


def _user_id(server_name: str, text: str) -> str:
    """``alice``, ``@alice`` or ``@alice:server`` as a full user ID (localparts are lowercase)."""
    text = text.strip()
    if not text:
        return ""
    localpart, _, server = text.removeprefix("@").partition(":")
    return f"@{localpart.lower()}:{server or server_name}"


async def _record_failure(request: web.Request, user_id: str | None, action: str) -> throttle.Refusal | None:
    """Count a failure for the account and the address; the refusal that now stands, if any."""
    context = portal(request)
    settings = context.settings.login_throttle
    address = client_address(request)
    keys = [("address", address)] + ([("account", user_id)] if user_id else [])
    now = datetime.now(timezone.utc)
    saved = []
    async with context.pool.acquire() as conn, conn.transaction():
        existing = {(row.kind, row.key): row for row in await store.lock_failure_rows(conn, keys)}
        for kind, key in keys:
            row = throttle.after_failure(existing.get((kind, key)), kind, key, now, settings)
            saved.append(row)
            await store.save_failure(conn, row)
            if row.locked_until and row.locked_until > now and row.failures == 0:
                await store.audit(conn, "locked_out", actor=user_id, address=address,
                                  detail={"kind": kind, "key": key, "until": row.locked_until.isoformat()})
        await store.audit(conn, action, actor=user_id, address=address)
    refusal = throttle.refusal(saved, now, settings)
    return refusal if refusal is not None and refusal.locked else None


def _failed_text(request: web.Request, message: str, lock: throttle.Refusal | None) -> str:
    return f"{message} {_refusal_text(request, lock)}" if lock is not None else message


async def _refusal(request: web.Request, user_id: str | None) -> throttle.Refusal | None:
    context = portal(request)
    keys = [("address", client_address(request))] + ([("account", user_id)] if user_id else [])
    rows = await store.failures_for(context.pool, keys)
    return throttle.refusal(rows, datetime.now(timezone.utc), context.settings.login_throttle)


def _refusal_text(request: web.Request, refusal: throttle.Refusal) -> str:
    seconds = max(1, int(refusal.retry_after.total_seconds() + 0.999))
    when = f"{seconds} s" if seconds < 120 else f"{(seconds + 59) // 60} min"
    if refusal.locked:
        return gettext(request, N_("Too many failed logins: locked for %(time)s. An administrator can lift the lock."), time=when)
    return gettext(request, N_("Too many failed logins: wait %(time)s before the next attempt."), time=when)


# ---- login ------------------------------------------------------------------------------


async def show_login(request: web.Request) -> web.StreamResponse:
    if session_of(request) is not None and session_of(request).stage == "full":  # type: ignore[union-attr]
        raise redirect(safe_next(request.query.get("next")))
    return await _login_page(request)


async def _login_page(request: web.Request, *, status: int = 200, problem: str | None = None, user: str = "") -> web.Response:
    context = portal(request)
    flows = await context.login.flows()
    notices = {
        "logged_out": gettext(request, N_("You have logged out.")),
        "expired": gettext(request, N_("Your session has ended; please log in again.")),
        "everywhere": gettext(request, N_("You have logged out everywhere.")),
    }
    return render(
        request, "login.html", status=status, title=gettext(request, N_("Log in")),
        problem=problem, user=user, next=safe_next(request.query.get("next")),
        sso="m.login.sso" in flows, notice=notices.get(request.query.get("notice", "")),
    )


async def submit_login(request: web.Request) -> web.StreamResponse:
    context = portal(request)
    form = await request.post()
    user_id = _user_id(context.server_name, str(form.get("user", "")))
    password = str(form.get("password", ""))
    next_page = safe_next(form.get("next"))
    if not user_id or not password:
        return await _login_page(request, status=400, user=user_id,
                                 problem=gettext(request, N_("Enter your Matrix user ID and password.")))
    refusal = await _refusal(request, user_id)
    if refusal is not None:
        await store.audit(context.pool, "login_throttled", actor=user_id, address=client_address(request),
                          detail={"kind": refusal.kind, "locked": refusal.locked})
        return await _login_page(request, status=429, user=user_id, problem=_refusal_text(request, refusal))
    result = await context.login.password(user_id, password)
    if result.unavailable:
        return await _login_page(request, status=503, user=user_id, problem=gettext(
            request, N_("The homeserver cannot check your password right now. Please try again in a minute.")))
    if result.user_id is None:
        lock = await _record_failure(request, user_id, "login_failed")
        return await _login_page(request, status=401, user=user_id,
                                 problem=_failed_text(request, gettext(request, N_("Wrong user ID or password.")), lock))
    return await _logged_in(request, result.user_id, next_page, method="password")


async def _logged_in(request: web.Request, user_id: str, next_page: str, *, method: str) -> web.StreamResponse:
    """Credentials accepted by the homeserver: a session at the stage the second factor asks."""
    context = portal(request)
    visitor = await context.roles_of(user_id)
    address = client_address(request)
    if not visitor.may_enter:
        await store.audit(context.pool, "login_refused", actor=user_id, address=address, detail={"reason": "no role"})
        return await _login_page(request, status=403, user=user_id, problem=gettext(
            request, N_("Your account has no role in opsroom (administrator, manager or staff of a room).")))
    await store.clear_failures(context.pool, "account", user_id)
    account = await store.account(context.pool, user_id, context.box)
    if account is not None and account.totp_confirmed:
        stage, lifetime, target = "second_factor", SECOND_FACTOR_WITHIN, f"{PREFIX}/login/second-factor?{urlencode({'next': next_page})}"
    elif visitor.is_admin and context.settings.require_2fa:
        stage, lifetime, target = "enrol", SECOND_FACTOR_WITHIN, f"{PREFIX}/account/two-factor"
    else:
        stage, lifetime, target = "full", context.settings.session_lifetime, next_page
    response = web.HTTPSeeOther(target)
    await open_session(request, response, user_id, stage, lifetime)
    if stage == "full":
        await store.record_login(context.pool, user_id)
    await store.audit(context.pool, "login" if stage == "full" else "login_password_ok", actor=user_id,
                      address=address, detail={"method": method, "stage": stage})
    return response


# ---- SSO through the homeserver ---------------------------------------------------------


async def start_sso(request: web.Request) -> web.StreamResponse:
    context = portal(request)
    if "m.login.sso" not in await context.login.flows():
        return error_page(request, 404, gettext(request, N_("The homeserver does not offer single sign-on.")))
    state = new_token()
    query = urlencode({"state": state, "next": safe_next(request.query.get("next"))})
    callback = f"{_public_base(request)}{PREFIX}/login/sso/callback?{query}"
    response = web.HTTPSeeOther(context.login.sso_redirect_url(callback))
    # Lax, so that it comes back with the homeserver's top-level redirect to the callback
    response.set_cookie(SSO_STATE_COOKIE, state, path=f"{PREFIX}/login/sso/", httponly=True, samesite="Lax",
                        secure=is_secure(request), max_age=600)
    return response


def _public_base(request: web.Request) -> str:
    public = portal(request).public_url
    if public:
        return public.rstrip("/")
    return f"{'https' if is_secure(request) else 'http'}://{request.host}"


async def sso_callback(request: web.Request) -> web.StreamResponse:
    """The homeserver sends the browser back with a one-time ``loginToken``; it is exchanged
    (``m.login.token``) only when ``state`` matches this browser's cookie, so nobody can log
    someone else into their account by sending them a link."""
    context = portal(request)
    token = request.query.get("loginToken", "")
    if not same_token(request.query.get("state"), request.cookies.get(SSO_STATE_COOKIE)) or not token:
        await store.audit(context.pool, "sso_refused", actor=None, address=client_address(request),
                          detail={"reason": "state"})
        return await _login_page(request, status=400, problem=gettext(
            request, N_("The single sign-on answer did not belong to this browser; please start again.")))
    refusal = await _refusal(request, None)
    if refusal is not None:
        return await _login_page(request, status=429, problem=_refusal_text(request, refusal))
    result = await context.login.login_token(token)
    if result.unavailable:
        return await _login_page(request, status=503, problem=gettext(
            request, N_("The homeserver cannot check your password right now. Please try again in a minute.")))
    if result.user_id is None:
        lock = await _record_failure(request, None, "sso_failed")
        return await _login_page(request, status=401, problem=_failed_text(request, gettext(
            request, N_("Single sign-on did not succeed; please try again.")), lock))
    response = await _logged_in(request, result.user_id, safe_next(request.query.get("next")), method="sso")
    response.del_cookie(SSO_STATE_COOKIE, path=f"{PREFIX}/login/sso/")
    return response


# ---- second factor ----------------------------------------------------------------------


def _pending(request: web.Request, stage: str) -> Any:
    session = session_of(request)
    if session is None:
        raise redirect("/login?notice=expired")
    if session.stage == "full":
        raise redirect("/")
    if session.stage != stage:
        raise redirect("/account/two-factor" if session.stage == "enrol" else "/login/second-factor")
    return session


async def show_second_factor(request: web.Request) -> web.StreamResponse:
    _pending(request, "second_factor")
    return render(request, "second_factor.html", title=gettext(request, N_("Second factor")),
                  problem=None, next=safe_next(request.query.get("next")))


async def submit_second_factor(request: web.Request) -> web.StreamResponse:
    session = _pending(request, "second_factor")
    context = portal(request)
    form = await request.post()
    code = str(form.get("code", "")).strip()
    next_page = safe_next(form.get("next"))
    title = gettext(request, N_("Second factor"))
    refusal = await _refusal(request, session.user_id)
    if refusal is not None:
        return render(request, "second_factor.html", status=429, title=title, next=next_page,
                      problem=_refusal_text(request, refusal))
    account = await store.account(context.pool, session.user_id, context.box)
    accepted, method = False, "totp"
    if account is not None and account.totp_secret:
        step = two_factor.matching_step(account.totp_secret, code)
        if step is not None:
            accepted = await store.use_totp_step(context.pool, session.user_id, step)
        elif len(code.replace("-", "").replace(" ", "")) == 10:
            method = "recovery_code"
            accepted = await store.use_recovery_code(context.pool, session.user_id, two_factor.normalise_recovery_code(code))
    if not accepted:
        lock = await _record_failure(request, session.user_id, "second_factor_failed")
        return render(request, "second_factor.html", status=401, title=title, next=next_page,
                      problem=_failed_text(request, gettext(request, N_("That code is not right (or was used already).")), lock))
    await store.clear_failures(context.pool, "account", session.user_id)
    response = web.HTTPSeeOther(next_page)
    await open_session(request, response, session.user_id, "full", context.settings.session_lifetime)
    await store.record_login(context.pool, session.user_id)
    await store.audit(context.pool, "login", actor=session.user_id, address=client_address(request),
                      detail={"method": "password", "second_factor": method})
    return response


# ---- enrolment and the account page -----------------------------------------------------


def _enrolling_or_full(request: web.Request) -> Any:
    session = session_of(request)
    if session is None:
        raise redirect(f"/login?{urlencode({'next': request.path})}")
    if session.stage == "second_factor":
        raise redirect("/login/second-factor")
    return session


async def show_two_factor(request: web.Request, *, problem: str | None = None, status: int = 200) -> web.StreamResponse:
    session = _enrolling_or_full(request)
    context = portal(request)
    account = await store.account(context.pool, session.user_id, context.box)
    title = gettext(request, N_("Two-factor authentication"))
    if account is not None and account.totp_confirmed:
        return render(request, "two_factor.html", status=status, title=title, enrolled=True, problem=problem,
                      recovery_left=len(account.recovery_codes), must_keep=_must_keep(request))
    secret = account.totp_secret if account is not None and account.totp_secret else None
    if secret is None:
        secret = two_factor.new_secret()
        await store.start_totp(context.pool, session.user_id, secret, context.box)
    uri = two_factor.provisioning_uri(secret, session.user_id, context.settings.totp_issuer)
    return render(request, "two_factor.html", status=status, title=title, enrolled=False, problem=problem,
                  secret=secret, qr=two_factor.qr_data_uri(uri), required=session.stage == "enrol")


def _must_keep(request: web.Request) -> bool:
    visitor = visitor_of(request)
    return bool(visitor and visitor.is_admin and portal(request).settings.require_2fa)


async def confirm_two_factor(request: web.Request) -> web.StreamResponse:
    session = _enrolling_or_full(request)
    context = portal(request)
    form = await request.post()
    account = await store.account(context.pool, session.user_id, context.box)
    if account is None or account.totp_confirmed or not account.totp_secret:
        raise redirect("/account/two-factor")
    step = two_factor.matching_step(account.totp_secret, str(form.get("code", "")))
    codes = two_factor.new_recovery_codes()
    if step is None or not await store.confirm_totp(context.pool, session.user_id, step, [store.code_hash(c) for c in codes]):
        return await show_two_factor(request, status=400, problem=gettext(
            request, N_("That code is not right. Check the time on your phone and enter the code shown now.")))
    await store.audit(context.pool, "two_factor_enrolled", actor=session.user_id, address=client_address(request))
    response = render(request, "recovery_codes.html", title=gettext(request, N_("Recovery codes")), codes=codes)
    if session.stage == "enrol":
        await open_session(request, response, session.user_id, "full", context.settings.session_lifetime)
        await store.record_login(context.pool, session.user_id)
        await store.audit(context.pool, "login", actor=session.user_id, address=client_address(request),
                          detail={"method": "password", "second_factor": "enrolled"})
    return response


async def new_recovery_codes(request: web.Request) -> web.StreamResponse:
    visitor = require(request)
    context = portal(request)
    account = await store.account(context.pool, visitor.user_id, context.box)
    if account is None or not account.totp_confirmed:
        raise redirect("/account/two-factor")
    codes = two_factor.new_recovery_codes()
    await store.replace_recovery_codes(context.pool, visitor.user_id, [store.code_hash(c) for c in codes])
    await store.audit(context.pool, "recovery_codes_replaced", actor=visitor.user_id, address=client_address(request))
    return render(request, "recovery_codes.html", title=gettext(request, N_("Recovery codes")), codes=codes)


async def remove_two_factor(request: web.Request) -> web.StreamResponse:
    visitor = require(request)
    context = portal(request)
    if _must_keep(request):
        return await show_two_factor(request, status=403, problem=gettext(
            request, N_("Administrators must keep a second factor.")))
    form = await request.post()
    account = await store.account(context.pool, visitor.user_id, context.box)
    step = two_factor.matching_step(account.totp_secret, str(form.get("code", ""))) if account and account.totp_secret else None
    if step is None or not await store.use_totp_step(context.pool, visitor.user_id, step):
        return await show_two_factor(request, status=400, problem=gettext(
            request, N_("Enter a current code from your authenticator to turn two-factor authentication off.")))
    await store.remove_totp(context.pool, visitor.user_id)
    await store.audit(context.pool, "two_factor_removed", actor=visitor.user_id, address=client_address(request))
    raise redirect("/account?notice=two_factor_removed")


async def show_account(request: web.Request) -> web.StreamResponse:
    visitor = require(request)
    context = portal(request)
    account = await store.account(context.pool, visitor.user_id, context.box)
    sessions = await store.sessions_of(context.pool, visitor.user_id)
    current = session_of(request)
    notices = {
        "language": gettext(request, N_("Language saved.")),
        "two_factor_removed": gettext(request, N_("Two-factor authentication is off.")),
    }
    return render(
        request, "account.html", title=gettext(request, N_("Your account")),
        account=account, sessions=sessions, current=current.token_hash if current else None,
        chosen_language=account.language if account else None, notice=notices.get(request.query.get("notice", "")),
    )


async def save_language(request: web.Request) -> web.StreamResponse:
    visitor = require(request)
    context = portal(request)
    form = await request.post()
    language = str(form.get("language", ""))
    if language and language not in context.languages:
        return error_page(request, 400, gettext(request, N_("Unknown language.")))
    await store.set_language(context.pool, visitor.user_id, language or None)
    await store.audit(context.pool, "language_changed", actor=visitor.user_id, address=client_address(request),
                      detail={"language": language or "browser"})
    raise redirect("/account?notice=language")


async def logout(request: web.Request) -> web.StreamResponse:
    context = portal(request)
    session = session_of(request)
    token = request.get(SESSION_TOKEN)
    if session is not None and token:
        await store.delete_session(context.pool, token)
        await store.audit(context.pool, "logout", actor=session.user_id, address=client_address(request))
    response = web.HTTPSeeOther(f"{PREFIX}/login?notice=logged_out")
    response.del_cookie(SESSION_COOKIE, path=f"{PREFIX}/")
    return response


async def logout_everywhere(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    if session is None:
        raise redirect("/login")
    context = portal(request)
    count = await store.delete_sessions_of(context.pool, session.user_id)
    await store.audit(context.pool, "logout_everywhere", actor=session.user_id, address=client_address(request),
                      detail={"sessions": count})
    response = web.HTTPSeeOther(f"{PREFIX}/login?notice=everywhere")
    response.del_cookie(SESSION_COOKIE, path=f"{PREFIX}/")
    return response
