"""The web UI in a real browser: the user's journey from registration to an upgraded plan,
hostile content rendered inert, streaming with a stop button, the CSP, and how fast `/` opens."""
import json
import os
import time
import uuid

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select

from ui_helpers import (SHOTS, ask_ui, click, css, doc_status, login_ui, new_driver, quit_driver, severe_logs,
                        shot, upload_ui, url, wait)
from kb_helpers import make_pdf, private_server, upload_ready
from upstreams import Upstream


def test_journey_register_upload_ask_cite_quota_upgrade(server, driver, tmp_path):
    d = driver
    email = f"ui-{uuid.uuid4().hex[:8]}@example.com"
    # Register, with the server's validation message next to the field first.
    d.get(url(server, "/#/register"))
    wait(d, EC.element_to_be_clickable((By.ID, "f-email"))).send_keys("not-an-email")
    css(d, "#f-password").send_keys("password123")
    css(d, "#auth-submit").click()
    err = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "#f-email + .field-error")))
    assert "e-mail" in err.text and css(d, "#f-email").get_attribute("aria-invalid") == "true"
    shot(d, "journey-01-register-error")
    css(d, "#f-email").clear()
    css(d, "#f-email").send_keys(email)
    css(d, "#auth-submit").click()
    wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
    assert email in css(d, ".who").text

    # Upload a Markdown file and a PDF: the free plan takes no PDF, and says so next to it.
    md = tmp_path / "zephyr.md"
    md.write_text("# Zephyr station\n\nThe Zephyr weather station records a quokka count of "
                  "forty-two every morning at the northern ridge.\n")
    pdf = tmp_path / "lighthouse.pdf"
    pdf.write_bytes(make_pdf(["The Brindlecombe lighthouse keeper paints the lamp room",
                              "cobalt blue every spring."]))
    d.get(url(server, "/#/documents"))
    wait(d, EC.presence_of_element_located((By.ID, "file-input")))
    upload_ui(d, f"{md}\n{pdf}")
    wait(d, lambda d: doc_status(d, "zephyr") == "ready")
    failed = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, ".upload.failed")))
    assert "lighthouse.pdf" in failed.text and "limit" in failed.text.lower()
    assert css(d, "#storage").text  # storage used vs plan
    assert_contrast(d, "documents")
    shot(d, "journey-02-documents")

    # Ask: the answer streams in, cites the document, and the citation opens its excerpt.
    d.get(url(server, "/#/chat"))
    wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
    d.execute_script("""
        window.__partial = [];
        new MutationObserver(() => {
          for (const b of document.querySelectorAll('.msg .body.streaming'))
            if (b.textContent && !b.querySelector('.pending')) window.__partial.push(b.textContent.length);
        }).observe(document.getElementById('chat-log'), {subtree: true, childList: true, characterData: true});
    """)
    msg = ask_ui(d, "What does the Zephyr weather station count?")
    assert msg is not None and "quokka" in msg.text
    assert d.execute_script("return window.__partial")  # shown as it arrived, before Markdown
    cite = msg.find_element(By.CSS_SELECTOR, ".body .cite")
    cite.click()
    excerpt = wait(d, EC.visibility_of_element_located((By.ID, "source-excerpt")))
    assert "quokka count" in excerpt.text
    assert_contrast(d, "citation")
    assert "zephyr" in css(d, "#source-dialog h2").text.lower()
    shot(d, "journey-03-citation")
    css(d, "#source-dialog a.button").click()  # opens the document itself
    content = wait(d, EC.visibility_of_element_located((By.ID, "doc-content")))
    assert "northern ridge" in content.text
    css(d, "#doc-dialog button.secondary").click()

    # Feedback is recorded.
    d.get(url(server, "/#/chat"))
    wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
    click(d, "#sessions .session")
    click(d, ".vote-up")
    wait(d, lambda d: css(d, ".vote-up").get_attribute("aria-pressed") == "true")
    click(d, "#new-chat")
    click(d, "#sessions .session")  # reopened from the history: the vote is remembered
    wait(d, lambda d: css(d, ".vote-up").get_attribute("aria-pressed") == "true")

    # Usage shows the message.
    d.get(url(server, "/#/usage"))
    wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "#usage-month .bar")))
    assert css(d, '#usage-month [data-res="messages"]').text.endswith("1 of 10")
    assert_contrast(d, "usage")
    shot(d, "journey-04-usage")

    # Nine more messages through the API, then the 11th in the browser: the upgrade message.
    tok = server.login(email, "password123")
    for i in range(9):
        r = server.post("/chat/message", {"message": f"question {i}", "enable_rag": False}, token=tok)
        assert r.status == 200, r
    d.get(url(server, "/#/chat"))
    notice_msg = ask_ui(d, "One more question about Zephyr?")
    assert notice_msg is None
    notice = css(d, "#chat-notice")
    assert notice.is_displayed() and "all the messages your plan allows" in notice.text
    link = css(d, "#upgrade-link")
    assert link.get_attribute("href").endswith("#/pricing")
    assert_contrast(d, "quota notice")
    shot(d, "journey-05-quota")

    # An admin changes the user's plan in the console (another browser).
    a = new_driver()
    try:
        login_ui(a, server, "admin@example.com", "adminpassword123", "/admin#/users")
        q = wait(a, EC.element_to_be_clickable((By.ID, "q-email")))
        q.send_keys(email)
        css(a, "#user-filters button[type=submit]").click()
        row_sel = f'#user-rows tr[data-email="{email}"]'
        wait(a, lambda a: len(a.find_elements(By.CSS_SELECTOR, "#user-rows tr")) == 1
             and a.find_elements(By.CSS_SELECTOR, row_sel))
        Select(css(a, row_sel + ' select[name="subscription_plan"]')).select_by_value("pro")
        css(a, row_sel + " button").click()
        wait(a, lambda a: "Saved" in css(a, "#toast").text)
        assert_contrast(a, "admin users")
        shot(a, "journey-06-admin")
        a.get(url(server, "/admin#/audit"))
        wait(a, lambda a: "user" in css(a, "#audit-rows").text)
    finally:
        quit_driver(a)

    # The user's usage page shows the new limits; the PDF now goes in and can be asked about.
    d.get(url(server, "/#/usage"))
    wait(d, lambda d: css(d, '#usage-month [data-res="messages"]').text.endswith("10 of 100"))
    shot(d, "journey-07-usage-pro")
    d.get(url(server, "/#/documents"))
    wait(d, EC.presence_of_element_located((By.ID, "file-input")))
    upload_ui(d, str(pdf))
    wait(d, lambda d: doc_status(d, "lighthouse") == "ready")
    d.get(url(server, "/#/chat"))
    wait(d, EC.element_to_be_clickable((By.ID, "new-chat"))).click()
    msg = ask_ui(d, "What colour does the Brindlecombe lighthouse keeper paint the lamp room?")
    assert msg is not None and "cobalt" in msg.text
    cite = msg.find_element(By.CSS_SELECTOR, ".body .cite")
    cite.click()
    assert "cobalt" in wait(d, EC.visibility_of_element_located((By.ID, "source-excerpt"))).text
    assert severe_logs(d) == [] or all("429" in e["message"] for e in severe_logs(d))


