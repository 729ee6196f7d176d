from fastapi import APIRouter

from client.routes import auth_pages, landing, orders, seller, tickets

router = APIRouter()
for module in (landing, auth_pages, seller, tickets, orders):
    router.include_router(module.router)
