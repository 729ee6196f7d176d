"""The API's shapes: request bodies (anything but a plain string, e.g. `{"$ne": null}`, is a
400) and responses."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, field_validator

from auth.models import User
from common.responses import ResponseModel
from common.session import UserPayload


class Credentials(BaseModel):
    model_config = ConfigDict(extra="ignore")

    email: str
    password: str

    @field_validator("email", mode="before")
    @classmethod
    def valid_email(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError("Email must be valid")
        try:
            return validate_email(value.strip(), check_deliverability=False).normalized
        except EmailNotValidError:
            raise ValueError("Email must be valid") from None


class SignupBody(Credentials):
    @field_validator("password", mode="before")
    @classmethod
    def password_length(cls, value: Any) -> str:
        if not isinstance(value, str) or not 4 <= len(value.strip()) <= 20:
            raise ValueError("Password must be between 4 and 20 characters")
        return value.strip()


class SigninBody(Credentials):
    @field_validator("password", mode="before")
    @classmethod
    def password_present(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("You must supply a password")
        return value.strip()


class UserResponse(ResponseModel):
    """The user signed up or in: `{id, email}`."""

    id: str
    email: str

    @classmethod
    def of(cls, user: User) -> UserResponse:
        return cls(id=str(user.id), email=user.email)


class CurrentUserResponse(ResponseModel):
    """`{"currentUser": {id, email, iat}}`, or `{"currentUser": null}` without a valid
    session."""

    current_user: UserPayload | None


class SignedOut(ResponseModel):
    """`{}`."""
