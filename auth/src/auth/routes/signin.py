from fastapi import APIRouter, Request, Response

from auth.dependencies import AuthDep
from auth.schemas import SigninBody
from common.client_address import client_address
from common.session import set_session_cookie

router = APIRouter()


@router.post("/signin")
async def signin(
    body: SigninBody, request: Request, response: Response, auth: AuthDep
) -> dict[str, str]:
    user, token = await auth.auth.sign_in(body.email, body.password, client_address(request))
    set_session_cookie(response, token, secure=auth.cookie_secure)
    return user.to_json()
