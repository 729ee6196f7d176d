from fastapi import APIRouter

from client.routes import auth_pages, landing, orders, tickets

router = APIRouter()
for module in (landing, auth_pages, tickets, orders):
    router.include_router(module.router)
