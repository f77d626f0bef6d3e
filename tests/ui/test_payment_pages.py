"""Paid plans in a real browser against ragd with ENABLE_PAYMENTS and fake Stripe and Razorpay
APIs on loopback (tests/api/payment_fakes.py; the fake Stripe serves its checkout and portal
pages): a user upgrades from the pricing page through the checkout, the signed webhook
changes the plan, the way back shows the banner and the new plan, the billing page lists
the payment, opens the customer portal and cancels at the end of the period after a
confirmation; an administrator marks the payment refunded on the console's payments page
and lists the organizations; the console shows each page to the roles that may read it."""
import json
import urllib.parse
import uuid
from unittest import mock

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC

import ragd_client
from payment_fakes import FakeProvider, payments_env, session_completed, stripe_sign
from ui_helpers import click, css, login_ui, severe_logs, shot, url, wait


@pytest.fixture(scope="module")
def fakes():
    s, r = FakeProvider("stripe", hosted_checkout=True), FakeProvider("razorpay")
    yield s, r
    s.stop()
    r.stop()


@pytest.fixture(scope="module")
def srv(fakes):
    # The providers send the browser back to PAYMENTS_RETURN_URL, which names the server's
    # own port: the port is chosen before the server starts.
    port = ragd_client.free_port()
    with mock.patch.object(ragd_client, "free_port", return_value=port):
        s = ragd_client.Server(env=payments_env(
            *fakes, LOGIN_MAX_ATTEMPTS_PER_IP="100000", SEED_DEMO_DOCS="false",
            PAYMENTS_RETURN_URL=f"http://127.0.0.1:{port}/", LOG_LEVEL="warning"))
    assert s.port == port
    yield s
    assert s.stop() == 0, s.read_log()[-4000:]


def new_user(s, prefix):
    email = f"{prefix}-{uuid.uuid4().hex[:8]}@ui.test"
    uid = s.register(email)["user_id"]
    return uid, email, s.login(email, "password123")


def pro_price(s):
    return [p for p in s.get("/billing/plans").json["plans"] if p["plan_type"] == "pro"][0]["pricing"]["monthly"]


def confirm(d):
    wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, "dialog [data-confirm]"))).click()


def logout_browser(d):
    d.execute_cdp_cmd("Network.clearBrowserCookies", {})
    d.get("about:blank")  # the app keeps its access token in page memory


