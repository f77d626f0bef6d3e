"""Browser tests: Debian's chromium driven by chromium-driver through python3-selenium,
against a live ragd on 127.0.0.1 (tests/api/ragd_client.py's Server). Each test leaves a
screenshot under build/ui-shots/ (UI_SHOTS overrides)."""
import os
import shutil
import sys
import tempfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "api"))

from ragd_client import ROOT, Server  # noqa: E402

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

SHOTS = os.environ.get("UI_SHOTS", os.path.join(ROOT, "build", "ui-shots"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


@pytest.fixture(scope="session")
def server():
    s = Server(env={"LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    yield s
    rc = s.stop()
    assert rc == 0, "ragd did not exit cleanly on SIGTERM:\n" + s.read_log()[-4000:]


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


@pytest.fixture
def driver(request):
    d = new_driver()
    yield d
    os.makedirs(SHOTS, exist_ok=True)
    try:
        d.save_screenshot(os.path.join(SHOTS, request.node.name + ".png"))
    finally:
        quit_driver(d)
