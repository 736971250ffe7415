"""Pages for administrators about the portal itself: failed logins and lockouts (with a way to
lift a lock), and the audit of logins and portal changes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aiohttp import web

from admin_portal import store
from admin_portal.auth_pages import require
from admin_portal.context import client_address, gettext, portal, redirect, render
from admin_portal.middleware import error_page
from texts.i18n import N_

AUDIT_PAGE = 50


async def show_security(request: web.Request) -> web.StreamResponse:
    require(request, admin=True)
    context = portal(request)
    rows = await store.recent_failures(context.pool, timedelta(days=1))
    now = datetime.now(timezone.utc)
    notices = {"unlocked": gettext(request, N_("The lock is lifted."))}
    return render(request, "security.html", title=gettext(request, N_("Failed logins")), rows=rows, now=now,
                  settings=context.settings.login_throttle, notice=notices.get(request.query.get("notice", "")))


async def unlock(request: web.Request) -> web.StreamResponse:
    visitor = require(request, admin=True)
    context = portal(request)
    form = await request.post()
    kind, key = str(form.get("kind", "")), str(form.get("key", ""))
    if kind not in ("account", "address") or not key:
        return error_page(request, 400, gettext(request, N_("Nothing to unlock.")))
    await store.clear_failures(context.pool, kind, key)
    await store.audit(context.pool, "unlocked", actor=visitor.user_id, address=client_address(request),
                      detail={"kind": kind, "key": key})
    raise redirect("/security?notice=unlocked")


async def show_audit(request: web.Request) -> web.StreamResponse:
    require(request, admin=True)
    context = portal(request)
    before_text = request.query.get("before", "")
    before = int(before_text) if before_text.isdigit() else None
    actor = request.query.get("actor", "").strip() or None
    action = request.query.get("action", "").strip() or None
    rows = await store.audit_page(context.pool, before=before, limit=AUDIT_PAGE + 1, actor=actor, action=action)
    more = len(rows) > AUDIT_PAGE
    rows = rows[:AUDIT_PAGE]
    changes_before_text = request.query.get("changes_before", "")
    changes: list[dict] = []
    if context.catalog is not None:
        changes = await context.catalog.changes(limit=AUDIT_PAGE + 1,
                                                before_id=int(changes_before_text) if changes_before_text.isdigit() else None)
    more_changes = len(changes) > AUDIT_PAGE
    changes = changes[:AUDIT_PAGE]
    return render(request, "audit.html", title=gettext(request, N_("Audit log")), rows=rows,
                  next_before=rows[-1].id if more and rows else None, actor=actor or "", action=action or "",
                  changes=changes, changes_before=changes[-1]["id"] if more_changes and changes else None)
