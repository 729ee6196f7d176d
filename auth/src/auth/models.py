from typing import Annotated

from beanie import Document, Indexed


class User(Document):
    email: Annotated[str, Indexed(unique=True)]
    password: str
    """An argon2 hash (salted, slow); never the password itself."""

    class Settings:
        name = "users"

    def to_json(self) -> dict[str, str]:
        return {"id": str(self.id), "email": self.email}
