"""The one check every request passes before its route or Dash callback runs, and the
headers every answer carries.

In order: the Host must be one the server answers to (DNS rebinding); a write must come
from this origin (Origin, else Referer) and carry a body type a page on another origin
cannot send without asking first (JSON, the CSV import, a model file), unless it is a
form that proves its origin with the session's CSRF token; then the request must be
somebody's, with the role ``auth.policy`` gives the route or callback. A model file
upload has its own size limit (``api.blueprints.FILE_BODIES``), the rest max_request_mb.
"""
from __future__ import annotations

import inspect
import json
from typing import Optional
from urllib.parse import urlencode, urlsplit

from dash._callback import GLOBAL_CALLBACK_MAP
from flask import Flask, Response, current_app, g, jsonify, redirect, request, session

from api.blueprints import FILE_BODIES, TEXT_BODIES
from auth.identity import SESSION_COOKIE, Identity, identify
from auth.policy import (PUBLIC_PATHS, READ_METHODS, callback_name, callback_role,
                         route_role)
from auth.secrets import new_csrf_token
from db.session import transaction
from db.users import record
from services import current_services

DASH_EXTENSION = "beamlabel_dash"
CALLBACK_PATH = "/_dash-update-component"
# Routes taking a form body, which prove their origin with the session's CSRF token.
FORM_ROUTES = ("auth.login", "auth.logout")
CSRF_FIELD = "csrf_token"
# Content types a page on another origin may send without a preflight (the CORS
# "simple" ones): a write arriving with one of these could be forged.
SIMPLE_CONTENT_TYPES = ("", "application/x-www-form-urlencoded", "multipart/form-data",
                        "text/plain")
AUDITED_ROLES = ("trainer", "admin")
SELF_AUDITED = ("api.accounts.", "callbacks.profile.")  # auth.accounts notes these itself
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def install(server: Flask) -> None:
    settings = server.extensions["beamlabel"].settings
    server.config.update(MAX_CONTENT_LENGTH=int(settings.max_request_mb * 2**20),
                         SESSION_COOKIE_NAME=SESSION_COOKIE,
                         SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                         SESSION_COOKIE_SECURE=settings.secure_cookies,
                         PERMANENT_SESSION_LIFETIME=12 * 3600)
    server.before_request(check_request)
    server.after_request(finish_response)


def csrf_token() -> str:
    """This session's token for forms (made on first use)."""
    if CSRF_FIELD not in session:
        session[CSRF_FIELD] = new_csrf_token()
    return session[CSRF_FIELD]


def refusal(status: int, message: str, field: Optional[str] = None) -> Response:
    """A refused request in the API's error shape (``api.error_answers``)."""
    response = jsonify({"error": message, "field": field})
    response.status_code = status
    return response


def check_request() -> Optional[Response]:
    settings = current_services().settings
    host = (urlsplit("//" + request.host).hostname or "").lower()
    if host not in settings.allowed_hosts:
        return refusal(400, f"this server does not answer to the host name '{host}'; use one "
                            f"of {', '.join(settings.allowed_hosts)} (an admin adds names "
                            f"with BEAMLABEL_ALLOWED_HOSTS)")
    if request.path.startswith(PUBLIC_PATHS) and request.method in READ_METHODS:
        return None
    if request.endpoint in FILE_BODIES:  # a file upload: its route's own limit
        request.max_content_length = FILE_BODIES[request.endpoint][1]
    elif (request.content_length or 0) > settings.max_request_mb * 2**20:
        return refusal(413, f"the request body is larger than {settings.max_request_mb:g} MB, "
                            "the most this server takes (BEAMLABEL_MAX_REQUEST_MB); send it "
                            "in parts", "body")
    if request.method not in READ_METHODS:
        refused = _forgery_refusal()
        if refused is not None:
            return refused
    if request.path.startswith(("/login", "/logout")):
        return None
    identity = identify(current_services())
    g.identity = identity
    if identity is None:
        return _login_needed()
    needed, action = _needed_role()
    g.audit = (action, needed)
    if not identity.may(needed):
        return refusal(403, f"your role '{identity.role}' may not do this ({action}); it needs "
                            f"the role '{needed}': ask an admin")
    return None


