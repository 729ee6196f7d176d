from fastapi import APIRouter

from payments.routes import create_payment

router = APIRouter()
router.include_router(create_payment.router, prefix="/api/payments")
