"""The support desk in a real browser: an angry widget conversation escalates into a ticket;
the organization's agent finds it in the inbox with its priority, opens it, reads the
transcript and the sentiment trail, writes an internal note (by keyboard) and a reply, moves
it to resolved and sees a refused transition next to the status control; the visitor's
conversation then holds the reply and not the note. A visitor's markup renders inert. The
owner's analytics show the conversations with their charts; a plain member has no inbox link
and gets the server's refusal at its address; the console lists every organization's tickets
and shows the dashboard's per-user, feature and conversion figures."""
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from support_helpers import ACME_DOC, GLOBEX_DOC, make_org, support_server
from ui_helpers import click, css, login_ui, new_driver, quit_driver, severe_logs, shot, wait

ORIGIN = "http://127.0.0.1:8321"
ADMIN = ("admin@example.com", "adminpassword123")
HOSTILE = ('Hello <img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> '
           '[x](javascript:window.__pwned=3) where is my order?')
ANGRY = [
    "Your blender broke after two days. This is terrible!",
    "I am furious, this is the worst service ever and nobody helps me!!!",
]
NOTE = "Internal: check the warranty record before answering."
REPLY = "Sorry about that! I am sending a replacement blender today."


@pytest.fixture(scope="module")
def desk():
    s = support_server(WIDGET_SESSIONS_PER_IP_PER_MINUTE="1000", RATE_LIMIT_WIDGET="1000/60",
                       WIDGET_MESSAGES_PER_SESSION_PER_MINUTE="1000", RATE_LIMIT_API="10000/60")
    org = make_org(s, "Acme", ACME_DOC, ORIGIN)
    # An angry conversation, after a message full of markup, escalates into a ticket.
    r = s.post("/widget/session", {"key": org.key}, headers={"Origin": ORIGIN})
    assert r.status == 201, r
    visitor = {"Authorization": "Bearer " + r.json["session_token"], "Origin": ORIGIN}
    conv = r.json["conversation_id"]
    answers = []
    for text in [HOSTILE] + ANGRY:
        r = s.post("/widget/message", {"message": text}, headers=visitor)
        assert r.status == 200, r
        answers.append(r.json)
    esc = answers[-1]["escalation"] or answers[-2]["escalation"]
    assert esc and esc["ticket_id"], answers
    yield s, org, visitor, conv, esc["ticket_id"]
    assert s.stop() == 0


def token(org, role):
    return org.people[role][1]


def email(org, role):
    return org.people[role][2]


def login_as(d, s, org, role, path):
    login_ui(d, s, email(org, role), "password123", path=path)


