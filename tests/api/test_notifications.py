"""Operational notifications: the channel settings (GET/PUT /admin/notifications, strict
validation), the test event, and delivery through the durable outbox to a real SMTP server on
loopback (aiosmtpd) and a webhook receiver, signed with NOTIFY_WEBHOOK_SECRET; with both
stopped the events wait in the outbox and arrive, each once, after they come back."""
import email
import functools
import hashlib
import hmac
import http.server
import json
import os
import sqlite3
import subprocess
import tempfile
import threading
import time

import pytest

from prom_helpers import assert_promtool_clean
from ragd_client import BIN, PG_URL, PgAdapter, Server, free_port, wait_for

aiosmtpd = pytest.importorskip(
    "aiosmtpd.controller",
    reason="aiosmtpd is not installed and could not be (Debian: apt-get install "
           "python3-aiosmtpd; scripts/deps.sh installs it)")

SECRET = "whsec-test-0123456789abcdef-notify"
SMTP_PASSWORD = "smtp-password-never-shown-42"
HOOK_TOKEN = "T0KEN-in-the-path-is-a-credential"
ADMIN = ("admin@example.com", "adminpassword123")


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

    def of(self, rcpt):
        with self.cv:
            return [m for to, m in self.messages if rcpt in to]


class Mailer:
    """An SMTP server on a fixed loopback port that can be stopped and started again."""

    def __init__(self):
        self.port = free_port()
        self.inbox = Inbox()
        self.ctl = None

    def start(self):
        self.ctl = aiosmtpd.Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.ctl.start()

    def stop(self):
        if self.ctl:
            self.ctl.stop()
            self.ctl = None


class Hooks:
    """A webhook receiver on a fixed loopback port; keeps (headers, raw body) of each POST."""

    def __init__(self):
        self.port = free_port()
        self.requests = []
        self.status = 200
        self.delay = 0  # seconds the receiver takes before it answers
        self.arrived = []  # event ids, recorded before the delay
        self.cv = threading.Condition()
        self.httpd = None

    def start(self):
        hooks = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with hooks.cv:
                    hooks.arrived.append(json.loads(body)["id"])
                    delay = hooks.delay
                time.sleep(delay)
                with hooks.cv:
                    status = hooks.status
                    if status == 200:
                        hooks.requests.append((dict(self.headers), body, self.path))
                    hooks.cv.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def url(self):
        return f"http://127.0.0.1:{self.port}/hook/{HOOK_TOKEN}"

    def events(self):
        with self.cv:
            return [json.loads(b) for _, b, _ in self.requests]


wait_until = functools.partial(wait_for, timeout=20)


@pytest.fixture(scope="module")
def channels():
    mailer, hooks = Mailer(), Hooks()
    mailer.start()
    hooks.start()
    yield mailer, hooks
    mailer.stop()
    hooks.stop()


@pytest.fixture(scope="module")
def srv(channels):
    mailer, _ = channels
    s = Server(env={"RAGD_TEST_MODE": "1", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000",
                    "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(mailer.port),
                    "SMTP_FROM": "ragd@ops.test", "SMTP_USER": "",
                    "SMTP_PASSWORD": SMTP_PASSWORD,
                    "NOTIFY_WEBHOOK_SECRET": SECRET, "NOTIFY_POLL_SECONDS": "0.2",
                    "NOTIFY_RETRY_BASE_SECONDS": "0.3", "NOTIFY_RETRY_MAX_SECONDS": "1",
                    "LOG_LEVEL": "info"})
    yield s
    log = s.read_log()
    assert s.stop() == 0
    for secret in (SECRET, SMTP_PASSWORD, HOOK_TOKEN):
        assert secret not in log, f"a secret reached the log: {secret}"


@pytest.fixture(scope="module")
def admin(srv):
    return srv.login(*ADMIN)


def settings(srv, admin):
    r = srv.get("/admin/notifications", token=admin)
    assert r.status == 200, r
    for secret in (SECRET, SMTP_PASSWORD, HOOK_TOKEN):
        assert secret not in r.body
    return r.json


