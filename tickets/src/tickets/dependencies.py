"""What the tickets service's routes and listeners are given, built once at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from common.service import Infrastructure, dependencies_of
from tickets.models import ensure_listing_index
from tickets.search import ensure_search_index
from tickets.service import TicketService
from tickets.settings import TicketsSettings


@dataclass
class TicketsDependencies:
    tickets: TicketService


@asynccontextmanager
async def tickets_dependencies(
    _: TicketsSettings, __: Infrastructure
) -> AsyncIterator[TicketsDependencies]:
    await ensure_listing_index()
    await ensure_search_index()
    yield TicketsDependencies(TicketService())


async def get_ticket_service(request: Request) -> TicketService:
    return dependencies_of(request, TicketsDependencies).tickets


TicketServiceDep = Annotated[TicketService, Depends(get_ticket_service)]
