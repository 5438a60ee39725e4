"""Organisations, members, invitations, audit entries and usage."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ConfigDict

from terrascan.api.schemas.common import Email, Name, PublicModel, RequestBody, Secret, Timestamp
from terrascan.catalog.models import Role


class OrgBase(RequestBody):
    name: Name


class OrgCreate(OrgBase):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Forest watch"}]})


class OrgUpdate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Forest watch EU"}]})

    name: Name | None = None


class OrgPublic(PublicModel):
    id: uuid.UUID
    name: str
    slug: str
    is_personal: bool
    plan: str
    created_at: Timestamp
    #: The caller's role in this organisation.
    role: Role


class MemberUpdate(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"role": "analyst"}]})

    role: Role


class MemberPublic(PublicModel):
    user_id: uuid.UUID
    email: str
    name: str
    role: Role
    joined_at: Timestamp


class InvitationCreate(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"email": "grace@example.org", "role": "analyst"}]}
    )

    email: Email
    role: Role = Role.VIEWER


class InvitationAccept(RequestBody):
    model_config = ConfigDict(json_schema_extra={"examples": [{"token": "opaque"}]})

    token: Secret


class InvitationPublic(PublicModel):
    id: uuid.UUID
    org_id: uuid.UUID
    email: str
    role: Role
    invited_by: uuid.UUID | None
    created_at: Timestamp
    expires_at: Timestamp
    accepted_at: Timestamp | None
    revoked_at: Timestamp | None


class AuditEntryPublic(PublicModel):
    id: uuid.UUID
    created_at: Timestamp
    action: str
    actor_id: uuid.UUID | None
    target_type: str | None
    target_id: str | None
    ip: str | None
    details: dict[str, Any]


class UsagePublic(PublicModel):
    period: str
    metric: str
    quantity: float
