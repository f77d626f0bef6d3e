"""Server behaviour: health, metrics, OpenAPI, request ids, headers, CORS, routing errors,
graceful shutdown."""
import json
import socket
import threading
import time

from ragd_client import Server


def test_health(server):
    r = server.get("/health")
    assert r.status == 200 and r.json["status"] == "healthy" and r.json["version"]


def test_health_detailed_lists_subsystems(server):
    r = server.get("/health/detailed")
    assert r.status == 200
    for name in ("database", "cache", "indexes", "models"):
        assert name in r.json["services"], name
        assert "status" in r.json["services"][name]
    assert r.json["services"]["database"]["status"] == "healthy"


def test_ready(server):
    r = server.get("/ready")
    assert r.status == 200 and r.json["status"] == "ready"


def test_metrics_prometheus(server):
    server.get("/health")
    server.get("/no/such/route")
    # A request is counted when its connection's work is done, just after the reply: on a
    # loaded machine the next request can overtake that by a moment.
    deadline = time.time() + 5
    r = server.get("/metrics")
    while 'route="unmatched",status="404"' not in r.body and time.time() < deadline:
        time.sleep(0.05)
        r = server.get("/metrics")
    assert r.status == 200
    assert r.header("Content-Type").startswith("text/plain")
    assert 'ragd_http_requests_total{method="GET",route="/health",status="200"}' in r.body
    assert 'route="unmatched",status="404"' in r.body
    assert "ragd_http_request_duration_seconds_bucket" in r.body
    assert "# TYPE ragd_http_requests_total counter" in r.body


def test_openapi_describes_every_route(server):
    r = server.get("/openapi.json")
    assert r.status == 200
    doc = r.json
    assert doc["openapi"].startswith("3.")
    paths = doc["paths"]
    for p, m in [("/auth/register", "post"), ("/auth/login", "post"), ("/auth/refresh", "post"),
                 ("/auth/logout", "post"), ("/auth/me", "get"), ("/users/me", "patch"),
                 ("/users", "get"), ("/users/{id}", "delete"), ("/admin/seed-status", "get"),
                 ("/health/detailed", "get"), ("/metrics", "get"), ("/ready", "get")]:
        assert m in paths[p], (p, m)
    schema = paths["/auth/register"]["post"]["requestBody"]["content"]["application/json"]
    assert set(schema["schema"]["required"]) == {"email", "password"}
    resp = paths["/auth/register"]["post"]["responses"]["201"]["content"]["application/json"]
    assert {"user_id", "access_token", "refresh_token", "token_type"} <= set(
        resp["schema"]["properties"])
    # every operation documents its success and error responses
    for p, item in paths.items():
        for m, op in item.items():
            assert "4XX" in op["responses"] and any(k.startswith("2") for k in op["responses"]), (p, m)


def test_request_id_generated_and_echoed(server):
    r = server.get("/health")
    assert len(r.header("X-Request-ID")) == 36
    r = server.get("/health", headers={"X-Request-ID": "my-trace-123"})
    assert r.header("X-Request-ID") == "my-trace-123"
    r = server.get("/nope", headers={"X-Request-ID": "trace-404"})
    assert r.json["request_id"] == "trace-404"
    # An unsafe id is replaced, not echoed.
    r = server.get("/health", headers={"X-Request-ID": "bad id <script>"})
    assert r.header("X-Request-ID") != "bad id <script>"


def test_security_headers(server):
    r = server.get("/health")
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("X-Frame-Options") == "DENY"
    assert r.header("Referrer-Policy")


def test_404_and_405(server):
    r = server.get("/definitely/not/here")
    assert r.status == 404 and r.json["code"] == "NOT_FOUND" and r.json["request_id"]
    r = server.request("DELETE", "/health")
    assert r.status == 405 and r.json["code"] == "METHOD_NOT_ALLOWED"
    assert "GET" in r.header("Allow")


def test_cors_allowed_and_denied_origins(server):
    r = server.request("OPTIONS", "/auth/login", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, authorization"})
    assert r.status == 204
    assert r.header("Access-Control-Allow-Origin") == "http://localhost:3000"
    assert "POST" in r.header("Access-Control-Allow-Methods")
    r = server.get("/health", headers={"Origin": "http://localhost:3000"})
    assert r.header("Access-Control-Allow-Origin") == "http://localhost:3000"
    r = server.get("/health", headers={"Origin": "http://evil.example"})
    assert r.header("Access-Control-Allow-Origin") is None


def test_access_log_is_json_with_request_id(server):
    server.get("/health", headers={"X-Request-ID": "log-check-1"})
    s = Server(seed=False, env={"LOG_LEVEL": "info"})
    try:
        s.get("/health", headers={"X-Request-ID": "log-check-2"})
    finally:
        assert s.stop() == 0
    lines = [json.loads(l) for l in s.read_log().splitlines() if l.startswith("{")]
    hits = [l for l in lines if l.get("request_id") == "log-check-2"]
    assert hits and hits[0]["status"] == 200 and hits[0]["path"] == "/health"
    assert "duration_ms" in hits[0] and "ts" in hits[0]
    assert any(l.get("msg") == "shutting down" for l in lines)


def test_sigterm_drains_inflight_requests():
    # Real bcrypt cost makes a login take a while: SIGTERM arrives while it runs.
    s = Server(seed=False, env={"BCRYPT_ROUNDS": "12"})
    s.cli("user", "create", "--email", "drain@example.com", "--password", "password123",
          "--data", s.data)
    result = {}

    def slow_login():
        result["r"] = s.post("/auth/login", {"email": "drain@example.com",
                                             "password": "password123"})

    t = threading.Thread(target=slow_login)
    t.start()
    time.sleep(0.05)
    rc = s.stop()
    t.join()
    assert result["r"].status == 200, result
    assert rc == 0


def test_slow_client_is_disconnected():
    s = Server(seed=False, env={"IDLE_TIMEOUT_SECONDS": "1"})
    try:
        c = socket.create_connection(("127.0.0.1", s.port))
        c.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # headers never finish
        c.settimeout(5)
        start = time.time()
        data = c.recv(1024)
        assert time.time() - start < 4.5
        assert data == b"" or b"408" in data or b"HTTP" in data
        c.close()
        assert s.get("/health").status == 200  # and the server is still fine
    finally:
        assert s.stop() == 0
