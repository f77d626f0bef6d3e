"""The embeddable widget in a real browser: a page served from another loopback port, with
hostile CSS, loads /widget.js with a publishable key and chats end to end (streamed answer
from the organization's document, sources, feedback, hand-off), by keyboard, and at 360 px."""
import functools
import http.server
import os
import threading
import time

import pytest
from selenium.webdriver.common.keys import Keys

from ui_helpers import SHOTS, new_driver, quit_driver, severe_logs
from ragd_client import free_port, wait_for
from support_helpers import ACME_DOC, make_org, support_server

HOSTILE = """
  body * { display: none !important; color: red !important; font-size: 40px !important;
           background: red !important; }
  ragd-support-widget { display: none !important; visibility: hidden !important; }
  button, section, div, textarea { all: unset !important; }
  p.host-text { display: block !important; color: red !important; }
"""


def host_page(ragd_port, key):
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Host shop</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{HOSTILE}</style></head>
<body><p class="host-text">Welcome to the Acme shop.</p>
<script src="http://127.0.0.1:{ragd_port}/widget.js" data-key="{key}" async></script>
</body></html>"""


@pytest.fixture(scope="module")
def site():
    host_port = free_port()
    origin = f"http://127.0.0.1:{host_port}"
    s = support_server()
    org = make_org(s, "Acme", ACME_DOC, origin)
    page = host_page(s.port, org.key).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", host_port), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield s, org, origin
    httpd.shutdown()
    s.stop()


def shadow(d, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        hosts = d.find_elements("css selector", "ragd-support-widget")
        if hosts:
            return hosts[0], hosts[0].shadow_root
        time.sleep(0.1)
    raise AssertionError("the widget did not appear")


def js(d, script, *args):
    return d.execute_script(script, *args)


until = functools.partial(wait_for, timeout=30, interval=0.1)




def q(d, host, sel):
    return js(d, "return arguments[0].shadowRoot.querySelector(arguments[1])", host, sel)


def qa(d, host, sel):
    return js(d, "return Array.from(arguments[0].shadowRoot.querySelectorAll(arguments[1]))",
              host, sel)


def style_of(d, el, prop):
    return js(d, "return getComputedStyle(arguments[0]).getPropertyValue(arguments[1])", el, prop)


def shot(d, name):
    os.makedirs(SHOTS, exist_ok=True)
    d.save_screenshot(os.path.join(SHOTS, name + ".png"))


def test_widget_chats_on_a_hostile_page(site):
    s, org, origin = site
    d = new_driver()
    try:
        d.get(origin + "/")
        host, _ = shadow(d)
        assert style_of(d, host, "display") == "block"
        launcher = until(lambda: q(d, host, ".launcher"), what="launcher")
        assert style_of(d, launcher, "display") != "none"
        assert style_of(d, launcher, "color") != "rgb(255, 0, 0)"
        assert style_of(d, launcher, "font-size") == "14px"
        assert launcher.is_displayed()
        assert launcher.get_attribute("aria-expanded") == "false"
        launcher.click()
        panel = q(d, host, ".panel")
        until(lambda: style_of(d, panel, "display") == "flex", what="panel open")
        # The theme came with the session: the organization's title.
        title = q(d, host, "#ragd-title")
        until(lambda: title.text == "Support", what="title")
        box = q(d, host, "#ragd-input")
        assert js(d, "return arguments[0].shadowRoot.activeElement === arguments[1]", host, box)
        box.send_keys("What warranty does the Zephyr blender have?")
        box.send_keys(Keys.ENTER)
        answer = until(lambda: [m for m in qa(d, host, ".msg.assistant")
                                if "seven year" in m.text], what="answer")[0]
        until(lambda: q(d, host, ".msg.assistant .fb button"), what="feedback buttons")
        assert "Acme handbook" in answer.text  # its source
        assert style_of(d, answer, "color") != "rgb(255, 0, 0)"
        helpful = [b for b in qa(d, host, ".fb button") if b.text == "Helpful"][0]
        helpful.click()
        until(lambda: helpful.get_attribute("aria-pressed") == "true", what="feedback recorded")
        # Talk to a person, with an e-mail.
        human = [b for b in qa(d, host, ".tools button")][0]
        human.click()
        email = q(d, host, "#ragd-email")
        until(lambda: email.is_displayed(), what="hand-off form")
        email.send_keys("carol@customer.test")
        email.send_keys(Keys.ENTER)
        until(lambda: [m for m in qa(d, host, ".msg.system")
                       if "carol@customer.test" in m.text], what="hand-off confirmation")
        shot(d, "widget-hostile-page")
        # What the server recorded for this conversation.
        with s.db() as db:
            rows = db.execute("SELECT c.status, c.contact_email, m.feedback FROM"
                              " widget_conversations c JOIN widget_messages m"
                              " ON m.conversation_id = c.id AND m.role = 'assistant'"
                              " WHERE c.org_id = ?", (org.id,)).fetchall()
        assert ("handoff_requested", "carol@customer.test", 1) in [tuple(r) for r in rows]
        # Keyboard: Escape closes and gives focus back to the launcher; Enter opens again.
        box.send_keys(Keys.ESCAPE)
        until(lambda: style_of(d, panel, "display") == "none", what="panel closed")
        assert js(d, "return arguments[0].shadowRoot.activeElement === arguments[1]", host,
                  launcher)
        launcher.send_keys(Keys.ENTER)
        until(lambda: style_of(d, panel, "display") == "flex", what="panel reopened")
        assert launcher.get_attribute("aria-expanded") == "true"
        # The conversation survived (session kept for the tab) and the page's text is intact.
        until(lambda: [m for m in qa(d, host, ".msg.assistant") if "seven year" in m.text],
              what="restored conversation")
        assert d.find_element("css selector", "p.host-text").is_displayed()
        assert severe_logs(d) == []
    finally:
        quit_driver(d)


def test_widget_fits_a_360_px_phone(site):
    s, org, origin = site
    d = new_driver(width=360, height=740)
    try:
        d.get(origin + "/")
        host, _ = shadow(d)
        launcher = until(lambda: q(d, host, ".launcher"), what="launcher")
        launcher.click()
        panel = q(d, host, ".panel")
        until(lambda: style_of(d, panel, "display") == "flex", what="panel open")
        rect = js(d, "var r = arguments[0].getBoundingClientRect();"
                     "return [r.left, r.right, r.top, r.bottom, innerWidth, innerHeight]", panel)
        left, right, top, bottom, vw, vh = rect
        assert vw == 360
        assert left >= 0 and right <= vw and top >= 0 and bottom <= vh, rect
        box = q(d, host, "#ragd-input")
        box.send_keys("How do I reset the blender?")
        box.send_keys(Keys.ENTER)
        until(lambda: [m for m in qa(d, host, ".msg.assistant") if "pulse button" in m.text],
              what="answer")
        send = q(d, host, "form.send button")
        r2 = js(d, "var r = arguments[0].getBoundingClientRect(); return [r.right, r.width]", send)
        assert r2[0] <= 360 and r2[1] >= 40, r2
        shot(d, "widget-360px")
    finally:
        quit_driver(d)


def test_widget_refuses_a_site_not_on_the_key(site):
    """The same page from an origin the key does not list: the session is refused and the
    widget says so instead of chatting."""
    s, org, origin = site
    other = free_port()
    page = host_page(s.port, org.key).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", other), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    d = new_driver()
    try:
        d.get(f"http://127.0.0.1:{other}/")
        host, _ = shadow(d)
        until(lambda: q(d, host, ".launcher"), what="launcher").click()
        until(lambda: [m for m in qa(d, host, ".msg.system") if "unavailable" in m.text
                       or "not enabled" in m.text], what="refusal message")
        assert not qa(d, host, ".msg.assistant")
    finally:
        quit_driver(d)
        httpd.shutdown()
