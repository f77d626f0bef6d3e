#!/usr/bin/env python3
"""Writes a screenshot of every page of the web UI at 1280 px and 360 px, light and dark, into
a folder (default docs/screenshots), from a fresh demo ragd on 127.0.0.1 that takes payments
through a fake Stripe and Razorpay on loopback (tests/api/payment_fakes.py):

    RAGD_BIN=build/release/ragd /usr/bin/python3 tests/ui/screenshots.py [FOLDER]
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
             ("payments", "/admin/payments")]
VARIANTS = [(1280, 860, False, "1280-light"), (1280, 860, True, "1280-dark"),
            (360, 760, False, "360-light"), (360, 760, True, "360-dark")]


def settle(d):
    time.sleep(0.4)  # charts, bars and fonts finish drawing


def main():
    out = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs", "screenshots"))
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
        s.post(f"/organizations/{org}/widget-keys", {"name": "shop", "allowed_origins": ["https://shop.example.com"]},
               token=owner)
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
                d.save_screenshot(os.path.join(out, f"login-{tag}.png"))
                login_ui(d, s, "test@example.com", "testpassword123")
                wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
                ask_ui(d, "How do quotas and plans work?")
                for page in USER_PAGES:
                    if page != "chat":
                        d.get(f"{base}/#/{page}")
                        wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "main h1, main h2"))
                    settle(d)
                    d.save_screenshot(os.path.join(out, f"{page}-{tag}.png"))
                d.execute_cdp_cmd("Network.clearBrowserCookies", {})  # the user's session ends
                d.get("about:blank")  # the app keeps its access token in page memory
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
                login_ui(d, s, "owner@example.com", "ownerpassword123", "/#/org")
                wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, "#widget-key-rows tr[data-id]"))
                settle(d)
                d.save_screenshot(os.path.join(out, f"org-{tag}.png"))
                d.execute_cdp_cmd("Network.clearBrowserCookies", {})
                login_ui(d, s, "admin@example.com", "adminpassword123", "/admin#/dashboard")
                for page in admin_pages:
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
