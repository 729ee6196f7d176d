from typing import Any

from fastapi import APIRouter

from common.database import parse_object_id
from common.errors import NotFoundError
from tickets.models import Ticket

router = APIRouter()


async def find_ticket(ticket_id: str) -> Ticket:
    """The ticket with this id; 404 when there is none (or the id is malformed)."""
    object_id = parse_object_id(ticket_id)
    ticket = await Ticket.get(object_id) if object_id is not None else None
    if ticket is None:
        raise NotFoundError()
    return ticket


@router.get("/{ticket_id}")
async def show_ticket(ticket_id: str) -> dict[str, Any]:
    return (await find_ticket(ticket_id)).to_json()
