from fastapi import APIRouter, Request, Response

from auth.schemas import SigninBody
from auth.sessions import sign_in
from common.client_address import client_address
from common.session import issue_token, set_session_cookie

router = APIRouter()


@router.post("/signin")
async def signin(body: SigninBody, request: Request, response: Response) -> dict[str, str]:
    user = await sign_in(body.email, body.password, client_address(request))
    state = request.app.state
    token = issue_token(str(user.id), user.email, state.jwt_key, state.session_ttl_seconds)
    set_session_cookie(response, token, secure=state.cookie_secure)
    return user.to_json()