def configure(srv, admin, hooks, **extra):
    body = {"email": {"enabled": True, "min_urgency": "low", "events": None,
                      "recipients": ["ops@example.com", "oncall@example.com"]},
            "webhook": {"enabled": True, "min_urgency": "medium", "events": None,
                        "urls": [hooks.url()]}}
    for k, v in extra.items():
        body[k].update(v)
    r = srv.put("/admin/notifications", body, token=admin)
    assert r.status == 200, r
    assert HOOK_TOKEN not in r.body
    return r.json


def deliveries(srv, admin, event_id=None, status=None):
    q = "?limit=500" + (f"&status={status}" if status else "")
    r = srv.get("/admin/notifications/outbox" + q, token=admin)
    assert r.status == 200, r
    assert HOOK_TOKEN not in r.body
    items = r.json["items"]
    return [d for d in items if event_id is None or d["event_id"] == event_id]


def send_test(srv, admin):
    r = srv.post("/admin/notifications/test", token=admin)
    assert r.status == 202, r
    return r.json["id"]


def check_signature(headers, body):
    ts = headers["X-Ragd-Timestamp"]
    assert abs(int(ts) - time.time()) < 120
    want = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body,
                                hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Ragd-Signature"], want)


# ---- settings ----

def test_defaults_follow_the_seed_and_need_admin(srv, admin):
    s = settings(srv, admin)
    assert s["email"] == {"enabled": True, "min_urgency": "low", "events": None,
                          "recipients": [], "smtp_configured": True}
    assert s["webhook"] == {"enabled": True, "min_urgency": "medium", "events": None,
                            "urls": [], "signed": True}
    table = {e["name"]: e["urgency"] for e in s["events"]}
    assert table["key_failed"] == "low" and table["failover"] == "medium"
    assert table["all_keys_failed"] == "high" and table["maintenance_entered"] == "high"
    assert s["updated_at"] is None
    assert srv.get("/admin/notifications").status == 401
    user = srv.login("test@example.com", "testpassword123")
    assert srv.get("/admin/notifications", token=user).status == 403
    assert srv.put("/admin/notifications", {"email": {"enabled": False}},
                   token=user).status == 403
    assert srv.post("/admin/notifications/test", token=user).status == 403
    # Nothing to send to yet: the test is refused instead of vanishing.
    r = srv.post("/admin/notifications/test", token=admin)
    assert r.status == 409 and r.json["code"] == "NO_NOTIFICATION_TARGETS"


BAD = [
    ({"webhook": {"urls": ["ftp://127.0.0.1/x"]}}, "webhook.urls[0]"),
    ({"webhook": {"urls": ["javascript:alert(1)"]}}, "webhook.urls[0]"),
    ({"webhook": {"urls": ["https://ok.example/a", "file:///etc/passwd"]}}, "webhook.urls[1]"),
    ({"webhook": {"urls": ["http://"]}}, "webhook.urls[0]"),
    ({"webhook": {"urls": ["https://exa mple.com/"]}}, "webhook.urls[0]"),
    ({"webhook": {"urls": ["https://x.example/" + "a" * 2100]}}, "webhook.urls[0]"),
    ({"webhook": {"urls": [{"id": "0123456789abcdef"}]}}, "webhook.urls[0]"),
    ({"webhook": {"urls": [42]}}, "webhook.urls[0]"),
    ({"webhook": {"urls": "https://x.example/"}}, "webhook.urls"),
    ({"webhook": {"urls": ["https://a.example/h", "https://a.example/h"]}}, "webhook.urls[1]"),
    ({"webhook": {"urls": [f"https://h{i}.example/" for i in range(21)]}}, "webhook.urls"),
    ({"email": {"recipients": ["not-an-address"]}}, "email.recipients[0]"),
    ({"email": {"recipients": ["a@example.com", "b@example.com\r\nBcc: x@evil.example"]}},
     "email.recipients[1]"),
    ({"email": {"recipients": [f"u{i}@example.com" for i in range(51)]}}, "email.recipients"),
    ({"email": {"min_urgency": "urgent"}}, "email.min_urgency"),
    ({"email": {"enabled": "yes"}}, "email.enabled"),
    ({"email": {"events": ["no_such_event"]}}, "email.events[0]"),
    ({"email": {"events": ["key_failed", "key_failed"]}}, "email.events[1]"),
    ({"email": {"events": "key_failed"}}, "email.events"),
    ({"email": {"sms": True}}, "email.sms"),
    ({"webhook": {"recipients": ["a@example.com"]}}, "webhook.recipients"),
    ({"sms": {"enabled": True}}, "body"),  # the schema layer names the body
    ({"email": []}, "email"),
]


