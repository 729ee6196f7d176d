from typing import Any

from fastapi import APIRouter

from common.session import CurrentUser

router = APIRouter()


@router.get("/currentuser")
async def current_user(user: CurrentUser) -> dict[str, Any]:
    return {"currentUser": user.user().model_dump() if user else None}
