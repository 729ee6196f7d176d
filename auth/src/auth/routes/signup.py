from fastapi import APIRouter, Response

from auth.dependencies import AuthDep
from auth.schemas import SignupBody
from common.session import set_session_cookie

router = APIRouter()


@router.post("/signup", status_code=201)
async def signup(body: SignupBody, response: Response, auth: AuthDep) -> dict[str, str]:
    user, token = await auth.auth.sign_up(body.email, body.password)
    set_session_cookie(response, token, secure=auth.cookie_secure)
    return user.to_json()
