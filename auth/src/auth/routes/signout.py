from fastapi import APIRouter, Request, Response

from auth.dependencies import AuthDep
from common.session import COOKIE_NAME, clear_session_cookie

router = APIRouter()


@router.post("/signout")
async def signout(request: Request, response: Response, auth: AuthDep) -> dict[str, str]:
    await auth.auth.sign_out(request.cookies.get(COOKIE_NAME))
    clear_session_cookie(response, secure=auth.cookie_secure)
    return {}
