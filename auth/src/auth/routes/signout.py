from fastapi import APIRouter, Request, Response

from auth.sessions import revoke
from common.session import COOKIE_NAME, clear_session_cookie, read_token

router = APIRouter()


@router.post("/signout")
async def signout(request: Request, response: Response) -> dict[str, str]:
    token = request.cookies.get(COOKIE_NAME)
    claims = read_token(token, request.app.state.jwt_key) if token else None
    if claims is not None:
        await revoke(claims, request.app.state)
    clear_session_cookie(response, secure=request.app.state.cookie_secure)
    return {}
