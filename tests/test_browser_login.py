"""The lab server in Chromium: a labeler logs in, labels with a key, logs out, and the
label page is then closed to them."""
import json
import urllib.request

from dash.testing.wait import until
from selenium.webdriver.common.keys import Keys

from auth.accounts import create_token, create_user
from data.demo import generate_demo
from db.session import open_database, transaction
from settings import Settings
from tests.browser import launched_app, press, save_screenshot

PASSWORD = "correct horse battery"


def as_admin(base: str, token: str, path: str, payload=None) -> dict:
    request = urllib.request.Request(
        base + path, data=None if payload is None else json.dumps(payload).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def log_in(browser, name: str, password: str) -> None:
    field = browser.find_element("#login-name")
    field.clear()  # the page keeps the name of a failed try
    field.send_keys(name)
    browser.find_element("#login-password").send_keys(password, Keys.ENTER)


def test_log_in_label_log_out(dash_br, tmp_path):
    settings = Settings(home=tmp_path / "home", data_roots=(tmp_path,), auth="accounts",
                        secret_key="a-browser-test-secret-key-0123456789")
    engine, session_factory = open_database(settings)
    with transaction(session_factory) as session:
        admin = create_user(session, "test", "root", "admin", PASSWORD)
        token = create_token(session, admin.id, "test")[1]
        create_user(session, "test", "lena", "labeler", PASSWORD)
    engine.dispose()
    generate_demo(tmp_path / "beamtime", n_images=20, size=64, seed=5)
    with launched_app(settings, tmp_path, with_worker=False) as base:
        dataset = as_admin(base, token, "/api/v1/datasets", {
            "name": "beamtime", "source": {"kind": "directory",
                                           "path": str(tmp_path / "beamtime")}})
        ring = as_admin(base, token, f"/api/v1/datasets/{dataset['id']}/labels",
                        {"name": "ring"})
        page = f"{base}/label?dataset={dataset['id']}"
        dash_br.driver.get(page)
        until(lambda: "/login" in dash_br.driver.current_url, timeout=10)
        log_in(dash_br, "lena", "not her password")
        dash_br.wait_for_contains_text("#login-error", "Wrong name or password", timeout=10)
        log_in(dash_br, "lena", PASSWORD)
        dash_br.wait_for_contains_text("#label-summary", "items 1–20 of 20", timeout=30)
        dash_br.wait_for_contains_text("#shell-user", "lena")
        dash_br.find_elements("#label-grid .thumb-tile")[0].click()
        press(dash_br, "1")
        dash_br.wait_for_contains_text("#label-progress-text", "1 / 20 labeled", timeout=15)
        save_screenshot(dash_br, "login-labeled")
        events = as_admin(base, token, f"/api/v1/datasets/{dataset['id']}/events")["events"]
        assert [(e["tagger"], e["n_tags"]) for e in events] == [("lena", 1)]
        labels = as_admin(base, token, f"/api/v1/datasets/{dataset['id']}/current-labels")
        assert [row["label_id"] for row in labels["labels"]] == [ring["id"]]

        dash_br.find_element("#shell-logout").click()
        until(lambda: "/login" in dash_br.driver.current_url, timeout=10)
        dash_br.driver.get(page)
        until(lambda: "/login" in dash_br.driver.current_url, timeout=10)
        assert dash_br.find_elements("#label-summary") == []
