"""`POST /api/payments`: charge an order through Stripe, at most once (see
`payments.service`)."""

from __future__ import annotations

from fastapi import APIRouter

from common.responses import error_responses
from common.session import RequiredUser
from payments.dependencies import PaymentServiceDep
from payments.schemas import CreatePaymentBody, PaymentResponse

router = APIRouter()


@router.post("", status_code=201, responses=error_responses(400, 401, 404, 503))
async def create_payment(
    body: CreatePaymentBody, user: RequiredUser, payments: PaymentServiceDep
) -> PaymentResponse:
    """Charge the order's price through Stripe; publishes payment:created. 400 for a
    cancelled, expired or paid order, a payment already in progress or a refused card; 503
    when the card processor did not confirm the charge."""
    payment = await payments.pay(body.order_id, body.token, user.id)
    return PaymentResponse(id=str(payment.id))
