"""``POST /api/v1/alarms/alertmanager``: Prometheus Alertmanager's webhook (payload version 4).

Point a webhook receiver at it (``url``), with ``http_config`` carrying the source's bearer
token (``authorization``) or basic credentials (``basic_auth``). One ticket per alert group
(Alertmanager's ``groupKey``), its members listed in the announcement and kept current.
"""

from __future__ import annotations

from aiohttp import web

from intake.alert_payloads import Gateway, receive_notification

ALERTMANAGER = Gateway(name="alertmanager", version="4", silence_link=True)


async def post_alertmanager(request: web.Request) -> web.Response:
    return await receive_notification(request, ALERTMANAGER)
