"""The console's operations pages (provider keys and health, features, maintenance,
notifications) and the user app's maintenance banner and lock screen, in a real browser.

"""
import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from ragd_client import Server
from ui_helpers import click, css, login_ui, new_driver, quit_driver, severe_logs, shot, url, wait

ADMIN = ("admin@example.com", "adminpassword123")


@pytest.fixture(scope="module")
def ops():
    """A server of its own: these tests change maintenance and feature toggles."""
    s = Server(env={"LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    yield s
    s.put("/admin/maintenance", {"level": "none", "reason": "tests done"}, token=s.login(*ADMIN))
    assert s.stop() == 0


def need(server, token, path):
    r = server.get(path, token=token)
    assert r.status == 200, r
    return r


def admin_page(d, server, page):
    login_ui(d, server, *ADMIN, path=f"/admin#/{page}")
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "main h1"))


def toast_text(d):
    wait(d, lambda d: css(d, "#toast").text.strip())
    return css(d, "#toast").text


def test_provider_keys_add_edit_test_delete(ops, driver):
    d = driver
    admin = ops.login(*ADMIN)
    need(ops, admin, "/admin/provider-keys")
    secret = "sk-ui-" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
    label = f"ui-key-{uuid.uuid4().hex[:6]}"
    admin_page(d, ops, "provider-keys")
    form = wait(d, EC.visibility_of_element_located((By.ID, "add-key-form")))
    assert css(d, "#pk-key").get_attribute("type") == "password"
    Select(css(d, "#pk-provider")).select_by_value("openai")
    css(d, "#pk-base").send_keys("http://127.0.0.1:9/v1")
    css(d, "#pk-model").send_keys("ui-model")
    Select(css(d, "#pk-feature")).select_by_value("mcq")
    css(d, "#pk-label").send_keys(label)
    prio = css(d, "#pk-priority")
    prio.clear()
    prio.send_keys("42")
    css(d, "#pk-key").send_keys(secret)
    css(d, "#pk-skip").click()
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    row = f'#provider-key-rows tr[data-label="{label}"]'
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    # The key is gone from the form and never comes back: only its last four characters.
    assert css(d, "#pk-key").get_attribute("value") == ""
    assert secret not in d.page_source
    assert css(d, f"{row} .last4").text == "…" + secret[-4:]
    listed = ops.get("/admin/provider-keys", token=admin)
    assert secret not in listed.body and label in listed.body
    # Priority edited in place.
    p = css(d, f'{row} input[name="priority"]')
    p.clear()
    p.send_keys("77")
    click(d, f"{row} button.small:not(.secondary):not(.danger)")
    wait(d, lambda d: "77" in ops.get("/admin/provider-keys", token=admin).body)
    # Test: the upstream is unreachable, and the page says so for this key.
    click(d, f"{row} .pk-test")
    wait(d, lambda d: label in toast_text(d))  # after the "Saved." of the priority edit
    # Delete asks first; cancelling keeps the key, confirming sends ?confirm=true.
    click(d, f"{row} .pk-delete")
    wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, "dialog button.secondary"))).click()
    assert label in ops.get("/admin/provider-keys", token=admin).body
    click(d, f"{row} .pk-delete")
    wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, "dialog [data-confirm]"))).click()
    wait(d, lambda d: not d.find_elements(By.CSS_SELECTOR, row))
    assert label not in ops.get("/admin/provider-keys", token=admin).body
    assert d.execute_script(
        "return performance.getEntriesByType('resource').some((e) => /provider-keys\\/[^/?]+\\?confirm=true$/.test(e.name))")
    assert severe_logs(d) == []
    shot(d, "ops-provider-keys")


def test_provider_health_page(ops, driver):
    d = driver
    admin = ops.login(*ADMIN)
    need(ops, admin, "/admin/providers/health")
    label = f"<img src=x onerror=alert(1)>{uuid.uuid4().hex[:6]}"
    r = ops.post("/admin/provider-keys", {"provider": "openai", "key": "sk-health-" + uuid.uuid4().hex,
                                          "base_url": "http://127.0.0.1:9/v1", "feature": "mcq",
                                          "label": label, "skip_test": True}, token=admin)
    assert r.status in (200, 201), r
    try:
        admin_page(d, ops, "provider-health")
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#provider-health table"))
        assert not d.find_elements(By.ID, "ops-unavailable")
        assert "mcq" in css(d, "#provider-health").text
        click(d, "#health-refresh")
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#provider-health table"))
        assert not d.find_elements(By.CSS_SELECTOR, "#provider-health img")  # names are text
        assert severe_logs(d) == []
        shot(d, "ops-provider-health")
    finally:
        ops.delete(f"/admin/provider-keys/{r.json['id']}?confirm=true", token=admin)


def flag(server, token, name):
    feats = server.get("/admin/features", token=token).json["features"]
    return next(f for f in feats if f["name"] == name)


def test_feature_toggles(ops, driver):
    d = driver
    admin = ops.login(*ADMIN)
    need(ops, admin, "/admin/features")
    admin_page(d, ops, "features")
    row = '#feature-rows tr[data-feature="flashcards"]'
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    box = css(d, f'{row} input[name="enabled"]')
    assert box.is_selected()
    box.click()
    click(d, f"{row} button")
    wait(d, lambda d: flag(ops, admin, "flashcards")["is_enabled"] is False)
    user = ops.login("test@example.com", "testpassword123")
    assert ops.get("/features", token=user).json["features"]["flashcards"]["enabled"] is False
    css(d, f'{row} input[name="enabled"]').click()
    roll = css(d, f'{row} input[name="rollout_percentage"]')
    roll.clear()
    roll.send_keys("50")
    click(d, f"{row} button")
    wait(d, lambda d: flag(ops, admin, "flashcards")["rollout_percentage"] == 50)
    assert flag(ops, admin, "flashcards")["is_enabled"] is True
    shot(d, "ops-features")
    assert ops.put("/admin/features/flashcards", {"enabled": True, "rollout_percentage": 100},
                   token=admin).status == 200


