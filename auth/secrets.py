"""Password hashes and API tokens: werkzeug's scrypt hashes for passwords, random tokens
of which only a SHA-256 digest is kept (a token has 256 random bits: a slow hash adds
nothing, and a fast one keeps every REST call quick)."""
from __future__ import annotations

import hashlib
import secrets

from werkzeug.security import check_password_hash, generate_password_hash

from errors import DomainError

MIN_PASSWORD = 10
MAX_PASSWORD = 1000  # scrypt of a huge password is a cheap way to load the server
TOKEN_PREFIX = "blt_"


def hash_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password or "") <= MAX_PASSWORD:
        raise DomainError(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters long",
                          "password")
    return generate_password_hash(password, method="scrypt")


def password_matches(password_hash: str | None, password: str) -> bool:
    if not password_hash or not password or len(password) > MAX_PASSWORD:
        return False
    return check_password_hash(password_hash, password)


def new_token() -> tuple[str, str]:
    """(the token to show once, the digest to store)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def session_stamp(password_hash: str | None) -> str:
    """A short fingerprint of the password hash kept in the session cookie: changing the
    password (or removing it) ends every session made before."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)