def test_bad_settings_answer_422_and_change_nothing(srv, admin, channels):
    _, hooks = channels
    before = configure(srv, admin, hooks)
    for body, field in BAD:
        r = srv.put("/admin/notifications", body, token=admin)
        assert r.status == 422, (body, r)
        assert r.json["code"] == "VALIDATION_ERROR"
        assert r.json["field"] == field, (body, r.json)
        after = settings(srv, admin)
        for k in ("email", "webhook", "updated_at"):
            assert after[k] == before[k], body


def test_webhook_urls_are_never_shown_and_kept_by_id(srv, admin, channels):
    _, hooks = channels
    s = configure(srv, admin, hooks)
    [hook] = s["webhook"]["urls"]
    assert hook["url"] == f"http://127.0.0.1:{hooks.port}/..."
    # Another URL added, the first kept by its id alone.
    r = srv.put("/admin/notifications", {"webhook": {"urls": [
        {"id": hook["id"]}, "https://hooks.example.org/services/abc"]}}, token=admin)
    assert r.status == 200, r
    assert [u["url"] for u in r.json["webhook"]["urls"]] == [
        f"http://127.0.0.1:{hooks.port}/...", "https://hooks.example.org/..."]
    assert r.json["webhook"]["urls"][0]["id"] == hook["id"]
    assert r.json["email"]["recipients"] == ["ops@example.com", "oncall@example.com"]
    configure(srv, admin, hooks)


# ---- delivery ----

def test_test_event_reaches_both_channels_signed(srv, admin, channels):
    mailer, hooks = channels
    configure(srv, admin, hooks)
    eid = send_test(srv, admin)
    got = wait_until(lambda: [e for e in hooks.events() if e["id"] == eid], what="webhook")
    [ev] = got
    assert ev["event"] == "test" and ev["urgency"] == "low"
    assert ev["text"].startswith("[ragd] LOW: Test notification")
    assert ev["details"]["requested_by"] == ADMIN[0]
    assert ev["created_at"].endswith("Z")
    with hooks.cv:
        headers, body, path = [x for x in hooks.requests if json.loads(x[1])["id"] == eid][0]
    assert path == f"/hook/{HOOK_TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Ragd-Event"] == "test" and headers["X-Ragd-Event-Id"] == eid
    check_signature(headers, body)
    # A body changed in transit no longer matches.
    with pytest.raises(AssertionError):
        check_signature(headers, body.replace(b"test", b"tesT"))
    for rcpt in ("ops@example.com", "oncall@example.com"):
        msgs = wait_until(lambda: [m for m in mailer.inbox.of(rcpt) if eid in str(m)],
                          what=f"mail to {rcpt}")
        assert len(msgs) == 1
        assert msgs[0]["Subject"] == "[ragd] LOW: Test notification"
        assert msgs[0]["From"] == "<ragd@ops.test>"
    def delivered():
        d = [x for x in deliveries(srv, admin, eid) if x["status"] == "delivered"]
        return d if len(d) == 3 else None
    d = wait_until(delivered, what="deliveries marked")
    assert sorted(x["channel"] for x in d) == ["email", "email", "webhook"]
    assert all(x["attempts"] == 1 and x["delivered_at"] for x in d)