def set_level(d, level, reason, message="", eta=None):
    Select(css(d, "#m-level")).select_by_value(level)
    for sel, value in (("#m-reason", reason), ("#m-message", message)):
        el = css(d, sel)
        el.clear()
        el.send_keys(value)
    if eta:
        d.execute_script("arguments[0].value = arguments[1]", css(d, "#m-eta"), eta)
    css(d, "#m-submit").click()


def test_maintenance_banner_lock_screen_and_recovery(ops, driver):
    d = driver
    admin = ops.login(*ADMIN)
    need(ops, admin, "/maintenance")
    need(ops, admin, "/admin/maintenance")
    admin_page(d, ops, "maintenance")
    wait(d, EC.visibility_of_element_located((By.ID, "maintenance-form")))
    set_level(d, "soft", "ui test: reindexing", "Uploads are paused while we reindex")
    wait(d, lambda d: css(d, "#maint-level").get_attribute("data-level") == "soft")
    u = new_driver()
    try:
        login_ui(u, ops, "test@example.com", "testpassword123")
        wait(u, EC.element_to_be_clickable((By.ID, "chat-input")))
        banner = wait(u, EC.visibility_of_element_located((By.ID, "maint-banner")))
        assert "Uploads are paused while we reindex" in banner.text
        shot(u, "ops-maintenance-banner")

        # Hard: confirmed first; the user sees a lock screen with the estimate.
        set_level(d, "hard", "ui test: provider outage", "<b>Back soon</b>", eta="2031-05-04T12:30")
        wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, "dialog [data-confirm]"))).click()
        wait(d, lambda d: css(d, "#maint-level").get_attribute("data-level") == "hard")
        assert ops.get("/maintenance").json["estimated_restoration"].startswith("2031-05-04")
        u.refresh()
        lock = wait(u, EC.visibility_of_element_located((By.ID, "maintenance-lock")))
        assert css(u, "#maint-message").text == "<b>Back soon</b>"  # text, never markup
        assert not u.find_elements(By.CSS_SELECTOR, "#maintenance-lock b")
        assert "2031" in css(u, "#maint-eta").text
        assert not u.find_elements(By.ID, "chat-input")
        assert "null" not in css(u, "#top").text
        shot(u, "ops-maintenance-lock")
        # Administrators keep their console.
        d.get(url(ops, "/admin#/users"))
        wait(d, lambda d: "admin@example.com" in css(d, "#user-rows").text)

        # Over: the user's "try again" brings the app back.
        r = ops.put("/admin/maintenance", {"level": "none", "reason": "ui test: recovered"}, token=admin)
        assert r.status == 200, r
        click(u, "#maint-try-again")
        wait(u, EC.element_to_be_clickable((By.ID, "chat-input")))
        assert not u.find_elements(By.ID, "maint-banner") and not u.find_elements(By.ID, "maintenance-lock")
        assert [e for e in severe_logs(u) if e["source"] != "network"] == []  # 503s are expected
    finally:
        quit_driver(u)
        ops.put("/admin/maintenance", {"level": "none", "reason": "ui test cleanup"}, token=admin)


def test_notification_channels(ops, driver):
    d = driver
    admin = ops.login(*ADMIN)
    need(ops, admin, "/admin/notifications")
    secret_part = "T0000/B0000/" + uuid.uuid4().hex
    hook = f"https://hooks.example.com/services/{secret_part}"
    admin_page(d, ops, "notifications")
    wait(d, EC.visibility_of_element_located((By.ID, "notifications-form")))
    enabled = css(d, '#notif-email input[name="email-enabled"]')
    if not enabled.is_selected():
        enabled.click()
    Select(css(d, "#email-urgency")).select_by_value("medium")
    rec = css(d, "#email-recipients")
    rec.clear()
    rec.send_keys("ops-ui@example.com")
    wh = css(d, '#notif-webhook input[name="webhook-enabled"]')
    if not wh.is_selected():
        wh.click()
    css(d, "#webhook-new").send_keys(hook)
    click(d, "#notif-save")
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#webhook-urls li[data-id]"))
    s = ops.get("/admin/notifications", token=admin).json
    assert s["email"]["enabled"] is True and s["email"]["recipients"] == ["ops-ui@example.com"]
    assert s["email"]["min_urgency"] == "medium"
    assert len(s["webhook"]["urls"]) == 1 and s["webhook"]["enabled"] is True
    # The webhook URL is a secret: neither the API nor the page shows it again.
    assert secret_part not in str(s) and secret_part not in d.page_source
    assert css(d, "#webhook-new").get_attribute("value") == ""
    # Saving again keeps the configured URL by its id.
    click(d, "#notif-save")
    wait(d, lambda d: "Saved" in css(d, "#toast").text)
    assert len(ops.get("/admin/notifications", token=admin).json["webhook"]["urls"]) == 1
    click(d, "#notif-test")
    wait(d, lambda d: "Test event" in css(d, "#toast").text or "target" in css(d, "#toast").text.lower())
    shot(d, "ops-notifications")
    assert severe_logs(d) == []
