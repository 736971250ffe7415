"""What the intake handlers share: the pool, the ticket service, the credentials, the limits."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiohttp import web

from intake.auth import SourceBook, TokenBook
from tickets.lifecycle import TicketService


@dataclass
class IntakeContext:
    pool: asyncpg.Pool
    tickets: TicketService
    sources: SourceBook
    api_callers: TokenBook
    max_body_bytes: int


INTAKE = web.AppKey("intake", IntakeContext)
