"""Request and response shapes of the accounts routes: who am I, my API tokens, users
and the audit trail (admins)."""
from __future__ import annotations

from datetime import datetime
from typing import Literal, Optional

from pydantic import BaseModel, Field

from api.models import Body, Out, RowId
from db.users import ROLES

Role = Literal[ROLES]  # the same choices, in the OpenAPI document


class MeOut(BaseModel):
    name: str
    role: Role
    accounts: bool = Field(description="false on the local app, where everyone is its user")


class TokenIn(Body):
    name: str = Field(min_length=1, max_length=100, description="what the token is for")


class TokenOut(Out):
    id: int
    name: str
    created_at: datetime
    last_used_at: Optional[datetime] = None


class NewTokenOut(TokenOut):
    token: str = Field(description="the secret: shown this once; send it as "
                                   "'Authorization: Bearer <token>'")


class TokenListOut(BaseModel):
    tokens: list[TokenOut]


class TokenPath(BaseModel):
    token_id: RowId


class UserIn(Body):
    name: str = Field(min_length=1, max_length=100)
    role: Role
    password: Optional[str] = Field(None, description="none: log in only through a proxy")


class UserPatchIn(Body):
    role: Optional[Role] = None
    password: Optional[str] = None
    disabled: Optional[bool] = None


class UserPath(BaseModel):
    name: str = Field(max_length=100)


class UserOut(Out):
    name: str
    role: Role
    disabled: bool
    created_at: datetime


class UserListOut(BaseModel):
    users: list[UserOut]


class AuditQuery(BaseModel):
    limit: int = Field(100, ge=1, le=1000)


class AuditEntryOut(Out):
    at: datetime
    actor: str
    action: str
    target: str
    outcome: str


class AuditOut(BaseModel):
    entries: list[AuditEntryOut]