def test_agent_works_a_ticket_from_the_inbox(desk, driver):
    s, org, visitor, conv, tid = desk
    d = driver
    api_ticket = s.get(f"/tickets/{tid}", token=token(org, "agent")).json
    assert api_ticket["assigned_to"] == org.people["agent"][0]  # round robin: the one agent
    prio = api_ticket["priority"]
    assert prio in ("HIGH", "URGENT")

    login_as(d, s, org, "agent", "/#/tickets")
    row = f'#ticket-rows li[data-id="{tid}"]'
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    # The agent's links: the inbox, not the analytics (owners and admins only).
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, '#top nav a[href="#/tickets"]')))
    assert not d.find_elements(By.CSS_SELECTOR, '#top nav a[href="#/analytics"]')
    assert css(d, row).get_attribute("data-priority") == prio
    assert css(d, f"{row} .badge.prio-{prio}").text.upper() == prio
    assert css(d, f"{row} .badge.status-open").is_displayed()
    assert css(d, f'{row} .badge[data-sla="first_response_due"]').text
    assert css(d, f"{row} .ticket-subject").text == api_ticket["subject"]
    # Filters: mine and open keeps it; LOW priority does not.
    Select(css(d, "#tf-assignee")).select_by_value("me")
    Select(css(d, "#tf-status")).select_by_value("open")
    css(d, "#tf-apply").click()
    wait(d, lambda d: css(d, "#ticket-count").get_attribute("data-total") == "1")
    assert d.find_elements(By.CSS_SELECTOR, row)
    Select(css(d, "#tf-priority")).select_by_value("LOW")
    css(d, "#tf-apply").click()
    wait(d, lambda d: not d.find_elements(By.CSS_SELECTOR, row))
    Select(css(d, "#tf-priority")).select_by_value("")
    css(d, "#tf-q").send_keys("furious")
    css(d, "#tf-apply").click()
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    shot(d, "desk-inbox")

    # The ticket: transcript, the markup as text, the sentiment trail.
    click(d, f"{row} .ticket-subject")
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "#transcript li.role-visitor")))
    visitors = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#transcript li.role-visitor .tmsg-body")]
    assert visitors == [HOSTILE] + ANGRY
    assert len(d.find_elements(By.CSS_SELECTOR, "#transcript li.role-assistant")) == 3
    for sel in ("main img", "main script", "main iframe", 'main a[href^="javascript"]'):
        assert not d.find_elements(By.CSS_SELECTOR, sel), sel
    assert not d.execute_script("return window.__pwned")
    steps = d.find_elements(By.CSS_SELECTOR, "#sentiment-trail .trail-step")
    assert [e.get_attribute("data-label") for e in steps] == [x["label"] for x in api_ticket["sentiment_trail"]]
    assert [e.get_attribute("data-label") for e in steps][-2:] == ["NEGATIVE", "NEGATIVE"]
    assert css(d, "#ticket-badges .badge.prio-" + prio).is_displayed()

    # An internal note, written with the keyboard only.
    box = css(d, "#reply-body")
    box.click()
    box.send_keys(NOTE)
    box.send_keys(Keys.TAB)
    assert d.switch_to.active_element.get_attribute("id") == "reply-internal"
    d.switch_to.active_element.send_keys(Keys.SPACE)
    d.switch_to.active_element.send_keys(Keys.TAB)
    assert d.switch_to.active_element.get_attribute("id") == "reply-send"
    d.switch_to.active_element.send_keys(Keys.ENTER)
    note = "#transcript li.role-agent.internal"
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, note)))
    assert css(d, f"{note} .tmsg-body").text == NOTE
    # A reply the visitor sees.
    css(d, "#reply-body").send_keys(REPLY)
    assert not css(d, "#reply-internal").is_selected()
    css(d, "#reply-send").click()
    sent = "#transcript li.role-agent:not(.internal)"
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, sent)))
    assert css(d, f"{sent} .tmsg-body").text == REPLY
    assert css(d, "#ticket-first-response").text not in ("", "not yet")

    # Resolved; then a transition the server refuses, shown next to the status control.
    Select(css(d, "#tk-status")).select_by_value("resolved")
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "#ticket-badges .badge.status-resolved")))
    Select(css(d, "#tk-status")).select_by_value("pending")
    err = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, '[data-control="status"] .field-error')))
    assert err.get_attribute("data-code") == "INVALID_STATUS_TRANSITION" and err.text
    assert css(d, "#tk-status").get_attribute("value") == "resolved"
    assert css(d, "#tk-status").get_attribute("aria-invalid") == "true"
    after = s.get(f"/tickets/{tid}", token=token(org, "agent")).json
    assert after["status"] == "resolved" and after["resolved_at"] and after["first_response_at"]
    assert not [e for e in severe_logs(d) if e["source"] != "network"]
    d.execute_script("document.getElementById('ticket-transcript').scrollIntoView()")
    shot(d, "desk-ticket")

    # The visitor's conversation has the reply, never the note.
    msgs = s.get("/widget/conversation", headers=visitor).json["messages"]
    assert [m["body"] for m in msgs if m["role"] == "agent"] == [REPLY]
    assert all(NOTE not in m["body"] for m in msgs)

    # At 360 px the ticket is usable without sideways scrolling.
    m = new_driver(360, 800, dark=True)
    try:
        login_as(m, s, org, "agent", "/#/tickets")
        wait(m, EC.presence_of_element_located((By.CSS_SELECTOR, row)))
        m.execute_script("location.hash = arguments[0]", f"#/tickets?id={tid}")
        wait(m, EC.presence_of_element_located((By.CSS_SELECTOR, "#transcript li.role-agent")))
        assert m.execute_script("return document.documentElement.scrollWidth") <= 360
        assert css(m, "#reply-send").is_displayed() and css(m, "#tk-status").is_displayed()
        assert not [e for e in severe_logs(m) if e["source"] != "network"]
        shot(m, "desk-ticket-360-dark")
    finally:
        quit_driver(m)


