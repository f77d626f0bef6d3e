"""/docs: the API reference page renders /openapi.json with its own module, under the pages'
Content-Security-Policy (no inline script, nothing from another origin)."""
from selenium.webdriver.common.by import By

from ui_helpers import severe_logs, url, wait


def test_docs_page_renders_the_document(driver, server):
    driver.get(url(server, "/docs"))
    wait(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "section.op")) > 50)
    titles = [e.text for e in driver.find_elements(By.CSS_SELECTOR,
                                                     "section.op:not([id^=schema-]) h3")]
    assert any(t.startswith("POST") and t.endswith("/auth/login") for t in titles), titles[:5]
    login = driver.find_element(By.ID, "postAuthLogin")
    assert "public" in login.text
    # The response shape is shown from the document, e.g. the login's token fields.
    shapes = " ".join(e.get_attribute("textContent")
                      for e in login.find_elements(By.CSS_SELECTOR, "details pre"))
    assert "access_token" in shapes and "grant_type" in shapes  # response; the OAuth2 form
    # Shared schemas are listed too.
    user = driver.find_element(By.ID, "schema-User")
    assert "is_superuser" in user.get_attribute("textContent")
    toc = driver.find_elements(By.CSS_SELECTOR, "#toc a[href^='#']:not([href='#schemas'])")
    assert len(toc) == len(titles)
    assert severe_logs(driver) == []
