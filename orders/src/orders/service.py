"""What the orders service does with orders: reserve a ticket for a buyer, show and cancel a
buyer's orders, and cancel or complete orders as expiration and payments report. Every
change is stored as the order's next version with its events, which the write publishes
(see `common.outbox`)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from beanie import PydanticObjectId
from pymongo.errors import DuplicateKeyError

from common.database import parse_object_id, retry_on_conflict
from common.errors import BadRequestError, NotAuthorizedError, NotFoundError
from common.events.schemas import Event
from common.events.subjects import OrderStatus
from orders.models import Order, Ticket, expiry_after, tickets_of
from orders.reservations import HeldTickets, InFlight

logger = logging.getLogger(__name__)

ALREADY_RESERVED = "Ticket is already reserved"
CANNOT_CANCEL_COMPLETE = "Cannot cancel a completed order"


Reservation = tuple[Order, Ticket]
"""An order holding its ticket, and the ticket."""


def answer_to_another_request(
    made: Reservation, user_id: str, request_id: str | None
) -> Reservation:
    """What a request for a ticket that `made` holds gets: that order when it is the very
    request that made it (sent again), else 400."""
    order, _ = made
    if request_id is None or (order.user_id, order.request_id) != (user_id, request_id):
        raise BadRequestError(ALREADY_RESERVED)
    return made


class OrderNotFound(LookupError):
    """An event names an order this service does not have (retried, then set aside)."""


class OrderService:
    def __init__(self, expiration_window_seconds: int) -> None:
        self.expiration_window_seconds = expiration_window_seconds
        """How long an order holds its ticket before it expires."""
        self.in_flight: InFlight[PydanticObjectId, Reservation] = InFlight()
        """The reservations being made now, by ticket (see `orders.reservations`)."""
        self.held: HeldTickets[PydanticObjectId] = HeldTickets()
        """The tickets recently seen held (a hint, see `orders.reservations`)."""

    async def reserve(
        self, ticket_id: PydanticObjectId, user_id: str, request_id: str | None = None
    ) -> Reservation:
        """A new order holding the ticket, for `user_id`: 404 for an unknown ticket, 400 when
        another order holds it - unless this very request made that order already and is
        being sent again (`common.idempotency`).

        Requests that cannot win are answered early (`orders.reservations`): one for a
        ticket that another request of this process is reserving waits for it and is
        answered from its order; one for a ticket recently seen held costs one read of the
        holder while the ticket is still held."""
        made = await self.in_flight.made_by_leader(ticket_id)
        if made is not None:
            return answer_to_another_request(made, user_id, request_id)
        if ticket_id in self.held and await self._held_for_another(ticket_id, user_id, request_id):
            raise BadRequestError(ALREADY_RESERVED)
        async with self.in_flight.leading(ticket_id) as leading:
            leading.made = await self._reserve(ticket_id, user_id, request_id)
            return leading.made

    async def _reserve(
        self, ticket_id: PydanticObjectId, user_id: str, request_id: str | None
    ) -> Reservation:
        """One atomic insert, which collides on the unique `reservation` if another order
        holds the ticket (see `Order`)."""
        ticket = await Ticket.find_replica(ticket_id)
        if ticket is None:
            raise NotFoundError()
        expires_at = expiry_after(self.expiration_window_seconds)
        order = Order.reserve(ticket, user_id, expires_at, request_id)
        try:
            await order.insert_with_event(lambda order: order.created_event(ticket))
        except DuplicateKeyError:
            self.held.add(ticket_id)
            holder = await Order.made_by(ticket, user_id, request_id) if request_id else None
            if holder is None:
                raise BadRequestError(ALREADY_RESERVED) from None
            order = holder
        self.held.add(ticket_id)
        return order, ticket

    async def _held_for_another(
        self, ticket_id: PydanticObjectId, user_id: str, request_id: str | None
    ) -> bool:
        """Whether an order holds the ticket that is not this very request's own (sent
        again); a ticket no order holds any more is forgotten."""
        maker = await Order.maker_of_holder(ticket_id)
        if maker is None:
            self.held.discard(ticket_id)
            return False
        return request_id is None or maker != (user_id, request_id)

    async def orders_of(self, user_id: str) -> list[tuple[Order, Ticket | None]]:
        """The buyer's orders, oldest first, each with its ticket."""
        orders = await Order.find(Order.user_id == user_id).sort("+_id").to_list()
        tickets = await tickets_of(orders)
        return [(order, tickets.get(order.ticket_id)) for order in orders]

    async def find_own(self, order_id: str, user_id: str) -> Order:
        """The caller's order with this id: 404 when there is none, 401 when it is another's."""
        object_id = parse_object_id(order_id)
        order = await Order.get(object_id) if object_id is not None else None
        if order is None:
            raise NotFoundError()
        if order.user_id != user_id:
            raise NotAuthorizedError()
        return order

    async def with_ticket(self, order: Order) -> tuple[Order, Ticket | None]:
        tickets = await tickets_of([order])
        return order, tickets.get(order.ticket_id)

    async def cancel(self, order_id: str, user_id: str) -> None:
        """The buyer cancels, freeing the ticket. A complete order stays complete (400);
        cancelling a cancelled order changes and publishes nothing."""

        async def attempt() -> Order | None:
            order = await self.find_own(order_id, user_id)
            if order.status == OrderStatus.COMPLETE:
                raise BadRequestError(CANNOT_CANCEL_COMPLETE)
            if order.status == OrderStatus.CANCELLED:
                return None
            order.cancel()
            return await order.save_next_version(Order.cancelled_event)

        await retry_on_conflict(attempt)

    async def expire(self, order_id: str) -> Order | None:
        """The order's time is up: cancel it (freeing the ticket) unless it is complete or
        cancelled already (then nothing is stored or published)."""

        def cancel_unless_settled(order: Order) -> bool:
            if order.status in (OrderStatus.COMPLETE, OrderStatus.CANCELLED):
                return False
            order.cancel()
            return True

        return await self._change(order_id, cancel_unless_settled, Order.cancelled_event)

    async def complete(self, order_id: str, payment_id: str, stripe_id: str) -> Order | None:
        """The order was paid for: mark it complete and publish order:completed (tickets
        marks its ticket sold). A payment for a cancelled order leaves it cancelled: its
        ticket is free again, and payments refunds the charge on order:cancelled."""

        def complete(order: Order) -> bool:
            if order.status == OrderStatus.COMPLETE:
                return False  # a repeated delivery
            if order.status == OrderStatus.CANCELLED:
                logger.warning(
                    "payment %s (stripe %s) arrived for cancelled order %s; payments refunds it",
                    payment_id,
                    stripe_id,
                    order.id,
                )
                return False
            order.complete()
            return True

        return await self._change(order_id, complete, Order.completed_event)

    async def _change(
        self, order_id: str, change: Callable[[Order], bool], *events: Callable[[Order], Event]
    ) -> Order | None:
        """Apply `change` to the order and store it as the next version with `events`.

        `change` returns False when there is nothing to do: nothing is stored or published.
        A concurrent change (e.g. the buyer cancelling) makes the write fail and the change
        runs again on the fresh order. Returns the stored order, or None."""
        object_id = parse_object_id(order_id)

        async def attempt() -> Order | None:
            order = await Order.get(object_id) if object_id is not None else None
            if order is None:
                raise OrderNotFound(order_id)
            if not change(order):
                return None
            return await order.save_next_version(*events)

        return await retry_on_conflict(attempt)
