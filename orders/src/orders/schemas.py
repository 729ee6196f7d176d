"""Request bodies, with the contract's messages (section 3)."""

from __future__ import annotations

from typing import Any

from beanie import PydanticObjectId
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.database import parse_object_id


class NewOrderBody(BaseModel):
    """`{ticketId}`: the ticket to reserve."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    ticket_id: PydanticObjectId = Field(alias="ticketId")

    @model_validator(mode="before")
    @classmethod
    def missing_is_invalid(cls, data: Any) -> Any:
        """A missing ticketId gets the same message as a bad one."""
        if isinstance(data, dict):
            return {"ticketId": None, **data}
        return data

    @field_validator("ticket_id", mode="before")
    @classmethod
    def valid_id(cls, value: Any) -> PydanticObjectId:
        ticket_id = parse_object_id(value) if isinstance(value, str) else None
        if ticket_id is None:
            raise ValueError("TicketId must be a valid id")
        return ticket_id
