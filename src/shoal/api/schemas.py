"""Request and response bodies of the JSON API: one schema per use, never ORM rows."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

MAX_ID = 2**53


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class UserCreate(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str | None = Field(default=None, max_length=256)
    display_name: str = Field(default="", max_length=128)
    is_admin: bool = False


class UserPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    display_name: str
    is_admin: bool
    is_active: bool
    created_at: datetime


class PasswordReset(BaseModel):
    password: str = Field(min_length=1, max_length=256, description="The new password (at least 8 characters)")


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256, description="At least 8 characters")


class LanguageChoice(BaseModel):
    language: str = Field(min_length=1, max_length=8, description="zh-CN or en")


class AccountPublic(BaseModel):
    """The signed-in user's own account: what they may change themselves."""

    username: str
    display_name: str
    is_admin: bool
    language: str | None = Field(description="The UI language chosen, or null to follow the browser")


class Me(BaseModel):
    username: str
    is_admin: bool
    roles: dict[str, str]
    csrf_token: str | None = None


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenLogin(LoginBody):
    name: str = Field(default="cli", max_length=128)
    expires: str = Field(default="30d", max_length=16)


class TokenCreate(BaseModel):
    name: str = Field(default="", max_length=128)
    expires: str = Field(default="90d", max_length=16, description="12h, 30d, 2w, 1y or never")
    username: str | None = Field(default=None, max_length=64, description="Admins only: mint for another user")


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="Shown once; only its hash is stored.")
    username: str


class ProjectCreate(BaseModel):
    code: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=1000)


class MemberPublic(BaseModel):
    username: str
    role: str


class ProjectPublic(BaseModel):
    code: str
    name: str
    description: str
    enabled: bool
    business_id: int | None
    business_name: str
    enabled_by: str
    enabled_at: datetime | None
    created_by: str
    created_at: datetime
    managers: list[str]
    my_role: str | None = None


class EnableBody(BaseModel):
    business_id: int = Field(ge=1, lt=MAX_ID)


class MemberAdd(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    role: str = Field(min_length=1, max_length=16)


class BusinessCreate(BaseModel):
    id: int = Field(ge=1, lt=MAX_ID)
    name: str = Field(min_length=1, max_length=128)
    maintainers: list[str] = Field(default_factory=list, max_length=100)


class MaintainersUpdate(BaseModel):
    maintainers: list[str] = Field(max_length=100, description="Usernames; replaces the whole list")


class BusinessPublic(BaseModel):
    id: int
    name: str
    maintainers: list[str]


class BusinessChoices(BaseModel):
    items: list[BusinessPublic]
    directory: str
    is_admin: bool


class RequestCreate(BaseModel):
    kind: str = Field(min_length=1, max_length=16, description="business or project_role")
    reason: str = Field(min_length=1, max_length=1000)
    project_code: str | None = Field(default=None, max_length=32)
    business_id: int | None = Field(default=None, ge=1, lt=MAX_ID)
    role: str | None = Field(default=None, max_length=16)


class RequestPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    requester: str
    kind: str
    project_code: str | None
    business_id: int | None
    role: str | None
    reason: str
    status: str
    decided_by: str
    decided_at: datetime | None
    decision_note: str
    created_at: datetime


class Decision(BaseModel):
    note: str = Field(default="", max_length=1000)


class AuditPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    time: datetime
    username: str
    action: str
    target_type: str
    target_id: str
    project_code: str | None
    outcome: str
    source: str
    detail: dict[str, object]
