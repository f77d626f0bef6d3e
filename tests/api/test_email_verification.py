"""REQUIRE_EMAIL_VERIFICATION: registration mails a one-use token through a real SMTP server
on loopback (aiosmtpd), routes that consume quota answer 403 EMAIL_NOT_VERIFIED until the
token is used, a resent token replaces the old one, tokens expire after 24 hours, and the
server refuses to start without SMTP_HOST. With the setting off (the default) the rest of the
suite runs unchanged."""
import email
import os
import re
import subprocess
import tempfile
import threading
import time

import pytest

from billing_helpers import login, set_clock
from ragd_client import BIN, Server, free_port

aiosmtpd = pytest.importorskip(
    "aiosmtpd.controller", reason="aiosmtpd is not installed (Debian: python3-aiosmtpd)")

ROOMY = {"RATE_LIMIT_CHAT": "100000/60", "RATE_LIMIT_SEARCH": "100000/60",
         "RATE_LIMIT_API": "100000/60", "RATE_LIMIT_BILLING": "100000/60"}
TOKEN_RE = re.compile(r"verification code:\s+([0-9a-f]{64})")


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts."""

    def __init__(self):
        self.messages = []
        self.cv = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content)
        with self.cv:
            self.messages.append((list(envelope.rcpt_tos), msg))
            self.cv.notify_all()
        return "250 Message accepted"

    def wait_for(self, rcpt, count=1, timeout=20):
        """The body of the count-th message to rcpt, waiting for it to arrive."""
        deadline = time.time() + timeout
        with self.cv:
            while True:
                mine = [m for to, m in self.messages if rcpt in to]
                if len(mine) >= count:
                    return mine[count - 1]
                left = deadline - time.time()
                assert left > 0, f"no mail #{count} for {rcpt} (got {len(mine)})"
                self.cv.wait(left)


@pytest.fixture(scope="module")
def smtp():
    inbox = Inbox()
    ctl = aiosmtpd.Controller(inbox, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield ctl, inbox
    ctl.stop()


@pytest.fixture(scope="module")
def srv(smtp):
    ctl, _ = smtp
    s = Server(env={"RAGD_TEST_MODE": "1", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000",
                    "REQUIRE_EMAIL_VERIFICATION": "true", "SMTP_HOST": "127.0.0.1",
                    "SMTP_PORT": str(ctl.port), "SMTP_FROM": "noreply@ragd.test",
                    "PUBLIC_BASE_URL": "https://chat.example.org/", **ROOMY})
    yield s
    assert s.stop() == 0


def token_of(msg):
    body = msg.get_payload(decode=True).decode()
    m = TOKEN_RE.search(body)
    assert m, body
    return m.group(1), body


def register(srv, inbox, addr):
    reg = srv.register(addr)
    assert reg.get("email_verification_required") is True, reg
    msg = inbox.wait_for(addr)
    tok, body = token_of(msg)
    return reg, tok, body


def test_registration_mails_token_and_quota_waits_for_verification(srv, smtp):
    _, inbox = smtp
    addr = "verify-one@example.com"
    reg, vtok, body = register(srv, inbox, addr)
    msg = inbox.wait_for(addr)
    assert msg["Subject"] == "Verify your e-mail address"
    assert msg["From"] == "<noreply@ragd.test>"
    assert f"https://chat.example.org/verify?token={vtok}" in body
    # The token is in the mail only: neither the response nor the server log shows it.
    assert vtok not in str(reg)
    assert vtok not in srv.read_log()
    access = reg["access_token"]

    me = srv.get("/auth/me", token=access)
    assert me.status == 200 and me.json["is_verified"] is False
    assert srv.get("/users/me", token=access).status == 200
    assert srv.get("/billing/plans", token=access).status == 200
    # Test routes with a route quota (and a reservation of their own) and real routes.
    for path, body_ in (("/test/chat", {}), ("/test/chat", {"resource": "api_calls"}),
                        ("/test/search", {})):
        r = srv.post(path, body_, token=access)
        assert r.status == 403 and r.json["code"] == "EMAIL_NOT_VERIFIED", r
        assert "verify-email" in str(r.json)
    r = srv.post("/chat/message", {"message": "hello"}, token=access)
    assert r.status == 403 and r.json["code"] == "EMAIL_NOT_VERIFIED", r
    # Refused work consumed nothing.
    assert srv.get("/billing/usage", token=access).json["messages_this_month"] == 0

    r = srv.post("/auth/verify-email", {"token": vtok})
    assert r.status == 200 and r.json["user_id"] == reg["user_id"], r
    assert srv.get("/auth/me", token=access).json["is_verified"] is True
    assert srv.post("/test/chat", {}, token=access).status == 200
    assert srv.post("/test/chat", {"resource": "api_calls"}, token=access).status == 200
    assert srv.get("/billing/usage", token=access).json["messages_this_month"] == 2

    # One use only.
    r = srv.post("/auth/verify-email", {"token": vtok})
    assert r.status == 400 and r.json["code"] == "INVALID_TOKEN", r
    r = srv.post("/auth/resend-verification", {}, token=access)
    assert r.status == 400 and r.json["code"] == "ALREADY_VERIFIED", r


def test_wrong_token_is_400(srv):
    for bad in ("0" * 64, "not-a-token"):
        r = srv.post("/auth/verify-email", {"token": bad})
        assert r.status == 400 and r.json["code"] == "INVALID_TOKEN", r
    assert srv.post("/auth/verify-email", {}).status in (400, 422)


def test_resend_replaces_the_old_token(srv, smtp):
    _, inbox = smtp
    addr = "verify-resend@example.com"
    reg, old, _ = register(srv, inbox, addr)
    access = reg["access_token"]
    r = srv.post("/auth/resend-verification", {}, token=access)
    assert r.status == 202, r
    new, _ = token_of(inbox.wait_for(addr, count=2))
    assert new != old
    r = srv.post("/auth/verify-email", {"token": old})
    assert r.status == 400 and r.json["code"] == "INVALID_TOKEN", r
    assert srv.post("/test/chat", {}, token=access).json["code"] == "EMAIL_NOT_VERIFIED"
    assert srv.post("/auth/verify-email", {"token": new}).status == 200
    assert srv.post("/test/chat", {}, token=access).status == 200


def test_resend_is_rate_limited_and_needs_login(srv, smtp):
    _, inbox = smtp
    reg, _, _ = register(srv, inbox, "verify-flood@example.com")
    access = reg["access_token"]
    assert srv.post("/auth/resend-verification", {}).status == 401
    codes = [srv.post("/auth/resend-verification", {}, token=access).status for _ in range(5)]
    assert codes[:3] == [202, 202, 202] and codes[3:] == [429, 429], codes
    r = srv.post("/auth/resend-verification", {}, token=access)
    assert r.json["code"] == "TOO_MANY_VERIFICATION_MAILS" and r.header("Retry-After")


def test_token_expires_after_24_hours(srv, smtp):
    _, inbox = smtp
    reg, vtok, _ = register(srv, inbox, "verify-late@example.com")
    set_clock(srv, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 25 * 3600)))
    try:
        r = srv.post("/auth/verify-email", {"token": vtok})
        assert r.status == 400 and r.json["code"] == "INVALID_TOKEN", r
    finally:
        admin = login(srv, "admin@example.com")
        assert srv.post("/admin/test/clock", {"offset_ms": 0}, token=admin).status == 200


def test_seeded_users_are_verified_and_admins_can_verify(srv, smtp):
    _, inbox = smtp
    tok = login(srv, "free@example.com")
    assert srv.get("/auth/me", token=tok).json["is_verified"] is True
    assert srv.post("/test/chat", {}, token=tok).status == 200
    reg, _, _ = register(srv, inbox, "verify-admin@example.com")
    admin = login(srv, "admin@example.com")
    r = srv.patch(f"/users/{reg['user_id']}", {"is_verified": True}, token=admin)
    assert r.status == 200, r
    assert srv.post("/test/chat", {}, token=reg["access_token"]).status == 200
    r = srv.patch(f"/users/{reg['user_id']}", {"is_verified": False}, token=admin)
    assert r.status == 200, r
    r = srv.post("/test/chat", {}, token=reg["access_token"])
    assert r.status == 403 and r.json["code"] == "EMAIL_NOT_VERIFIED", r


def test_start_refused_without_smtp_host():
    data = tempfile.mkdtemp(prefix="ragd-verify-")
    env = dict(os.environ, REQUIRE_EMAIL_VERIFICATION="true", SMTP_HOST="", LOG_LEVEL="warning",
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1")
    env.pop("DATABASE_URL", None)
    p = subprocess.run([BIN, "serve", "--data", data, "--port", str(free_port())], env=env,
                       cwd=data, capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "REQUIRE_EMAIL_VERIFICATION" in p.stderr and "SMTP_HOST" in p.stderr, p.stderr