HOSTILE = (
    "# Hostile\n\nThe hostile marker word is xylophone, in **bold** text.\n\n"
    "<script>window.__pwned = 'script'</script>\n\n"
    "<img src=x onerror=\"window.__pwned = 'img'\">\n\n"
    "[click me](javascript:window.__pwned='link') and <a href=\"javascript:window.__pwned='a'\">raw</a>\n\n"
    "<iframe src=\"javascript:window.__pwned='iframe'\"></iframe>"
    "<svg onload=\"window.__pwned='svg'\"></svg>\n\n"
    "<div style=\"position:fixed\" onclick=\"window.__pwned='div'\">**bold** xylophone [1]</div>\n"
)


def assert_inert(d):
    found = d.execute_script("""
        const main = document.getElementById('main');
        const bad = [];
        for (const el of document.querySelectorAll('main script, main img, main iframe, main svg, main object, main embed, dialog script, dialog img, dialog iframe'))
          bad.push(el.outerHTML);
        for (const el of document.querySelectorAll('[onerror], [onload], [onclick], .msg [style], dialog [style], #doc-rows [style]'))
          bad.push(el.outerHTML);
        for (const a of document.querySelectorAll('a[href]'))
          if (!/^(https?:|#|\\/)/i.test(a.getAttribute('href'))) bad.push(a.outerHTML);
        return {bad, pwned: window.__pwned === undefined ? null : String(window.__pwned)};
    """)
    assert found["pwned"] is None, found
    assert found["bad"] == [], found


