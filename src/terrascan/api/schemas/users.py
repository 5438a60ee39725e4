"""Users, sign-in and tokens."""

from __future__ import annotations

import uuid
from typing import Literal, Self

from pydantic import ConfigDict, Field, model_validator

from terrascan.api.schemas.common import (
    Email,
    NewPassword,
    Password,
    PersonName,
    PublicModel,
    RequestBody,
    Secret,
    Timestamp,
)
from terrascan.catalog.models import Role


class UserBase(RequestBody):
    name: PersonName = ""


class UserCreate(UserBase):
    """Registration: the account's email, password and display name."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"email": "ada@example.org", "password": "correct horse battery", "name": "Ada"}
            ]
        }
    )

    email: Email
    password: NewPassword


class UserUpdate(RequestBody):
    """Change the display name and/or the password (the current one is then required)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Ada Lovelace"}]})

    name: PersonName | None = None
    password: NewPassword | None = None
    current_password: Password | None = None

    @model_validator(mode="after")
    def _current_password_with_new(self) -> Self:
        if self.password is not None and self.current_password is None:
            raise ValueError("current_password is required to set a new password")
        return self


class MembershipPublic(PublicModel):
    org_id: uuid.UUID
    name: str
    slug: str
    is_personal: bool
    role: Role


class UserPublic(PublicModel):
    id: uuid.UUID
    email: str
    name: str
    created_at: Timestamp


class UserMe(UserPublic):
    memberships: list[MembershipPublic] = Field(default_factory=list)


class LoginRequest(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "ada@example.org", "password": "correct horse battery"}]
        }
    )

    email: Email
    password: Password


class RefreshRequest(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"refresh_token": "opaque"}]})

    refresh_token: Secret


class TokenPair(PublicModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    #: Seconds until the access token expires.
    expires_in: int
