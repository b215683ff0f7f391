"""Who the current request is: the local user (no accounts), the user of the session
cookie or of an API token, or the user a reverse proxy names in a header."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from flask import g, request, session

from auth.secrets import session_stamp, token_digest
from db.models import User
from db.session import transaction
from db.users import ROLES, user_named, user_of_token
from errors import DomainError
from services import Services, current_services

SESSION_COOKIE = "beamlabel_session"  # the login cookie
SESSION_USER = "user_id"
SESSION_STAMP = "stamp"


@dataclass(frozen=True)
class Identity:
    name: str
    role: str
    user_id: Optional[int] = None  # None: the local app's user, who has no account

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def _local_user(settings) -> Identity:
    """The one user of an app without accounts: the configured tagger, as admin."""
    return Identity(settings.tagger, "admin")


def identify(services: Services) -> Optional[Identity]:
    """The identity of the request being answered; None when it is nobody's."""
    settings = services.settings
    if settings.auth == "none":
        return _local_user(settings)
    with transaction(services.session_factory) as db:
        user = _request_user(db, settings)
        return None if user is None else Identity(user.name, user.role, user.id)


def _request_user(db, settings) -> Optional[User]:
    if settings.auth == "proxy":
        name = request.headers.get(settings.proxy_user_header, "").strip()
        user = user_named(db, name) if name else None
        return user if user is not None and not user.disabled else None
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return user_of_token(db, token_digest(header[len("Bearer "):].strip()))
    user_id = session.get(SESSION_USER)
    user = db.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or user.disabled or \
            session.get(SESSION_STAMP) != session_stamp(user.password_hash):
        return None
    return user


def current_identity() -> Identity:
    """The identity the guard found for this request (a local admin outside requests, as
    in a script that builds the app)."""
    identity = g.get("identity") if g else None
    if identity is None:
        settings = current_services().settings
        if settings.auth != "none":
            raise DomainError("log in first", status=401)
        return _local_user(settings)
    return identity


def acting_name(named: Optional[str]) -> str:
    """Who a request labels or owns a job as. The local app: the name it gives (else the
    configured tagger). With accounts: the logged-in user, and naming anyone else is
    refused."""
    if current_services().settings.auth == "none":
        return named or current_services().settings.tagger
    named = (named or "").strip()
    identity = current_identity()
    if named and named != identity.name:
        raise DomainError(f"on this server you act as yourself ('{identity.name}'); leave the "
                          f"name out or give your own", "tagger", status=403)
    return identity.name


def require_own(owner: str, what: str) -> None:
    """Refuse acting on ``what`` that someone else owns, unless an admin asks."""
    identity = current_identity()
    if owner != identity.name and not identity.may("admin"):
        raise DomainError(f"{what} is {owner}'s; only they or an admin may change it",
                          status=403)
