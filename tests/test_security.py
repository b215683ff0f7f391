"""The outsider's attacks of issue 13 replayed against a server with accounts (as
``beamlabel serve`` runs it) and against the local app: each is refused with a clear
4xx and changes nothing. Roles on SQLite and PostgreSQL."""
from __future__ import annotations

import re

import pytest

from app import create_server
from auth.accounts import create_token, create_user
from auth.identity import SESSION_COOKIE
from db.models import AuditEntry, LabelClass, TaggingEvent
from db.session import transaction
from settings import Settings
from tests.api_client import PREFIX, Api, assert_error, wait_until_scanned
from tests.api_client import folder  # noqa: F401  (fixture)
from tests.databases import database_url  # noqa: F401  (fixture)

SECRET_KEY = "a-test-secret-key-of-enough-length"
PASSWORD = "correct horse battery"
ROLES = ("viewer", "labeler", "trainer", "admin")


@pytest.fixture
def server(tmp_path, database_url):  # noqa: F811
    settings = Settings(home=tmp_path / "home", database_url=database_url,
                        data_roots=(tmp_path,), cache_url="null://", auth="accounts",
                        secret_key=SECRET_KEY)
    server = create_server(settings)
    yield server
    server.extensions["beamlabel"].engine.dispose()


@pytest.fixture
def tokens(server) -> dict[str, str]:
    """An API token of one user per role, each user named after their role."""
    factory = server.extensions["beamlabel"].session_factory
    found = {}
    with transaction(factory) as session:
        for role in ROLES:
            user = create_user(session, "test", role, role, PASSWORD)
            found[role] = create_token(session, user.id, "tests")[1]
    return found


def as_user(server, token: str | None) -> Api:
    api = Api(server)
    if token:
        api.client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return api


def form_token_of_login_page(browser) -> str:
    """The session's form token, as the login page's form carries it."""
    page = browser.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


@pytest.fixture
def admin(server, tokens) -> Api:
    return as_user(server, tokens["admin"])


@pytest.fixture
def dataset(admin, folder) -> dict:  # noqa: F811
    created = admin.post("/datasets", {"name": "beam", "source": {"kind": "directory",
                                                                  "path": str(folder)}})
    assert created.status_code == 201, created.json
    dataset = wait_until_scanned(admin, created.json["id"])
    ring = admin.post(f"/datasets/{dataset['id']}/labels", {"name": "ring"}).json
    items = admin.get(f"/datasets/{dataset['id']}/items").json["items"]
    return {**dataset, "label_id": ring["id"], "item_id": items[1]["id"]}


def counts(server) -> tuple[int, int]:
    """(label classes, tagging events): what an attack must not change."""
    with server.extensions["beamlabel"].session_factory() as session:
        return session.query(LabelClass).count(), session.query(TaggingEvent).count()


def event(dataset: dict, tagger: str) -> dict:
    return {"tagger": tagger, "method": "manual",
            "tags": [{"item_id": dataset["item_id"], "label_id": dataset["label_id"]}]}


def test_anonymous_requests_are_refused(server, dataset):
    anonymous, before = Api(server), counts(server)
    path = f"/datasets/{dataset['id']}"
    for method, url, body in [
            ("GET", "/datasets", None), ("POST", "/datasets", {"name": "x"}),
            ("POST", f"{path}/events", event(dataset, "admin")),
            ("POST", "/events/1/undo", {}),
            ("DELETE", f"{path}/labels/{dataset['label_id']}", None),
            ("POST", "/jobs", {"kind": "dataset_stats", "dataset_id": dataset["id"]}),
            ("DELETE", "/jobs/1", None), ("GET", f"{path}/export", None)]:
        answer = anonymous.call(method, url, json=body, content_type="application/json")
        assert_error(answer, 401, None, "log in")
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert counts(server) == before
    page = anonymous.client.get("/label?dataset=1", headers={"Accept": "text/html"})
    assert page.status_code == 302 and page.headers["Location"].startswith("/login?next=")
    assert anonymous.client.get(f"/thumbs/{dataset['item_id']}.png").status_code == 401


