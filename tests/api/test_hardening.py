"""Hardening against clients that do not play fair and against local readers: slow headers,
many connections from one address, a full connection table, an open-file limit below the
connection limit, metric labels chosen by the client, bytes that are not UTF-8, a literal path
segment against a parameter, near-miss media types, a port that is already taken, and the
modes of the data directory and of every file ragd writes."""
import http.client
import select
import socket
import time

from ragd_client import Server


def connect(port, source="127.0.0.1"):
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))


def closed_by_server(sock, wait=0.0):
    """True once the server has closed or reset sock (waits up to `wait` seconds)."""
    try:
        ready, _, _ = select.select([sock], [], [], wait)
        if not ready:
            return False
        return sock.recv(1024) == b""
    except OSError:
        return True


def timed_get(port, path, source):
    start = time.time()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
    c.request("GET", path)
    r = c.getresponse()
    r.read()
    c.close()
    return r.status, time.time() - start


def start_headers(sock):
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # never finished


def test_trickling_headers_are_cut_at_the_header_deadline():
    # Each header line resets the idle timer (30 s here); only the header deadline stops it.
    s = Server(seed=False, env={"HEADER_TIMEOUT_SECONDS": "2", "IDLE_TIMEOUT_SECONDS": "30"})
    try:
        c = connect(s.port)
        start = time.time()
        start_headers(c)
        closed_at = None
        while time.time() - start < 8:
            if closed_by_server(c, 0.4):
                closed_at = time.time() - start
                break
            try:
                c.sendall(b"X-Trickle: 1\r\n")
            except OSError:
                closed_at = time.time() - start
                break
        c.close()
        assert closed_at is not None, "a trickling connection outlived the header deadline"
        assert 1.5 <= closed_at < 4, closed_at
        assert s.get("/health").status == 200
        assert 'reason="header_timeout"' in s.get("/metrics").body
    finally:
        assert s.stop() == 0


def test_per_ip_cap_refuses_the_excess_and_others_are_served():
    s = Server(seed=False, env={"MAX_CONNECTIONS_PER_IP": "20", "HEADER_TIMEOUT_SECONDS": "2"})
    socks = []
    try:
        for _ in range(40):
            c = connect(s.port)
            start_headers(c)
            socks.append(c)
        time.sleep(0.5)
        refused = sum(closed_by_server(c) for c in socks)
        assert refused >= 20, refused
        # Another address is served at once while this one holds its 20.
        status, secs = timed_get(s.port, "/health", "127.0.0.2")
        assert status == 200 and secs < 2, (status, secs)
        # Past the header deadline the slow ones are gone and this address is served again.
        time.sleep(2.5)
        status, secs = timed_get(s.port, "/health", "127.0.0.1")
        assert status == 200 and secs < 2, (status, secs)
    finally:
        for c in socks:
            c.close()
        assert s.stop() == 0


def test_full_connection_table_drops_the_oldest_waiting_connection():
    s = Server(seed=False, env={"MAX_CONNECTIONS": "24", "MAX_CONNECTIONS_PER_IP": "1000",
                                "HEADER_TIMEOUT_SECONDS": "60"})
    socks = []
    try:
        for i in range(24):
            c = connect(s.port, f"127.0.0.{10 + i % 4}")
            start_headers(c)
            socks.append(c)
            time.sleep(0.01)  # a definite accept order
        time.sleep(0.3)
        assert not any(closed_by_server(c) for c in socks)
        status, secs = timed_get(s.port, "/health", "127.0.0.2")
        assert status == 200 and secs < 2, (status, secs)
        time.sleep(0.3)
        # The newcomer took the room of the oldest connection still sending headers.
        assert closed_by_server(socks[0], 0.5)
        assert not any(closed_by_server(c) for c in socks[1:])
        assert 'reason="waiting_connection_dropped"' in s.get("/metrics").body
    finally:
        for c in socks:
            c.close()
        assert s.stop() == 0


def metric_series(body):
    # /metrics's own series appear once its first request has been counted (after the reply)
    return {l.rsplit(" ", 1)[0] for l in body.splitlines()
            if l and not l.startswith("#") and 'route="/metrics"' not in l}


def test_connection_limit_fits_the_open_file_limit(tmp_path):
    # With 512 descriptors in all, 4096 connections cannot be held: were the limit left there,
    # accept() would fail first and nobody new would get in while slow clients hold the rest.
    import ragd_client
    wrapper = tmp_path / "ragd-512-files"
    wrapper.write_text(f'#!/bin/sh\nulimit -n 512 || exit 1\nexec "{ragd_client.BIN}" "$@"\n')
    wrapper.chmod(0o755)
    real, ragd_client.BIN = ragd_client.BIN, str(wrapper)
    try:
        s = Server(seed=False, env={"HEADER_TIMEOUT_SECONDS": "30"})
    finally:
        ragd_client.BIN = real
    socks = []
    try:
        for i in range(600):
            c = connect(s.port, f"127.0.0.{10 + i % 4}")
            start_headers(c)
            socks.append(c)
        status, secs = timed_get(s.port, "/health", "127.0.0.2")
        assert status == 200 and secs < 2, (status, secs)
    finally:
        for c in socks:
            c.close()
        assert s.stop() == 0
    assert "lowered to fit the open-file limit" in s.read_log()


def test_random_methods_do_not_grow_metrics():
    s = Server(seed=False)
    try:
        def fire(n, tag):
            for i in range(n):
                c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
                c.request(f"X{tag}{i}Q", ["/health", "/nope", f"/nope/{tag}{i}"][i % 3])
                c.getresponse().read()
                c.close()

        fire(30, "A")
        before = metric_series(s.get("/metrics").body)
        fire(500, "B")
        after = metric_series(s.get("/metrics").body)
        assert after == before, sorted(after - before)[:10]
        assert not any("XB" in x or "/nope/" in x for x in after)
        assert any('method="other"' in x for x in after)
    finally:
        assert s.stop() == 0


