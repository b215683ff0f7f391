"""The blueprints of the API: one per resource group, nested in one root under ``PREFIX``.

The root holds what every route shares: the check that a body is JSON (or the media type
the route takes), the error answers, and a JSON 404/405 for paths no route matches.
"""
from __future__ import annotations

import json
from typing import Optional

from flask import current_app, request
from flask_openapi3 import APIBlueprint
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from api.error_answers import (conflict_answer, domain_error_answer, error_response,
                               http_error_answer)
from auth.identity import acting_name
from errors import DomainError

PREFIX = "/api/v1"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Routes whose request body is not JSON: endpoint -> the media type they take.
TEXT_BODIES = {"api.transfer.import_labels": "text/csv"}


def _operation_id(*, name: str, **_ignored) -> str:
    return name  # the view function's name: short, unique, stable for generated clients


def tagger_of(named: Optional[str]) -> str:
    """Who a request labels or owns a job as (``auth.identity.acting_name``)."""
    return acting_name(named)


def resource_blueprint(name: str) -> APIBlueprint:
    """The blueprint of one resource group; its routes take their paths below ``PREFIX``."""
    return APIBlueprint(name, __name__, operation_id_callback=_operation_id)


def api_blueprint(*groups: APIBlueprint) -> APIBlueprint:
    """A new root blueprint under ``PREFIX`` holding ``groups`` (one per server: Flask
    refuses changes to a blueprint once it is registered)."""
    root = APIBlueprint("api", __name__, url_prefix=PREFIX)
    root.register_error_handler(DomainError, domain_error_answer)
    root.register_error_handler(IntegrityError, conflict_answer)
    root.register_error_handler(HTTPException, http_error_answer)
    root.before_request(_require_json_body)
    root.add_url_rule("/<path:unknown>", view_func=_no_route, methods=METHODS)
    for group in groups:
        root.register_api(group)
    return root


def _require_json_body():
    """Refuse a body that is not JSON before pydantic sees it (it would read it as empty)."""
    data = request.get_data(cache=True)
    if not data.strip():
        return None
    if (media_type := TEXT_BODIES.get(request.endpoint)) is not None:
        if request.mimetype == media_type:
            return None
        return error_response(415, f"send the request body as {media_type}, with the header "
                                   f"'Content-Type: {media_type}'", "body")
    if not request.is_json:
        return error_response(415, "send the request body as JSON with the header "
                                   "'Content-Type: application/json'", "body")
    try:
        json.loads(data)
    except ValueError as error:
        return error_response(400, f"the request body is not valid JSON ({error}); send a JSON "
                                   "object", "body")
    return None


def _no_route(unknown: str):
    # Without this, the Dash app's catch-all page route would answer with HTML.
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in METHODS:
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != request.endpoint:
            allowed.append(method)
    if allowed:
        response = error_response(405, f"{request.method} is not allowed on {request.path}; "
                                       f"use {' or '.join(allowed)}")
        response.headers["Allow"] = ", ".join(allowed)
        return response
    return error_response(404, f"there is no API route {request.method} {request.path}; "
                               f"the routes are listed in {PREFIX}/openapi.json")
