from fastapi import APIRouter, Request, Response

from auth.dependencies import AuthDep
from auth.schemas import SignedOut
from common.responses import error_responses
from common.session import COOKIE_NAME, clear_session_cookie

router = APIRouter()


@router.post("/signout", responses=error_responses(503))
async def signout(request: Request, response: Response, auth: AuthDep) -> SignedOut:
    """Revoke the session in every service and clear the cookie."""
    await auth.auth.sign_out(request.cookies.get(COOKIE_NAME))
    clear_session_cookie(response, secure=auth.cookie_secure)
    return SignedOut()
