"""The login page and logout (``/login``, ``/logout``): plain forms outside Dash, so that
they work before any page may be seen. A name that failed too often is refused for a
while (per server process)."""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from html import escape

from flask import Blueprint, Response, redirect, request, session

from auth.guard import CSRF_FIELD, csrf_token
from auth.identity import SESSION_STAMP, SESSION_USER
from auth.secrets import password_matches, session_stamp
from db.session import transaction
from db.users import record, user_named
from services import current_services

blueprint = Blueprint("auth", __name__)
MAX_FAILURES = 5
MAX_NAMES_TRACKED = 10_000  # a flood of made-up names must not grow the table without end
FAILURE_WINDOW_SECONDS = 15 * 60
_failures: dict[str, deque] = defaultdict(deque)
_failures_lock = threading.Lock()

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>beamlabel: log in</title>
<link rel="stylesheet" href="/vendor/css/bootstrap.min.css"></head>
<body class="bg-light"><main class="container" style="max-width: 24rem; margin-top: 12vh">
<h1 class="h4 mb-3">beamlabel</h1>{message}
<form method="post" action="/login" id="login-form">
<input type="hidden" name="{csrf_field}" value="{csrf}">
<input type="hidden" name="next" value="{next}">
<div class="mb-2"><label class="form-label" for="login-name">Name</label>
<input class="form-control" id="login-name" name="name" autocomplete="username" value="{name}"
 required autofocus></div>
<div class="mb-3"><label class="form-label" for="login-password">Password</label>
<input class="form-control" id="login-password" name="password" type="password"
 autocomplete="current-password" required></div>
<button class="btn btn-primary w-100" id="login-submit" type="submit">Log in</button>
</form></main></body></html>"""


def _page(status: int = 200, message: str = "", name: str = "") -> Response:
    alert = f'<div class="alert alert-danger py-2" id="login-error">{escape(message)}</div>' \
        if message else ""
    body = PAGE.format(message=alert, csrf_field=CSRF_FIELD, csrf=escape(csrf_token()),
                       next=escape(_safe_next(request.values.get("next"))), name=escape(name))
    return Response(body, status=status, mimetype="text/html")


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this server only (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _too_many_failures(name: str) -> bool:
    now = time.monotonic()
    with _failures_lock:
        failures = _failures.get(name, ())
        while failures and now - failures[0] > FAILURE_WINDOW_SECONDS:
            failures.popleft()
        return len(failures) >= MAX_FAILURES


def _note_failure(name: str) -> None:
    with _failures_lock:
        if len(_failures) >= MAX_NAMES_TRACKED:
            _failures.clear()
        _failures[name].append(time.monotonic())


@blueprint.get("/login")
def login_form():
    if current_services().settings.auth != "accounts":
        return redirect("/")
    return _page()


@blueprint.post("/login")
def login():
    services = current_services()
    if services.settings.auth != "accounts":
        return redirect("/")
    name = request.form.get("name", "").strip()[:100]
    password = request.form.get("password", "")
    if _too_many_failures(name):
        return _page(429, "Too many failed logins for this name; wait 15 minutes or ask an "
                          "admin.", name)
    with transaction(services.session_factory) as db:
        user = user_named(db, name) if name else None
        accepted = user is not None and not user.disabled \
            and password_matches(user.password_hash, password)
        record(db, name or "anonymous", "login", request.remote_addr or "",
               "ok" if accepted else "refused")
        stamp = session_stamp(user.password_hash) if accepted else ""
        user_id = user.id if accepted else None
    if not accepted:
        _note_failure(name)
        return _page(401, "Wrong name or password.", name)
    session.clear()  # a new session: nothing from before the login carries over
    session.permanent = True
    session[SESSION_USER], session[SESSION_STAMP] = user_id, stamp
    # The form token goes into this answer's cookie: made later, by one of the first
    # requests of the next page, it is lost when another of them (sent with this cookie,
    # and setting it again) answers last, and Log out is then refused.
    csrf_token()
    return redirect(_safe_next(request.form.get("next")))


@blueprint.post("/logout")
def logout():
    session.clear()
    return redirect("/login" if current_services().settings.auth == "accounts" else "/")