def test_hostile_document_and_model_answer_render_inert(tmp_path):
    up = Upstream(answer=HOSTILE)
    s = private_server(OPENAI_API_BASE=up.base, OPENAI_API_KEY="sk-ui-test", OPENAI_MODEL="m")
    d = new_driver()
    try:
        s.cli("user", "create", "--email", "host@example.com", "--password", "password123",
              "--plan", "enterprise", "--data", s.data)
        tok = s.login("host@example.com", "password123")
        upload_ready(s, tok, HOSTILE, title="<img src=x onerror=\"window.__pwned='title'\">Hostile")
        login_ui(d, s, "host@example.com", "password123")
        msg = ask_ui(d, "What is the hostile marker word?")
        assert msg is not None and "xylophone" in msg.text
        # Markdown still renders (bold), and the raw HTML around it does not.
        assert msg.find_elements(By.CSS_SELECTOR, ".body strong") or "bold" in msg.text
        assert_inert(d)
        cites = msg.find_elements(By.CSS_SELECTOR, ".cite")
        if cites:
            cites[0].click()
            wait(d, EC.visibility_of_element_located((By.ID, "source-excerpt")))
            assert_inert(d)
            css(d, "#source-dialog button.secondary").click()
        d.get(url(s, "/#/documents"))
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#doc-rows tr[data-id]"))
        assert "<img" in css(d, "#doc-rows").text  # the title shown as text
        css(d, "#doc-rows button.link").click()
        wait(d, EC.visibility_of_element_located((By.ID, "doc-content")))
        assert "xylophone" in css(d, "#doc-content").text
        assert_inert(d)
        # The sanitiser itself, on every hostile form, through the app's own module.
        out = d.execute_async_script("""
            const done = arguments[arguments.length - 1];
            import('/static/js/dom.js').then((m) => {
              const div = document.createElement('div');
              div.append(m.markdown(arguments[0]));
              done(div.innerHTML);
            });
        """, HOSTILE)
        low = out.lower()
        for bad in ("<script", "<img", "<iframe", "<svg", "onerror", "onload", "onclick",
                    "javascript:", "style="):
            assert bad not in low, (bad, out)
        assert "<strong>bold</strong>" in out and "<h1>hostile</h1>" in low
        shot(d, "hostile-documents")
        assert_inert(d)
    finally:
        os.makedirs(SHOTS, exist_ok=True)
        d.save_screenshot(os.path.join(SHOTS, "test_hostile_document_and_model_answer_render_inert.png"))
        quit_driver(d)
        assert s.stop() == 0
        up.close()


def test_stop_button_ends_a_stream(tmp_path):
    words = " ".join(f"word{i}" for i in range(200))
    up = Upstream(answer=words, delay=0.05)
    s = private_server(OPENAI_API_BASE=up.base, OPENAI_API_KEY="sk-ui-test", OPENAI_MODEL="m")
    d = new_driver()
    try:
        s.cli("user", "create", "--email", "stop@example.com", "--password", "password123",
              "--plan", "pro", "--data", s.data)
        login_ui(d, s, "stop@example.com", "password123")
        box = wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
        d.execute_script("""
            window.__shift = 0;
            new PerformanceObserver((l) => { for (const e of l.getEntries()) window.__shift += e.value; })
              .observe({type: 'layout-shift', buffered: false});""")
        box.send_keys("Tell me everything")
        css(d, "#send").click()
        wait(d, lambda d: "word60" in css(d, "#chat-log").text)
        # Tokens arriving do not move what is on screen (cumulative layout shift ~ 0).
        assert d.execute_script("return window.__shift") < 0.05
        stop = css(d, "#stop")
        assert stop.is_displayed() and not css(d, "#send").is_displayed()
        stop.click()
        wait(d, lambda d: "Stopped." in css(d, "#chat-log").text)
        text = css(d, ".msg.assistant").text
        assert "word199" not in text
        assert css(d, "#send").is_displayed() and not css(d, "#stop").is_displayed()
    finally:
        os.makedirs(SHOTS, exist_ok=True)
        d.save_screenshot(os.path.join(SHOTS, "test_stop_button_ends_a_stream.png"))
        quit_driver(d)
        assert s.stop() == 0
        up.close()


