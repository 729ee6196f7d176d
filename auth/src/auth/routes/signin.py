from fastapi import APIRouter, Request, Response

from auth.dependencies import AuthDep
from auth.schemas import SigninBody, UserResponse
from common.client_address import client_address
from common.responses import error_responses
from common.session import set_session_cookie

router = APIRouter()


@router.post("/signin", responses=error_responses(400, 429, 503))
async def signin(
    body: SigninBody, request: Request, response: Response, auth: AuthDep
) -> UserResponse:
    """Sign in and set the session cookie. 400 `Invalid credentials` for an unknown email or
    a wrong password alike; 429 after too many failures for the email or the address."""
    user, token = await auth.auth.sign_in(
        body.email, body.password, client_address(request), request.is_disconnected
    )
    set_session_cookie(response, token, secure=auth.cookie_secure)
    return UserResponse.of(user)