def test_member_has_no_inbox_and_is_refused(desk, driver):
    s, org, *_ = desk
    d = driver
    login_as(d, s, org, "member", "/#/chat")
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, '#top nav a[href="#/org"]')))
    assert not d.find_elements(By.CSS_SELECTOR, '#top nav a[href="#/tickets"]')
    assert not d.find_elements(By.CSS_SELECTOR, '#top nav a[href="#/analytics"]')
    r = s.get("/tickets", token=token(org, "member"))
    assert r.status == 403 and r.json["code"] == "ORG_PERMISSION_DENIED"
    d.get(d.current_url.split("#")[0] + "#/tickets")
    err = wait(d, EC.visibility_of_element_located((By.ID, "tickets-error")))
    assert err.get_attribute("data-code") == "ORG_PERMISSION_DENIED"
    assert err.text == r.json["detail"]["message"]
    assert not d.find_elements(By.CSS_SELECTOR, "#ticket-rows li[data-id]")
    d.get(d.current_url.split("#")[0] + "#/analytics")
    err = wait(d, EC.visibility_of_element_located((By.ID, "analytics-error")))
    assert err.get_attribute("data-code") == "ORG_PERMISSION_DENIED"
    shot(d, "desk-member-refused")


def test_owner_sees_analytics(desk, driver):
    s, org, *_ = desk
    d = driver
    login_as(d, s, org, "owner", "/#/analytics")
    wait(d, EC.presence_of_element_located((By.ID, "analytics-tiles")))
    for link in ("#/tickets", "#/analytics"):
        assert d.find_elements(By.CSS_SELECTOR, f'#top nav a[href="{link}"]'), link
    a = s.get("/analytics", token=token(org, "owner")).json
    assert a["totals"]["conversations"] >= 1 and a["totals"]["tickets"] >= 1
    assert css(d, "#an-conversations .tile-value").text == str(a["totals"]["conversations"])
    assert css(d, "#an-tickets .tile-value").text == str(a["totals"]["tickets"])
    assert css(d, "#an-conversations .tile-value").text != "0"
    # The charts are drawn with the figures (Chart.js loaded on first use).
    wait(d, lambda d: d.execute_script(
        "return !!(window.Chart && Chart.getChart(document.getElementById('an-daily-chart')))"))
    daily = d.execute_script(
        "return Chart.getChart(document.getElementById('an-daily-chart')).data.datasets[0].data")
    assert sum(daily) == a["totals"]["conversations"]
    for c in ("an-sentiment-chart", "an-trend-chart", "an-status-chart"):
        assert d.execute_script(f"return !!Chart.getChart(document.getElementById('{c}'))"), c
    # The tables: one row per group of questions (or a line saying there is none).
    tops = d.find_elements(By.CSS_SELECTOR, "#top-questions tbody tr")
    assert a["top_questions"] and len(tops) == len(a["top_questions"])
    assert tops[0].find_element(By.CSS_SELECTOR, "td").text == a["top_questions"][0]["question"]
    gaps = d.find_elements(By.CSS_SELECTOR, "#doc-gaps tbody tr")
    assert len(gaps) == max(1, len(a["low_confidence"]["questions"]))
    assert not d.find_elements(By.CSS_SELECTOR, "main img, main script")
    shot(d, "desk-analytics")
    # A range the server refuses is shown next to the dates.
    d.execute_script("document.getElementById('an-from').value = '2026-05-02';"
                     "document.getElementById('an-to').value = '2026-05-01';")
    css(d, "#an-apply").click()
    wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "#analytics-range .field-error")))
    assert not [e for e in severe_logs(d) if e["source"] != "network"]


