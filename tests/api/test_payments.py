"""Payments (ENABLE_PAYMENTS): checkouts through fake Stripe and Razorpay APIs on loopback that
speak their wire formats, webhooks signed as each provider signs them, exactly-once delivery,
ordering by the events' own timestamps, amount checks, cancellation, the grace period after a
failed payment, and the payment history."""
import json
import time
import urllib.parse
import uuid

import pytest

from billing_helpers import login, parallel, private_server, set_clock
from payment_fakes import (RZP_WHSEC, SECRETS, STRIPE_WHSEC, FakeProvider, payments_env,
                           rzp_sign, session_completed, stripe_event, stripe_sign)
from prom_helpers import assert_promtool_clean


def send_stripe(server, event, secret=STRIPE_WHSEC, t=None, tamper=None):
    body = json.dumps(event).encode()
    sig = stripe_sign(body, secret, t)
    if tamper:
        body = tamper(body)
    return server.request("POST", "/payments/stripe/webhook", raw=body,
                          headers={"Stripe-Signature": sig, "Content-Type": "application/json"})


def rzp_event(etype, payload, created=None):
    return {"entity": "event", "account_id": "acc_TestAccount01", "event": etype,
            "contains": list(payload), "payload": payload,
            "created_at": int(time.time()) if created is None else created}


def send_rzp(server, event, event_id=None, secret=RZP_WHSEC, tamper=None):
    body = json.dumps(event).encode()
    sig = rzp_sign(body, secret)
    if tamper:
        body = tamper(body)
    return server.request("POST", "/payments/razorpay/webhook", raw=body,
                          headers={"X-Razorpay-Signature": sig,
                                   "X-Razorpay-Event-Id": event_id or f"evt_{uuid.uuid4().hex}",
                                   "Content-Type": "application/json"})


# ---- fixtures and helpers -------------------------------------------------------------------

@pytest.fixture(scope="module")
def fakes():
    s, r = FakeProvider("stripe"), FakeProvider("razorpay")
    yield s, r
    s.stop()
    r.stop()


@pytest.fixture(scope="module")
def srv(fakes):
    s = private_server(**payments_env(*fakes))
    yield s
    rc = s.stop()
    log = s.read_log()
    assert rc == 0, log[-6000:]
    for secret in SECRETS:  # never logged
        assert secret not in log


def new_user(server, prefix):
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@example.com"
    uid = server.register(email)["user_id"]
    return uid, server.login(email, "password123")


def price(server, plan, cycle="monthly"):
    plans = server.get("/billing/plans").json["plans"]
    return [p for p in plans if p["plan_type"] == plan][0]["pricing"][cycle]


def plan_of(server, token):
    r = server.get("/billing/subscription", token=token)
    assert r.status == 200, r
    return r.json["plan_type"]


def count(server, sql, *args):
    with server.db() as db:
        return db.execute(sql, args).fetchone()[0]


def stripe_upgrade(server, uid, token, plan="pro", **kw):
    r = send_stripe(server, session_completed(uid, plan, price(server, plan), **kw))
    assert r.status == 200 and r.json["outcome"] == "applied", r
    assert plan_of(server, token) == plan


# ---- tests ----------------------------------------------------------------------------------

