"""Accounts over REST: who the caller is, their API tokens, and (admins) the users and
the audit trail. Tokens and users exist only where the server has accounts."""
from __future__ import annotations

from flask_openapi3 import Tag

from api.blueprints import resource_blueprint
from api.error_answers import responses
from api.models_accounts import (AuditEntryOut, AuditOut, AuditQuery, MeOut, NewTokenOut,
                                 TokenIn, TokenListOut, TokenOut, TokenPath, UserIn,
                                 UserListOut, UserOut, UserPatchIn, UserPath)
from auth import accounts
from auth.identity import current_identity
from db.session import transaction
from db.users import audit_trail, list_users, tokens_of
from errors import DomainError
from services import current_services

ACCOUNTS = Tag(name="accounts", description="who you are, your API tokens; users and the "
                                            "audit trail for admins")
blueprint = resource_blueprint("accounts")


def _own_user_id() -> int:
    identity = current_identity()
    if identity.user_id is None:
        raise DomainError("this app has no accounts (BEAMLABEL_AUTH=none): nothing needs a "
                          "token", status=409)
    return identity.user_id


@blueprint.get("/me", tags=[ACCOUNTS], summary="Who you are and your role",
               responses=responses(200, MeOut, 401))
def me():
    identity = current_identity()
    return MeOut(name=identity.name, role=identity.role,
                 accounts=identity.user_id is not None).model_dump(mode="json")


@blueprint.get("/me/tokens", tags=[ACCOUNTS], summary="Your API tokens (not their secrets)",
               responses=responses(200, TokenListOut, 401, 409))
def list_tokens():
    with current_services().session_factory() as session:
        tokens = tokens_of(session, _own_user_id())
        return TokenListOut(tokens=[TokenOut.model_validate(t, from_attributes=True)
                                    for t in tokens]).model_dump(mode="json")


@blueprint.post("/me/tokens", tags=[ACCOUNTS], summary="A new API token; its secret is in "
                                                       "this answer only",
                responses=responses(201, NewTokenOut, 401, 409, 415))
def create_token(body: TokenIn):
    with transaction(current_services().session_factory) as session:
        token, secret = accounts.create_token(session, _own_user_id(), body.name)
        answer = NewTokenOut(id=token.id, name=token.name, created_at=token.created_at,
                             token=secret)
    return answer.model_dump(mode="json"), 201


@blueprint.delete("/me/tokens/<int:token_id>", tags=[ACCOUNTS], summary="Revoke a token",
                  responses=responses(200, TokenOut, 401, 404, 409))
def revoke_token(path: TokenPath):
    with transaction(current_services().session_factory) as session:
        token = accounts.remove_token(session, _own_user_id(), path.token_id)
        return TokenOut.model_validate(token, from_attributes=True).model_dump(mode="json")


@blueprint.get("/users", tags=[ACCOUNTS], summary="Every user (admins)",
               responses=responses(200, UserListOut, 401, 403))
def get_users():
    with current_services().session_factory() as session:
        users = [UserOut.model_validate(u, from_attributes=True) for u in list_users(session)]
    return UserListOut(users=users).model_dump(mode="json")


@blueprint.post("/users", tags=[ACCOUNTS], summary="Add a user (admins)",
                responses=responses(201, UserOut, 401, 403, 409, 415))
def create_user(body: UserIn):
    with transaction(current_services().session_factory) as session:
        user = accounts.create_user(session, current_identity().name, body.name, body.role,
                                    body.password)
        return UserOut.model_validate(user, from_attributes=True).model_dump(mode="json"), 201


@blueprint.patch("/users/<name>", tags=[ACCOUNTS],
                 summary="Change a user's role or password, or disable them (admins)",
                 responses=responses(200, UserOut, 401, 403, 404, 415))
def update_user(path: UserPath, body: UserPatchIn):
    with transaction(current_services().session_factory) as session:
        user = accounts.update_user(session, current_identity().name, path.name, body.role,
                                    body.password, body.disabled)
        return UserOut.model_validate(user, from_attributes=True).model_dump(mode="json")


@blueprint.get("/audit", tags=[ACCOUNTS], summary="The audit trail, newest first (admins)",
               responses=responses(200, AuditOut, 401, 403))
def audit(query: AuditQuery):
    with current_services().session_factory() as session:
        entries = [AuditEntryOut.model_validate(e, from_attributes=True)
                   for e in audit_trail(session, query.limit)]
    return AuditOut(entries=entries).model_dump(mode="json")
