"""What the auth service's routes are given, built once at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from auth.service import AuthService
from auth.settings import AuthSettings
from common.service import Infrastructure, dependencies_of


@dataclass
class AuthDependencies:
    auth: AuthService
    cookie_secure: bool
    """Mark the session cookie `Secure` (off only for plain-http local runs and tests)."""


@asynccontextmanager
async def auth_dependencies(
    settings: AuthSettings, infrastructure: Infrastructure
) -> AsyncIterator[AuthDependencies]:
    if infrastructure.sessions is None:
        raise RuntimeError("auth issues sessions: it needs JWT_KEY")
    yield AuthDependencies(AuthService(infrastructure.sessions), settings.COOKIE_SECURE)


async def get_auth_dependencies(request: Request) -> AuthDependencies:
    return dependencies_of(request, AuthDependencies)


AuthDep = Annotated[AuthDependencies, Depends(get_auth_dependencies)]