def test_each_role_does_what_it_may_and_no_more(server, tokens, dataset):
    viewer, labeler = as_user(server, tokens["viewer"]), as_user(server, tokens["labeler"])
    path = f"/datasets/{dataset['id']}"
    assert viewer.get(f"{path}/items").status_code == 200
    before = counts(server)
    assert_error(viewer.post(f"{path}/events", event(dataset, "viewer")), 403, None,
                 "role 'viewer'", "labeler")
    assert_error(labeler.call("DELETE", f"{path}/labels/{dataset['label_id']}"), 403, None,
                 "'admin'")
    assert_error(labeler.post(f"{path}/labels", {"name": "streak"}), 403, None, "admin")
    assert_error(labeler.post("/jobs", {"kind": "dataset_stats", "dataset_id": dataset["id"]}),
                 403, None, "trainer")
    assert_error(labeler.get("/users"), 403, None, "admin")
    assert counts(server) == before
    # a labeler labels as themself: naming anyone else is refused, their name is stored
    assert_error(labeler.post(f"{path}/events", event(dataset, "admin")), 403, "tagger",
                 "yourself ('labeler')")
    labeled = labeler.post(f"{path}/events", event(dataset, "labeler"))
    assert labeled.status_code == 201 and labeled.json["tagger"] == "labeler"
    assert labeler.get("/me").json == {"name": "labeler", "role": "labeler", "accounts": True}


def test_undo_is_for_the_events_owner_or_an_admin(server, tokens, dataset):
    labeler, trainer = as_user(server, tokens["labeler"]), as_user(server, tokens["trainer"])
    path = f"/datasets/{dataset['id']}"
    first = labeler.post(f"{path}/events", event(dataset, "labeler")).json["id"]
    assert_error(trainer.post(f"/events/{first}/undo", {}), 403, None, "labeler's")
    undone = as_user(server, tokens["admin"]).post(f"/events/{first}/undo", {})
    assert undone.status_code == 201 and undone.json["tagger"] == "admin"
    second = labeler.post(f"{path}/events", event(dataset, "labeler")).json["id"]
    assert labeler.post(f"/events/{second}/undo", {}).status_code == 201


def test_jobs_are_owned_by_who_started_them(server, tokens, dataset):
    trainer, other = as_user(server, tokens["trainer"]), as_user(server, tokens["admin"])
    job = trainer.post("/jobs", {"kind": "dataset_stats", "dataset_id": dataset["id"],
                                 "owner": "trainer"})
    assert job.status_code == 201 and job.json["owner"] == "trainer"
    assert_error(trainer.post("/jobs", {"kind": "dataset_stats", "dataset_id": dataset["id"],
                                        "owner": "admin"}), 403, "tagger", "yourself")
    with transaction(server.extensions["beamlabel"].session_factory) as session:
        second = create_user(session, "test", "trainer2", "trainer", PASSWORD)
        second_token = create_token(session, second.id, "tests")[1]
    assert_error(as_user(server, second_token).post(f"/jobs/{job.json['id']}/cancel", {}),
                 403, None, "trainer's")
    assert other.post(f"/jobs/{job.json['id']}/cancel", {}).status_code == 200


def test_cross_site_writes_and_wrong_hosts_are_refused(server, tokens, dataset):
    admin, before = as_user(server, tokens["admin"]), counts(server)
    url = f"/datasets/{dataset['id']}/labels/{dataset['label_id']}"
    undo_all = "/events/1/undo"
    # a page elsewhere: fetch(..., {method: 'POST', mode: 'no-cors'}) with an empty body,
    # a form post, a text body; each carries the attacker's Origin
    for kwargs in ({}, {"data": {"tagger": "x"},
                        "content_type": "application/x-www-form-urlencoded"},
                   {"data": "{}", "content_type": "text/plain"}):
        assert_error(admin.call("POST", undo_all, headers={"Origin": "http://evil.example"},
                                **kwargs), 403, None, "another web site")
        assert_error(admin.call("POST", undo_all, **kwargs), 415, "body", "application/json")
    assert_error(admin.call("DELETE", url, headers={"Referer": "http://evil.example/x"}),
                 403, None, "another web site")
    assert_error(admin.get("/datasets", headers={"Host": "rebound.example:8050"}), 400, None,
                 "rebound.example", "BEAMLABEL_ALLOWED_HOSTS")
    assert counts(server) == before


