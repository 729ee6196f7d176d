"""What the tickets service does on events from other services."""

from typing import TypeVar

from common.events.listener import Listener
from common.events.schemas import Event

QUEUE_GROUP = "tickets-service"

E = TypeVar("E", bound=Event)


class TicketsListener(Listener[E]):
    """A listener of the tickets service: it changes the ticket an order names.

    `Ticket` converges whatever order its events arrive in, and a concurrent change of the
    same ticket is retried on the fresh ticket, so the events of a fetched batch are handled
    at the same time (their reads share commands: `common.together`)."""

    queue_group = QUEUE_GROUP
    handles_batch_together = True