def test_urgency_and_event_filters_route_events(srv, admin, channels):
    mailer, hooks = channels
    configure(srv, admin, hooks, email={"events": ["key_failed", "all_keys_failed"]},
              webhook={"min_urgency": "high"})
    n_hooks = len(hooks.events())
    for event, details in (("key_failed", {"key": "...abcd", "error": "HTTP 500"}),
                           ("failover", {"from": "k1", "to": "k2"}),
                           ("all_keys_failed", {"feature": "chat"})):
        r = srv.post("/admin/test/notify", {"event": event, "details": details}, token=admin)
        assert r.status == 202, r
    # key_failed: e-mail only (low < high); failover: nobody (not in the e-mail list, medium
    # < high); all_keys_failed: both.
    wait_until(lambda: [e for e in hooks.events() if e["event"] == "all_keys_failed"],
               what="all_keys_failed webhook")
    wait_until(lambda: [m for m in mailer.inbox.of("ops@example.com")
                        if m["Subject"] == "[ragd] HIGH: All provider keys failed"], what="mail")
    wait_until(lambda: [m for m in mailer.inbox.of("ops@example.com")
                        if m["Subject"] == "[ragd] LOW: Provider key failed"], what="mail")
    time.sleep(0.6)  # a few worker passes: nothing else may arrive
    assert [e["event"] for e in hooks.events()[n_hooks:]] == ["all_keys_failed"]
    hook = [e for e in hooks.events() if e["event"] == "all_keys_failed"][0]
    assert hook["text"] == "[ragd] HIGH: All provider keys failed (feature: chat)"
    assert not [m for m in mailer.inbox.of("ops@example.com") if "Failover" in m["Subject"]]
    body = [m for m in mailer.inbox.of("ops@example.com")
            if m["Subject"] == "[ragd] LOW: Provider key failed"][0].get_payload(decode=True)
    assert b"HTTP 500" in body and b"key_failed" in body
    assert not [d for d in deliveries(srv, admin) if d["event"] == "failover"]
    configure(srv, admin, hooks)


def test_repeats_within_the_window_are_not_sent(srv, admin, channels):
    mailer, hooks = channels
    configure(srv, admin, hooks)

    def mails(word):
        return [m for m in mailer.inbox.of("ops@example.com")
                if word in m.get_payload(decode=True).decode()]
    for key in ("rep-k9", "rep-k9", "rep-k8", "rep-k9"):
        r = srv.post("/admin/test/notify", {"event": "key_failed", "details": {"key": key}},
                     token=admin)
        assert r.status == 202, r
    wait_until(lambda: mails("rep-k8"), what="mail for k8")
    wait_until(lambda: settings(srv, admin)["outbox"]["suppressed_repeats"] >= 2,
               what="repeats recorded")
    time.sleep(0.6)
    assert len(mails("rep-k9")) == 1 and len(mails("rep-k8")) == 1
    assert "ragd_notifications_suppressed_total 2" in srv.get("/metrics").body
    # The test event is never held back as a repeat.
    a, b = send_test(srv, admin), send_test(srv, admin)
    for eid in (a, b):
        wait_until(lambda: [e for e in hooks.events() if e["id"] == eid], what="test webhook")


