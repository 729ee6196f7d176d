from fastapi import APIRouter

from orders.routes import delete, index, new, show

router = APIRouter()
for module in (new, index, show, delete):
    router.include_router(module.router, prefix="/api/orders")