def test_login_session_logout_and_tokens(server, tokens):
    browser = server.test_client()
    form = browser.get("/login?next=/label").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    assert "frame-ancestors 'none'" in browser.get("/login").headers["Content-Security-Policy"]
    without_token = browser.post("/login", data={"name": "labeler", "password": PASSWORD})
    assert without_token.status_code == 403
    wrong = browser.post("/login", data={"name": "labeler", "password": "guess-guess-guess",
                                         "csrf_token": csrf})
    assert wrong.status_code == 401 and "Wrong name or password" in wrong.get_data(as_text=True)
    right = browser.post("/login", data={"name": "labeler", "password": PASSWORD,
                                         "csrf_token": csrf, "next": "//evil.example/"})
    assert right.status_code == 302 and right.headers["Location"] == "/"
    cookie = right.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert browser.get(f"{PREFIX}/me").json["name"] == "labeler"
    # a token made by the user works until revoked
    made = browser.post(f"{PREFIX}/me/tokens", json={"name": "script"})
    assert made.status_code == 201 and made.json["token"].startswith("blt_")
    script = as_user(server, made.json["token"])
    assert script.get("/me").json["name"] == "labeler"
    assert browser.delete(f"{PREFIX}/me/tokens/{made.json['id']}",
                          content_type="application/json").status_code == 200
    assert_error(script.get("/me"), 401, None)
    csrf = form_token_of_login_page(browser)
    assert browser.post("/logout", data={"csrf_token": csrf}).status_code == 302
    assert browser.get(f"{PREFIX}/me").status_code == 401
    with server.extensions["beamlabel"].session_factory() as session:
        trail = [(e.actor, e.action, e.outcome) for e in session.query(AuditEntry)]
    assert ("labeler", "login", "refused") in trail and ("labeler", "login", "ok") in trail
    assert ("labeler", "token add", "ok") in trail and ("labeler", "token revoke", "ok") in trail


def test_a_changed_password_ends_sessions_and_admins_manage_users(server, tokens):
    admin = as_user(server, tokens["admin"])
    added = admin.post("/users", {"name": "dora", "role": "viewer", "password": PASSWORD})
    assert added.status_code == 201 and added.json["role"] == "viewer"
    assert_error(admin.post("/users", {"name": "dora", "role": "viewer"}), 409, "name")
    assert_error(admin.post("/users", {"name": "eve", "role": "root"}), 422, "role")
    assert_error(admin.post("/users", {"name": "eve", "role": "viewer", "password": "short"}),
                 400, "password", "10")
    browser = server.test_client()
    csrf = form_token_of_login_page(browser)
    browser.post("/login", data={"name": "dora", "password": PASSWORD, "csrf_token": csrf})
    assert browser.get(f"{PREFIX}/me").status_code == 200
    changed = admin.call("PATCH", "/users/dora", json={"password": "a new long password"})
    assert changed.status_code == 200
    assert browser.get(f"{PREFIX}/me").status_code == 401
    assert admin.call("PATCH", "/users/dora", json={"disabled": True}).json["disabled"]
    assert [e["action"] for e in admin.get("/audit").json["entries"]][:3] == \
        ["user change", "user change", "login"]


def test_the_default_secret_key_is_refused_with_accounts(tmp_path):
    with pytest.raises(ValueError, match="BEAMLABEL_SECRET_KEY"):
        create_server(Settings(home=tmp_path, auth="accounts", cache_url="null://"))


def test_oversized_bodies_are_refused(tmp_path):
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,), cache_url="null://",
                        max_request_mb=1)
    api = Api(create_server(settings))
    answer = api.post("/datasets/1/events", data=b"{" + b" " * 2**21 + b"}",
                      content_type="application/json")
    assert_error(answer, 413, "body", "BEAMLABEL_MAX_REQUEST_MB")


def test_the_local_app_refuses_cross_site_writes_and_sends_safety_headers(tmp_path):
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,), cache_url="null://")
    api = Api(create_server(settings))
    assert_error(api.call("POST", "/events/1/undo"), 415, "body", "application/json")
    assert_error(api.call("POST", "/events/1/undo", json={},
                          headers={"Origin": "http://evil.example"}), 403, None, "web site")
    answer = api.get("/datasets")
    assert answer.status_code == 200
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] == "same-origin"