def test_csp_header_size_and_time_to_interactive(server):
    r = server.get("/")
    csp = r.header("Content-Security-Policy")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    d = new_driver()  # a fresh profile: nothing cached, so every byte of / is counted
    try:
        d.get(url(server, "/"))
        wait(d, EC.element_to_be_clickable((By.ID, "f-email")))
        perf = d.execute_script("""
            const nav = performance.getEntriesByType('navigation')[0];
            const res = performance.getEntriesByType('resource');
            return {
              transfer: nav.transferSize + res.reduce((s, e) => s + e.transferSize, 0),
              decoded: nav.decodedBodySize + res.reduce((s, e) => s + e.decodedBodySize, 0),
              files: res.length + 1,
              interactive_ms: performance.now(),
              dcl_ms: nav.domContentLoadedEventEnd,
            };
        """)
        os.makedirs(SHOTS, exist_ok=True)
        with open(os.path.join(SHOTS, "perf.json"), "w") as f:
            json.dump(perf, f, indent=1)
        print("\n/ transferred", perf)
        assert perf["transfer"] < 300 * 1024, perf
        assert perf["interactive_ms"] < 3000, perf  # the target is 1 s on loopback; slack for ASan
        # A violation of the policy would show in the console; the page has none.
        assert severe_logs(d) == []
        assert_contrast(d, "login")
        # The browser enforces the policy: an inline script or style added to the page is refused.
        blocked = d.execute_script("""
            const sc = document.createElement('script');
            sc.textContent = 'window.__inline = 1';
            document.body.append(sc);
            const st = document.createElement('style');
            st.textContent = 'body { margin-left: 77px }';
            document.head.append(st);
            return [window.__inline === undefined, getComputedStyle(document.body).marginLeft];""")
        assert blocked == [True, "0px"], blocked
        assert any("Content Security Policy" in e["message"] for e in severe_logs(d))
        # The refresh token is not in any storage JavaScript can read.
        login_ui(d, server, "test@example.com", "testpassword123")
        wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
        leaked = d.execute_script("return [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)]")
        assert leaked == ["", "{}", "{}"], leaked
    finally:
        os.makedirs(SHOTS, exist_ok=True)
        d.save_screenshot(os.path.join(SHOTS, "test_csp_header_size_and_time_to_interactive.png"))
        quit_driver(d)


def assert_contrast(d, where):
    bad = d.execute_script(CONTRAST_JS)
    assert bad == [], (where, bad)


def test_narrow_screen_and_dark_theme(server):
    d = new_driver(width=360, height=740, dark=True)
    try:
        login_ui(d, server, "test@example.com", "testpassword123")
        wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
        width = d.execute_script("return document.documentElement.scrollWidth")
        assert width <= 360, width  # nothing wider than the screen
        bg = d.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert bg == "rgb(17, 19, 24)", bg  # the dark palette
        assert_contrast(d, "chat")
        for view in ("documents", "usage", "keys", "pricing", "profile"):
            d.get(url(server, f"/#/{view}"))
            wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "main h1"))
            time.sleep(0.2)
            assert d.execute_script("return document.documentElement.scrollWidth") <= 360, view
            assert_contrast(d, view)
            shot(d, f"narrow-dark-{view}")
        # Keyboard: Tab reaches the navigation and the focused element has a visible outline.
        d.get(url(server, "/#/chat"))
        wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
        ActionChains(d).send_keys(Keys.TAB).perform()
        outline = d.execute_script("""
            const el = document.activeElement;
            return el.matches(':focus-visible') ? getComputedStyle(el).outlineStyle : 'none';
        """)
        assert outline == "solid"
    finally:
        os.makedirs(SHOTS, exist_ok=True)
        d.save_screenshot(os.path.join(SHOTS, "test_narrow_screen_and_dark_theme.png"))
        quit_driver(d)