def test_outage_events_wait_and_arrive_once(srv, admin, channels):
    mailer, hooks = channels
    configure(srv, admin, hooks)
    mailer.stop()
    hooks.stop()
    try:
        ids = [send_test(srv, admin) for _ in range(3)]
        r = srv.post("/admin/test/notify", {"event": "maintenance_entered", "details": {
            "level": "hard", "reason": "all chat keys failed"}}, token=admin)
        assert r.status == 202, r
        # Every delivery waits in the outbox: each target was tried and failed; deliveries
        # behind a failed one wait for its retry instead of each paying for a failure.
        def waiting():
            dd = [deliveries(srv, admin, i) for i in ids]
            return all(len(d) == 3 and all(x["status"] == "pending" and x["last_error"]
                                           for x in d) for d in dd) and \
                sum(x["attempts"] >= 1 for d in dd for x in d) >= 3
        wait_until(waiting, what="failed attempts")
        s = settings(srv, admin)
        assert s["outbox"]["pending"] >= 3 * 3 + 2
        assert s["outbox"]["retrying"] >= 3
        assert s["outbox"]["oldest_pending_at"]
        pending = deliveries(srv, admin, status="pending")
        assert all(x["next_attempt_at"] for x in pending)
        m = srv.get("/metrics").body
        assert 'ragd_notifications_total{channel="webhook",outcome="failed"}' in m

        # The backlog gauge is set by the worker once per pass, after its deliveries.
        def backlog():
            lines = [ln for ln in srv.get("/metrics").body.splitlines()
                     if ln.startswith("ragd_notification_outbox_backlog ")]
            return lines and float(lines[0].split()[1]) >= 11
        wait_until(backlog, what="backlog gauge")
    finally:
        mailer.start()
        hooks.start()
    for i in ids:
        wait_until(lambda: [e for e in hooks.events() if e["id"] == i], what=f"webhook {i}")
        for rcpt in ("ops@example.com", "oncall@example.com"):
            wait_until(lambda: [x for x in mailer.inbox.of(rcpt) if i in str(x)],
                       what=f"mail {i} to {rcpt}")
    wait_until(lambda: [e for e in hooks.events() if e["event"] == "maintenance_entered"],
               what="maintenance webhook")
    wait_until(lambda: not deliveries(srv, admin, status="pending"), what="outbox drained")
    time.sleep(1.5)  # longer than the retry cap: a repeat would have come by now
    for i in ids:
        assert len([e for e in hooks.events() if e["id"] == i]) == 1
        for rcpt in ("ops@example.com", "oncall@example.com"):
            assert len([x for x in mailer.inbox.of(rcpt) if i in str(x)]) == 1
        assert all(x["status"] == "delivered" for x in deliveries(srv, admin, i))
    assert len([e for e in hooks.events() if e["event"] == "maintenance_entered"]) == 1
    assert settings(srv, admin)["outbox"]["pending"] == 0
    m = srv.get("/metrics").body
    assert 'ragd_notifications_total{channel="email",outcome="delivered"}' in m
    assert "ragd_notification_outbox_backlog 0" in m
    assert_promtool_clean(m)


def test_webhook_error_status_is_retried(srv, admin, channels):
    _, hooks = channels
    configure(srv, admin, hooks)
    hooks.status = 500
    try:
        eid = send_test(srv, admin)
        wait_until(lambda: [x for x in deliveries(srv, admin, eid)
                            if x["channel"] == "webhook" and x["attempts"] >= 2],
                   what="retried webhook")
        [d] = [x for x in deliveries(srv, admin, eid) if x["channel"] == "webhook"]
        assert d["status"] == "pending" and "HTTP 500" in d["last_error"]
    finally:
        hooks.status = 200
    wait_until(lambda: [e for e in hooks.events() if e["id"] == eid], what="webhook after 500")


def test_removed_target_is_given_up(srv, admin, channels):
    _, hooks = channels
    configure(srv, admin, hooks)
    hooks.stop()
    try:
        eid = send_test(srv, admin)
        wait_until(lambda: [x for x in deliveries(srv, admin, eid)
                            if x["channel"] == "webhook" and x["attempts"] >= 1],
                   what="failed webhook")
        r = srv.put("/admin/notifications", {"webhook": {"urls": []}}, token=admin)
        assert r.status == 200, r
        d = wait_until(lambda: [x for x in deliveries(srv, admin, eid)
                                if x["channel"] == "webhook" and x["status"] == "abandoned"],
                       what="abandoned delivery")
        assert "removed" in d[0]["last_error"]
    finally:
        hooks.start()
    time.sleep(0.6)
    assert not [e for e in hooks.events() if e["id"] == eid]
    configure(srv, admin, hooks)


