"""The admin portal's routes, mounted at ``/admin/`` on opsroom's HTTP server."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from admin_portal import (
    admin_pages, auth_pages, catalog_edit, catalog_pages, dashboard_pages, kb_pages, middleware, report_pages, ticket_pages,
)
from admin_portal.context import PORTAL, PREFIX, PortalContext

STATIC_DIR = Path(__file__).with_name("static")


def build(context: PortalContext) -> web.Application:
    app = web.Application(middlewares=[middleware.headers_and_errors, middleware.sessions, middleware.csrf])
    app[PORTAL] = context
    router = app.router
    router.add_get("/", dashboard_pages.show_dashboard)
    router.add_get("/dashboard/events", dashboard_pages.live_dashboard)
    router.add_get("/tickets", ticket_pages.list_tickets)
    router.add_get("/tickets/{ticket_id}", ticket_pages.show_ticket)
    router.add_post("/tickets/{ticket_id}/{action}", ticket_pages.act_on_ticket)
    router.add_get("/tickets/{ticket_id}/attachments/{attachment_id}", ticket_pages.download_attachment)
    router.add_get("/login", auth_pages.show_login)
    router.add_post("/login", auth_pages.submit_login)
    router.add_get("/login/sso", auth_pages.start_sso)
    router.add_get("/login/sso/callback", auth_pages.sso_callback)
    router.add_get("/login/second-factor", auth_pages.show_second_factor)
    router.add_post("/login/second-factor", auth_pages.submit_second_factor)
    router.add_post("/logout", auth_pages.logout)
    router.add_post("/logout/everywhere", auth_pages.logout_everywhere)
    router.add_get("/account", auth_pages.show_account)
    router.add_post("/account/language", auth_pages.save_language)
    router.add_get("/account/two-factor", auth_pages.show_two_factor)
    router.add_post("/account/two-factor", auth_pages.confirm_two_factor)
    router.add_post("/account/two-factor/recovery-codes", auth_pages.new_recovery_codes)
    router.add_post("/account/two-factor/remove", auth_pages.remove_two_factor)
    router.add_get("/rooms", catalog_pages.list_rooms)
    router.add_post("/rooms/route", catalog_pages.route_alarm)
    router.add_get("/rooms/new", catalog_edit.new_room)
    router.add_post("/rooms/new", catalog_edit.save_room)
    router.add_get("/rooms/{key}", catalog_pages.show_room)
    router.add_get("/rooms/{key}/edit", catalog_edit.edit_room)
    router.add_post("/rooms/{key}/edit", catalog_edit.save_room)
    router.add_get("/people", catalog_edit.list_people)
    router.add_get("/sources", catalog_edit.show_sources)
    router.add_post("/sources/new", catalog_edit.create_credential)
    router.add_post("/sources/{kind}/{key}/rotate", catalog_edit.rotate_credential)
    router.add_get("/catalog/{kind}/new", catalog_edit.new_entry)
    router.add_post("/catalog/{kind}/new", catalog_edit.save_entry)
    router.add_get("/catalog/{kind}/{key}", catalog_edit.show_entry)
    router.add_post("/catalog/{kind}/{key}", catalog_edit.save_entry)
    router.add_post("/catalog/{kind}/{key}/retire", catalog_edit.retire_entry)
    router.add_post("/catalog/{kind}/{key}/restore", catalog_edit.retire_entry)
    router.add_get("/regulations", catalog_pages.list_regulations)
    router.add_get("/maintenance", catalog_pages.list_maintenance)
    router.add_get("/checks", catalog_pages.list_checks)
    router.add_get("/kb", kb_pages.list_articles)
    router.add_get("/kb/new", kb_pages.edit_form)
    router.add_post("/kb/new", kb_pages.save_article)
    router.add_get("/kb/{article}", kb_pages.show_article)
    router.add_get("/kb/{article}/edit", kb_pages.edit_form)
    router.add_post("/kb/{article}/edit", kb_pages.save_article)
    router.add_get("/kb/{article}/versions/{version}", kb_pages.show_version)
    router.add_post("/kb/{article}/attachments", kb_pages.attach_file)
    router.add_get("/kb/{article}/attachments/{attachment}", kb_pages.download)
    router.add_get("/reports", report_pages.show_reports)
    router.add_get("/reports/file", report_pages.report_file)
    router.add_get("/security", admin_pages.show_security)
    router.add_post("/security/unlock", admin_pages.unlock)
    router.add_get("/audit", admin_pages.show_audit)
    router.add_static("/static/", STATIC_DIR)
    return app


def setup(root: web.Application, context: PortalContext) -> None:
    """Mount the portal; ``/admin`` without the slash goes to it too."""
    root.add_subapp(f"{PREFIX}/", build(context))

    async def to_portal(_request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(f"{PREFIX}/")

    root.router.add_get(PREFIX, to_portal)