APP_SCRIPT = """
import json, re, sys
from pathlib import Path
import app
from auth.accounts import create_user
from auth.policy import CALLBACK_MODULES, CALLBACKS, callback_name
from db.session import transaction
from settings import Settings
settings = Settings(home=Path(sys.argv[1]), data_roots=(Path(sys.argv[1]),), auth="accounts",
                    secret_key="a-test-secret-key-of-enough-length", cache_url="null://")
dash_app = app.create_app(settings, resume_scans=False)
import inspect
from dash._callback import GLOBAL_CALLBACK_MAP
names = {callback_name(inspect.unwrap(e["callback"])): output  # clientside ones never reach
         for output, e in GLOBAL_CALLBACK_MAP.items() if "callback" in e}  # the server
unplaced = sorted(n for n in names if n.rpartition(".")[0] not in CALLBACK_MODULES)
stale = sorted(n for n in CALLBACKS if n not in names)
factory = dash_app.server.extensions["beamlabel"].session_factory
with transaction(factory) as session:
    create_user(session, "test", "vera", "viewer", "correct horse battery")
client = dash_app.server.test_client()
csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(True))[1]
client.post("/login", data={"name": "vera", "password": "correct horse battery",
                            "csrf_token": csrf})
layout = client.get("/_dash-layout").get_data(True)
output = names["callbacks.label.label_selection"]
refused = client.post("/_dash-update-component", json={"output": output, "outputs": [],
                      "inputs": [], "state": [], "changedPropIds": []})
page = client.get("/label", headers={"Accept": "text/html"})
print(json.dumps({"unplaced": unplaced, "stale": stale, "status": refused.status_code,
                  "error": refused.get_json()["error"], "menu": "shell-logout" in layout,
                  "csp": page.headers.get("Content-Security-Policy", "")}))
"""


