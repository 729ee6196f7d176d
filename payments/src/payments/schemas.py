"""The API's shapes: request bodies, with the contract's messages (section 3), and the answer
to a payment."""

from __future__ import annotations

from typing import Annotated, Any

from beanie import PydanticObjectId
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.database import object_id_field
from common.responses import ResponseModel


class CreatePaymentBody(BaseModel):
    """`{token, orderId}`: a Stripe card token or PaymentMethod id, and the order to pay."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    token: str
    order_id: Annotated[PydanticObjectId, object_id_field("OrderId must be a valid id")] = Field(
        alias="orderId"
    )

    @model_validator(mode="before")
    @classmethod
    def missing_is_invalid(cls, data: Any) -> Any:
        """A missing field gets the same message as a bad one."""
        if isinstance(data, dict):
            return {"token": None, "orderId": None, **data}
        return data

    @field_validator("token", mode="before")
    @classmethod
    def token_present(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("Token must be provided")
        return value.strip()


class PaymentResponse(ResponseModel):
    """A payment made: `{id}`."""

    id: str
