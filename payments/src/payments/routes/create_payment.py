"""`POST /api/payments`: charge an order through Stripe, at most once (see
`payments.service`)."""

from __future__ import annotations

from fastapi import APIRouter

from common.session import RequiredUser
from payments.dependencies import PaymentServiceDep
from payments.schemas import CreatePaymentBody

router = APIRouter()


@router.post("", status_code=201)
async def create_payment(
    body: CreatePaymentBody, user: RequiredUser, payments: PaymentServiceDep
) -> dict[str, str]:
    payment = await payments.pay(body.order_id, body.token, user.id)
    return {"id": str(payment.id)}