def test_non_utf8_path_is_a_client_error_and_logged_in_full():
    s = Server(seed=False, env={"LOG_LEVEL": "info"})
    try:
        for path in ("/nope%ff", "/health?q=%ff%fe", "/users/%c0%af"):
            r = s.request("GET", path, headers={"X-Request-ID": "bad-utf8"})
            assert r.status == 400, (path, r)
            assert r.json["code"] == "INVALID_REQUEST" and r.json["request_id"] == "bad-utf8"
        assert s.get("/health").status == 200
    finally:
        assert s.stop() == 0
    import json
    lines = [json.loads(l) for l in s.read_log().splitlines() if l.startswith("{")]
    hits = [l for l in lines if l.get("request_id") == "bad-utf8" and l.get("msg") == "request"]
    assert len(hits) == 3, hits
    by_path = {h["path"]: h for h in hits}  # lines of different connections may interleave
    assert set(by_path) == {"/nope\\xFF", "/health", "/users/\\xC0\\xAF"}, by_path
    line = by_path["/nope\\xFF"]
    assert line["method"] == "GET" and line["status"] == 400 and line["ip"] == "127.0.0.1"
    assert "duration_ms" in line and line["route"] == "unmatched"


def test_literal_path_segment_wins_over_parameter(server, pro_token, admin_token):
    # /users/me has GET and PATCH; DELETE must not fall through to the admin /users/{id}.
    for tok in (pro_token, admin_token):
        r = server.delete("/users/me", token=tok)
        assert r.status == 405 and r.json["code"] == "METHOD_NOT_ALLOWED", r
        allow = r.header("Allow")
        assert "GET" in allow and "PATCH" in allow and "DELETE" not in allow
    assert server.get("/users/me", token=pro_token).status == 200
    assert server.get("/users/me", token=admin_token).json["email"] == "admin@example.com"


def test_content_type_is_an_exact_media_type(server):
    creds = {"email": "test@example.com", "password": "testpassword123"}
    import json
    for ct in ("application/jsonx", "application/json-patch", "application/jsonp; x=1",
               "text/plain"):
        r = server.post("/auth/login", raw=json.dumps(creds).encode(),
                        headers={"Content-Type": ct})
        assert r.status == 415 and r.json["code"] == "UNSUPPORTED_MEDIA_TYPE", (ct, r)
    for ct in ("application/json", "application/json; charset=utf-8", "Application/JSON",
               "application/json ;charset=UTF-8"):
        r = server.post("/auth/login", raw=json.dumps(creds).encode(),
                        headers={"Content-Type": ct})
        assert r.status == 200, (ct, r)


def test_second_serve_on_a_taken_port_fails_at_start():
    import os
    import subprocess
    import tempfile
    from ragd_client import BIN
    s = Server(seed=False)
    try:
        with tempfile.TemporaryDirectory() as d:
            p = subprocess.run([BIN, "serve", "--data", os.path.join(d, "data"), "--port",
                                str(s.port)], env=s.env, capture_output=True, text=True,
                               timeout=60)
        assert p.returncode != 0
        assert "already in use" in p.stderr, p.stderr
        assert s.get("/health").status == 200
    finally:
        assert s.stop() == 0


def private_modes(root):
    """Every entry under root whose mode lets group or others in: [(path, mode)]."""
    import os
    import stat
    loose = []
    for d, dirs, files in os.walk(root):
        for name in [d] + [os.path.join(d, f) for f in files]:
            st = os.lstat(name)
            if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
                loose.append((name, oct(st.st_mode & 0o7777)))
    return loose


def test_data_dir_and_files_are_private():
    import os
    # A loose umask for the process that starts ragd: ragd must not depend on it.
    old = os.umask(0o022)
    try:
        s = Server(env={"JWT_SECRET_KEY": None})  # the secret is generated into DATA/jwt_secret
    finally:
        os.umask(old)
    try:
        tok = s.login("test@example.com", "testpassword123")
        from kb_helpers import upload_ready
        upload_ready(s, tok, "Private notes about the harbour lighthouse.", title="n")
        assert s.post("/search", {"query": "lighthouse"}, token=tok).status == 200
        names = set(os.listdir(s.data))
        if not os.environ.get("RAGD_TEST_PG_URL"):  # PostgreSQL keeps the secret and data
            assert {"ragd.db", "ragd.db-wal", "ragd.db-shm", "jwt_secret"} <= names, names
        assert os.stat(s.data).st_mode & 0o777 == 0o700
        assert private_modes(s.data) == []
    finally:
        assert s.stop() == 0
    # Index files are written at shutdown too.
    written = [f for _, _, files in os.walk(s.data) for f in files]
    assert len(written) >= 2 and private_modes(s.data) == [], written


def test_existing_loose_data_dir_is_tightened_at_start():
    import os
    first = Server()
    assert first.stop() == 0
    for d, dirs, files in os.walk(first.data):
        os.chmod(d, 0o755)
        for f in files:
            os.chmod(os.path.join(d, f), 0o644)
    assert private_modes(first.data)
    s = Server(data=first.data, seed=False, env={"LOG_LEVEL": "info"})
    try:
        assert s.get("/health").status == 200
        assert os.stat(s.data).st_mode & 0o777 == 0o700
        assert private_modes(s.data) == []
    finally:
        assert s.stop() == 0
    assert "made private" in s.read_log()