def test_every_callback_has_a_role_and_a_viewer_cannot_label_through_one(tmp_path):
    """In a process of its own (Dash keeps callbacks in a process-wide registry)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([sys.executable, "-c", APP_SCRIPT, str(tmp_path)],
                            cwd=Path(__file__).resolve().parents[1], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["unplaced"] == [], "callbacks whose module auth/policy.py does not list"
    assert found["stale"] == [], "auth/policy.py names callbacks that do not exist"
    assert found["status"] == 403 and "'labeler'" in found["error"], found
    assert found["menu"], "the navigation bar shows no Log out for a logged-in user"
    assert "frame-ancestors 'none'" in found["csp"] and "'sha256-" in found["csp"]


def test_tiled_uris_off_the_allow_list_and_odd_thumbnail_sizes_are_refused(tmp_path):
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,), cache_url="null://",
                        tiled_hosts=("tiled.facility.example",))
    api = Api(create_server(settings))
    for uri in ("http://10.0.0.7:22/", "http://127.0.0.1:6379", "http://[::1]:5432/api"):
        answer = api.post("/datasets", {"name": "probe", "source": {"kind": "tiled", "uri": uri}})
        body = assert_error(answer, 400, "source.uri", "BEAMLABEL_TILED_HOSTS")
        assert "refused" not in body["error"] and "timed out" not in body["error"]
    assert api.get("/datasets").json["datasets"] == []
    answer = api.client.get("/thumbs/1.png?size=4096")
    assert answer.status_code == 400 and "one of" in answer.json["error"]


def test_serve_starts_only_safe_and_then_asks_everyone_to_log_in(tmp_path):
    """``beamlabel serve`` itself (gunicorn) on PostgreSQL and Redis."""
    import json
    import os
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request
    from pathlib import Path

    from tests.browser import free_port
    from tests.databases import create_postgres_schema

    url, drop = create_postgres_schema()
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "BEAMLABEL_HOME": str(tmp_path / "home"), "BEAMLABEL_DATABASE_URL": url,
           "BEAMLABEL_BROKER_URL": "redis://127.0.0.1:6379/14",
           "BEAMLABEL_CACHE_URL": "null://"}
    port = free_port()
    command = [sys.executable, "-m", "app", "serve", "--port", str(port), "--workers", "1"]

    def refused(extra: dict) -> str:
        done = subprocess.run(command, env={**env, **extra}, cwd=root, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        return done.stderr

    try:
        assert "BEAMLABEL_SECRET_KEY" in refused({})
        env["BEAMLABEL_SECRET_KEY"] = SECRET_KEY
        assert "BEAMLABEL_DATA_ROOTS" in refused({})
        env["BEAMLABEL_DATA_ROOTS"] = str(tmp_path)
        assert "BEAMLABEL_AUTH=accounts" in refused({"BEAMLABEL_AUTH": "none"})
        added = subprocess.run([sys.executable, "-m", "app", "user", "add", "root",
                                "--role", "admin"], input=PASSWORD + "\n", env=env, cwd=root,
                               capture_output=True, text=True, timeout=60)
        assert added.returncode == 0, added.stderr
        server = subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(base + "/login", timeout=2).close()
                    break
                except OSError:
                    assert time.monotonic() < deadline and server.poll() is None
                    time.sleep(0.3)
            with pytest.raises(urllib.error.HTTPError) as anonymous:
                urllib.request.urlopen(base + "/api/v1/datasets", timeout=10)
            assert anonymous.value.code == 401
            assert "log in" in json.loads(anonymous.value.read())["error"]
            rebound = urllib.request.Request(base + "/login", headers={"Host": "evil.example"})
            with pytest.raises(urllib.error.HTTPError) as wrong_host:
                urllib.request.urlopen(rebound, timeout=10)
            assert wrong_host.value.code == 400
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        drop()


def test_a_reverse_proxy_can_name_the_user(tmp_path):
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,), cache_url="null://",
                        auth="proxy", proxy_user_header="X-Remote-User", secret_key=SECRET_KEY)
    server = create_server(settings)
    with transaction(server.extensions["beamlabel"].session_factory) as session:
        create_user(session, "test", "ana", "labeler", None)  # no password: proxy only
    api = Api(server)
    assert api.get("/me", headers={"X-Remote-User": "ana"}).json["role"] == "labeler"
    assert_error(api.get("/me", headers={"X-Remote-User": "mallory"}), 401, None)
    assert_error(api.get("/me"), 401, None)
    assert api.client.get("/login").status_code == 302  # no password login behind a proxy


def test_weights_files_outside_the_roots_are_refused_alike(server, tokens, dataset):
    trainer = as_user(server, tokens["trainer"])
    answers = [trainer.post("/jobs", {"kind": "classifier_train", "dataset_id": dataset["id"],
                                      "params": {"weights_path": path}})
               for path in ("/etc/shadow", "/root/.ssh/id_rsa", "/etc/no-such-file")]
    errors = {assert_error(answer, 400, "params.weights_path")["error"].split(":")[0]
              for answer in answers}
    assert len(errors) == 1, errors  # nothing tells which of them exists
    assert trainer.get("/jobs").json == {"jobs": [], "worker_notice": None}


def test_log_out_works_whichever_of_a_pages_first_requests_ends_last(server, tokens):
    """A page's first requests run side by side, and each answer sets the session cookie it
    came with (a logged-in session is refreshed on every request). The form token must be
    in the cookie the login sets: made later, by the request of the page's layout (here
    /login's, which makes it the same way), it is lost when another request of the page
    ends after that one, and Log out is then refused."""
    browser = server.test_client()
    csrf = form_token_of_login_page(browser)
    browser.post("/login", data={"name": "labeler", "password": PASSWORD, "csrf_token": csrf})
    cookie_after_login = browser.get_cookie(SESSION_COOKIE).value
    form_token = form_token_of_login_page(browser)
    browser.set_cookie(SESSION_COOKIE, cookie_after_login)  # a request sent beside it...
    assert browser.get(f"{PREFIX}/me").json["name"] == "labeler"  # ...answers last
    logout = browser.post("/logout", data={"csrf_token": form_token})
    assert logout.status_code == 302 and logout.headers["Location"] == "/login"
    assert browser.get(f"{PREFIX}/me").status_code == 401
