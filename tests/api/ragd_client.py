"""Helpers for the HTTP tests: start a real ragd on 127.0.0.1 and talk HTTP to it."""
import atexit
import http.client
import json
import os
import shutil
import signal
import sys
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(ROOT, os.environ.get("RAGD_BIN", "build/asan/ragd"))
TEST_SECRET = "test-secret-key-0123456789abcdef"
# Nodes sharing PostgreSQL must share the key that seals provider keys.
TEST_ENCRYPTION_KEY = "5e" * 32

# With RAGD_RECORD_RESPONSES=DIR every response a Server receives is appended to
# DIR/responses-<pid>.jsonl (method, path, status, content type, length, JSON body) so that
# test_zz_openapi_responses.py can check them all against the OpenAPI document.
RECORD_DIR = os.environ.get("RAGD_RECORD_RESPONSES")
if RECORD_DIR:
    RECORD_DIR = os.path.abspath(RECORD_DIR)
_record_lock = threading.Lock()


def record_response(method, path, status, content_type, body):
    if not RECORD_DIR:
        return
    line = json.dumps({"method": method, "path": path.split("?", 1)[0], "status": status,
                       "content_type": content_type or "", "len": len(body),
                       "body": body if "json" in (content_type or "") else None})
    with _record_lock:
        with open(os.path.join(RECORD_DIR, f"responses-{os.getpid()}.jsonl"), "a") as f:
            f.write(line + "\n")


# Backends: with RAGD_TEST_PG_URL set (a private PostgreSQL started by scripts/services.sh)
# every Server gets a fresh database there instead of a SQLite file; RAGD_TEST_REDIS_URL
# likewise gives each Server its own Redis database number.
PG_URL = os.environ.get("RAGD_TEST_PG_URL")
REDIS_URL = os.environ.get("RAGD_TEST_REDIS_URL")
_db_for_data = {}
_redis_db = [0]


def backend():
    return "postgresql" if PG_URL else "sqlite"


def new_pg_database():
    import psycopg2
    name = "ragd_" + uuid.uuid4().hex[:12]
    conn = psycopg2.connect(PG_URL)
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {name}")
    conn.close()
    return PG_URL.rsplit("/", 1)[0] + "/" + name


class PgAdapter:
    """Just enough of sqlite3's connection API for the tests to read PostgreSQL."""

    def __init__(self, url):
        import psycopg2
        self.conn = psycopg2.connect(url)
        self.conn.autocommit = True

    def execute(self, sql, params=()):
        sql = sql.replace("?", "%s")
        if "sqlite_master" in sql:
            sql = ("SELECT table_name FROM information_schema.tables "
                   "WHERE table_schema='public' ORDER BY table_name")
        cur = self.conn.cursor()
        cur.execute(sql, params)
        return cur

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.conn.close()


