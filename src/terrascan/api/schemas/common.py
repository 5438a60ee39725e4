"""Pieces shared by the API schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from terrascan.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, validate_email


class RequestBody(BaseModel):
    """Base of every request body: unknown fields are refused (422)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class PublicModel(BaseModel):
    """Base of every response body, built from ORM rows or dataclasses."""

    model_config = ConfigDict(from_attributes=True)


def _email(value: str) -> str:
    return validate_email(value)


Email = Annotated[
    str,
    StringConstraints(min_length=3, max_length=320),
    AfterValidator(_email),
    Field(examples=["ada@example.org"]),
]
#: A new password: length-checked here, so a megabyte never reaches the hasher.
NewPassword = Annotated[
    str,
    Field(
        min_length=MIN_PASSWORD_LENGTH,
        max_length=MAX_PASSWORD_LENGTH,
        examples=["correct horse battery staple"],
    ),
]
#: A password being checked: any non-empty string up to the cap.
Password = Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
#: An opaque bearer secret (refresh or invitation token).
Secret = Annotated[str, Field(min_length=1, max_length=1024)]


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC, so say so."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


#: A timestamp in responses, always with its UTC offset.
Timestamp = Annotated[datetime, AfterValidator(_utc)]
