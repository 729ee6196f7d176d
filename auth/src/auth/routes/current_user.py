from fastapi import APIRouter

from auth.schemas import CurrentUserResponse
from common.session import CurrentUser

router = APIRouter()


@router.get("/currentuser")
async def current_user(user: CurrentUser) -> CurrentUserResponse:
    """Who the session cookie names; null when it is absent, tampered with, expired or
    revoked."""
    return CurrentUserResponse(current_user=user.user() if user else None)
