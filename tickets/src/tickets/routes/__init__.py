from fastapi import APIRouter

from tickets.routes import index, mine, new, show, update

router = APIRouter()
for module in (new, index, mine, show, update):  # `mine` before `/{ticket_id}`
    router.include_router(module.router, prefix="/api/tickets")
