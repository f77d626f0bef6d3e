"""The chat sidebar's rename, every source an answer numbers (live and from history), the
/verify page of the verification mail, and the console's reset-usage button."""
import email
import re
import threading
import time
import uuid

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC

from kb_helpers import enterprise_user, private_server, upload_ready
from ragd_client import Server, free_port
from ui_helpers import ask_ui, click, css, login_ui, new_driver, quit_driver, shot, url, wait


def sidebar_titles(d):
    return d.execute_script(
        "return [...document.querySelectorAll('#sessions li .session')].map((b) => b.textContent)")


def test_rename_a_conversation_in_the_sidebar(server, driver):
    d = driver
    mail = f"rename-{uuid.uuid4().hex[:8]}@example.com"
    server.register(mail)
    login_ui(d, server, mail, "password123")
    ask_ui(d, "How do quotas and plans work?")
    wait(d, lambda d: len(sidebar_titles(d)) == 1)
    click(d, "#sessions li .rename")
    field = wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, "#sessions .rename-form input")))
    # Escape leaves the title as it was.
    field.send_keys(Keys.ESCAPE)
    wait(d, lambda d: sidebar_titles(d) == ["How do quotas and plans work?"])
    click(d, "#sessions li .rename")
    field = wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, "#sessions .rename-form input")))
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("   ")
    field.send_keys(Keys.ENTER)
    err = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "#sessions .field-error")))
    assert "title" in err.text
    field = css(d, "#sessions .rename-form input")
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("Quotas <b>talk</b>", Keys.ENTER)
    wait(d, lambda d: sidebar_titles(d) == ["Quotas <b>talk</b>"])  # text, never markup
    assert not d.find_elements(By.CSS_SELECTOR, "#sessions b")
    tok = server.login(mail, "password123")
    assert [s["title"] for s in server.get("/chat/sessions", token=tok).json["sessions"]] == ["Quotas <b>talk</b>"]
    shot(d, "chat-rename")


def test_every_numbered_source_is_listed_live_and_in_history():
    s = private_server()
    d = new_driver()
    try:
        tok = enterprise_user(s, "sources-ui@example.com")
        for i, colour in enumerate(("green", "purple", "red", "blue", "white")):
            upload_ready(s, tok, f"# Aurora note {i}\n\nThe aurora glows {colour} when charged "
                                 "solar particles strike the upper atmosphere over the polar ovals.",
                         title=f"Aurora note {i}")
        login_ui(d, s, "sources-ui@example.com", "password123")
        answer = ask_ui(d, "What colour does the aurora glow over the polar ovals?")
        live = len(answer.find_elements(By.CSS_SELECTOR, "details.sources li"))
        assert live >= 4  # beyond the top 3
        assert f"({live})" in answer.find_element(By.CSS_SELECTOR, "details.sources summary").text
        # After a reload the conversation comes from history with the same sources.
        d.refresh()
        click(d, "#sessions li .session")
        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, ".msg.assistant details.sources li"))
        stored = d.find_elements(By.CSS_SELECTOR, ".msg.assistant details.sources li")
        assert len(stored) == live
        d.execute_script("document.querySelector('.msg.assistant details.sources').open = true")
        stored[3].find_element(By.CSS_SELECTOR, "button.cite").click()
        excerpt = wait(d, EC.visibility_of_element_located((By.ID, "source-excerpt")))
        assert "aurora glows" in excerpt.text
        shot(d, "chat-sources-history")
    finally:
        quit_driver(d)
        assert s.stop() == 0


class Inbox:
    def __init__(self):
        self.messages = []
        self.cv = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        with self.cv:
            self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))
            self.cv.notify_all()
        return "250 Message accepted"

    def token_for(self, rcpt, count=1, timeout=20):
        deadline = time.time() + timeout
        with self.cv:
            while True:
                mine = [m for to, m in self.messages if rcpt in to]
                if len(mine) >= count:
                    body = mine[count - 1].get_payload(decode=True).decode()
                    return re.search(r"verify\?token=([0-9a-f]{64})", body).group(1)
                assert time.time() < deadline, f"no mail for {rcpt}"
                self.cv.wait(1)


def test_verify_page_uses_the_mailed_link_once():
    controller = pytest.importorskip(
        "aiosmtpd.controller", reason="aiosmtpd is not installed (Debian: python3-aiosmtpd)")
    inbox = Inbox()
    ctl = controller.Controller(inbox, hostname="127.0.0.1", port=free_port())
    ctl.start()
    s = Server(env={"LOGIN_MAX_ATTEMPTS_PER_IP": "100000", "REQUIRE_EMAIL_VERIFICATION": "true",
                    "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(ctl.port),
                    "SMTP_FROM": "noreply@ragd.test", "PUBLIC_BASE_URL": "http://127.0.0.1/"})
    d = new_driver()
    try:
        addr = f"verify-{uuid.uuid4().hex[:8]}@example.com"
        s.register(addr)
        token = inbox.token_for(addr)
        # Logged in, the chat says what is missing and offers a new mail.
        login_ui(d, s, addr, "password123")
        box = wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
        box.send_keys("hello")
        css(d, "#send").click()
        wait(d, EC.element_to_be_clickable((By.ID, "resend-verification"))).click()
        wait(d, lambda d: "on its way" in css(d, "#toast").text)
        token = inbox.token_for(addr, count=2)  # the new code replaces the first
        d.get(url(s, f"/verify?token={token}"))
        status = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "#verify-status.ok")))
        assert "verified" in status.text
        assert "token" not in d.current_url  # the code leaves the address bar and history
        tok = s.login(addr, "password123")
        assert s.get("/auth/me", token=tok).json["is_verified"] is True
        shot(d, "verify-done")
        # The same link again: refused, and the page says why.
        d.get(url(s, f"/verify?token={token}"))
        status = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "#verify-status.form-error")))
        assert "Invalid or expired" in status.text
        assert css(d, "#verify-resend").is_displayed()  # the session came back with the reload
        d.get(url(s, "/verify"))
        status = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "#verify-status.form-error")))
        assert "no verification code" in status.text
        # The app's own links still work from /verify.
        d.execute_script("location.hash = '#/usage'")
        wait(d, lambda d: d.execute_script("return location.pathname + location.hash") == "/#/usage")
    finally:
        quit_driver(d)
        assert s.stop() == 0
        ctl.stop()


def test_reset_usage_button_in_the_console(server, driver):
    d = driver
    admin = server.login("admin@example.com", "adminpassword123")
    users = server.get("/users?email=free@example.com", token=admin).json["items"]
    probe = server.post(f"/users/{users[0]['id']}/reset-usage", {}, token=admin)
    if probe.status == 404 and probe.json.get("code") == "NOT_FOUND":
        pytest.skip("POST /users/{id}/reset-usage is not on this server yet (its route answers 404)")
    login_ui(d, server, "admin@example.com", "adminpassword123", "/admin#/users")
    wait(d, lambda d: "free@example.com" in css(d, "#user-rows").text)
    click(d, 'button.reset-usage[data-email="free@example.com"]')
    wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, "dialog [data-confirm]"))).click()
    wait(d, lambda d: "reset" in css(d, "#toast").text.lower())
    assert "free@example.com" in css(d, "#toast").text
