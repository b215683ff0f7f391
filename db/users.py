"""The accounts of a shared server: users with a role, their API tokens (stored as digests)
and the audit trail of what they did besides labeling."""
from __future__ import annotations

from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.models import ApiToken, AuditEntry, User, as_utc, utcnow
from errors import DomainError

# Each role may do what the roles before it may, and more.
ROLES = ("viewer", "labeler", "trainer", "admin")
MAX_NAME = 100
TOKEN_USE_RESOLUTION_SECONDS = 60


def check_role(role: str) -> str:
    if role not in ROLES:
        raise DomainError(f"role '{role}' does not exist; choose one of {', '.join(ROLES)}",
                          "role")
    return role


def check_user_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME or any(not c.isprintable() for c in name):
        raise DomainError(f"a user name is 1 to {MAX_NAME} printable characters", "name")
    return name


def user_named(session: Session, name: str) -> Optional[User]:
    return session.scalar(select(User).where(User.name == name))


def add_user(session: Session, name: str, role: str, password_hash: Optional[str]) -> User:
    name, role = check_user_name(name), check_role(role)
    if user_named(session, name) is not None:
        raise DomainError(f"user '{name}' exists already", "name", status=409)
    user = User(name=name, role=role, password_hash=password_hash, disabled=False)
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.name)))


def add_token(session: Session, user: User, name: str, digest: str) -> ApiToken:
    name = (name or "").strip()[:MAX_NAME] or "token"
    token = ApiToken(user_id=user.id, name=name, digest=digest)
    session.add(token)
    session.flush()
    return token


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    return list(session.scalars(select(ApiToken).where(
        ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)))


def revoke_token(session: Session, user_id: int, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user_id or token.revoked_at is not None:
        raise DomainError(f"you have no token {token_id}", "token_id", status=404)
    token.revoked_at = utcnow()
    return token


def user_of_token(session: Session, digest: str) -> Optional[User]:
    """The enabled user whose unrevoked token has ``digest``; notes the token's use."""
    token = session.scalar(select(ApiToken).where(ApiToken.digest == digest,
                                                  ApiToken.revoked_at.is_(None)))
    if token is None:
        return None
    user = session.get(User, token.user_id)
    if user is None or user.disabled:
        return None
    now = utcnow()
    last = as_utc(token.last_used_at)
    if last is None or (now - last).total_seconds() > TOKEN_USE_RESOLUTION_SECONDS:
        token.last_used_at = now  # not on every call: a script's burst writes once
    return user


def record(session: Session, actor: str, action: str, target: str = "",
           outcome: str = "ok") -> None:
    session.add(AuditEntry(actor=actor[:MAX_NAME], action=action[:MAX_NAME], target=target,
                           outcome=outcome[:20]))


def audit_trail(session: Session, limit: int = 100) -> list[AuditEntry]:
    return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))