def test_console_lists_every_organizations_tickets(desk, driver):
    s, org, _, _, tid = desk
    d = driver
    # A second organization with a ticket of its own (the keyword rule).
    other = make_org(s, "Globex", GLOBEX_DOC, "http://127.0.0.1:8322")
    r = s.post("/widget/session", {"key": other.key}, headers={"Origin": other.origin})
    assert r.status == 201, r
    r = s.post("/widget/message", {"message": "I want a refund for my toaster"},
               headers={"Authorization": "Bearer " + r.json["session_token"], "Origin": other.origin})
    assert r.status == 200 and r.json["escalation"]["ticket_id"], r
    other_tid = r.json["escalation"]["ticket_id"]
    login_ui(d, s, *ADMIN, path="/admin#/dashboard")
    wait(d, EC.presence_of_element_located((By.ID, "tile-avg-requests")))
    st = s.get("/admin/stats", token=s.login(*ADMIN)).json
    assert css(d, "#tile-conversion").text
    wait(d, lambda d: d.execute_script(
        "return !!Chart.getChart(document.getElementById('feature-chart'))"))
    feats = d.execute_script(
        "return Chart.getChart(document.getElementById('feature-chart')).data.datasets[0].data")
    assert feats == [f["uses"] for f in st["feature_popularity"]]
    shot(d, "desk-console-dashboard")
    click(d, '#top nav a[href="#/tickets"]')
    row = f'#ticket-rows li[data-id="{tid}"]'
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    other_row = f'#ticket-rows li[data-id="{other_tid}"]'
    assert org.name in css(d, f"{row} .ticket-org").text
    assert other.name in css(d, f"{other_row} .ticket-org").text
    Select(css(d, "#tf-org")).select_by_visible_text(org.name)
    css(d, "#tf-apply").click()
    wait(d, lambda d: not d.find_elements(By.CSS_SELECTOR, other_row))
    assert css(d, "#ticket-count").get_attribute("data-total") == "1"
    assert d.find_elements(By.CSS_SELECTOR, row)
    shot(d, "desk-console-tickets")
    click(d, f"{row} .ticket-subject")
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "#transcript li.role-visitor")))
    assert not d.find_elements(By.CSS_SELECTOR, "main img, main script")
    assert not d.execute_script("return window.__pwned")
    assert not [e for e in severe_logs(d) if e["source"] != "network"]


def test_overdue_tickets_are_marked(desk, driver):
    s, org, *_ = desk
    d = driver
    r = s.post("/widget/session", {"key": org.key}, headers={"Origin": ORIGIN})
    assert r.status == 201, r
    r = s.post("/widget/message", {"message": "I want a refund for the blender"},
               headers={"Authorization": "Bearer " + r.json["session_token"], "Origin": ORIGIN})
    assert r.status == 200 and r.json["escalation"]["new_ticket"], r
    tid = r.json["escalation"]["ticket_id"]
    admin = s.login(*ADMIN)
    # A day and an hour later (the test clock), a HIGH ticket misses both of its targets.
    assert s.post("/admin/test/clock", {"offset_ms": 25 * 3600000}, token=admin).status == 200
    try:
        # (tokens issued before the jump have expired on that clock)
        r = s.get(f"/tickets/{tid}", token=s.login(email(org, "agent"), "password123"))
        assert r.status == 200, r
        sla = r.json["sla"]
        assert sla["first_response_breached"] and sla["resolution_breached"], sla
        login_as(d, s, org, "agent", "/#/tickets")
        row = f'#ticket-rows li[data-id="{tid}"]'
        wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, row)))
        for b in ("first_response_breached", "resolution_breached"):
            assert css(d, f'{row} .badge.sla-breached[data-sla="{b}"]').is_displayed(), b
        assert not d.find_elements(By.CSS_SELECTOR, f'{row} .badge.sla-due')
        shot(d, "desk-inbox-overdue")
    finally:
        assert s.post("/admin/test/clock", {"offset_ms": 0}, token=s.login(*ADMIN)).status == 200
