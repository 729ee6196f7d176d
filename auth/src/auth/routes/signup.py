from fastapi import APIRouter, Request, Response
from pymongo.errors import DuplicateKeyError

from auth.models import User
from auth.passwords import hash_password
from auth.schemas import SignupBody
from common.errors import BadRequestError
from common.session import issue_token, set_session_cookie

router = APIRouter()


@router.post("/signup", status_code=201)
async def signup(body: SignupBody, request: Request, response: Response) -> dict[str, str]:
    if await User.find_one(User.email == body.email):
        raise BadRequestError("Email in use", field="email")
    user = User(email=body.email, password=await hash_password(body.password))
    try:
        await user.insert()
    except DuplicateKeyError:  # a simultaneous signup with the same email won the race
        raise BadRequestError("Email in use", field="email") from None
    state = request.app.state
    token = issue_token(str(user.id), user.email, state.jwt_key, state.session_ttl_seconds)
    set_session_cookie(response, token, secure=state.cookie_secure)
    return user.to_json()
