from fastapi import APIRouter, Request, Response

from auth.dependencies import AuthDep
from auth.schemas import SignupBody, UserResponse
from common.responses import error_responses
from common.session import set_session_cookie

router = APIRouter()


@router.post("/signup", status_code=201, responses=error_responses(400, 503))
async def signup(
    body: SignupBody, request: Request, response: Response, auth: AuthDep
) -> UserResponse:
    """Sign up and set the session cookie; 400 `Email in use` when the email is taken."""
    user, token = await auth.auth.sign_up(body.email, body.password, request.is_disconnected)
    set_session_cookie(response, token, secure=auth.cookie_secure)
    return UserResponse.of(user)