def test_api_keys_create_copy_once_revoke(server, driver):
    d = driver
    login_ui(d, server, "test@example.com", "testpassword123")
    wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
    d.get(url(server, "/#/keys"))
    wait(d, EC.element_to_be_clickable((By.ID, "key-name"))).send_keys("ui key")
    css(d, "#key-form button").click()
    key = wait(d, EC.visibility_of_element_located((By.ID, "new-key"))).text
    assert key.startswith("rgd_")
    assert server.get("/auth/me", headers={"X-API-Key": key}).status == 200
    row = wait(d, lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, "#key-rows tr") if "ui key" in r.text])[0]
    assert key not in css(d, "#key-rows").text  # only the prefix is listed
    row.find_element(By.CSS_SELECTOR, "button.danger").click()
    wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, "dialog [data-confirm]"))).click()
    wait(d, lambda d: "ui key" not in css(d, "#key-rows").text)
    assert server.get("/auth/me", headers={"X-API-Key": key}).status == 401


def test_profile_preferences_and_logout_everywhere(server, driver):
    d = driver
    email = f"prof-{uuid.uuid4().hex[:8]}@example.com"
    server.register(email)
    other = server.post("/auth/login", {"email": email, "password": "password123"}).json
    login_ui(d, server, email, "password123")
    wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
    d.get(url(server, "/#/profile"))
    name = wait(d, EC.element_to_be_clickable((By.ID, "p-username")))
    name.send_keys(f"u{uuid.uuid4().hex[:6]}")
    topk = css(d, "#p-topk")
    topk.clear()
    topk.send_keys("3")
    css(d, "#profile-form button[type=submit]").click()
    wait(d, lambda d: "Saved" in css(d, "#toast").text)
    me = server.get("/users/me", token=other["access_token"]).json
    assert me["preferences"]["chat_top_k"] == 3 and me["username"].startswith("u")
    shot(d, "profile")
    css(d, "#logout-all").click()
    wait(d, EC.element_to_be_clickable((By.ID, "f-email")))
    # Every session of the account is gone: another client's refresh token no longer works.
    r = server.post("/auth/refresh", {"refresh_token": other["refresh_token"]})
    assert r.status == 401, r


def test_admin_dashboard_charts_and_non_admin_refused(server, driver):
    d = driver
    login_ui(d, server, "admin@example.com", "adminpassword123", "/admin")
    wait(d, lambda d: d.execute_script(
        "return !!(window.Chart && Chart.getChart('plan-chart') && Chart.getChart('lat-chart'))"))
    plans = d.execute_script("return Chart.getChart('plan-chart').data.datasets[0].data")
    assert plans[2] >= 1 and sum(plans) >= 3  # the demo admin is on enterprise
    routes = d.execute_script("return Chart.getChart('req-chart').data.labels")
    assert "/auth/login" in routes and not [r for r in routes if r.startswith("/static")]
    assert severe_logs(d) == []  # Chart.js draws within the Content-Security-Policy
    # Everything comes from GET /admin/stats: activity per day, quota burn, top users.
    daily = d.execute_script("return Chart.getChart('daily-chart').data")
    assert len(daily["labels"]) == 30 and len(daily["datasets"]) == 2
    assert d.execute_script("return !!(Chart.getChart('burn-chart') && Chart.getChart('top-chart'))")
    assert css(d, "#tile-burn .tile-value").text and css(d, "#tile-queue .tile-value").text
    assert not d.execute_script(
        "return performance.getEntriesByType('resource').some((e) => e.name.endsWith('/metrics'))")
    shot(d, "admin-dashboard")
    d.get(url(server, "/admin#/users"))
    wait(d, lambda d: "admin@example.com" in css(d, "#user-rows").text)
    Select(css(d, "#q-active")).select_by_value("false")
    css(d, "#user-filters button[type=submit]").click()
    wait(d, lambda d: "admin@example.com" not in css(d, "#user-rows").text)
    b = new_driver()
    try:
        login_ui(b, server, "test@example.com", "testpassword123", "/admin")
        assert "administrators" in wait(b, EC.visibility_of_element_located((By.ID, "admin-required"))).text
    finally:
        quit_driver(b)


