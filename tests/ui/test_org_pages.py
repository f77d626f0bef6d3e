"""The organization page in a real browser: create an organization (and the 409 shown next to
the name), invite a registered user as agent and an address without an account (the
invitation code shown once), widget keys (a publishable key with its embed snippet, shown
once, rotated and revoked), the last owner refused when leaving, and what a plain member of
the organization does not see."""
import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from support_helpers import support_server, user
from ui_helpers import click, css, login_ui, new_driver, quit_driver, severe_logs, shot, url, wait

ORIGIN = "http://127.0.0.1:8311"
HOSTILE = '<img src=x onerror="window.__pwned=1">Acme'


@pytest.fixture(scope="module")
def srv():
    s = support_server()
    yield s
    assert s.stop() == 0


def org_page(d, server, email):
    login_ui(d, server, email, "password123", path="/#/org")
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#org-create-form, #org-overview"))


def confirm(d):
    wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, "dialog [data-confirm]"))).click()


def widget_session(s, key):
    return s.post("/widget/session", {"key": key}, headers={"Origin": ORIGIN})


def test_owner_creates_invites_and_manages_widget_keys(srv, driver):
    d = driver
    tag = uuid.uuid4().hex[:8]
    owner_email, agent_email = f"owner-{tag}@ui.test", f"agent-{tag}@ui.test"
    _, owner = user(srv, owner_email)
    agent_id, agent = user(srv, agent_email)

    # Creating: the name may hold markup, which shows as text.
    org_page(d, srv, owner_email)
    css(d, "#org-name").send_keys(HOSTILE)
    css(d, "#org-create").click()
    wait(d, EC.visibility_of_element_located((By.ID, "org-overview")))
    assert css(d, "#org-name-shown").text == HOSTILE
    assert not d.find_elements(By.CSS_SELECTOR, "main img")
    assert not d.execute_script("return window.__pwned")
    org_id = srv.get("/users/me", token=owner).json["organization_id"]
    assert org_id and css(d, "main").get_attribute("data-org-role") == "owner"

    # Inviting a registered user as agent adds them at once.
    css(d, "#invite-email").send_keys(agent_email)
    Select(css(d, "#invite-role")).select_by_value("agent")
    css(d, "#invite-submit").click()
    row = f'#member-rows tr[data-email="{agent_email}"]'
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    assert css(d, row).get_attribute("data-role") == "agent"
    members = srv.get(f"/organizations/{org_id}/members", token=owner).json["members"]
    assert {(m["user_id"], m["role"]) for m in members} >= {(agent_id, "agent")}
    # An address without an account gets an invitation code, shown once (no SMTP here).
    newcomer = f"new-{tag}@ui.test"
    css(d, "#invite-email").send_keys(newcomer)
    css(d, "#invite-submit").click()
    code = wait(d, EC.visibility_of_element_located((By.ID, "invite-token"))).text
    assert len(code) >= 8
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, f'#invitation-rows li[data-email="{newcomer}"]')))
    reg = srv.register(newcomer, invite_token=code)
    assert reg["organization"] == {"id": org_id, "role": "member"}, reg
    assert srv.get("/users/me", token=srv.login(newcomer, "password123")).json["organization_id"] == org_id

    # A publishable key for one origin: shown once with the snippet to paste.
    css(d, "#wk-name").send_keys("shop")
    css(d, "#wk-origins").send_keys(ORIGIN)
    css(d, "#wk-create").click()
    key = wait(d, EC.visibility_of_element_located((By.ID, "new-widget-key"))).text
    assert key.startswith("pk_")
    snippet = css(d, "#widget-snippet").text
    assert snippet == f'<script src="{url(srv, "")}/widget.js" data-key="{key}" async></script>'
    krow = "#widget-key-rows tr[data-id]"
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, krow)))
    assert ORIGIN in css(d, krow).text and key not in css(d, "#widget-key-rows").text
    listed = srv.get(f"/organizations/{org_id}/widget-keys", token=owner)
    assert listed.json["keys"][0]["allowed_origins"] == [ORIGIN] and key not in listed.body
    assert widget_session(srv, key).status in (200, 201)
    shot(d, "org-owner-key-created")

    # Rotating shows the replacement once; the old key stops working.
    click(d, f"{krow} .wk-rotate")
    confirm(d)
    wait(d, lambda d: css(d, "#new-widget-key").text not in ("", key))
    new_key = css(d, "#new-widget-key").text
    assert new_key.startswith("pk_") and f'data-key="{new_key}"' in css(d, "#widget-snippet").text
    assert widget_session(srv, key).status in (401, 403)
    assert widget_session(srv, new_key).status in (200, 201)

    # Revoking asks first and ends the key.
    click(d, f"{krow} .wk-revoke")
    confirm(d)
    wait(d, lambda d: not d.find_elements(By.CSS_SELECTOR, krow))
    assert not d.find_elements(By.ID, "new-widget-key")
    keys = srv.get(f"/organizations/{org_id}/widget-keys", token=owner).json["keys"]
    assert keys and not any(k["active"] for k in keys)
    assert widget_session(srv, new_key).status in (401, 403)

    # The theme is saved into the organization's settings.
    title = css(d, "#wt-title")
    title.clear()
    title.send_keys("Ask Acme")
    assert css(d, "#widget-preview .wp-head").text == "Ask Acme"
    d.execute_script("document.getElementById('org-widget-theme').scrollIntoView()")
    shot(d, "org-widget-theme")
    css(d, "#wt-save").click()
    wait(d, lambda d: srv.get(f"/organizations/{org_id}", token=owner).json["settings"]["widget"]["title"] == "Ask Acme")

    # The last owner cannot leave, and the page says why.
    css(d, "#org-leave").click()
    confirm(d)
    err = wait(d, EC.visibility_of_element_located((By.ID, "org-leave-error")))
    assert "last owner" in err.text.lower()
    assert srv.get("/users/me", token=owner).json["organization_id"] == org_id
    # The refusal itself is logged by the browser as a failed request; nothing else is.
    assert not [e for e in severe_logs(d) if e["source"] != "network"]
    shot(d, "org-owner")

    # The agent sees the organization, without the controls their role lacks (at 360 px).
    m = new_driver(360, 800)
    try:
        org_page(m, srv, agent_email)
        wait(m, EC.presence_of_element_located((By.CSS_SELECTOR, f'#member-rows tr[data-email="{owner_email}"]')))
        assert css(m, "#org-name-shown").text == HOSTILE
        assert css(m, "main").get_attribute("data-org-role") == "agent"
        for sel in ("#invite-form", "#org-widget-keys", "#org-widget-theme", "#org-settings-form",
                    ".member-role", ".member-remove"):
            assert not m.find_elements(By.CSS_SELECTOR, sel), sel
        assert css(m, "#org-leave").is_displayed()
        assert m.execute_script("return document.documentElement.scrollWidth") <= 360
        assert not severe_logs(m)
        shot(m, "org-agent-360")
    finally:
        quit_driver(m)

    # Back with the owner: a secret key comes without a snippet; a role changed, then removed.
    Select(css(d, "#wk-kind")).select_by_value("secret")
    assert not css(d, "#wk-origins").is_displayed()
    css(d, "#wk-create").click()
    wait(d, lambda d: css(d, "#new-widget-key").text.startswith("sk_"))
    assert not d.find_elements(By.ID, "widget-snippet")
    Select(css(d, f"{row} select.member-role")).select_by_value("member")
    wait(d, lambda d: {m["user_id"]: m["role"] for m in srv.get(
        f"/organizations/{org_id}/members", token=owner).json["members"]}.get(agent_id) == "member")
    click(d, f'#member-rows tr[data-email="{agent_email}"] .member-remove')
    confirm(d)
    wait(d, lambda d: not d.find_elements(By.CSS_SELECTOR, f'#member-rows tr[data-email="{agent_email}"]'))
    assert srv.get("/users/me", token=agent).json["organization_id"] is None