def test_upgrade_through_checkout_then_refund_and_organizations(srv, fakes, driver):
    d = driver
    stripe, _ = fakes
    uid, email, tok = new_user(srv, "payer")

    # Pricing: payments are on with two providers, so upgrading asks which one.
    login_ui(d, srv, email, "password123", "/#/login?next=pricing")
    wait(d, EC.element_to_be_clickable((By.ID, "upgrade-pro")))
    assert css(d, "#current-free").text == "Your plan"
    assert not d.find_elements(By.CSS_SELECTOR, "#payments-unavailable")
    shot(d, "payments-pricing")
    css(d, "#upgrade-pro").click()
    wait(d, EC.element_to_be_clickable((By.ID, "pay-stripe")))
    assert css(d, "#pay-razorpay").is_displayed()
    css(d, "#pay-stripe").click()

    # The fake Stripe's checkout page, for the plan's price; nothing has changed yet.
    wait(d, EC.presence_of_element_located((By.ID, "pay")))
    assert d.current_url.startswith(stripe.base + "/c/pay/cs_test_")
    assert "29.00 USD" in css(d, "#summary").text
    sid = css(d, "#session").text
    sent = stripe.sessions[sid]
    assert sent["client_reference_id"] == uid and sent["metadata[plan_type]"] == "pro"
    assert sent["success_url"] == url(srv, "/?checkout=success")
    assert sent["cancel_url"] == url(srv, "/?checkout=cancelled")
    assert srv.get("/billing/subscription", token=tok).json["plan_type"] == "free"
    shot(d, "payments-fake-checkout")

    # The provider confirms with its signed webhook, then the browser comes back.
    body = json.dumps(session_completed(uid, "pro", pro_price(srv), customer="cus_UI1",
                                        sub="sub_UI1")).encode()
    r = srv.request("POST", "/payments/stripe/webhook", raw=body,
                    headers={"Stripe-Signature": stripe_sign(body),
                             "Content-Type": "application/json"})
    assert r.status == 200 and r.json["outcome"] == "applied", r
    css(d, "#pay").click()
    banner = wait(d, EC.visibility_of_element_located((By.ID, "checkout-banner")))
    assert banner.get_attribute("data-outcome") == "success"
    wait(d, lambda d: css(d, "#checkout-banner").get_attribute("data-plan") == "pro")
    assert "Payment received" in css(d, "#checkout-message").text
    assert "Pro" in css(d, "#checkout-message").text
    # The address no longer carries the outcome, and the billing page shows the new plan.
    assert "checkout=" not in d.current_url and d.current_url.endswith("/#/usage")
    wait(d, lambda d: "Pro" in css(d, "#plan-name").text)
    d.get_log("browser")  # the fake provider's pages have no icon: their 404s are not ragd's

    # The billing page lists the payment.
    row = wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "#payment-rows tr[data-status=paid]")))
    pays = srv.get("/billing/payments", token=tok).json["items"]
    assert len(pays) == 1 and row.get_attribute("data-id") == pays[0]["id"]
    assert "$29.00" in row.text and "Stripe" in row.text
    shot(d, "payments-billing")

    # "Manage payment method" opens the provider's portal for this customer.
    css(d, "#manage-payment").click()
    wait(d, EC.presence_of_element_located((By.ID, "portal-return")))
    assert d.current_url.startswith(stripe.base + "/p/session/")
    assert css(d, "#customer").text == "cus_UI1"
    portal = stripe.find("/v1/billing_portal/sessions")[-1]
    assert dict(urllib.parse.parse_qsl(portal["body"]))["return_url"] == url(srv, "/")
    d.back()
    wait(d, EC.element_to_be_clickable((By.ID, "cancel-subscription")))
    d.get_log("browser")  # the fake portal's missing icon

    # Cancelling asks first, saying until when the plan stays; keeping it changes nothing.
    click(d, "#cancel-subscription")
    dlg = wait(d, EC.visibility_of_element_located((By.CSS_SELECTOR, "dialog")))
    assert "until" in dlg.text and "Free plan" in dlg.text
    dlg.find_element(By.CSS_SELECTOR, "button.secondary").click()
    assert not stripe.find("/v1/subscriptions/sub_UI1")
    click(d, "#cancel-subscription")
    confirm(d)
    done = wait(d, EC.visibility_of_element_located((By.ID, "cancel-result")))
    assert "you keep your plan until" in done.text
    sent = dict(urllib.parse.parse_qsl(stripe.find("/v1/subscriptions/sub_UI1")[-1]["body"]))
    assert sent["cancel_at_period_end"] == "true"
    assert srv.get("/billing/subscription", token=tok).json["plan_type"] == "pro"  # until then
    assert not d.find_elements(By.ID, "cancel-subscription")
    assert severe_logs(d) == []
    shot(d, "payments-cancelled")

    # Back from a checkout given up: nothing charged.
    d.get(url(srv, "/?checkout=cancelled"))
    banner = wait(d, EC.visibility_of_element_located((By.ID, "checkout-banner")))
    assert banner.get_attribute("data-outcome") == "cancelled"
    assert "nothing was charged" in css(d, "#checkout-message").text
    click(d, "#checkout-dismiss")
    assert not d.find_elements(By.ID, "checkout-banner")

    # Organizations for the console's list.
    tag = uuid.uuid4().hex[:6]
    orgs = {}
    for name in (f"Acme {tag}", f"Globex {tag}"):
        _, _, otok = new_user(srv, "owner")
        r = srv.post("/organizations", {"name": name}, token=otok)
        assert r.status == 201, r
        orgs[name] = r.json["id"]

    # The administrator marks the payment refunded, after a confirmation with a reason.
    logout_browser(d)
    login_ui(d, srv, "admin@example.com", "adminpassword123", "/admin#/payments")
    first = f'#admin-payment-rows tr[data-id="{pays[0]["id"]}"]'
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, first)))
    assert email in css(d, first).text  # users are named by their address
    css(d, "#q-user").send_keys(email)
    css(d, "#payment-filters button[type=submit]").click()
    wait(d, lambda d: {tr.get_attribute("data-user") for tr in
                       d.find_elements(By.CSS_SELECTOR, "#admin-payment-rows tr[data-id]")} == {uid})
    row = f'#admin-payment-rows tr[data-id="{pays[0]["id"]}"]'
    assert email in css(d, row).text
    click(d, f"{row} button.refund")
    wait(d, EC.visibility_of_element_located((By.ID, "refund-message")))
    assert "$29.00" in css(d, "#refund-message").text and email in css(d, "#refund-message").text
    css(d, "#refund-reason").send_keys("asked within a week")
    confirm(d)
    wait(d, lambda d: css(d, row).get_attribute("data-status") == "refunded")
    assert not d.find_elements(By.CSS_SELECTOR, f"{row} button.refund")
    admin = srv.login("admin@example.com", "adminpassword123")
    item = srv.get(f"/admin/payments?user_id={uid}", token=admin).json["items"][0]
    assert item["status"] == "refunded" and item["refunded_by"]
    audit = srv.get("/admin/audit-log?action=payments.refund_mark", token=admin).json["items"]
    assert audit and audit[0]["details"]["reason"] == "asked within a week"
    shot(d, "payments-admin-refunded")

    # The organizations list: search, and each organization's details.
    click(d, 'nav a[href="#/organizations"]')
    wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#admin-org-rows tr[data-id]")) >= 2)
    ids = {tr.get_attribute("data-id") for tr in d.find_elements(By.CSS_SELECTOR, "#admin-org-rows tr[data-id]")}
    assert set(orgs.values()) <= ids
    css(d, "#q-org").send_keys(f"globex {tag}")
    css(d, "#org-filters button[type=submit]").click()
    wait(d, lambda d: [tr.get_attribute("data-id") for tr in
                       d.find_elements(By.CSS_SELECTOR, "#admin-org-rows tr[data-id]")] == [orgs[f"Globex {tag}"]])
    shot(d, "payments-admin-organizations")
    click(d, "#admin-org-rows a.org-link")
    wait(d, lambda d: css(d, "#org-title").text == f"Globex {tag}")
    facts = css(d, "#org-facts")
    assert facts.get_attribute("data-id") == orgs[f"Globex {tag}"] and "free" in facts.text
    assert len(d.find_elements(By.CSS_SELECTOR, "#admin-org-members tbody tr")) == 1
    assert severe_logs(d) == []


