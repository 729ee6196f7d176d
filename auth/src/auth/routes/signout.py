from fastapi import APIRouter, Request, Response

from common.session import clear_session_cookie

router = APIRouter()


@router.post("/signout")
async def signout(request: Request, response: Response) -> dict[str, str]:
    clear_session_cookie(response, secure=request.app.state.cookie_secure)
    return {}