def _forgery_refusal() -> Optional[Response]:
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
        return refusal(403, "a change requested from another web site is refused; open "
                            "beamlabel itself and do it there")
    if request.endpoint in FORM_ROUTES:
        if not request.form.get(CSRF_FIELD) or request.form[CSRF_FIELD] != session.get(CSRF_FIELD):
            return refusal(403, "the form has expired; reload the page and try again")
        return None
    # Only a POST can come from another origin without the browser asking it first.
    if request.method == "POST" and request.mimetype in SIMPLE_CONTENT_TYPES:
        media_type = TEXT_BODIES.get(request.endpoint) or FILE_BODIES.get(
            request.endpoint, ("application/json",))[0]
        return refusal(415, f"send the request body as {media_type}, with the header "
                            f"'Content-Type: {media_type}' (an empty JSON change is the body "
                            "{})", "body")
    return None


def _login_needed() -> Response:
    if request.method == "GET" and not request.path.startswith(("/api/", "/_dash-")) \
            and request.accept_mimetypes.accept_html:
        return redirect("/login?" + urlencode({"next": request.full_path.rstrip("?")}))
    response = refusal(401, "log in first: in the browser at /login, or send "
                            "'Authorization: Bearer <your API token>' (made on your profile page)")
    response.headers["WWW-Authenticate"] = 'Bearer realm="beamlabel"'
    return response


def _needed_role() -> tuple[str, str]:
    """(the role this request needs, what it does in a word)."""
    if request.path == CALLBACK_PATH and request.method == "POST":
        name = _callback_of_request()
        return callback_role(name), name
    return route_role(request.endpoint, request.method), request.endpoint or request.path


def _callback_of_request() -> str:
    try:
        output = json.loads(request.get_data(cache=True))["output"]
    except (ValueError, KeyError, TypeError):
        return "an unknown callback"
    # Dash moves its callbacks from the global map to the app's on the first request.
    entry = (getattr(dash_app(), "callback_map", {}) or {}).get(output) \
        or GLOBAL_CALLBACK_MAP.get(output)
    if entry is None:
        return "an unknown callback"
    return callback_name(inspect.unwrap(entry["callback"]))


def dash_app():
    """The Dash app of this server (None for a server built without pages)."""
    return current_app.extensions.get(DASH_EXTENSION)


def finish_response(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", _content_policy())
    _audit(response)
    return response


def _content_policy() -> str:
    """Scripts only from this server, and Dash's inline ones (its start and the clientside
    callbacks, known once Dash has set itself up) by their hashes.

    'unsafe-eval' lets those scripts compile code: plotly.js draws WebGL traces (the
    explorer's scattergl) through regl, which builds its draw calls with ``new Function``;
    without it every WebGL plot shows "WebGL is not supported". plotly.py ships no
    "strict" plotly.js bundle (precompiled regl) that would do without."""
    app = dash_app()
    hashes = " ".join(app.csp_hashes()) if app is not None else ""
    return ("default-src 'self'; "
            f"script-src 'self' 'unsafe-eval' {hashes}; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
            "font-src 'self' data:; connect-src 'self'; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def _audit(response: Response) -> None:
    """Note in the audit trail the writes that need a trainer or an admin, and every
    write refused for want of a login or a role."""
    if request.method in READ_METHODS or request.path.startswith(("/login", "/logout")):
        return
    action, needed = g.get("audit", (request.endpoint or request.path, ""))
    refused = response.status_code in (401, 403)
    if not refused and (needed not in AUDITED_ROLES or action.startswith(SELF_AUDITED)):
        return
    identity: Optional[Identity] = g.get("identity")
    outcome = "refused" if refused else "ok" if response.status_code < 400 else "failed"
    with transaction(current_services().session_factory) as db:
        record(db, identity.name if identity else "anonymous", action, request.path, outcome)
