"""Fake payment providers for the tests: Stripe's and Razorpay's APIs on 127.0.0.1 speaking
their wire formats, webhook signing as each provider signs, and the settings that point ragd
at them. With hosted_checkout=True the fake Stripe also serves the checkout page its
checkout URL names (GET /c/pay/{session}): a minimal page whose Pay link sends the browser
to the checkout's success_url and whose Cancel link to its cancel_url, as Stripe's does once
the payment is made or given up (the test delivers the signed webhook itself), and the
customer portal its portal URL names (GET /p/session/{id}), with a link back to ragd."""
import hashlib
import hmac
import html
import json
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STRIPE_KEY = "sk_test_fake_4242424242"
STRIPE_WHSEC = "whsec_test_0123456789abcdef"
RZP_KEY_ID = "rzp_test_keyid123"
RZP_KEY_SECRET = "rzp_test_secret_98765"
RZP_WHSEC = "rzp_webhook_secret_abcdef"
SECRETS = [STRIPE_KEY, STRIPE_WHSEC, RZP_KEY_SECRET, RZP_WHSEC]


# ---- fake providers -------------------------------------------------------------------------

class FakeProvider:
    """A provider API on 127.0.0.1 in a thread; records every request (path, headers, body)."""

    def __init__(self, kind, hosted_checkout=False):
        self.kind = kind
        self.hosted_checkout = hosted_checkout
        self.requests = []
        self.sessions = {}  # checkout session id -> the form ragd sent
        self.portals = {}  # portal session id -> the form ragd sent
        self.n = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                fake.requests.append({"path": self.path, "headers": dict(self.headers),
                                      "body": body})
                status, reply = fake.answer(self.path, self.headers, body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                status, page = fake.checkout_page(self.path)
                data = page.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def next_id(self, prefix):
        self.n += 1
        return f"{prefix}_{self.kind}{self.n:04d}"

    def answer(self, path, headers, body):
        if self.kind == "stripe":
            if headers.get("Authorization") != f"Bearer {STRIPE_KEY}":
                return 401, {"error": {"type": "invalid_request_error",
                                       "message": "Invalid API Key provided"}}
            form = dict(urllib.parse.parse_qsl(body))
            if path == "/v1/checkout/sessions":
                sid = self.next_id("cs_test")
                self.sessions[sid] = form
                host = self.base if self.hosted_checkout else "https://checkout.stripe.com"
                return 200, {"id": sid, "object": "checkout.session", "mode": form["mode"],
                             "url": f"{host}/c/pay/{sid}",
                             "client_reference_id": form.get("client_reference_id"),
                             "status": "open", "payment_status": "unpaid"}
            if path == "/v1/billing_portal/sessions":
                pid = self.next_id("bps")
                self.portals[pid] = form
                host = self.base if self.hosted_checkout else "https://billing.stripe.com"
                return 200, {"id": pid, "object": "billing_portal.session",
                             "customer": form["customer"],
                             "url": f"{host}/p/session/{'test_abc' if host != self.base else pid}"}
            if path.startswith("/v1/subscriptions/"):
                return 200, {"id": path.rsplit("/", 1)[1], "object": "subscription",
                             "cancel_at_period_end": form.get("cancel_at_period_end") == "true"}
        else:
            import base64
            want = "Basic " + base64.b64encode(f"{RZP_KEY_ID}:{RZP_KEY_SECRET}".encode()).decode()
            if headers.get("Authorization") != want:
                return 401, {"error": {"code": "BAD_REQUEST_ERROR",
                                       "description": "Authentication failed"}}
            j = json.loads(body or "{}")
            if path == "/v1/plans":
                return 200, {"id": self.next_id("plan"), "entity": "plan", "interval": 1,
                             "period": j["period"], "item": dict(j["item"], active=True)}
            if path == "/v1/subscriptions":
                sid = self.next_id("sub")
                return 200, {"id": sid, "entity": "subscription", "plan_id": j["plan_id"],
                             "status": "created", "notes": j["notes"],
                             "short_url": f"https://rzp.io/i/{sid}"}
            if path.endswith("/cancel"):
                return 200, {"id": path.split("/")[3], "entity": "subscription",
                             "status": "active"}
        return 404, {"error": {"message": "Unrecognized request URL"}}

    def checkout_page(self, path):
        """The hosted checkout or portal page of a session this fake created (404 for anything
        else)."""
        sid = path.split("?")[0].rsplit("/", 1)[-1]
        e = html.escape
        if path.startswith("/p/session/") and sid in self.portals:
            form = self.portals[sid]
            return 200, (
                "<!doctype html><html lang=en><head><meta charset=utf-8>"
                "<title>Fake customer portal</title></head><body><h1>Fake customer portal</h1>"
                f"<p id=customer>{e(form.get('customer', ''))}</p>"
                f"<a id=portal-return href=\"{e(form.get('return_url', ''))}\">Return</a>"
                "</body></html>")
        form = self.sessions.get(sid) if path.startswith("/c/pay/") else None
        if not form:
            return 404, "<!doctype html><title>Not found</title><p>No such checkout.</p>"
        amount = int(form.get("line_items[0][price_data][unit_amount]", "0"))
        cur = form.get("line_items[0][price_data][currency]", "usd").upper()
        name = form.get("line_items[0][price_data][product_data][name]", "")
        return 200, (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Fake checkout</title>"
            "</head><body><h1>Fake checkout</h1>"
            f"<p id=summary>{e(name)} {amount / 100:.2f} {e(cur)}</p>"
            f"<p id=session>{e(sid)}</p>"
            f"<a id=pay href=\"{e(form.get('success_url', ''))}\">Pay</a> "
            f"<a id=cancel href=\"{e(form.get('cancel_url', ''))}\">Cancel</a>"
            "</body></html>")

    def find(self, path):
        return [r for r in self.requests if r["path"] == path]

    def stop(self):
        self.httpd.shutdown()


# ---- signing as the providers sign ----------------------------------------------------------

def stripe_sign(body, secret=STRIPE_WHSEC, t=None):
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def rzp_sign(body, secret=RZP_WHSEC):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def stripe_event(etype, obj, created=None, eid=None):
    return {"id": eid or f"evt_{uuid.uuid4().hex[:24]}", "object": "event",
            "api_version": "2024-06-20", "created": int(time.time()) if created is None
            else created, "type": etype, "livemode": False, "data": {"object": obj}}


def payments_env(stripe, rzp, **extra):
    env = {"ENABLE_PAYMENTS": "1", "STRIPE_API_KEY": STRIPE_KEY,
           "STRIPE_WEBHOOK_SECRET": STRIPE_WHSEC, "STRIPE_API_BASE": stripe.base,
           "RAZORPAY_KEY_ID": RZP_KEY_ID, "RAZORPAY_KEY_SECRET": RZP_KEY_SECRET,
           "RAZORPAY_WEBHOOK_SECRET": RZP_WHSEC, "RAZORPAY_API_BASE": rzp.base,
           "PAYMENT_GRACE_DAYS": "3", "PAYMENT_CHECK_SECONDS": "1", "LOG_LEVEL": "info"}
    env.update(extra)
    return env


def session_completed(uid, plan, amount, customer="cus_Test1", sub="sub_Test1", cycle="monthly",
                      created=None, eid=None, currency="usd"):
    obj = {"id": f"cs_test_{uuid.uuid4().hex[:12]}", "object": "checkout.session",
           "mode": "subscription", "payment_status": "paid", "status": "complete",
           "client_reference_id": uid, "customer": customer, "subscription": sub,
           "invoice": f"in_{uuid.uuid4().hex[:12]}", "amount_total": amount,
           "currency": currency,
           "metadata": {"user_id": uid, "plan_type": plan, "billing_cycle": cycle}}
    return stripe_event("checkout.session.completed", obj, created, eid)
