"""Sign up, sign in, sign out. The forms post here; the API sets or clears the session
cookie and that `Set-Cookie` is passed on to the browser with the redirect."""

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from client import csrf
from client.api import Api, ApiUnavailable, get_api
from client.forms import FormErrors
from client.pages import redirect, render, safe_next
from common.session import COOKIE_NAME

router = APIRouter(prefix="/auth")

_PAGES = {
    "signup": ("/api/users/signup", "auth/signup.html"),
    "signin": ("/api/users/signin", "auth/signin.html"),
}


async def _show_form(request: Request, api: Api, which: str, next_url: str | None) -> Response:
    user = await api.current_user()
    if user:
        return redirect(safe_next(next_url))
    return render(
        request,
        _PAGES[which][1],
        {"values": {}, "errors": FormErrors(), "next": safe_next(next_url, "")},
        user=None,
    )


async def _submit(request: Request, api: Api, which: str) -> Response:
    form = await request.form()
    email = str(form.get("email", "")).strip()
    password = str(form.get("password", ""))
    next_url = str(form.get("next", ""))
    endpoint, template = _PAGES[which]
    result = await api.post(endpoint, {"email": email, "password": password})
    if result.ok:
        return redirect(safe_next(next_url), result)
    return render(
        request,
        template,
        {
            "values": {"email": email},
            "errors": FormErrors.from_api(result, ("email", "password")),
            "next": safe_next(next_url, ""),
        },
        user=None,
        status_code=429 if result.status == 429 else 400,  # 429: sign-ins throttled
    )


@router.get("/signup", response_class=HTMLResponse)
async def signup_page(
    request: Request, next: str | None = None, api: Api = Depends(get_api)
) -> Response:
    return await _show_form(request, api, "signup", next)


@router.post("/signup", dependencies=[Depends(csrf.verify)])
async def signup(request: Request, api: Api = Depends(get_api)) -> Response:
    return await _submit(request, api, "signup")


@router.get("/signin", response_class=HTMLResponse)
async def signin_page(
    request: Request, next: str | None = None, api: Api = Depends(get_api)
) -> Response:
    return await _show_form(request, api, "signin", next)


@router.post("/signin", dependencies=[Depends(csrf.verify)])
async def signin(request: Request, api: Api = Depends(get_api)) -> Response:
    return await _submit(request, api, "signin")


@router.get("/signout", response_class=HTMLResponse)
async def signout_page(request: Request, api: Api = Depends(get_api)) -> Response:
    """A confirmation page: signing out is a POST, so no other site can sign a visitor out."""
    user = await api.current_user()
    if not user:
        return redirect("/")
    return render(request, "auth/signout.html", user=user)


@router.post("/signout", dependencies=[Depends(csrf.verify)])
async def signout(request: Request, api: Api = Depends(get_api)) -> Response:
    try:
        result = await api.post("/api/users/signout")
    except ApiUnavailable:  # still sign the browser out: drop the cookie ourselves
        response = redirect("/")
        response.delete_cookie(
            COOKIE_NAME, path="/", httponly=True, samesite="lax", secure=csrf.is_https(request)
        )
        return response
    return redirect("/", result)