def wait_for(cond, timeout=10, what="condition", interval=0.05):
    """Calls cond every interval seconds until it returns something true, and returns that;
    AssertionError naming what after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


class Server:
    """A ragd process with its own data dir and port. Stops itself in stop()."""

    def __init__(self, env=None, data=None, seed=True, args=()):
        self.tmp = tempfile.mkdtemp(prefix="ragd-test-")
        atexit.register(shutil.rmtree, self.tmp, True)  # after the session: data may be reused
        self.data = data or os.path.join(self.tmp, "data")
        self.port = free_port()
        self.env = dict(os.environ)
        self.env.update({
            "BCRYPT_ROUNDS": "4",
            # One client registers every test's accounts: the per-client registration and
            # refresh limits are tested on servers of their own (test_auth_abuse.py).
            "REGISTER_RATE_LIMIT_PER_IP": "100000/60",
            "REGISTER_RATE_LIMIT_GLOBAL": "100000/60",
            "REGISTRATIONS_PER_IP_PER_DAY": "0",
            "REFRESH_RATE_LIMIT_PER_IP": "100000/60",
            "JWT_SECRET_KEY": TEST_SECRET,
            "LOG_LEVEL": "warning",
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        })
        if PG_URL:
            if self.data not in _db_for_data:
                _db_for_data[self.data] = new_pg_database()
            self.env["DATABASE_URL"] = _db_for_data[self.data]
        if REDIS_URL:
            _redis_db[0] = _redis_db[0] % 15 + 1
            self.env["REDIS_URL"] = REDIS_URL.rsplit("/", 1)[0] + "/" + str(_redis_db[0])
            if "REDIS_URL" not in (env or {}):
                # A Redis database of its own starts empty, as a fresh data directory does:
                # the 15 databases are reused in turn, and an earlier server's limiter and
                # lockout state must not decide this one's tests. (A second node is given
                # the first one's REDIS_URL explicitly and shares its state.)
                import redis as redis_mod
                redis_mod.Redis.from_url(self.env["REDIS_URL"]).flushdb()
        self.env.update(env or {})
        if (self.env.get("DATABASE_URL") or "").startswith("postgres"):
            self.env.setdefault("ENCRYPTION_KEY", TEST_ENCRYPTION_KEY)
        self.env = {k: v for k, v in self.env.items() if v is not None}
        if seed:
            self.cli("seed", "--demo", "--data", self.data)
        self.log = open(os.path.join(self.tmp, "server.log"), "wb")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--data", self.data, "--port", str(self.port), *args],
            env=self.env, stdout=self.log, stderr=subprocess.STDOUT, cwd=self.tmp)
        self.wait_ready()

    def cli(self, *args, check=True, input=None):
        p = subprocess.run([BIN, *args], env=self.env, cwd=self.tmp, capture_output=True,
                           text=True, input=input, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"ragd {args} failed: {p.stderr}")
        return p

    def wait_ready(self, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("ragd exited early: " + self.read_log())
            try:
                if self.request("GET", "/health").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("ragd did not become ready")

    def read_log(self):
        if not self.log.closed:
            self.log.flush()
        with open(os.path.join(self.tmp, "server.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def request(self, method, path, body=None, token=None, headers=None, raw=None,
                timeout=30):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = dict(headers or {})
        if token:
            h["Authorization"] = f"Bearer {token}"
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        out = Response(r.status, r.getheaders(), r.read().decode("utf-8", "replace"))
        conn.close()
        record_response(method, path, out.status, out.header("Content-Type"), out.body)
        return out

    def get(self, path, token=None, **kw):
        return self.request("GET", path, token=token, **kw)

    def post(self, path, body=None, token=None, **kw):
        return self.request("POST", path, body=body, token=token, **kw)

    def patch(self, path, body=None, token=None, **kw):
        return self.request("PATCH", path, body=body, token=token, **kw)

    def put(self, path, body=None, token=None, **kw):
        return self.request("PUT", path, body=body, token=token, **kw)

    def delete(self, path, token=None, **kw):
        return self.request("DELETE", path, token=token, **kw)

    def login(self, email, password):
        r = self.post("/auth/login", {"email": email, "password": password})
        assert r.status == 200, r
        return r.json["access_token"]

    def register(self, email, password="password123", **extra):
        r = self.post("/auth/register", {"email": email, "password": password, **extra})
        assert r.status == 201, r
        return r.json

    def db(self):
        if PG_URL:
            return PgAdapter(self.env["DATABASE_URL"])
        import sqlite3
        return sqlite3.connect(os.path.join(self.data, "ragd.db"))

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        if self.proc.returncode not in (0, None) and sig == signal.SIGTERM:
            # Shown with the failing test's captured output: why the server did not exit 0.
            print(f"ragd exited {self.proc.returncode}; the end of its log:\n"
                  + self.read_log()[-4000:], file=sys.stderr)
        return self.proc.returncode


def form(path_and_fields):
    return urllib.parse.urlencode(path_and_fields).encode()