def test_two_nodes_deliver_each_event_once(srv, admin, channels):
    mailer, hooks = channels
    configure(srv, admin, hooks)
    db = srv.env.get("DATABASE_URL") or f"sqlite:///{srv.data}/ragd.db"
    other = Server(seed=False, data=srv.data + "-b", env={**{k: srv.env[k] for k in (
        "SMTP_HOST", "SMTP_PORT", "SMTP_FROM", "SMTP_PASSWORD", "NOTIFY_WEBHOOK_SECRET",
        "NOTIFY_POLL_SECONDS", "NOTIFY_RETRY_BASE_SECONDS", "NOTIFY_RETRY_MAX_SECONDS",
        "RAGD_TEST_MODE", "LOGIN_MAX_ATTEMPTS_PER_IP", "LOG_LEVEL")}, "DATABASE_URL": db})
    try:
        tok = other.login(*ADMIN)
        ids = []
        for i in range(6):
            ids.append(send_test(srv, admin) if i % 2 else send_test(other, tok))
        for i in ids:
            wait_until(lambda: len([x for x in deliveries(srv, admin, i)
                                    if x["status"] == "delivered"]) == 3, what=f"event {i}")
        time.sleep(1)
        for i in ids:
            assert len([e for e in hooks.events() if e["id"] == i]) == 1
            for rcpt in ("ops@example.com", "oncall@example.com"):
                assert len([x for x in mailer.inbox.of(rcpt) if i in str(x)]) == 1
        log = other.read_log()
        for secret in (SECRET, SMTP_PASSWORD, HOOK_TOKEN):
            assert secret not in log
    finally:
        assert other.stop() == 0


def test_shutdown_lets_the_delivery_in_flight_finish(channels):
    _, hooks = channels
    p = Server(env={"NOTIFY_WEBHOOK_SECRET": SECRET, "NOTIFY_POLL_SECONDS": "0.2"})
    try:
        tok = p.login(*ADMIN)
        r = p.put("/admin/notifications", {"webhook": {"urls": [hooks.url()]}}, token=tok)
        assert r.status == 200, r
        hooks.delay = 1.5
        eid = send_test(p, tok)
        wait_until(lambda: eid in hooks.arrived, what="delivery in flight")
    finally:
        t0 = time.time()
        rc = p.stop()
        hooks.delay = 0
    assert rc == 0
    assert time.time() - t0 < 15
    # The receiver's 200 came after SIGTERM: the delivery was still marked, so the next start
    # (or another node) will not send it again.
    assert len([e for e in hooks.events() if e["id"] == eid]) == 1
    url = p.env.get("DATABASE_URL")
    db = PgAdapter(url) if PG_URL else sqlite3.connect(os.path.join(p.data, "ragd.db"))
    with db:
        rows = db.execute("SELECT status, attempts, claimed_by FROM notification_deliveries "
                          "WHERE outbox_id = ?", (eid,)).fetchall()
    assert [tuple(x) for x in rows] == [("delivered", 1, None)]


def test_settled_deliveries_are_pruned_after_retention(srv, admin, channels):
    _, hooks = channels
    configure(srv, admin, hooks)
    eid = send_test(srv, admin)
    wait_until(lambda: len([x for x in deliveries(srv, admin, eid)
                            if x["status"] == "delivered"]) == 3, what="delivered")
    r = srv.post("/admin/test/clock", {"offset_ms": 31 * 86400 * 1000}, token=admin)
    assert r.status == 200, r
    tok = srv.login(*ADMIN)
    try:
        wait_until(lambda: not deliveries(srv, admin=tok), what="pruned outbox")
        assert settings(srv, tok)["outbox"]["delivered"] == 0
    finally:
        srv.post("/admin/test/clock", {"offset_ms": 0}, token=tok)


@pytest.mark.parametrize("env,word", [
    ({"NOTIFY_RETRY_BASE_SECONDS": "60", "NOTIFY_RETRY_MAX_SECONDS": "10"},
     "NOTIFY_RETRY_MAX_SECONDS"),
    ({"NOTIFY_RETENTION_DAYS": "0"}, "NOTIFY_RETENTION_DAYS"),
    ({"NOTIFY_POLL_SECONDS": "soon"}, "NOTIFY_POLL_SECONDS"),
])
def test_bad_notify_settings_refuse_to_start(env, word):
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run([BIN, "serve", "--data", d, "--port", "0"], capture_output=True,
                           text=True, timeout=60, cwd=d,
                           env={**os.environ, "ASAN_OPTIONS": "detect_leaks=0", **env})
    assert p.returncode == 2, p.stderr
    assert word in p.stderr
