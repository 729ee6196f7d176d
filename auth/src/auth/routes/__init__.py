from fastapi import APIRouter

from auth.routes import current_user, signin, signout, signup

router = APIRouter(prefix="/api/users")
for module in (signup, signin, signout, current_user):
    router.include_router(module.router)