def test_stripe_checkout_then_webhook_upgrades(srv, fakes):
    stripe, _ = fakes
    uid, tok = new_user(srv, "stripe")
    r = srv.post("/billing/checkout", {"plan_type": "pro", "provider": "stripe"}, token=tok)
    assert r.status == 200, r
    assert r.json["url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert r.json["amount_cents"] == price(srv, "pro") and r.json["currency"] == "USD"
    sent = dict(urllib.parse.parse_qsl(stripe.find("/v1/checkout/sessions")[-1]["body"]))
    assert sent["mode"] == "subscription" and sent["client_reference_id"] == uid
    assert sent["metadata[user_id]"] == uid and sent["metadata[plan_type]"] == "pro"
    assert sent["metadata[billing_cycle]"] == "monthly"
    assert sent["subscription_data[metadata][user_id]"] == uid
    assert sent["line_items[0][price_data][unit_amount]"] == str(price(srv, "pro"))
    assert sent["line_items[0][price_data][currency]"] == "usd"
    assert sent["line_items[0][price_data][recurring][interval]"] == "month"
    assert plan_of(srv, tok) == "free"  # nothing changes before the payment

    r = send_stripe(srv, session_completed(uid, "pro", price(srv, "pro"), customer="cus_A1",
                                           sub="sub_A1"))
    assert r.status == 200 and r.json["outcome"] == "applied", r
    assert plan_of(srv, tok) == "pro"
    hist = srv.get("/billing/history", token=tok).json["items"]
    upd = [h for h in hist if h["event_type"] == "subscription_updated"]
    assert len(upd) == 1 and upd[0]["metadata"]["source"] == "payments"
    assert upd[0]["metadata"]["change"] == "upgrade"
    pays = srv.get("/billing/payments", token=tok).json
    assert pays["total"] == 1 and pays["items"][0]["amount_cents"] == price(srv, "pro")
    assert pays["items"][0]["provider"] == "stripe" and pays["items"][0]["status"] == "paid"
    receipts = count(srv, "SELECT count(*) FROM notification_outbox WHERE event = ? AND"
                     " payload LIKE ?", "payment_receipt", f"%{uid}%")
    assert receipts == 1

    # the renewal invoice of the same subscription extends the period and is recorded
    inv = {"id": "in_renewal_A1", "object": "invoice", "customer": "cus_A1",
           "subscription": "sub_A1", "amount_paid": price(srv, "pro"), "currency": "usd",
           "billing_reason": "subscription_cycle",
           "lines": {"object": "list", "data": [{"period": {"start": int(time.time()),
                                                            "end": int(time.time()) + 40 * 86400}}]}}
    r = send_stripe(srv, stripe_event("invoice.paid", inv))
    assert r.status == 200 and r.json["outcome"] == "applied", r
    assert srv.get("/billing/payments", token=tok).json["total"] == 2
    past = srv.get("/billing/payments?offset=50", token=tok).json  # a page past the end
    assert past["total"] == 2 and past["items"] == [], past
    assert plan_of(srv, tok) == "pro"


def test_razorpay_checkout_then_webhook_upgrades(srv, fakes):
    _, rzp = fakes
    uid, tok = new_user(srv, "rzp")
    r = srv.post("/billing/checkout", {"plan_type": "enterprise", "provider": "razorpay",
                                       "billing_cycle": "yearly"}, token=tok)
    assert r.status == 200, r
    assert r.json["url"].startswith("https://rzp.io/i/sub_razorpay")
    plan_req = json.loads(rzp.find("/v1/plans")[-1]["body"])
    assert plan_req["period"] == "yearly" and plan_req["interval"] == 1
    assert plan_req["item"]["amount"] == price(srv, "enterprise", "yearly")
    assert plan_req["item"]["currency"] == "USD"
    sub_req = json.loads(rzp.find("/v1/subscriptions")[-1]["body"])
    assert sub_req["notes"] == {"user_id": uid, "plan_type": "enterprise",
                                "billing_cycle": "yearly"}
    plan_id, sub_id = sub_req["plan_id"], r.json["checkout_id"]
    # a second checkout for the same plan and price reuses the Razorpay plan
    r = srv.post("/billing/checkout", {"plan_type": "enterprise", "provider": "razorpay",
                                       "billing_cycle": "yearly"}, token=tok)
    assert r.status == 200 and len(rzp.find("/v1/plans")) == 1

    sub = {"id": sub_id, "entity": "subscription", "plan_id": plan_id, "status": "active",
           "customer_id": "cust_R1", "current_start": int(time.time()),
           "current_end": int(time.time()) + 365 * 86400, "notes": sub_req["notes"]}
    r = send_rzp(srv, rzp_event("subscription.activated", {"subscription": {"entity": sub}}))
    assert r.status == 200 and r.json["outcome"] == "applied", r
    assert plan_of(srv, tok) == "enterprise"
    pay = {"id": "pay_R1first", "entity": "payment", "amount": price(srv, "enterprise", "yearly"),
           "currency": "USD", "status": "captured", "method": "card"}
    r = send_rzp(srv, rzp_event("subscription.charged", {"subscription": {"entity": sub},
                                                         "payment": {"entity": pay}}))
    assert r.status == 200, r
    items = srv.get("/billing/payments", token=tok).json["items"]
    assert [(i["provider"], i["provider_ref"]) for i in items] == [("razorpay", "pay_R1first")]
    r = srv.get("/billing/subscription", token=tok).json
    assert r["billing_cycle"] == "yearly"


def test_plans_say_payments_are_on_and_with_which_providers(srv):
    """GET /billing/plans tells a client (the web UI) to start a checkout to upgrade."""
    r = srv.get("/billing/plans")
    assert r.status == 200
    assert r.json["payments_enabled"] is True
    assert r.json["payment_providers"] == ["stripe", "razorpay"]
    assert [p["plan_type"] for p in r.json["plans"]] == ["free", "pro", "enterprise"]


def test_only_configured_providers_are_offered(fakes):
    server = private_server(**payments_env(*fakes, RAZORPAY_KEY_ID="", RAZORPAY_KEY_SECRET=""))
    try:
        r = server.get("/billing/plans")
        assert r.json["payments_enabled"] is True and r.json["payment_providers"] == ["stripe"]
    finally:
        assert server.stop() == 0


def test_forgeries_change_nothing(srv):
    uid, tok = new_user(srv, "forge")
    ev = session_completed(uid, "enterprise", price(srv, "enterprise"))
    before = count(srv, "SELECT count(*) FROM payment_events")
    body = json.dumps(ev).encode()
    forged = f"t={int(time.time())},v1={'ab' * 32}"
    cases = [
        ("forged", {"Stripe-Signature": forged}, body, "INVALID_SIGNATURE"),
        ("wrong secret", {"Stripe-Signature": stripe_sign(body, "whsec_wrong")}, body,
         "INVALID_SIGNATURE"),
        ("stale", {"Stripe-Signature": stripe_sign(body, t=int(time.time()) - 301)}, body,
         "SIGNATURE_EXPIRED"),
        ("future", {"Stripe-Signature": stripe_sign(body, t=int(time.time()) + 3600)}, body,
         "SIGNATURE_EXPIRED"),
        ("modified", {"Stripe-Signature": stripe_sign(body)},
         body.replace(b'"enterprise"', b'"pro"'), "INVALID_SIGNATURE"),
        ("malformed", {"Stripe-Signature": "v1=zz,t=abc"}, body, "INVALID_WEBHOOK"),
        ("missing", {}, body, "MISSING_SIGNATURE"),
    ]
    for name, headers, raw, code in cases:
        r = srv.request("POST", "/payments/stripe/webhook", raw=raw, headers=headers)
        assert r.status == 400 and r.json["code"] == code, (name, r)
    rev = rzp_event("subscription.charged", {
        "subscription": {"entity": {"id": "sub_forge", "notes": {"user_id": uid,
                                                                   "plan_type": "pro"}}},
        "payment": {"entity": {"id": "pay_forge", "amount": price(srv, "pro"),
                               "currency": "USD"}}})
    for name, kw, code in [("wrong secret", {"secret": "nope"}, "INVALID_SIGNATURE"),
                           ("modified", {"tamper": lambda b: b.replace(b"pay_forge", b"pay_f0rge")},
                            "INVALID_SIGNATURE")]:
        r = send_rzp(srv, rev, **kw)
        assert r.status == 400 and r.json["code"] == code, (name, r)
    r = srv.request("POST", "/payments/razorpay/webhook", raw=json.dumps(rev).encode(),
                    headers={"X-Razorpay-Signature": "not-hex"})
    assert r.status == 400 and r.json["code"] == "INVALID_WEBHOOK"
    assert plan_of(srv, tok) == "free"
    assert count(srv, "SELECT count(*) FROM payment_events") == before
    assert srv.get("/billing/payments", token=tok).json["total"] == 0
    # a signature with several v1 entries is valid when one of them matches
    good = stripe_sign(body)
    t, v1 = good.split(",")
    r = srv.request("POST", "/payments/stripe/webhook", raw=body,
                    headers={"Stripe-Signature": f"{t},v1={'00' * 32},{v1},v0=abc"})
    assert r.status == 200 and plan_of(srv, tok) == "enterprise", r


def test_replay_is_a_200_no_op(srv):
    uid, tok = new_user(srv, "replay")
    ev = session_completed(uid, "pro", price(srv, "pro"))
    assert send_stripe(srv, ev).json["outcome"] == "applied"
    hist = srv.get("/billing/history", token=tok).json["total"]
    r = send_stripe(srv, ev)  # re-signed, same event id
    assert r.status == 200 and r.json["outcome"] == "duplicate", r
    assert srv.get("/billing/history", token=tok).json["total"] == hist
    assert srv.get("/billing/payments", token=tok).json["total"] == 1
    rzp_ev = rzp_event("subscription.charged", {
        "subscription": {"entity": {"id": "sub_replay", "notes": {"user_id": uid,
                                                                    "plan_type": "pro"}}},
        "payment": {"entity": {"id": "pay_replay1", "amount": price(srv, "pro"),
                               "currency": "USD"}}})
    assert send_rzp(srv, rzp_ev, event_id="evt_rzp_replay").json["outcome"] == "applied"
    r = send_rzp(srv, rzp_ev, event_id="evt_rzp_replay")
    assert r.status == 200 and r.json["outcome"] == "duplicate"
    assert srv.get("/billing/payments", token=tok).json["total"] == 2


def test_fifty_concurrent_deliveries_apply_once(srv):
    uid, tok = new_user(srv, "burst")
    ev = session_completed(uid, "enterprise", price(srv, "enterprise"))
    body = json.dumps(ev).encode()
    sig = stripe_sign(body)
    paid_before = payments_counted(srv)

    def deliver(i):
        return srv.request("POST", "/payments/stripe/webhook", raw=body,
                           headers={"Stripe-Signature": sig}, timeout=60)

    results = parallel(50, deliver)
    assert all(not isinstance(r, Exception) and r.status == 200 for r in results), results
    outcomes = sorted(r.json["outcome"] for r in results)
    assert outcomes.count("applied") == 1 and outcomes.count("duplicate") == 49
    assert plan_of(srv, tok) == "enterprise"
    hist = srv.get("/billing/history", token=tok).json["items"]
    assert len([h for h in hist if h["event_type"] == "subscription_updated"]) == 1
    assert srv.get("/billing/payments", token=tok).json["total"] == 1
    assert count(srv, "SELECT count(*) FROM payment_events WHERE event_id = ?", ev["id"]) == 1
    metrics = srv.get("/metrics").body
    assert 'ragd_payment_webhooks_total{provider="stripe",outcome="duplicate"}' in metrics
    assert_promtool_clean(metrics)
    assert payments_counted(srv) == paid_before + 1  # the payment is counted once


def payments_counted(srv):
    """ragd_payments_total{provider="stripe",outcome="succeeded"} (0 before the first)."""
    line = 'ragd_payments_total{provider="stripe",outcome="succeeded"} '
    found = [ln for ln in srv.get("/metrics").body.splitlines() if ln.startswith(line)]
    return float(found[0][len(line):]) if found else 0


def test_without_enable_payments_plans_change_as_before(server):
    """The shared server runs without ENABLE_PAYMENTS: no payment routes, PUT upgrades."""
    uid, tok = new_user(server, "selfhost")
    plans = server.get("/billing/plans").json
    assert plans["payments_enabled"] is False and plans["payment_providers"] == []
    assert server.post("/billing/checkout", {"plan_type": "pro"}, token=tok).status == 404
    body = b"{}"
    r = server.request("POST", "/payments/stripe/webhook", raw=body,
                       headers={"Stripe-Signature": stripe_sign(body)})
    assert r.status == 404
    r = server.put("/billing/subscription", {"plan_type": "pro"}, token=tok)
    assert r.status == 200 and r.json["changed"] is True
    assert plan_of(server, tok) == "pro"


def test_amount_or_currency_mismatch_is_refused_and_alerted(srv):
    uid, tok = new_user(srv, "mismatch")
    for amount, cur in [(price(srv, "pro") - 1, "usd"), (price(srv, "pro"), "eur")]:
        ev = session_completed(uid, "pro", amount, currency=cur)
        r = send_stripe(srv, ev)
        assert r.status == 422 and r.json["code"] == "PAYMENT_AMOUNT_MISMATCH", r
        assert plan_of(srv, tok) == "free"
        r = send_stripe(srv, ev)  # a re-delivery is recorded as seen
        assert r.status == 200 and r.json["outcome"] == "duplicate"
    alerts = count(srv, "SELECT count(*) FROM notification_outbox WHERE event = ? AND"
                   " payload LIKE ?", "payment_mismatch", f"%{uid}%")
    assert alerts == 2
    assert srv.get("/billing/payments", token=tok).json["total"] == 0


def test_events_apply_by_their_own_timestamps(srv):
    uid, tok = new_user(srv, "order")
    now = int(time.time())
    stripe_upgrade(srv, uid, tok, customer="cus_O1", sub="sub_O1", created=now - 100)
    # the subscription ends (newer), then an older activation arrives late: not applied
    ended = {"id": "sub_O1", "object": "subscription", "customer": "cus_O1",
             "status": "canceled", "metadata": {"user_id": uid}}
    r = send_stripe(srv, stripe_event("customer.subscription.deleted", ended, created=now - 10))
    assert r.status == 200 and r.json["outcome"] == "applied", r
    late = session_completed(uid, "enterprise", price(srv, "enterprise"), customer="cus_O1",
                             sub="sub_O1", created=now - 50)
    r = send_stripe(srv, late)
    assert r.status == 200 and r.json["outcome"] == "stale", r
    assert plan_of(srv, tok) != "enterprise"
    failed = {"id": "in_old_fail", "object": "invoice", "customer": "cus_O1",
              "subscription": "sub_O1", "amount_due": price(srv, "pro"), "currency": "usd"}
    r = send_stripe(srv, stripe_event("invoice.payment_failed", failed, created=now - 60))
    assert r.status == 200 and r.json["outcome"] == "stale", r


def test_put_subscription_cannot_upgrade_with_payments_on(srv, fakes):
    stripe, _ = fakes
    uid, tok = new_user(srv, "put")
    r = srv.put("/billing/subscription", {"plan_type": "enterprise"}, token=tok)
    assert r.status == 402 and r.json["code"] == "PAYMENT_REQUIRED", r
    assert plan_of(srv, tok) == "free"
    r = srv.put("/billing/subscription", {"plan_type": "free"}, token=tok)
    assert r.status == 200 and r.json["changed"] is False
    # an admin grants a plan (audited) ...
    admin = login(srv, "admin@example.com")
    r = srv.patch(f"/users/{uid}", {"subscription_plan": "enterprise"}, token=admin)
    assert r.status == 200, r
    assert plan_of(srv, tok) == "enterprise"
    audit = srv.get("/admin/audit-log?limit=100", token=admin).json["items"]
    assert any(e["target_id"] == uid and e["action"] == "user.update" and
               e["details"].get("subscription_plan") == "enterprise" for e in audit)
    # ... and the user's own downgrade waits for the period's end
    sub = srv.get("/billing/subscription", token=tok).json
    r = srv.put("/billing/subscription", {"plan_type": "pro"}, token=tok)
    assert r.status == 202 and r.json["scheduled"] is True, r
    assert r.json["effective_at"] == sub["current_period_end"]
    assert plan_of(srv, tok) == "enterprise"
    # a paying user cancels at period end through the provider; the portal is Stripe's
    uid2, tok2 = new_user(srv, "cancel")
    assert srv.get("/billing/portal", token=tok2).status == 404
    assert srv.post("/billing/cancel", token=tok2).status == 404
    stripe_upgrade(srv, uid2, tok2, customer="cus_C2", sub="sub_C2")
    r = srv.get("/billing/portal", token=tok2)
    assert r.status == 200 and r.json["url"].startswith("https://billing.stripe.com/")
    assert "customer=cus_C2" in stripe.find("/v1/billing_portal/sessions")[-1]["body"]
    r = srv.put("/billing/subscription", {"plan_type": "free"}, token=tok2)
    assert r.status == 202, r
    assert stripe.find("/v1/subscriptions/sub_C2")[-1]["body"] == "cancel_at_period_end=true"
    r = srv.post("/billing/cancel", token=tok2)
    assert r.status == 409, r
    assert plan_of(srv, tok2) == "pro"
    # a change between paid plans of a running provider subscription is the provider's
    uid3, tok3 = new_user(srv, "managed")
    stripe_upgrade(srv, uid3, tok3, plan="enterprise", customer="cus_M3", sub="sub_M3")
    r = srv.put("/billing/subscription", {"plan_type": "pro"}, token=tok3)
    assert r.status == 409 and r.json["code"] == "PROVIDER_MANAGED_SUBSCRIPTION", r
    assert plan_of(srv, tok3) == "enterprise"


def test_checkout_refusals(srv):
    uid, tok = new_user(srv, "refuse")
    r = srv.post("/billing/checkout", {"plan_type": "free", "provider": "stripe"}, token=tok)
    assert r.status == 400 and r.json["code"] == "INVALID_PAYMENT_REQUEST"
    r = srv.post("/billing/checkout", {"plan_type": "pro", "provider": "paypal"}, token=tok)
    assert r.status == 422
    r = srv.post("/billing/checkout", {"plan_type": "gold"}, token=tok)
    assert r.status == 422 and r.json["field"] == "plan_type"
    assert srv.post("/billing/checkout", {"plan_type": "pro"}).status == 401
    stripe_upgrade(srv, uid, tok, customer="cus_R9", sub="sub_R9")
    r = srv.post("/billing/checkout", {"plan_type": "pro"}, token=tok)
    assert r.status == 409


def test_admin_lists_and_refund_marks_payments(srv):
    uid, tok = new_user(srv, "refund")
    stripe_upgrade(srv, uid, tok, customer="cus_F1", sub="sub_F1")
    assert srv.get("/admin/payments", token=tok).status == 403
    admin = login(srv, "admin@example.com")
    r = srv.get(f"/admin/payments?user_id={uid}", token=admin)
    assert r.status == 200 and r.json["total"] == 1
    allp = srv.get("/admin/payments?limit=500", token=admin).json
    assert allp["total"] > 1  # every user's
    pid = r.json["items"][0]["id"]
    assert srv.post(f"/admin/payments/{pid}/refund", {}, token=tok).status == 403
    r = srv.post(f"/admin/payments/{pid}/refund", {"reason": "duplicate charge"}, token=admin)
    assert r.status == 200 and r.json["status"] == "refunded" and r.json["refunded_by"], r
    r = srv.post(f"/admin/payments/{pid}/refund", {}, token=admin)
    assert r.status == 409
    r = srv.post(f"/admin/payments/{uuid.uuid4()}/refund", {}, token=admin)
    assert r.status == 404
    audit = srv.get("/admin/audit-log?action=payments.refund_mark", token=admin).json["items"]
    assert any(e["target_id"] == pid for e in audit)
    mine = srv.get("/billing/payments", token=tok).json["items"]
    assert mine[0]["status"] == "refunded"


def test_secrets_never_returned(srv):
    uid, tok = new_user(srv, "secret")
    admin = login(srv, "admin@example.com")
    for path, t in [("/billing/portal", tok), ("/billing/payments", tok),
                    ("/admin/payments", admin), ("/openapi.json", None)]:
        text = srv.get(path, token=t).body
        for s in SECRETS:
            assert s not in text, path


def plan_in_db(server, uid):
    return count(server, "SELECT subscription_plan FROM users WHERE id = ?", uid)


def wait_plan(server, uid, plan, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline and plan_in_db(server, uid) != plan:
        time.sleep(0.3)
    return plan_in_db(server, uid)


def test_payment_failure_downgrades_after_grace(fakes):
    server = private_server(**payments_env(*fakes))
    try:
        uid, tok = new_user(server, "grace")
        stripe_upgrade(server, uid, tok, customer="cus_G1", sub="sub_G1")
        # another user's own downgrade waits for the end of the billing period
        uid2, tok2 = new_user(server, "later")
        admin = login(server, "admin@example.com")
        assert server.patch(f"/users/{uid2}", {"subscription_plan": "enterprise"},
                            token=admin).status == 200
        r = server.put("/billing/subscription", {"plan_type": "pro"}, token=tok2)
        assert r.status == 202, r
        period_end = r.json["effective_at"]
        failed = {"id": "in_fail_G1", "object": "invoice", "customer": "cus_G1",
                  "subscription": "sub_G1", "amount_due": price(server, "pro"),
                  "currency": "usd", "attempt_count": 1}
        r = send_stripe(server, stripe_event("invoice.payment_failed", failed))
        assert r.status == 200 and r.json["outcome"] == "applied", r
        assert count(server, "SELECT count(*) FROM notification_outbox WHERE event = ?",
                     "payment_failed") == 1
        set_clock(server, time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                        time.gmtime(time.time() + 2 * 86400)))
        time.sleep(2.5)  # the periodic check runs every second
        assert plan_in_db(server, uid) == "pro"
        set_clock(server, time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                        time.gmtime(time.time() + 3 * 86400 + 3600)))
        assert wait_plan(server, uid, "free") == "free"
        assert count(server, "SELECT status FROM payment_accounts WHERE user_id = ?",
                     uid) == "lapsed"
        hist = count(server, "SELECT count(*) FROM billing_history WHERE user_id = ? AND"
                     " metadata LIKE ?", uid, '%"source":"payments"%')
        assert hist == 2  # the upgrade, then the downgrade
        if plan_in_db(server, uid2) == "enterprise":  # unless the period already ended
            set_clock(server, period_end)
            assert wait_plan(server, uid2, "pro") == "pro"
        assert count(server, "SELECT count(*) FROM billing_history WHERE user_id = ? AND"
                     " metadata LIKE ?", uid2, '%"source":"payments"%') == 1
    finally:
        log = server.read_log()
        assert server.stop() == 0, log[-3000:]
        for secret in SECRETS:
            assert secret not in log


