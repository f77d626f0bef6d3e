"""The OpenAPI document (/openapi.json): every route declares its responses, the document is
well formed (JSON Schema 2020-12 schemas, unique operationIds, security, error responses with
their headers, SSE and upload bodies), redocly lints it without errors, and /docs renders it."""
import json
import os
import re
import shutil
import subprocess

import jsonschema
import pytest

from openapi_check import FULL_ENV
from ragd_client import ROOT, Server

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def full():
    # Test mode and payments on: every route table is registered.
    s = Server(env=FULL_ENV)
    r = s.get("/openapi.json")
    assert r.status == 200, r
    yield s, r.json
    assert s.stop() == 0


def operations(doc):
    for path, item in doc["paths"].items():
        for m in METHODS:
            if m in item:
                yield m, path, item[m]


def test_every_route_declares_its_response(full):
    """A route without `.response` (http.h) is named here: declare its shapes next to it."""
    _, doc = full
    missing = [f"{m.upper()} {p}" for m, p, op in operations(doc)
               if op.get("x-ragd-undeclared-response")]
    assert not missing, ("routes without a declared response shape (struct route .response; "
                         "docs/ARCHITECTURE.md, 'Declaring a route's API document'): "
                         + ", ".join(missing))
    for m, p, op in operations(doc):
        ok = [c for c in op["responses"] if c.startswith("2") or c == "304"]
        assert ok, f"{m.upper()} {p} documents no success response"


def test_document_shape(full):
    _, doc = full
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["license"]["name"] and doc["info"]["version"]
    assert doc["servers"] and doc["servers"][0]["url"]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                     "description": schemes["bearerAuth"]["description"]}
    assert schemes["apiKeyHeader"]["in"] == "header"
    assert schemes["apiKeyHeader"]["name"] == "X-API-Key"
    assert schemes["apiKeyBearer"]["scheme"] == "bearer"
    ids = [op["operationId"] for _, _, op in operations(doc)]
    assert len(ids) == len(set(ids)), "operationIds repeat"
    assert doc["paths"]["/health"]["get"]["security"] == []
    assert doc["paths"]["/auth/login"]["post"]["security"] == []
    assert doc["paths"]["/widget/message"]["post"]["security"] == [{"widgetSession": []}]
    me = doc["paths"]["/auth/me"]["get"]["security"]
    assert {k for s in me for k in s} == {"bearerAuth", "apiKeyBearer", "apiKeyHeader"}
    for m, p, op in operations(doc):
        for code in ("4XX", "429", "503"):
            assert code in op["responses"], f"{m.upper()} {p} lacks {code}"
        for name in re.findall(r"\{([^}]+)\}", p):
            assert any(x["name"] == name and x["in"] == "path" for x in op["parameters"]), p
    # Every schema in the document is a valid JSON Schema 2020-12 schema.
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)
    for m, p, op in operations(doc):
        for code, resp in op["responses"].items():
            for media, c in resp.get("content", {}).items():
                jsonschema.Draft202012Validator.check_schema(c["schema"])


def test_error_responses_carry_their_headers(full):
    _, doc = full
    responses = doc["components"]["responses"]
    for name in ("TooManyRequests", "V1TooManyRequests"):
        assert {"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining",
                "X-RateLimit-Reset"} <= set(responses[name]["headers"])
    assert "Retry-After" in responses["ServiceUnavailable"]["headers"]
    assert responses["V1Error"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/OpenAIError")
    chat = doc["paths"]["/v1/chat/completions"]["post"]["responses"]
    assert chat["502"]["$ref"].endswith("/V1BadGateway")
    # A rate-limited route's success carries the X-RateLimit-* headers.
    search = doc["paths"]["/search"]["post"]["responses"]["200"]
    assert "X-RateLimit-Remaining" in search["headers"]


def test_request_bodies_and_streams(full):
    _, doc = full
    login = doc["paths"]["/auth/login"]["post"]["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(login)
    form = login["application/x-www-form-urlencoded"]["schema"]
    assert {"username", "password"} <= set(form["properties"])
    upload = doc["paths"]["/documents"]["post"]["requestBody"]["content"]
    assert upload["multipart/form-data"]["schema"]["properties"]["file"]["format"] == "binary"
    assert "content" in upload["application/json"]["schema"]["properties"]
    for path in ("/v1/chat/completions", "/chat/message", "/widget/message"):
        ok = doc["paths"][path]["post"]["responses"]["200"]["content"]
        assert "text/event-stream" in ok and "application/json" in ok, path
    # Every route with a JSON body schema documents it.
    assert doc["paths"]["/auth/register"]["post"]["requestBody"]["required"] is True


def test_docs_page(full):
    s, _ = full
    r = s.get("/docs")
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/html")
    csp = r.header("Content-Security-Policy")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    # No inline script and nothing from another origin: one module from this server.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", r.body, re.S)
    assert scripts and all(body.strip() == "" and 'src="/' in attrs for attrs, body in scripts)
    assert "http://" not in r.body and "https://" not in r.body
    js = s.get("/static/js/docs.js")
    assert js.status == 200 and "/openapi.json" in js.body
    assert s.get("/static/docs.css").status == 200


def npm_redocly():
    """Installs @redocly/cli into the build directory once; None when node/npm or the npm
    registry is not available."""
    if not shutil.which("node") or not shutil.which("npm"):
        return None
    d = os.path.join(ROOT, "build", "npm-redocly")
    cli = os.path.join(d, "node_modules", ".bin", "redocly")
    if not os.path.exists(cli):
        os.makedirs(d, exist_ok=True)
        p = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", d,
                            "@redocly/cli@2"], capture_output=True, text=True, timeout=300)
        if p.returncode != 0 or not os.path.exists(cli):
            return None
    return cli


def test_redocly_lint(full, tmp_path):
    cli = npm_redocly()
    if cli is None:
        pytest.skip("node/npm or the npm registry is not available: redocly lint cannot run")
    _, doc = full
    f = tmp_path / "openapi.json"
    f.write_text(json.dumps(doc))
    p = subprocess.run([cli, "lint", "--format", "json", str(f)], capture_output=True,
                       text=True, timeout=300, env={**os.environ, "REDOCLY_TELEMETRY": "off",
                                                    "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"})
    try:
        out = json.loads(p.stdout)
    except ValueError:
        raise AssertionError(f"redocly said: {p.stdout[-2000:]} {p.stderr[-2000:]}")
    errors = [x for x in out.get("problems", []) if x.get("severity") == "error"]
    listing = "\n".join(f"{x['ruleId']}: {x['message']} at "
                        f"{x['location'][0]['pointer'] if x.get('location') else ''}"
                        for x in errors[:40])
    assert not errors, f"redocly lint: {len(errors)} errors\n{listing}"
