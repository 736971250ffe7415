"""Delivery of ticket outbox rows: the announcement, its in-place edits, thread notes, pages.

Rendered when delivered, from the ticket's state at that moment, so an edit always shows
the current state and a burst of changes collapses into one edit.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from markupsafe import Markup

from bot import store as bot_store
from bot.context import thread_relation
from bot.delivery import MatrixDeliverer
from texts.render import MATRIX_TO, Message, Params, Renderer
from bot.ticket_details import details_values
from texts.ticket_view import TicketView, service_level_values, ticket_values
from regulations import store as deadlines
from rooms import store as rooms_store
from rooms.directory import RoomDirectory
from rooms.model import TopicRoom
from storage import clock
from storage import outbox_kinds as kinds
from storage.outbox import Handlers, OutboxMessage, PermanentDeliveryError, TransientDeliveryError
from tickets import page_store, pages, ratings
from tickets import store as tickets
from tickets.model import Ticket
from tickets.service_levels import ServiceLevels

BOT_ACTOR = "opsroom"


class TicketDelivery:
    def __init__(
        self, deliverer: MatrixDeliverer, renderer: Renderer, directory: RoomDirectory, prefix: str, levels: ServiceLevels | None = None
    ) -> None:
        self.levels = levels  # calendars for business time left, in the announcement and the status
        self.deliverer = deliverer
        self.renderer = renderer
        self.directory = directory
        self.prefix = prefix

    def register_handlers(self, handlers: Handlers) -> None:
        for kind, handler in (
            (kinds.TICKET_ANNOUNCE, self.announce),
            (kinds.TICKET_REFRESH, self.refresh),
            (kinds.TICKET_NOTE, self.note),
            (kinds.TICKET_PAGE, self.page),
            (kinds.PAGE_BUNDLE, self.page_bundle),
            (kinds.TICKET_ATTACHMENT, self.attachment),
            (kinds.STORM_DIGEST, self.storm_digest),
            (kinds.INVITE, self.invite),
            (kinds.OUTBOX_UNDELIVERABLE, self.undeliverable),
        ):
            self.deliverer.register(handlers, kind, handler)

    async def _ticket(self, conn: asyncpg.Connection, ticket_id: int) -> tuple[Ticket, TopicRoom | None]:
        ticket = await tickets.get(conn, ticket_id)
        if ticket is None:
            raise PermanentDeliveryError(f"ticket {ticket_id} does not exist")
        return ticket, self.directory.by_key(ticket.room_key)

    async def _thread_root(self, conn: asyncpg.Connection, ticket: Ticket) -> str | None:
        """Where the ticket's thread hangs: its announcement, or the storm digest it was folded into."""
        if ticket.announcement_event_id:
            return ticket.announcement_event_id
        if ticket.digest_id is not None:
            digest = await rooms_store.digest(conn, ticket.digest_id)
            if digest is not None and digest["event_id"]:
                return digest["event_id"]
            raise TransientDeliveryError(f"the storm digest of ticket {ticket.id} is not posted yet")
        return None

    @staticmethod
    def _silent(ticket: Ticket) -> bool:
        """A silenced ticket that was never shown: nothing about it is posted either."""
        return ticket.silence_id is not None and not ticket.announcement_event_id and ticket.digest_id is None

    def _room_id(self, room_key: str) -> str:
        room_id = self.directory.room_id(room_key)
        if room_id is None:
            raise TransientDeliveryError(f"topic room {room_key} is not set up yet")
        return room_id

    async def render_announcement(self, conn: asyncpg.Connection, ticket: Ticket, room: TopicRoom | None) -> tuple[Message, list[str]]:
        language = room.language if room else "en"
        view = TicketView(room, language)
        active = await deadlines.active(conn, ticket.id)
        values = ticket_values(ticket, room, active, view, self.prefix)
        values.update(await service_level_values(conn, ticket, active, view, self.levels))
        details = details_values(ticket)
        if details is not None:  # what the gateway stored: an alert group's members, an event's details
            shown = self.renderer.render("ticket_details", language, **view.functions(), **details)
            values["details_lines"] = shown.plain.splitlines()
            values["details_html"] = Markup(shown.html)
        message = self.renderer.render("announcement", language, **values)
        return message, values["callees"]

    async def announce(self, conn: asyncpg.Connection, message: OutboxMessage, payload: kinds.TicketRef, txn_id: str) -> dict[str, Any]:
        ticket, room = await self._ticket(conn, payload.ticket_id)
        if ticket.announcement_event_id:
            return {"event_id": ticket.announcement_event_id, "already": True}
        room_id = self._room_id(ticket.room_key)
        rendered, callees = await self.render_announcement(conn, ticket, room)
        # the announcement pages the people who must claim: m.text with mentions
        content = Message(rendered.plain, rendered.html, mentions=tuple(callees), notify=True).content()
        event_id = await self.deliverer.send_event(room_id, content, txn_id)
        await tickets.set_announcement(conn, ticket.id, event_id, room_id)
        await tickets.add_event(conn, ticket.id, "announced", BOT_ACTOR, {"event_id": event_id}, at=clock.now())
        return {"event_id": event_id}

    async def refresh(self, conn: asyncpg.Connection, message: OutboxMessage, payload: kinds.TicketRef, txn_id: str) -> dict[str, Any]:
        ticket, room = await self._ticket(conn, payload.ticket_id)
        if not ticket.announcement_event_id or not ticket.room_id:
            return {"skipped": "not announced"}
        rendered, _callees = await self.render_announcement(conn, ticket, room)
        event_id = await self.deliverer.send_event(ticket.room_id, edit_content(ticket.announcement_event_id, rendered), txn_id)
        return {"event_id": event_id}

    async def note(self, conn: asyncpg.Connection, message: OutboxMessage, payload: kinds.TicketNote, txn_id: str) -> dict[str, Any]:
        ticket, room = await self._ticket(conn, payload.ticket_id)
        if self._silent(ticket):
            return {"skipped": "silenced"}
        language = room.language if room else "en"
        view = TicketView(room, language)
        values = ticket_values(ticket, room, [], view, self.prefix)
        rendered = self.renderer.render(
            f"note_{payload.note}",
            language,
            mentions=tuple(payload.mentions),
            notify=payload.notify,
            params=Params(payload.params),
            called=payload.mentions,
            **values,
        )
        content = rendered.content()
        room_id = ticket.room_id or self._room_id(ticket.room_key)
        root = await self._thread_root(conn, ticket)
        if root:
            content["m.relates_to"] = thread_relation(root)
        event_id = await self.deliverer.send_event(room_id, content, txn_id)
        return {"event_id": event_id}

    async def page(self, conn: asyncpg.Connection, message: OutboxMessage, payload: kinds.TicketPage, txn_id: str) -> dict[str, Any]:
        ticket, room = await self._ticket(conn, payload.ticket_id)
        user_id = payload.user_id
        language = room.language if room else "en"
        view = TicketView(room, language)
        values = ticket_values(ticket, room, [], view, self.prefix)
        room_id = ticket.room_id or self.directory.room_id(ticket.room_key) or ""
        link = f"{MATRIX_TO}{room_id}/{ticket.announcement_event_id}" if ticket.announcement_event_id else f"{MATRIX_TO}{room_id}"
        note = payload.params.get("note")
        template = f"page_{note}" if note in PAGE_TEMPLATES else "page"
        rendered = self.renderer.render(
            template, language, mentions=(user_id,), notify=True, params=Params(payload.params), link=link, **values
        )
        direct_room = await self.deliverer.direct_room(user_id)
        event_id = await self.deliverer.send_event(direct_room, rendered.content(), txn_id)
        if note == "rating_request":  # a reaction on this message is the reporter's rating
            await ratings.record_request(conn, event_id, ticket.id, int(payload.params.get("cycle") or 0), user_id)
        return {"event_id": event_id, "room_id": direct_room}

    def _link(self, ticket: Ticket) -> str:
        room_id = ticket.room_id or self.directory.room_id(ticket.room_key) or ""
        return f"{MATRIX_TO}{room_id}/{ticket.announcement_event_id}" if ticket.announcement_event_id else f"{MATRIX_TO}{room_id}"

    async def page_bundle(
        self, conn: asyncpg.Connection, message: OutboxMessage, payload: kinds.PageBundle, txn_id: str
    ) -> dict[str, Any]:
        """The direct message paging one person for the tickets of a window: posted once (it
        notifies them), then edited (quietly) as tickets join and as each is claimed, taken over
        or resolved. In the language and time zone of the first ticket's room."""
        bundle = await page_store.get(conn, payload.bundle_id)
        if bundle is None:
            raise PermanentDeliveryError(f"page bundle {payload.bundle_id} does not exist")
        bundled = await page_store.tickets_of(conn, bundle.id)
        found = await tickets.get_many(conn, [entry.ticket_id for entry in bundled])
        items = []
        for entry in bundled:
            ticket = found.get(entry.ticket_id)
            if ticket is None:
                continue
            room = self.directory.by_key(ticket.room_key)
            state = pages.state_for(ticket, entry.params)
            person = ticket.resolved_by if state == "resolved" else ticket.responsible
            items.append({
                "t": ticket, "room": room, "room_name": room.name if room else ticket.room_key, "level": entry.params.get("level"),
                "due_at": entry.params.get("due_at"), "link": self._link(ticket), "state": state, "person": person,
                "yours": state in ("claimed", "taken") and person == bundle.user_id,
            })
        if not items:
            raise PermanentDeliveryError(f"page bundle {bundle.id} lists no ticket")
        first_room = items[0]["room"]
        language = first_room.language if first_room else "en"
        view = TicketView(first_room, language)
        rendered = self.renderer.render(
            "page_bundle", language, mentions=(bundle.user_id,), notify=True,
            paged=items[:PAGE_LISTED], total=len(items), prefix=self.prefix, **view.functions(),
        )
        if bundle.event_id is None or bundle.room_id is None:
            direct_room = await self.deliverer.direct_room(bundle.user_id)
            event_id = await self.deliverer.send_event(direct_room, rendered.content(), txn_id)
            await page_store.set_posted(conn, bundle.id, direct_room, event_id)
            return {"event_id": event_id, "room_id": direct_room, "tickets": len(items)}
        event_id = await self.deliverer.send_event(bundle.room_id, edit_content(bundle.event_id, rendered), txn_id)
        return {"event_id": event_id, "edited": bundle.event_id, "tickets": len(items)}

    async def attachment(
        self, conn: asyncpg.Connection, message: OutboxMessage, payload: kinds.TicketAttachment, txn_id: str
    ) -> dict[str, Any]:
        """Upload the stored file to the homeserver (once) and post it in the ticket's thread."""
        ticket, _room = await self._ticket(conn, payload.ticket_id)
        if self._silent(ticket):
            return {"skipped": "silenced"}
        row = await tickets.attachment(conn, payload.attachment_id)
        if row is None:
            raise PermanentDeliveryError(f"attachment {payload.attachment_id} does not exist")
        room_id = ticket.room_id or self._room_id(ticket.room_key)
        if await self.deliverer.is_encrypted(room_id):
            # a fresh key per upload: the plain upload (if any) must not be linked from this room
            where = await self.deliverer.upload_file(
                room_id, bytes(row["data"]), mime_type=row["content_type"], filename=row["filename"]
            )
        else:
            mxc_uri = row["mxc_uri"]
            if mxc_uri is None:
                mxc_uri = await self.deliverer.session.api.upload_media(
                    bytes(row["data"]), mime_type=row["content_type"], filename=row["filename"], size=row["size_bytes"]
                )
                await tickets.set_attachment_uri(conn, row["id"], mxc_uri)
            where = {"url": mxc_uri}
        msgtype = "m.image" if row["content_type"].startswith("image/") else "m.file"
        content: dict[str, Any] = {
            "msgtype": msgtype,
            "body": row["filename"],
            "filename": row["filename"],
            **where,
            "info": {"mimetype": row["content_type"], "size": row["size_bytes"]},
        }
        root = await self._thread_root(conn, ticket)
        if root:
            content["m.relates_to"] = thread_relation(root)
        event_id = await self.deliverer.send_event(room_id, content, txn_id)
        return {"event_id": event_id, "mxc_uri": where.get("url") or where["file"]["url"]}

    async def storm_digest(
        self, conn: asyncpg.Connection, message: OutboxMessage, payload: kinds.StormDigest, txn_id: str
    ) -> dict[str, Any]:
        """The room's storm digest: posted once (paging the first line), then edited as it grows."""
        digest = await rooms_store.digest(conn, payload.digest_id)
        if digest is None:
            raise PermanentDeliveryError(f"storm digest {payload.digest_id} does not exist")
        room = self.directory.by_key(digest["room_key"])
        room_id = digest["room_id"] or self._room_id(digest["room_key"])
        language = room.language if room else "en"
        view = TicketView(room, language)
        members, total = await tickets.in_digest(conn, digest["id"], limit=DIGEST_LISTED)
        callees = room.staff_at(1) if room else []
        rendered = self.renderer.render(
            "storm_digest", language, mentions=tuple(callees), notify=True,
            tickets=members, total=total, started_at=digest["started_at"], prefix=self.prefix, **view.functions(),
        )
        if digest["event_id"] is None:
            event_id = await self.deliverer.send_event(room_id, rendered.content(), txn_id)
            await rooms_store.set_digest_event(conn, digest["id"], event_id, room_id)
            return {"event_id": event_id}
        event_id = await self.deliverer.send_event(room_id, edit_content(digest["event_id"], rendered), txn_id)
        return {"event_id": event_id, "edited": digest["event_id"]}

    async def invite(self, conn: asyncpg.Connection, message: OutboxMessage, payload: kinds.Invite, txn_id: str) -> dict[str, Any]:
        room_id = self._room_id(payload.room_key)
        members = await bot_store.members(conn, room_id)
        if payload.user_id in members:
            return {"skipped": members[payload.user_id]}
        return await self.deliverer.invite(conn, room_id, payload.user_id)

    async def undeliverable(
        self, conn: asyncpg.Connection, message: OutboxMessage, payload: kinds.Undeliverable, txn_id: str
    ) -> dict[str, Any]:
        """A message the outbox gave up on, told in the ticket's thread (or the room) in one line."""
        room = self.directory.by_key(payload.room_key)
        language = room.language if room else "en"
        ticket = await tickets.get(conn, payload.ticket_id) if payload.ticket_id is not None else None
        rendered = self.renderer.render(
            "note_undeliverable", language, id=ticket.id if ticket else None, reason=payload.reason,
            mail=payload.channel == "mail",
        )
        content = rendered.content()
        room_id = (ticket.room_id if ticket else None) or self._room_id(payload.room_key)
        root = None
        if ticket is not None:
            try:
                root = await self._thread_root(conn, ticket)
            except TransientDeliveryError:
                root = None  # the dead row may be the digest the thread would hang on
        if root:
            content["m.relates_to"] = thread_relation(root)
        event_id = await self.deliverer.send_event(room_id, content, txn_id)
        return {"event_id": event_id}


DIGEST_LISTED = 30
PAGE_LISTED = 30
# direct messages about a ticket with a text of their own (the rest are escalation pages queued before bundles)
PAGE_TEMPLATES = ("sla_warning", "sla_breached", "rating_request", "assigned", "reporter_claimed", "reporter_resolved")  # tickets a page lists; it says how many more


def edit_content(original_event_id: str, rendered: Message) -> dict[str, Any]:
    """An in-place edit (m.replace) that shows the new text and pages nobody again."""
    new_content = {
        "msgtype": "m.text",
        "body": rendered.plain,
        "format": "org.matrix.custom.html",
        "formatted_body": rendered.html,
        "m.mentions": {},
    }
    return {
        "msgtype": "m.text",
        "body": f"* {rendered.plain}",
        "format": "org.matrix.custom.html",
        "formatted_body": f"* {rendered.html}",
        "m.new_content": new_content,
        "m.relates_to": {"rel_type": "m.replace", "event_id": original_event_id},
        "m.mentions": {},
    }
