"""Daemon behaviour: SIGHUP (log reopen, reload of LOG_LEVEL, CORS_ORIGINS and the plans file
without dropping a request), TRUSTED_PROXIES, and what the access log carries."""
import http.client
import json
import os
import signal
import threading
import time

import pytest

from kb_helpers import multipart
from ragd_client import Server, wait_for


def log_lines(path):
    if not os.path.exists(path):
        return []
    out = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for ln in f:
            try:
                out.append(json.loads(ln))
            except ValueError:
                pass
    return out




def request_from(server, ip, method, path, body=None, headers=None):
    """A request whose source address is ip (any 127.x address reaches the loopback)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60,
                                      source_address=(ip, 0))
    h = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    status = r.status
    payload = r.read().decode()
    conn.close()
    return status, (json.loads(payload) if payload else None)


# ---- SIGHUP ----

@pytest.fixture(scope="module")
def hup():
    logdir = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"ragd-log-{os.getpid()}")
    os.makedirs(logdir, exist_ok=True)
    path = os.path.join(logdir, "ragd.log")
    s = Server(env={"LOG_FILE": path, "LOG_LEVEL": None, "CORS_ORIGINS": None,
                    "PLANS_FILE": None})
    s.log_file = path
    yield s
    rc = s.stop()
    assert rc == 0, s.read_log()[-3000:]


def write_env(server, text):
    with open(os.path.join(server.tmp, ".env"), "w") as f:
        f.write(text)


def reloads(server):
    return [ln for ln in log_lines(server.log_file) if ln.get("msg") == "configuration reloaded"]


def hangup(server, before):
    """Sends SIGHUP and waits until the reload is logged (in whichever file is current)."""
    server.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: len(reloads(server)) > before, what="the reload's log line")


def test_log_file_gets_the_lines_and_sighup_reopens_it(hup):
    assert hup.get("/health").status == 200
    lines = wait_for(lambda: [ln for ln in log_lines(hup.log_file) if ln.get("msg") == "request"],
                     what="an access-log line in LOG_FILE")
    assert lines[-1]["path"] == "/health"
    # logrotate: rename, then SIGHUP; the old file keeps its lines, a new one is created
    rotated = hup.log_file + ".1"
    os.rename(hup.log_file, rotated)
    n_old = len(log_lines(rotated))
    hup.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: os.path.exists(hup.log_file), what="a new log file after SIGHUP")
    assert hup.get("/health", headers={"X-Request-ID": "after-rotation"}).status == 200
    wait_for(lambda: any(ln.get("request_id") == "after-rotation"
                         for ln in log_lines(hup.log_file)), what="a request in the new file")
    assert not any(ln.get("request_id") == "after-rotation" for ln in log_lines(rotated))
    assert len(log_lines(rotated)) >= n_old
    assert os.stat(hup.log_file).st_mode & 0o007 == 0  # never readable by everyone


def test_sighup_during_requests_drops_none(hup):
    results, stop = [], threading.Event()

    def loop():
        while not stop.is_set():
            try:
                results.append(hup.get("/health", timeout=20).status)
            except OSError as e:  # a refused or reset connection is a dropped request
                results.append(repr(e))

    threads = [threading.Thread(target=loop) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(5):
            write_env(hup, f"CORS_ORIGINS=http://round{i}.example\n")
            before = len(reloads(hup))
            hangup(hup, before)
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert len(results) > 20, results
    assert set(results) == {200}, [r for r in results if r != 200][:5]
    assert hup.proc.poll() is None


def test_sighup_applies_cors_and_log_level(hup):
    origin = "http://reloaded.example"
    r = hup.get("/health", headers={"Origin": origin})
    assert r.header("Access-Control-Allow-Origin") is None
    write_env(hup, f"CORS_ORIGINS={origin}\nLOG_LEVEL=error\n")
    hup.proc.send_signal(signal.SIGHUP)  # at level error the reload itself is not logged
    wait_for(lambda: hup.get("/health", headers={"Origin": origin}).header(
        "Access-Control-Allow-Origin") == origin, what="the new CORS origin")
    r = hup.get("/health", headers={"Origin": origin, "X-Request-ID": "quiet-one"})
    assert r.header("Access-Control-Allow-Origin") == origin
    # level error: the access log (info) is silent now
    time.sleep(0.3)
    assert not any(ln.get("request_id") == "quiet-one" for ln in log_lines(hup.log_file))
    write_env(hup, f"CORS_ORIGINS={origin}\nLOG_LEVEL=info\n")
    hangup(hup, len(reloads(hup)))
    assert hup.get("/health", headers={"X-Request-ID": "loud-one"}).status == 200
    wait_for(lambda: any(ln.get("request_id") == "loud-one" for ln in log_lines(hup.log_file)),
             what="the access log back at info")


def test_sighup_refuses_bad_values_and_names_what_needs_a_restart(hup):
    origin = "http://kept.example"
    write_env(hup, f"CORS_ORIGINS={origin}\n")
    hangup(hup, len(reloads(hup)))
    write_env(hup, f"CORS_ORIGINS={origin}\nLOG_LEVEL=loud\nAPI_PORT=1\n")
    hangup(hup, len(reloads(hup)))
    lines = log_lines(hup.log_file)
    refused = [ln for ln in lines if "invalid new values refused" in ln.get("msg", "")]
    assert refused and refused[-1]["variables"][0]["variable"] == "LOG_LEVEL", lines[-5:]
    restart = [ln for ln in lines if "next start" in ln.get("msg", "")]
    assert restart and "API_PORT" in restart[-1]["variables"]
    assert hup.get("/health", headers={"X-Request-ID": "still-info"}).status == 200
    wait_for(lambda: any(ln.get("request_id") == "still-info" for ln in log_lines(hup.log_file)),
             what="the old level (info) kept")
    assert hup.get("/health").status == 200  # still listening on its port


def test_sighup_reloads_the_plans_file(hup):
    def pro_messages():
        plans = hup.get("/billing/plans").json["plans"]
        return [p for p in plans if p["plan_type"] == "pro"][0]["limits"]["messages"]

    before = pro_messages()
    assert before != 777
    with open(os.path.join(hup.data, "plans.json"), "w") as f:
        json.dump({"pro": {"limits": {"messages": 777}}}, f)
    hangup(hup, len(reloads(hup)))
    assert pro_messages() == 777
    # a broken file is refused: the plans in force stay
    with open(os.path.join(hup.data, "plans.json"), "w") as f:
        f.write("{not json")
    hangup(hup, len(reloads(hup)))
    assert pro_messages() == 777
    assert any("plans not reloaded" in ln.get("msg", "") for ln in log_lines(hup.log_file))
    os.remove(os.path.join(hup.data, "plans.json"))
    hangup(hup, len(reloads(hup)))
    assert pro_messages() == before


# ---- TRUSTED_PROXIES and the access log ----

PROXY, OTHER = "127.0.0.2", "127.0.0.3"
_n = [0]


def bad_login(server, ip, headers=None):
    """A failed login (a different unknown account each time: only the address is counted)."""
    _n[0] += 1
    return request_from(server, ip, "POST", "/auth/login",
                        {"email": f"nobody{_n[0]}@example.com", "password": "wrong-password"},
                        headers)[0]


def test_forwarded_headers_from_an_untrusted_peer_change_nothing():
    s = Server(seed=False, env={"LOGIN_MAX_ATTEMPTS_PER_IP": "3", "TRUSTED_PROXIES": None,
                                "LOG_LEVEL": "info"})
    try:
        codes = [bad_login(s, OTHER, {"X-Forwarded-For": f"198.51.100.{i}",
                                      "Forwarded": f"for=198.51.100.{i}"}) for i in range(5)]
        assert codes == [401, 401, 401, 429, 429], codes
        lines = [ln for ln in log_lines(os.path.join(s.tmp, "server.log"))
                 if ln.get("path") == "/auth/login"]
        assert lines and all(ln["ip"] == OTHER and "peer" not in ln for ln in lines), lines
    finally:
        assert s.stop() == 0


def test_trusted_proxy_forwards_the_client_address():
    s = Server(seed=False, env={"LOGIN_MAX_ATTEMPTS_PER_IP": "3", "LOG_LEVEL": "info",
                                "RATE_LIMIT_API": "2/60",
                                "TRUSTED_PROXIES": f"{PROXY}/32, 2001:db8::/32"})
    try:
        # per-address rate limits (anonymous callers) count the forwarded client ...
        plans = lambda ip, xff: request_from(s, ip, "GET", "/billing/plans",
                                             headers={"X-Forwarded-For": xff})[0]
        assert [plans(PROXY, "203.0.113.40") for _ in range(3)] == [200, 200, 429]
        assert plans(PROXY, "203.0.113.41") == 200
        # ... and, from a peer that is not a proxy, the peer whatever it claims
        assert [plans(OTHER, f"203.0.113.{50 + i}") for i in range(3)] == [200, 200, 429]
        # each forwarded client has its own allowance
        a = [bad_login(s, PROXY, {"X-Forwarded-For": "203.0.113.5"}) for _ in range(4)]
        assert a == [401, 401, 401, 429], a
        # the rightmost untrusted hop counts: a client cannot spoof the left of the list
        assert bad_login(s, PROXY, {"X-Forwarded-For": "203.0.113.5, 203.0.113.6"}) == 401
        assert bad_login(s, PROXY, {"X-Forwarded-For": "9.9.9.9, 203.0.113.5"}) == 429
        # Forwarded (RFC 7239) when there is no X-Forwarded-For
        f = [bad_login(s, PROXY, {"Forwarded": 'for="[2001:db9::7]:4711";proto=https'})
             for _ in range(4)]
        assert f == [401, 401, 401, 429], f
        # the same headers from a peer that is not a proxy: its own address counts
        o = [bad_login(s, OTHER, {"X-Forwarded-For": "203.0.113.77"}) for _ in range(4)]
        assert o == [401, 401, 401, 429], o
        # the access log names the client, the proxy, the user agent and the user
        s.register("logged@example.com")
        st, body = request_from(s, PROXY, "POST", "/auth/login",
                                {"email": "logged@example.com", "password": "password123"},
                                {"X-Forwarded-For": "203.0.113.99"})
        assert st == 200
        st, _ = request_from(s, PROXY, "GET", "/users/me", headers={
            "Authorization": "Bearer " + body["access_token"], "User-Agent": "probe/1.0",
            "X-Forwarded-For": "203.0.113.99", "X-Request-ID": "who-am-i"})
        assert st == 200
        me = wait_for(lambda: [ln for ln in log_lines(os.path.join(s.tmp, "server.log"))
                               if ln.get("request_id") == "who-am-i"], what="the access log")[0]
        assert me["ip"] == "203.0.113.99" and me["peer"] == PROXY, me
        assert me["user_agent"] == "probe/1.0" and len(me["user_id"]) == 36, me
        # ingestion's lines, written by a worker, name the upload's request and file
        body, ct = multipart({}, {"file": ("notes-2024.md", b"# Notes\n\nIngestion logs.\n",
                                           "text/markdown")})
        r = s.request("POST", "/documents", raw=body, token=s.login("logged@example.com",
                                                                      "password123"),
                      headers={"Content-Type": ct, "X-Request-ID": "upload-req-1"})
        assert r.status == 202, r
        done = wait_for(lambda: [ln for ln in log_lines(os.path.join(s.tmp, "server.log"))
                                 if ln.get("msg") == "document ingested"], what="ingestion")[0]
        assert done["request_id"] == "upload-req-1" and done["file"] == "notes-2024.md", done
        assert done["document_id"] == r.json["id"]
        queued = [ln for ln in log_lines(os.path.join(s.tmp, "server.log"))
                  if ln.get("msg") == "document queued for ingestion"]
        assert queued and queued[0]["request_id"] == "upload-req-1", queued
        assert queued[0]["file"] == "notes-2024.md"
    finally:
        assert s.stop() == 0


def test_unwritable_log_file_stops_serve_naming_it(tmp_path):
    import subprocess
    from ragd_client import BIN
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOG_")}
    env.update(LOG_FILE=str(tmp_path / "missing-dir" / "ragd.log"), BCRYPT_ROUNDS="4",
               ASAN_OPTIONS="detect_leaks=0")
    p = subprocess.run([BIN, "serve", "--data", str(tmp_path / "d"), "--port", "0"], env=env,
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "LOG_FILE" in p.stderr, p.stderr[-2000:]