def test_console_pages_follow_the_role(srv, driver):
    """support (users.read, no plans.manage) sees Organizations but not Payments; the list's
    details are what the list shows, as support may not open an organization."""
    d = driver
    uid, email, _ = new_user(srv, "support")
    admin = srv.login("admin@example.com", "adminpassword123")
    assert srv.put(f"/users/{uid}/role", {"role": "support"}, token=admin).status == 200
    _, _, otok = new_user(srv, "owner")
    name = f"Initech {uuid.uuid4().hex[:6]}"
    org = srv.post("/organizations", {"name": name}, token=otok).json["id"]
    login_ui(d, srv, email, "password123", "/admin#/organizations")
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, f'#admin-org-rows tr[data-id="{org}"]')))
    assert d.find_elements(By.CSS_SELECTOR, 'nav a[href="#/organizations"]')
    assert not d.find_elements(By.CSS_SELECTOR, 'nav a[href="#/payments"]')
    click(d, f'#admin-org-rows tr[data-id="{org}"] a.org-link')
    wait(d, EC.visibility_of_element_located((By.ID, "org-limited")))
    assert css(d, "#org-title").text == name and "free" in css(d, "#org-facts").text
    # The payments page is not offered: its address shows the first page the role may read.
    d.get(url(srv, "/admin#/payments"))
    wait(d, lambda d: css(d, "body").get_attribute("data-view") == "dashboard")
    assert not d.find_elements(By.ID, "admin-payments")
    assert severe_logs(d) == []