def test_slash_commands_render_interactive_cards(server, driver):
    d = driver
    login_ui(d, server, "test@example.com", "testpassword123")
    box = wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
    box.send_keys("/m")
    assert "/mcq" in css(d, "#slash-hint").text and "/flashcard" not in css(d, "#slash-hint").text
    box.clear()
    msg = ask_ui(d, "/mcq quotas")
    card = msg.find_element(By.CSS_SELECTOR, ".card.mcq")
    options = card.find_elements(By.CSS_SELECTOR, "button.option")
    assert len(options) == 4
    options[0].click()
    result = card.find_element(By.CSS_SELECTOR, ".result").text
    assert result.startswith("Correct.") or "the answer is" in result
    assert all(not o.is_enabled() for o in card.find_elements(By.CSS_SELECTOR, "button.option"))
    msg = ask_ui(d, "/flashcard quotas")
    cards = msg.find_elements(By.CSS_SELECTOR, ".card.flash")
    assert cards
    back = cards[0].find_element(By.CSS_SELECTOR, ".back")
    assert not back.is_displayed()
    cards[0].find_element(By.CSS_SELECTOR, "button").click()
    assert back.is_displayed() and back.text
    shot(d, "slash-cards")


def test_rate_limit_countdown():
    s = private_server(RATE_LIMIT_CHAT="1/4")
    d = new_driver()
    try:
        login_ui(d, s, "test@example.com", "testpassword123")
        assert ask_ui(d, "first question") is not None
        assert ask_ui(d, "second question") is None
        count = wait(d, EC.visibility_of_element_located((By.ID, "countdown")))
        first = count.text
        assert "try again in" in first
        assert not css(d, "#send").is_enabled()
        assert css(d, "#chat-input").get_attribute("value") == "second question"  # kept
        wait(d, lambda d: css(d, "#countdown").text != first, timeout=5)  # it counts down
        wait(d, lambda d: css(d, "#send").is_enabled(), timeout=10)
        assert not css(d, "#chat-notice").is_displayed()
        css(d, "#send").click()  # the kept question goes now
        wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".msg.assistant:not([aria-busy])")) == 2)
    finally:
        os.makedirs(SHOTS, exist_ok=True)
        d.save_screenshot(os.path.join(SHOTS, "test_rate_limit_countdown.png"))
        quit_driver(d)
        assert s.stop() == 0


CONTRAST_JS = """
function rgba(s) {
  const m = s.match(/rgba?\\(([^)]+)\\)/);
  if (!m) return null;
  const p = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number);
  return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
}
function lum([r, g, b]) {
  const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
}
function background(el) {
  for (let e = el; e; e = e.parentElement) {
    const c = rgba(getComputedStyle(e).backgroundColor);
    if (c && c[3] > 0.5) return c;
  }
  return rgba(getComputedStyle(document.documentElement).backgroundColor) || [255, 255, 255, 1];
}
const bad = [];
for (const el of document.querySelectorAll('body *')) {
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.nodeValue.trim());
  if (!own || !el.offsetParent && getComputedStyle(el).position !== 'fixed') continue;
  const cs = getComputedStyle(el);
  if (cs.visibility === 'hidden' || Number(cs.opacity) === 0 || el.closest('[hidden], .toast, button:disabled')) continue;
  const fg = rgba(cs.color), bg = background(el);
  const l1 = lum(fg), l2 = lum(bg);
  const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
  const size = parseFloat(cs.fontSize), bold = Number(cs.fontWeight) >= 700;
  const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < need) bad.push(`${el.tagName}.${el.className} "${el.textContent.trim().slice(0, 30)}" ${ratio.toFixed(2)} < ${need}`);
}
return bad;
"""