def test_create_refused_shows_next_to_the_name(srv, driver):
    d = driver
    email = f"late-{uuid.uuid4().hex[:8]}@ui.test"
    _, tok = user(srv, email)
    org_page(d, srv, email)
    # Meanwhile the account founded an organization elsewhere: the page's form is refused.
    assert srv.post("/organizations", {"name": "Elsewhere"}, token=tok).status == 201
    css(d, "#org-name").send_keys("Second")
    css(d, "#org-create").click()
    err = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "#org-name + .field-error")))
    assert err.text
    assert css(d, "#org-name").get_attribute("aria-invalid") == "true"
    # A wrong invitation code is refused next to its field.
    css(d, "#org-join-token").send_keys("not-a-real-code")
    css(d, "#org-join").click()
    wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "#org-join-token + .field-error")))
    shot(d, "org-create-refused")


def test_owner_page_fits_a_phone_in_dark(srv):
    email = f"phone-{uuid.uuid4().hex[:8]}@ui.test"
    _, tok = user(srv, email)
    assert srv.post("/organizations", {"name": "Pocket"}, token=tok).status == 201
    m = new_driver(360, 800, dark=True)
    try:
        org_page(m, srv, email)
        wait(m, EC.presence_of_element_located((By.ID, "org-widget-keys")))
        css(m, "#wk-origins").send_keys(ORIGIN)
        css(m, "#wk-create").click()
        wait(m, EC.presence_of_element_located((By.ID, "widget-snippet")))
        wait(m, EC.presence_of_element_located((By.CSS_SELECTOR, "#widget-key-rows tr[data-id]")))
        # Wide tables scroll inside their own box; the page itself never scrolls sideways.
        assert m.execute_script("return document.documentElement.scrollWidth") <= 360
        assert not severe_logs(m)
        m.execute_script("document.getElementById('org-widget-keys').scrollIntoView()")
        shot(m, "org-owner-360-dark")
    finally:
        quit_driver(m)
