from fastapi import APIRouter

from client.routes import auth_pages, landing, live, orders, seller, tickets

router = APIRouter()
for module in (landing, auth_pages, seller, tickets, orders, live):
    router.include_router(module.router)