def test_plan_change_shows_proration_before_confirming(server, driver):
    d = driver
    email = f"plan-{uuid.uuid4().hex[:8]}@example.com"
    server.register(email)
    login_ui(d, server, email, "password123")
    wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
    d.get(url(server, "/#/pricing"))
    wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, 'a[href="#/usage?plan=pro"]'))).click()
    wait(d, EC.element_to_be_clickable((By.ID, "preview-plan")))
    assert Select(css(d, "#plan-select")).first_selected_option.get_attribute("value") == "pro"
    css(d, "#preview-plan").click()
    estimate = wait(d, lambda d: css(d, "#proration").text)
    assert estimate.startswith("Estimated now") and css(d, "#confirm-plan").is_displayed()
    # Nothing changes before the confirmation.
    tok = server.login(email, "password123")
    assert server.get("/billing/subscription", token=tok).json["plan_type"] == "free"
    shot(d, "plan-preview")
    css(d, "#confirm-plan").click()
    done = wait(d, lambda d: "Plan changed" in css(d, "#proration").text and css(d, "#proration").text)
    sub = server.get("/billing/subscription", token=tok).json
    assert sub["plan_type"] == "pro"
    ev = server.get("/billing/history", token=tok).json["items"][0]
    net = ev["amount_cents"]
    # The estimate shown first and the server's figure agree to the cent (same rule, same clock).
    est_net = estimate.rsplit("net ", 1)[1].rstrip(".")
    assert est_net == done.rsplit("net ", 1)[1].rstrip("."), (estimate, done)
    assert f"{net / 100:.2f}" in done.replace(",", ""), (net, done)
    wait(d, lambda d: css(d, '#usage-month [data-res="messages"]').text.endswith("of 100"))


def test_documents_drag_and_drop_failure_reason_and_delete(server, driver):
    d = driver
    login_ui(d, server, "test@example.com", "testpassword123")
    wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
    d.get(url(server, "/#/documents"))
    wait(d, EC.presence_of_element_located((By.ID, "drop")))
    # Two files dropped at once: a Markdown note and a PDF whose body is broken.
    d.execute_script("""
        const dt = new DataTransfer();
        dt.items.add(new File(['# Dropped note\\n\\nThe dropped note mentions a marmalade index.\\n'],
                              'dropped-note.md', {type: 'text/markdown'}));
        dt.items.add(new File(['%PDF-1.4\\n1 0 obj broken beyond repair\\n%%EOF\\n'],
                              'broken.pdf', {type: 'application/pdf'}));
        const drop = document.getElementById('drop');
        drop.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));
        drop.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
    """)
    wait(d, lambda d: doc_status(d, "dropped-note") == "ready")
    wait(d, lambda d: doc_status(d, "broken") == "failed")
    reason = d.execute_script("""
        for (const tr of document.querySelectorAll('#doc-rows tr[data-id]'))
          if (tr.textContent.includes('broken')) return tr.querySelector('.field-error')?.textContent || '';
        return null;""")
    assert reason, "a failed document shows why"
    shot(d, "documents-dropped")
    # Delete asks first; cancelling keeps the document, confirming removes it.
    def delete_button():
        for tr in d.find_elements(By.CSS_SELECTOR, "#doc-rows tr[data-id]"):
            if "dropped-note" in tr.text:
                return tr.find_element(By.CSS_SELECTOR, "button.danger")
    delete_button().click()
    wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, "dialog button.secondary"))).click()
    assert doc_status(d, "dropped-note") == "ready"
    delete_button().click()
    wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, "dialog [data-confirm]"))).click()
    wait(d, lambda d: doc_status(d, "dropped-note") is None)
    tok = server.login("test@example.com", "testpassword123")
    titles = [x["title"] for x in server.get("/documents?limit=100", token=tok).json["documents"]]
    assert "dropped-note" not in titles and "broken" in titles


