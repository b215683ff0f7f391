"""Accounts as the CLI, the REST API and the profile page change them: users with a
password, and a user's API tokens. Each change is noted in the audit trail."""
from __future__ import annotations

from typing import Optional

from sqlalchemy.orm import Session

from auth.secrets import hash_password, new_token
from db.models import ApiToken, User
from db.users import add_token, add_user, check_role, record, revoke_token, user_named
from errors import DomainError


def create_user(session: Session, actor: str, name: str, role: str,
                password: Optional[str]) -> User:
    """A new user; without a password they can log in only through a reverse proxy."""
    password_hash = hash_password(password) if password is not None else None
    user = add_user(session, name, role, password_hash)
    record(session, actor, "user add", f"{user.name} as {user.role}")
    return user


def update_user(session: Session, actor: str, name: str, role: Optional[str] = None,
                password: Optional[str] = None, disabled: Optional[bool] = None) -> User:
    user = user_named(session, name)
    if user is None:
        raise DomainError(f"there is no user '{name}'", "name", status=404)
    changes = []
    if role is not None:
        user.role = check_role(role)
        changes.append(f"role {role}")
    if password is not None:
        user.password_hash = hash_password(password)  # ends the user's sessions
        changes.append("password")
    if disabled is not None:
        user.disabled = disabled
        changes.append("disabled" if disabled else "enabled")
    record(session, actor, "user change", f"{name}: {', '.join(changes) or 'nothing'}")
    return user


def create_token(session: Session, user_id: int, name: str) -> tuple[ApiToken, str]:
    """(the stored token, its secret: shown once, never stored)."""
    user = session.get(User, user_id)
    if user is None:
        raise DomainError("API tokens belong to accounts; this app has none", status=409)
    secret, digest = new_token()
    token = add_token(session, user, name, digest)
    record(session, user.name, "token add", token.name)
    return token, secret


def remove_token(session: Session, user_id: int, token_id: int) -> ApiToken:
    token = revoke_token(session, user_id, token_id)
    user = session.get(User, user_id)
    record(session, user.name if user else "?", "token revoke", token.name)
    return token
