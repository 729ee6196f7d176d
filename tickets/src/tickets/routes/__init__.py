from fastapi import APIRouter

from tickets.routes import index, new, show, update

router = APIRouter()
for module in (new, index, show, update):
    router.include_router(module.router, prefix="/api/tickets")