def test_expired_access_token_is_refreshed_in_the_background():
    s = private_server(RAGD_TEST_MODE="1")
    d = new_driver()
    try:
        admin = s.login("admin@example.com", "adminpassword123")
        login_ui(d, s, "test@example.com", "testpassword123")
        wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
        # 31 minutes later the access token has expired; the page trades its refresh token for a
        # new pair and the user sees nothing of it.
        r = s.post("/admin/test/clock", {"offset_ms": 31 * 60 * 1000}, token=admin)
        assert r.status == 200, r
        d.get(url(s, "/#/usage"))
        wait(d, lambda d: css(d, '#usage-month [data-res="messages"]').text.endswith("of 100"))
        assert not d.find_elements(By.ID, "f-email")
        assert d.execute_script(
            "return performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/auth/refresh')).length") == 1
        d.get(url(s, "/#/keys"))
        wait(d, EC.element_to_be_clickable((By.ID, "key-name")))
        # Logged out everywhere from another client, and the access token expires again: the
        # refresh is refused and the page returns to the login form.
        other = s.login("test@example.com", "testpassword123")
        assert s.post("/auth/logout", {"all_sessions": True}, token=other).status == 200
        admin = s.login("admin@example.com", "adminpassword123")  # its token expired too
        assert s.post("/admin/test/clock", {"offset_ms": 62 * 60 * 1000}, token=admin).status == 200
        d.get(url(s, "/#/usage"))
        wait(d, EC.element_to_be_clickable((By.ID, "f-email")))
        assert "test@example.com" not in css(d, "#top").text
    finally:
        os.makedirs(SHOTS, exist_ok=True)
        d.save_screenshot(os.path.join(SHOTS, "test_expired_access_token_is_refreshed.png"))
        quit_driver(d)
        assert s.stop() == 0


def test_reload_keeps_the_session_and_the_refresh_cookie_stays_hidden(server, driver):
    d = driver
    email = f"reload-{uuid.uuid4().hex[:8]}@example.com"
    server.register(email)
    login_ui(d, server, email, "password123")
    wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
    # Scripts see no cookie at all; the refresh token is HttpOnly, SameSite=Strict, /auth.
    readable = d.execute_script("return document.cookie")
    assert readable == ""
    jar = {c["name"]: c for c in d.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]}
    ref = jar["ragd_refresh"]
    assert ref["httpOnly"] and ref["path"] == "/auth" and ref["sameSite"] == "Strict"
    assert ref["value"] not in readable and ref["value"] not in d.page_source
    assert not d.execute_script("return Object.keys(localStorage).length + Object.keys(sessionStorage).length")
    # The cookie alone does not refresh: a request without the CSRF header is refused.
    status = d.execute_script(
        "return fetch('/auth/refresh', {method: 'POST'}).then((r) => r.status)")
    assert status == 403
    # A reload (and another page of the same origin) resumes the session without a login.
    d.refresh()
    wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
    assert email in css(d, ".who").text and not d.find_elements(By.ID, "f-email")
    d.get(url(server, "/admin"))
    wait(d, EC.visibility_of_element_located((By.ID, "admin-required")))
    # Logging out clears the cookies: a reload then asks to log in.
    d.get(url(server, "/#/chat"))
    click(d, "#logout")
    wait(d, EC.element_to_be_clickable((By.ID, "f-email")))
    assert not [c for c in d.execute_cdp_cmd("Network.getAllCookies", {})["cookies"]
                if c["name"] == "ragd_refresh"]
    d.refresh()
    wait(d, EC.element_to_be_clickable((By.ID, "f-email")))
    assert email not in css(d, "#top").text


def test_a_session_rotated_by_another_tab_still_logs_out(server, driver):
    d = driver
    email = f"tabs-{uuid.uuid4().hex[:8]}@example.com"
    server.register(email)
    login_ui(d, server, email, "password123")
    wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
    # Another tab of the same browser refreshes: the cookie rotates, this page's token is stale.
    status = d.execute_script("""
        const c = await (await fetch('/auth/csrf')).json();
        const r = await fetch('/auth/refresh', {method: 'POST',
          headers: {'X-Ragd-Session': 'cookie', 'X-CSRF-Token': c.csrf_token}});
        return r.status;""")
    assert status == 200
    click(d, "#logout")
    wait(d, EC.element_to_be_clickable((By.ID, "f-email")))
    # The server session is gone too: a reload does not bring it back.
    d.refresh()
    wait(d, EC.element_to_be_clickable((By.ID, "f-email")))
    assert email not in css(d, "#top").text
    assert d.execute_script("return fetch('/auth/csrf').then((r) => r.json())") == {"csrf_token": None}
