"""What the intake handlers share: the pool, the domain services, the credentials, the limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from intake.auth import SourceBook, TokenBook
from intake.settings import ReportFormConfig
from application.domain import Domain
from application.tickets import TicketActions

if TYPE_CHECKING:
    from application.knowledge import KnowledgeBase
    from intake.batching import AlarmBatcher
    from monitors.runner import MonitorService
    from application.reports import ReportService
    from application.catalog import CatalogService


@dataclass
class IntakeContext:
    pool: asyncpg.Pool
    domain: Domain
    actions: TicketActions  # ticket steps people take (REST API), under the policy
    sources: SourceBook
    api_callers: TokenBook
    max_body_bytes: int
    # the address people use to reach opsroom (http.public_url); links and labels are built on it
    public_url: str | None = None
    report_form: ReportFormConfig = field(default_factory=ReportFormConfig)
    # active checks and heartbeats (POST /api/v1/heartbeat/<name>)
    monitors: "MonitorService | None" = None
    # group commit of single alarms (POST /api/v1/alarms, Events API v2 triggers)
    alarms: "AlarmBatcher | None" = None
    # the knowledge base (/api/v1/kb/..., the public board /kb)
    knowledge: "KnowledgeBase | None" = None
    # reports as files (GET /api/v1/reports/{kind})
    reports: "ReportService | None" = None
    # the catalog's write path (/api/v1/rooms, /regulations, ..., /api/v1/catalog/changes)
    catalog: "CatalogService | None" = None


INTAKE = web.AppKey("intake", IntakeContext)
