"""``POST /api/v1/alarms/grafana``: Grafana's webhook contact point (unified alerting).

Grafana sends Alertmanager's payload shape (version "1") with links of its own: the rule
(``generatorURL``), the dashboard, the panel and a prepared silence, all shown per alert.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from intake.alert_payloads import Gateway, optional_url, receive_notification
from intake.validation import string

GRAFANA_LINKS = {"dashboard": "dashboardURL", "panel": "panelURL", "silence": "silenceURL"}


def grafana_links(alert: dict[str, Any]) -> dict[str, str]:
    links = {name: optional_url(alert, key) for name, key in GRAFANA_LINKS.items()}
    return {name: url for name, url in links.items() if url}


def grafana_value(alert: dict[str, Any]) -> str | None:
    return string(alert, "valueString", max_length=2000)


GRAFANA = Gateway(name="grafana", version="1", extra_links=grafana_links, value_of=grafana_value)


async def post_grafana(request: web.Request) -> web.Response:
    return await receive_notification(request, GRAFANA)
