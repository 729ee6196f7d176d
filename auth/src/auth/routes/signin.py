from fastapi import APIRouter, Request, Response

from auth.models import User
from auth.passwords import verify_password
from auth.schemas import SigninBody
from common.errors import BadRequestError
from common.session import issue_token, set_session_cookie

router = APIRouter()


@router.post("/signin")
async def signin(body: SigninBody, request: Request, response: Response) -> dict[str, str]:
    user = await User.find_one(User.email == body.email)
    if not await verify_password(user.password if user else None, body.password) or user is None:
        raise BadRequestError("Invalid credentials")
    token = issue_token(str(user.id), user.email, request.app.state.jwt_key)
    set_session_cookie(response, token, secure=request.app.state.cookie_secure)
    return user.to_json()
