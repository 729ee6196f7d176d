"""What the orders service's routes and listeners are given, built once at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from common.service import Infrastructure, dependencies_of
from orders.service import OrderService
from orders.settings import OrdersSettings


@dataclass
class OrdersDependencies:
    orders: OrderService


@asynccontextmanager
async def orders_dependencies(
    settings: OrdersSettings, _: Infrastructure
) -> AsyncIterator[OrdersDependencies]:
    yield OrdersDependencies(OrderService(settings.EXPIRATION_WINDOW_SECONDS))


async def get_order_service(request: Request) -> OrderService:
    return dependencies_of(request, OrdersDependencies).orders


OrderServiceDep = Annotated[OrderService, Depends(get_order_service)]
