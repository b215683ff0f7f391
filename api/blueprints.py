"""The blueprints of the API: one per resource group, nested in one root under ``PREFIX``.

The root holds what every route shares: the check that a body is JSON (or the media type
the route takes), the error answers, and a JSON 404/405 for paths no route matches.
"""
from __future__ import annotations

from typing import Optional

from flask import current_app, request
from flask_openapi3 import APIBlueprint
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from api.error_answers import (busy_database_answer, conflict_answer, domain_error_answer,
                               error_response, http_error_answer)
from api.input_checks import BadValue, nul_problem, parse_json
from api.models import ErrorOut
from auth.identity import SESSION_COOKIE, acting_name
from errors import DomainError
from ml.classifier import MAX_WEIGHTS_BYTES

PREFIX = "/api/v1"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Routes whose request body is not JSON: endpoint -> the media type they take.
TEXT_BODIES = {"api.transfer.import_labels": "text/csv"}
# Routes whose request body is a file the route reads and checks itself: endpoint ->
# (media type, most bytes; above the server's max_request_mb).
FILE_BODIES = {"api.library.import_model": ("application/octet-stream", MAX_WEIGHTS_BYTES)}
# How a request says who it is (auth.identity), for the OpenAPI document; the local app
# (BEAMLABEL_AUTH=none) needs neither, hence the empty requirement.
SECURITY_SCHEMES = {
    "bearerToken": {"type": "http", "scheme": "bearer",
                    "description": "an API token made on the profile page"},
    "sessionCookie": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                      "description": "the login cookie of the browser"},
}
SECURITY = [{"bearerToken": []}, {"sessionCookie": []}, {}]
# What auth.guard may answer before any route runs: an unknown host name (400), no login
# (401), not the role or another site's write (403), a body too large (413) or of a type
# another site could send (415).
GUARD_ANSWERS = {status: ErrorOut for status in (400, 401, 403, 413, 415)}


def _operation_id(*, name: str, **_ignored) -> str:
    return name  # the view function's name: short, unique, stable for generated clients


def tagger_of(named: Optional[str]) -> str:
    """Who a request labels or owns a job as (``auth.identity.acting_name``)."""
    return acting_name(named)


def resource_blueprint(name: str) -> APIBlueprint:
    """The blueprint of one resource group; its routes take their paths below ``PREFIX``."""
    return APIBlueprint(name, __name__, operation_id_callback=_operation_id,
                        abp_security=SECURITY, abp_responses=GUARD_ANSWERS)


def api_blueprint(*groups: APIBlueprint) -> APIBlueprint:
    """A new root blueprint under ``PREFIX`` holding ``groups`` (one per server: Flask
    refuses changes to a blueprint once it is registered)."""
    root = APIBlueprint("api", __name__, url_prefix=PREFIX)
    root.register_error_handler(DomainError, domain_error_answer)
    root.register_error_handler(IntegrityError, conflict_answer)
    root.register_error_handler(OperationalError, busy_database_answer)
    root.register_error_handler(HTTPException, http_error_answer)
    root.before_request(_check_values)
    root.add_url_rule("/<path:unknown>", view_func=_no_route, methods=METHODS)
    for group in groups:
        root.register_api(group)
    return root


def _check_values():
    """Refuse a body that is not JSON before pydantic sees it (it would read it as empty),
    and NUL characters or NaN anywhere in the request (``api.input_checks``)."""
    values = [*request.args.items(multi=True), *(request.view_args or {}).items()]
    body = None
    if request.endpoint in FILE_BODIES:
        media_type = FILE_BODIES[request.endpoint][0]
        if request.content_length and request.mimetype != media_type:
            return error_response(415, f"send the file as the request body, with the header "
                                       f"'Content-Type: {media_type}'", "body")
        data = b""  # the route streams it
    else:
        data = request.get_data(cache=True)
    if data.strip():
        if (media_type := TEXT_BODIES.get(request.endpoint)) is not None:
            if request.mimetype != media_type:
                return error_response(415, f"send the request body as {media_type}, with the "
                                           f"header 'Content-Type: {media_type}'", "body")
            body = data.decode("utf-8", errors="replace")
        elif not request.is_json:
            return error_response(415, "send the request body as JSON with the header "
                                       "'Content-Type: application/json'", "body")
        else:
            try:
                body = parse_json(data)
            except BadValue as error:
                return error_response(422, str(error), error.field)
            except ValueError as error:
                return error_response(400, f"the request body is not valid JSON ({error}); "
                                           "send a JSON object", "body")
    problem = nul_problem(values, body)
    if problem is not None:
        return error_response(422, str(problem), problem.field)
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
