"""The API's error answers: every 4xx (and 5xx) is ``{"error": ..., "field": ...}``.

``domain_error_answer`` is the one place where the domain error (``errors.DomainError``)
becomes a JSON answer; pydantic's validation errors become the same shape with status 422.
"""
from __future__ import annotations

import json
from typing import Any, Optional

from flask import Response, jsonify
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from api.models import UNION_TAGS, ErrorOut
from errors import DomainError


def error_response(status: int, message: str, field: Optional[str] = None,
                   details: Optional[list[dict]] = None) -> Response:
    body = ErrorOut(error=message, field=field, details=details)
    response = jsonify(body.model_dump(exclude={"details"} if details is None else set()))
    response.status_code = status
    return response


def responses(success: int, model, *errors: int) -> dict:
    """A route's documented answers: ``model`` on success, the error shape on ``errors``."""
    return {success: model, **{status: ErrorOut for status in (*errors, 422)}}


def domain_error_answer(error: DomainError) -> Response:
    return error_response(error.status, str(error), error.field)


def conflict_answer(_error: IntegrityError) -> Response:
    return error_response(409, "the request conflicts with a change made at the same time; "
                               "reload and try again")


# PostgreSQL's deadlock and serialization failures: the same request may succeed if sent again.
RETRYABLE_SQLSTATES = ("40P01", "40001")


def busy_database_answer(error: OperationalError) -> Response:
    """A write that lost a race for a lock (label writes take turns, see
    ``db.store.lock_labels``, so this is rare) is a 409 to retry, not a 500."""
    if getattr(error.orig, "sqlstate", None) not in RETRYABLE_SQLSTATES \
            and "database is locked" not in str(error.orig):
        raise error
    return error_response(409, "the database was busy with a change made at the same time, "
                               "so nothing was changed; send the request again")


def http_error_answer(error: HTTPException) -> Response:
    return error_response(error.code or 500, error.description or error.name)


def validation_error_response(error: ValidationError) -> Response:
    """pydantic's errors as ``{"error", "field", "details"}`` with status 422."""
    problems = [_describe(e) for e in error.errors(include_url=False)]
    details = [{"field": f, "error": m} for f, m in problems] if len(problems) > 1 else None
    return error_response(422, problems[0][1], problems[0][0], details)


def _field_path(error: dict) -> str:
    parts: list[str] = []
    for part in error["loc"]:
        if parts and part in UNION_TAGS.get(parts[-1], ()):
            continue  # the union member's tag, not a field of the payload
        parts.append(str(part))
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        parts.append(error["ctx"]["discriminator"].strip("'"))
    return ".".join(parts) or "body"


def _shown_input(field: str, value: Any) -> str:
    """The offending value, when it is short and harmless to echo (never an API key)."""
    if field.endswith("api_key") or isinstance(value, (dict, list)):
        return ""
    if isinstance(value, str) and len(value) > 80:
        return ""
    return f" (got {json.dumps(value, default=str)})"


def _describe(error: dict) -> tuple[str, str]:
    field = _field_path(error)
    kind = error["type"]
    if kind == "missing":
        return field, f"{field} is required; add it"
    if kind == "extra_forbidden":
        return field, f"{field} is not a field of this request; remove it or check its spelling"
    if kind == "model_type" and field == "body":
        return field, "the request body must be a JSON object"
    if kind == "union_tag_invalid":
        return field, (f"{field} '{error['ctx']['tag']}' is unknown; use one of "
                       f"{error['ctx']['expected_tags']}")
    if kind == "union_tag_not_found":
        tags = sorted(UNION_TAGS.get(str(error["loc"][-1]), ()))
        return field, f"{field} is required; use one of {', '.join(tags)}"
    return field, f"{field}: {error['msg']}{_shown_input(field, error.get('input'))}"
