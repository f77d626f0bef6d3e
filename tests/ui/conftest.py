"""Browser tests: Debian's chromium driven by chromium-driver through python3-selenium,
against a live ragd on 127.0.0.1 (tests/api/ragd_client.py's Server). Each test leaves a
screenshot under build/ui-shots/ (UI_SHOTS overrides)."""
import os

import pytest

from ui_helpers import SHOTS, new_driver, quit_driver
from ragd_client import Server


@pytest.fixture(scope="session")
def server():
    s = Server(env={"LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    yield s
    rc = s.stop()
    assert rc == 0, "ragd did not exit cleanly on SIGTERM:\n" + s.read_log()[-4000:]


@pytest.fixture(scope="session")
def browser():
    d = new_driver()
    yield d
    quit_driver(d)


@pytest.fixture
def driver(request, browser):
    """The session's browser, on a blank page without cookies: a logged-out session (the app
    keeps its access token in page memory and its session in cookies). Leaves a screenshot
    named after the test."""
    browser.get("about:blank")
    browser.execute_cdp_cmd("Network.clearBrowserCookies", {})
    browser.get_log("browser")  # drop what earlier tests logged
    yield browser
    os.makedirs(SHOTS, exist_ok=True)
    browser.save_screenshot(os.path.join(SHOTS, request.node.name + ".png"))
