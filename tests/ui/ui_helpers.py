"""Helpers for the browser tests and the screenshot script: a headless Debian chromium driven
through chromium-driver, and the steps the tests share."""
import os
import time
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "api"))

from ragd_client import ROOT  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SHOTS = os.environ.get("UI_SHOTS", os.path.join(ROOT, "build", "ui-shots"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")



def new_driver(width=1280, height=900, dark=False):
    profile = tempfile.mkdtemp(prefix="ragd-ui-profile-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", f"--user-data-dir={profile}",
              f"--window-size={width},{height}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(30)
    # Chromium keeps a window wider than phones; a phone's viewport is emulated instead.
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
    if dark:
        d.execute_cdp_cmd("Emulation.setEmulatedMedia", {
            "features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    d._ragd_profile = profile
    return d


def quit_driver(d):
    try:
        d.quit()
    finally:
        shutil.rmtree(d._ragd_profile, True)


def url(server, path="/"):
    return f"http://127.0.0.1:{server.port}{path}"


def wait(d, cond, timeout=30):
    return WebDriverWait(d, timeout, poll_frequency=0.05,
                         ignored_exceptions=[StaleElementReferenceException]).until(cond)


def css(d, sel):
    return d.find_element(By.CSS_SELECTOR, sel)


def click(d, sel, timeout=10):
    """Clicks the element sel names once it is clickable, finding it again if the page
    re-renders it in between (a list redrawn after an action makes the old node stale)."""
    from selenium.common.exceptions import StaleElementReferenceException
    deadline = time.time() + timeout
    while True:
        try:
            wait(d, EC.element_to_be_clickable((By.CSS_SELECTOR, sel))).click()
            return
        except StaleElementReferenceException:
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def shot(d, name):
    os.makedirs(SHOTS, exist_ok=True)
    d.save_screenshot(os.path.join(SHOTS, name + ".png"))


def severe_logs(d):
    return [e for e in d.get_log("browser") if e["level"] == "SEVERE"]


def login_ui(d, server, email, password, path="/"):
    d.get(url(server, path))
    wait(d, EC.element_to_be_clickable((By.ID, "f-email"))).send_keys(email)
    css(d, "#f-password").send_keys(password)
    css(d, "#auth-submit").click()


def ask_ui(d, text):
    """Types a question, sends it and waits until its answer is complete; returns the answer."""
    before = len(d.find_elements(By.CSS_SELECTOR, ".msg.assistant"))
    box = wait(d, EC.element_to_be_clickable((By.ID, "chat-input")))
    box.send_keys(text)
    css(d, "#send").click()
    wait(d, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".msg.assistant:not([aria-busy])")) > before
         or css(d, "#chat-notice").is_displayed())
    msgs = d.find_elements(By.CSS_SELECTOR, ".msg.assistant")
    return msgs[-1] if len(msgs) > before else None


def upload_ui(d, path):
    css(d, "#file-input").send_keys(path)


def doc_status(d, title):
    """The status of the first listed document whose row mentions title (read in one go: the
    table is redrawn while documents are processed)."""
    return d.execute_script("""
        for (const tr of document.querySelectorAll('#doc-rows tr[data-id]'))
          if (tr.textContent.toLowerCase().includes(arguments[0].toLowerCase())) return tr.dataset.status;
        return null;""", title)
