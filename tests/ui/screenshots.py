#!/usr/bin/env python3
"""Writes a screenshot of every page of the web UI at 1280 px and 360 px, light and dark, into
a folder (default docs/screenshots), from a fresh demo ragd on 127.0.0.1 that takes payments
through a fake Stripe and Razorpay on loopback (tests/api/payment_fakes.py):

    RAGD_BIN=build/release/ragd /usr/bin/python3 tests/ui/screenshots.py [FOLDER] [--only NAME,...]

--only writes just the pages named (the file names' prefixes before the size, such as
desk-inbox or admin-tickets), leaving the others as they are.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "api"))

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402

from ui_helpers import ROOT, ask_ui, login_ui, new_driver, quit_driver, wait  # noqa: E402
from ragd_client import Server  # noqa: E402
from payment_fakes import FakeProvider, payments_env, session_completed, stripe_sign  # noqa: E402

USER_PAGES = ["chat", "documents", "usage", "keys", "pricing", "profile"]
ADMIN_PAGES = ["dashboard", "users", "audit"]
# The operations pages, each shot only when the server has its API.
OPS_PAGES = [("provider-keys", "/admin/provider-keys"), ("provider-health", "/admin/providers/health"),
             ("features", "/admin/features"), ("maintenance", "/admin/maintenance"),
             ("notifications", "/admin/notifications"), ("organizations", "/admin/organizations"),
             ("payments", "/admin/payments"), ("tickets", "/tickets")]
VARIANTS = [(1280, 860, False, "1280-light"), (1280, 860, True, "1280-dark"),
            (360, 760, False, "360-light"), (360, 760, True, "360-dark")]


def settle(d):
    time.sleep(0.4)  # charts, bars and fonts finish drawing


def desk_data(s, owner, key, origin):
    """Widget conversations of the organization: an angry one escalated into a ticket that the
    agent has answered (with an internal note), and calm ones marked helpful, for the inbox,
    the ticket and the analytics pages."""
    def visitor():
        r = s.post("/widget/session", {"key": key}, headers={"Origin": origin})
        assert r.status == 201, r
        return {"Authorization": "Bearer " + r.json["session_token"], "Origin": origin}

    for question in ("How do I reset my password?", "How do quotas and plans work?"):
        h = visitor()
        r = s.post("/widget/message", {"message": question}, headers=h)
        assert r.status == 200, r
        s.post("/widget/feedback", {"message_id": r.json["message_id"], "helpful": True}, headers=h)
    h = visitor()
    for text in ("My order arrived broken. This is terrible!",
                 "I am furious, this is the worst service ever and nobody helps me!!!",
                 "Absolutely unacceptable. I want a refund."):
        r = s.post("/widget/message", {"message": text}, headers=h)
        assert r.status == 200, r
        if r.json["escalation"]:
            break
    tid = r.json["escalation"]["ticket_id"]
    agent = s.login("agent@example.com", "agentpassword123")
    s.post(f"/tickets/{tid}/messages", {"body": "Order 1042: a replacement is in stock.", "internal": True},
           token=agent)
    s.post(f"/tickets/{tid}/messages", {"body": "I am sorry about that. A replacement ships today.",
                                        "internal": False}, token=agent)
    s.patch(f"/tickets/{tid}", {"status": "pending"}, token=agent)
    return tid


def main():
    args = [a for a in sys.argv[1:]]
    only = None
    if "--only" in args:
        i = args.index("--only")
        only = set(args[i + 1].split(","))
        del args[i:i + 2]
    want = (lambda name: only is None or name in only)
    out = os.path.abspath(args[0] if args else os.path.join(ROOT, "docs", "screenshots"))
    os.makedirs(out, exist_ok=True)
    fakes = FakeProvider("stripe", hosted_checkout=True), FakeProvider("razorpay")
    s = Server(env=payments_env(*fakes, LOGIN_MAX_ATTEMPTS_PER_IP="100000", LOG_LEVEL="warning"))
    base = f"http://127.0.0.1:{s.port}"
    try:
        admin = s.login("admin@example.com", "adminpassword123")
        s.patch("/users/me", {"username": "Test user"}, token=s.login("test@example.com", "testpassword123"))
        s.post("/users/me/api-keys", {"name": "notebook"}, token=s.login("test@example.com", "testpassword123"))
        s.get("/users", token=admin)
        # An organization with an agent and a widget key, for the organization page.
        s.register("owner@example.com", "ownerpassword123")
        s.register("agent@example.com", "agentpassword123")
        owner = s.login("owner@example.com", "ownerpassword123")
        org = s.post("/organizations", {"name": "Example Co"}, token=owner).json["id"]
        s.post(f"/organizations/{org}/members", {"email": "agent@example.com", "role": "agent"}, token=owner)
        key = s.post(f"/organizations/{org}/widget-keys", {"name": "shop", "allowed_origins": ["https://shop.example.com"]},
                     token=owner).json["key"]
        ticket = desk_data(s, owner, key, "https://shop.example.com")
        # A user who paid for Pro through the fake Stripe, for the billing page and the banner
        # shown on the way back from the checkout.
        payer = s.register("payer@example.com", "payerpassword123")["user_id"]
        ptok = s.login("payer@example.com", "payerpassword123")
        assert s.post("/billing/checkout", {"plan_type": "pro", "provider": "stripe"}, token=ptok).status == 200
        price = [p for p in s.get("/billing/plans").json["plans"] if p["plan_type"] == "pro"][0]["pricing"]["monthly"]
        body = json.dumps(session_completed(payer, "pro", price, customer="cus_Shots", sub="sub_Shots")).encode()
        r = s.request("POST", "/payments/stripe/webhook", raw=body, headers={"Stripe-Signature": stripe_sign(body)})
        assert r.status == 200 and r.json["outcome"] == "applied", r
        admin_pages = ADMIN_PAGES + [p for p, api in OPS_PAGES if s.get(api, token=admin).status == 200]
        for width, height, dark, tag in VARIANTS:
            d = new_driver(width, height, dark)
            try:
                d.get(base + "/#/login")
                wait(d, EC.element_to_be_clickable((By.ID, "f-email")))
                settle(d)
                if want("login"):
                    d.save_screenshot(os.path.join(out, f"login-{tag}.png"))
                if any(want(p) for p in USER_PAGES):
                    login_ui(d, s, "test@example.com", "testpassword123")
                    wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
                    if want("chat"):
                        ask_ui(d, "How do quotas and plans work?")
                    for page in USER_PAGES:
                        if not want(page):
                            continue
                        if page != "chat":
                            d.get(f"{base}/#/{page}")
                            wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "main h1, main h2"))
                        settle(d)
                        d.save_screenshot(os.path.join(out, f"{page}-{tag}.png"))
                    d.execute_cdp_cmd("Network.clearBrowserCookies", {})  # the user's session ends
                    d.get("about:blank")  # the app keeps its access token in page memory
                if want("billing") or want("checkout-return"):
                    login_ui(d, s, "payer@example.com", "payerpassword123", "/#/login?next=usage")
                    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#payment-rows tr[data-id]"))
                    d.execute_script("document.getElementById('payments').scrollIntoView()")
                    settle(d)
                    d.save_screenshot(os.path.join(out, f"billing-{tag}.png"))
                    d.get(f"{base}/?checkout=success")
                    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#checkout-banner[data-plan]"))
                    settle(d)
                    d.save_screenshot(os.path.join(out, f"checkout-return-{tag}.png"))
                    d.execute_cdp_cmd("Network.clearBrowserCookies", {})
                    d.get("about:blank")
                if want("org") or want("desk-analytics"):
                    login_ui(d, s, "owner@example.com", "ownerpassword123", "/#/org")
                    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#widget-key-rows tr[data-id]"))
                    settle(d)
                    if want("org"):
                        d.save_screenshot(os.path.join(out, f"org-{tag}.png"))
                    if want("desk-analytics"):
                        d.get(f"{base}/#/analytics")
                        wait(d, lambda d: d.execute_script(
                            "return !!(window.Chart && Chart.getChart(document.getElementById('an-daily-chart')))"))
                        settle(d)
                        d.save_screenshot(os.path.join(out, f"desk-analytics-{tag}.png"))
                    d.execute_cdp_cmd("Network.clearBrowserCookies", {})
                    d.get("about:blank")
                if want("desk-inbox") or want("desk-ticket"):
                    login_ui(d, s, "agent@example.com", "agentpassword123", "/#/tickets")
                    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#ticket-rows li[data-id]"))
                    settle(d)
                    if want("desk-inbox"):
                        d.save_screenshot(os.path.join(out, f"desk-inbox-{tag}.png"))
                    if want("desk-ticket"):
                        d.get(f"{base}/#/tickets?id={ticket}")
                        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#transcript li.role-agent"))
                        settle(d)
                        d.save_screenshot(os.path.join(out, f"desk-ticket-{tag}.png"))
                    d.execute_cdp_cmd("Network.clearBrowserCookies", {})
                    d.get("about:blank")
                pages = [p for p in admin_pages if want(f"admin-{p}")]
                if pages:
                    login_ui(d, s, "admin@example.com", "adminpassword123", "/admin#/dashboard")
                for page in pages:
                    d.get(f"{base}/admin#/{page}")
                    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "main h1"))
                    settle(d)
                    d.save_screenshot(os.path.join(out, f"admin-{page}-{tag}.png"))
            finally:
                quit_driver(d)
    finally:
        s.stop()
        for f in fakes:
            f.stop()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
