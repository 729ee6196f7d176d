"""`POST /api/payments`: charge an order through Stripe, at most once (see
`payments.service`)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from common.session import RequiredUser
from payments.schemas import CreatePaymentBody
from payments.service import PaymentService

router = APIRouter()


@router.post("", status_code=201)
async def create_payment(
    body: CreatePaymentBody, user: RequiredUser, request: Request
) -> dict[str, str]:
    payments: PaymentService = request.app.state.payments
    payment = await payments.pay(body.order_id, body.token, user.id)
    return {"id": str(payment.id)}