def test_erasing_a_paying_user_leaves_no_payment_rows(srv):
    uid, tok = new_user(srv, "erase")
    stripe_upgrade(srv, uid, tok, customer="cus_E1", sub="sub_E1")
    admin = login(srv, "admin@example.com")
    assert srv.delete(f"/users/{uid}", token=admin).status == 204
    deadline = time.time() + 15
    while time.time() < deadline and count(srv, "SELECT count(*) FROM users WHERE id = ?", uid):
        time.sleep(0.2)
    for table in ["payments", "payment_accounts", "payment_checkouts", "payment_events"]:
        assert count(srv, f"SELECT count(*) FROM {table} WHERE user_id = ?", uid) == 0, table


def test_razorpay_charge_before_activation_and_halt(srv, fakes):
    _, rzp = fakes
    uid, tok = new_user(srv, "rzporder")
    r = srv.post("/billing/checkout", {"plan_type": "pro", "provider": "razorpay"}, token=tok)
    assert r.status == 200, r
    sub_req = json.loads(rzp.find("/v1/subscriptions")[-1]["body"])
    now = int(time.time())
    sub = {"id": r.json["checkout_id"], "entity": "subscription", "plan_id": sub_req["plan_id"],
           "status": "active", "customer_id": "cust_O2", "current_end": now + 30 * 86400,
           "notes": sub_req["notes"]}
    pay = {"id": "pay_O2", "entity": "payment", "amount": price(srv, "pro"), "currency": "USD",
           "status": "captured"}
    r = send_rzp(srv, rzp_event("subscription.charged", {"subscription": {"entity": sub},
                                                         "payment": {"entity": pay}},
                                created=now - 5))
    assert r.status == 200 and r.json["outcome"] == "applied", r
    assert plan_of(srv, tok) == "pro"
    r = send_rzp(srv, rzp_event("subscription.activated", {"subscription": {"entity": sub}},
                                created=now - 10))
    assert r.status == 200 and r.json["outcome"] == "stale", r
    r = send_rzp(srv, rzp_event("subscription.halted", {"subscription": {"entity": sub}},
                                created=now))
    assert r.status == 200 and r.json["outcome"] == "applied", r
    assert count(srv, "SELECT status FROM payment_accounts WHERE user_id = ?", uid) == "past_due"
    assert plan_of(srv, tok) == "pro"  # until the grace period ends
    # an activation naming a Razorpay plan that was not created for this price is refused
    forged_plan = dict(sub, plan_id="plan_cheap")
    r = send_rzp(srv, rzp_event("subscription.activated",
                                {"subscription": {"entity": forged_plan}}, created=now + 1))
    assert r.status == 422 and r.json["code"] == "PAYMENT_AMOUNT_MISMATCH", r
