"""The web UI served by ragd: pages with a Content-Security-Policy, static files with strong
ETags, 304s and gzip, the Debian-packaged libraries under /vendor/, and no way out of the web
folder."""
import gzip
import os
import re
import shutil
import socket
import tempfile

import pytest

from ragd_client import ROOT, Server

WEB = os.path.join(ROOT, "web")


def raw_get(server, target, headers=""):
    """Sends target exactly as written (no client-side normalisation)."""
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1"), body


def csp_directives(value):
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


@pytest.mark.parametrize("path,marker", [("/", "/static/js/app.js"), ("/admin", "/static/js/admin.js"),
                                         ("/verify?token=abc", "/static/js/app.js")])
def test_pages_have_a_strict_csp(server, path, marker):
    r = server.get(path)
    assert r.status == 200
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    assert marker in r.body
    d = csp_directives(r.header("Content-Security-Policy"))
    assert d["script-src"] == ["'self'"]
    assert d["style-src"] == ["'self'"]
    assert d["default-src"] == ["'none'"]
    assert d.get("object-src", d["default-src"]) == ["'none'"]
    assert d["frame-ancestors"] == ["'none'"] and d["base-uri"] == ["'none'"]
    assert "unsafe-inline" not in r.header("Content-Security-Policy")
    assert "unsafe-eval" not in r.header("Content-Security-Policy")
    assert r.header("X-Content-Type-Options") == "nosniff"
    assert r.header("ETag") and r.header("Cache-Control") == "no-cache"


def test_html_has_no_inline_script_or_style():
    for name in os.listdir(WEB):
        if not name.endswith(".html"):
            continue
        html = open(os.path.join(WEB, name), encoding="utf-8").read()
        for tag in re.findall(r"<script\b[^>]*>", html, re.I):
            assert "src=" in tag, (name, tag)
        assert not re.search(r"<script\b[^>]*>\s*[^<\s]", html, re.I), name
        assert not re.search(r"<style\b", html, re.I), name
        assert not re.search(r"\sstyle\s*=", html, re.I), name
        assert not re.search(r"\son[a-z]+\s*=", html, re.I), name


def test_every_module_the_pages_import_is_served(server):
    """Follows <script src>, <link href> and ES module imports from both pages."""
    seen, todo = set(), ["/", "/admin"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        r = server.get(path)
        assert r.status == 200, (path, r)
        if path.endswith(".js") or path in ("/", "/admin"):
            base = path.rsplit("/", 1)[0] + "/"
            refs = re.findall(r'(?:src|href)="(/[^"]+)"', r.body) if path in ("/", "/admin") else []
            refs += re.findall(r"""^import\s[^'"]*['"](\.{1,2}/[^'"]+)['"]""", r.body, re.M)
            for ref in refs:
                full = os.path.normpath(base + ref) if ref.startswith(".") else ref
                todo.append(full)
    assert "/static/js/views/chat.js" in seen and "/vendor/marked.js" in seen
    assert "/vendor/chart.js" in seen and "/vendor/purify.js" in seen


@pytest.mark.parametrize("path,ctype", [
    ("/static/app.css", "text/css; charset=utf-8"),
    ("/static/js/app.js", "text/javascript; charset=utf-8"),
    ("/static/js/views/chat.js", "text/javascript; charset=utf-8"),
    ("/static/icon.svg", "image/svg+xml"),
    ("/vendor/marked.js", "text/javascript; charset=utf-8"),
    ("/vendor/purify.js", "text/javascript; charset=utf-8"),
    ("/vendor/chart.js", "text/javascript; charset=utf-8"),
])
def test_content_types_and_etags(server, path, ctype):
    r = server.get(path)
    assert r.status == 200 and r.header("Content-Type") == ctype
    etag = r.header("ETag")
    assert re.fullmatch(r'"[0-9a-f]{16}"', etag), etag
    assert [k for k, _ in r.headers if k.lower() == "cache-control"] == ["Cache-Control"]
    assert r.header("Cache-Control") == "no-cache"
    assert "Content-Security-Policy" not in dict(r.headers)
    again = server.get(path, headers={"If-None-Match": etag})
    assert again.status == 304 and again.body == "" and again.header("ETag") == etag
    assert server.get(path, headers={"If-None-Match": "W/" + etag}).status == 304
    assert server.get(path, headers={"If-None-Match": '"0000000000000000", ' + etag}).status == 304
    assert server.get(path, headers={"If-None-Match": '"0000000000000000"'}).status == 200


def test_vendor_files_are_the_debian_packages():
    # The names ragd serves map to these files (scripts/deps.sh installs the packages).
    for f in ("/usr/share/javascript/marked/marked.umd.min.js",
              "/usr/share/nodejs/dompurify/dist/purify.min.js",
              "/usr/share/javascript/chart.js/chart.min.js"):
        assert os.path.exists(f), f


def test_vendor_content_matches_the_package(server):
    r = server.get("/vendor/purify.js")
    with open("/usr/share/nodejs/dompurify/dist/purify.min.js", encoding="utf-8") as f:
        assert r.body == f.read()
    assert server.get("/vendor/jquery.js").status == 404
    assert server.get("/vendor/..").status == 404


def test_gzip_when_accepted(server):
    plain = server.get("/vendor/marked.js")
    status, head, body = raw_get(server, "/vendor/marked.js", "Accept-Encoding: gzip, br\r\n")
    assert status == 200
    assert "content-encoding: gzip" in head.lower()
    assert "vary: accept-encoding" in head.lower()
    assert len(body) < len(plain.body) / 2
    assert gzip.decompress(body).decode() == plain.body
    gz_etag = re.search(r"(?im)^etag: (.*)$", head).group(1).strip()
    assert gz_etag != plain.header("ETag")  # a different representation, a different tag
    status, head, _ = raw_get(server, "/vendor/marked.js",
                              f"Accept-Encoding: gzip\r\nIf-None-Match: {gz_etag}\r\n")
    assert status == 304
    # Refused or not offered: identity.
    for ae in ("gzip;q=0", "br", "identity"):
        status, head, body = raw_get(server, "/vendor/marked.js", f"Accept-Encoding: {ae}\r\n")
        assert status == 200 and "content-encoding" not in head.lower(), ae
        assert body.decode() == plain.body


def test_head_and_methods(server):
    r = server.request("HEAD", "/static/app.css")
    assert r.status == 200 and r.body == "" and r.header("ETag")
    r = server.post("/static/app.css", {})
    assert r.status == 405 and r.json["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize("target", [
    "/static/../index.html",
    "/static/../../Makefile",
    "/static/..%2f..%2fMakefile",
    "/static/%2e%2e/%2e%2e/Makefile",
    "/static/js/../../../src/main.c",
    "/static/js/..%2F..%2F..%2Fsrc%2Fmain.c",
    "/static/%2e%2e%2f%2e%2e%2fREADME.md",
    "/static//etc/passwd",
    "/static/.hidden",
    "/static/js/.%2e/.%2e/.%2e/Makefile",
    "/static/..%00/index.html",
    "/static/js%00/../../Makefile",
    "/static/..\\..\\Makefile",
    "/vendor/..%2f..%2f..%2fetc%2fpasswd",
    "/vendor/%2e%2e",
    "/static/a/b/c/d",
])
def test_no_path_leaves_the_static_folder(server, target):
    status, head, body = raw_get(server, target)
    assert status in (400, 404), (target, status)
    for secret in (b"root:", b"PKGS", b"int main", b"# ragd", b"<!doctype"):
        assert secret not in body, (target, body[:200])


def test_web_dir_symlinks_and_reload():
    tmp = tempfile.mkdtemp(prefix="ragd-webdir-")
    try:
        os.makedirs(os.path.join(tmp, "static"))
        with open(os.path.join(tmp, "index.html"), "w") as f:
            f.write("<!doctype html><title>one</title>")
        with open(os.path.join(tmp, "admin.html"), "w") as f:
            f.write("<!doctype html><title>admin</title>")
        with open(os.path.join(tmp, "static", "a.js"), "w") as f:
            f.write("export const a = 1;\n")
        outside = os.path.join(tmp, "outside.txt")
        with open(outside, "w") as f:
            f.write("secret outside the static folder")
        os.symlink(outside, os.path.join(tmp, "static", "link.txt"))
        os.symlink("/etc", os.path.join(tmp, "static", "etc"))
        s = Server(env={"WEB_DIR": tmp}, seed=False)
        try:
            r = s.get("/")
            assert r.status == 200 and "<title>one</title>" in r.body
            e1 = r.header("ETag")
            assert s.get("/static/a.js").body == "export const a = 1;\n"
            # A symlink out of static/ is refused, whatever it points at.
            assert s.get("/static/link.txt").status == 404
            assert s.get("/static/etc/passwd").status == 404
            # Edited on disk: served anew with a new ETag, no restart.
            with open(os.path.join(tmp, "index.html"), "w") as f:
                f.write("<!doctype html><title>two, a longer page</title>")
            r = s.get("/", headers={"If-None-Match": e1})
            assert r.status == 200 and "two" in r.body and r.header("ETag") != e1
        finally:
            assert s.stop() == 0
    finally:
        shutil.rmtree(tmp, True)


def test_missing_web_dir_is_a_clear_404():
    s = Server(env={"WEB_DIR": "/nonexistent/ragd-web"}, seed=False)
    try:
        r = s.get("/")
        assert r.status == 404 and r.json["code"] == "WEB_UI_NOT_INSTALLED"
        assert "WEB_DIR" in r.json["detail"]
        assert s.get("/health").status == 200
        assert "web UI not found" in s.read_log()
    finally:
        assert s.stop() == 0


def test_api_responses_keep_no_store(server):
    r = server.get("/health")
    assert r.header("Cache-Control") == "no-store"
    assert "Content-Security-Policy" not in dict(r.headers)


# ---- browser sessions: the refresh token in an HttpOnly cookie, CSRF double submit ----

COOKIE_MODE = {"X-Ragd-Session": "cookie"}


def set_cookies(r):
    """{name: (value, {attribute: value})} of every Set-Cookie header of r."""
    out = {}
    for k, v in r.headers:
        if k.lower() != "set-cookie":
            continue
        parts = [p.strip() for p in v.split(";")]
        name, _, value = parts[0].partition("=")
        attrs = {}
        for p in parts[1:]:
            a, _, b = p.partition("=")
            attrs[a.lower()] = b
        out[name] = (value, attrs)
    return out


def cookie_login(server, email, password="password123"):
    r = server.post("/auth/login", {"email": email, "password": password}, headers=COOKIE_MODE)
    assert r.status == 200, r
    return r


def refresh_rows(server, email):
    with server.db() as db:
        return db.execute(
            "SELECT token_hash, revoked_at FROM refresh_tokens WHERE user_id = "
            "(SELECT id FROM users WHERE email = ?) ORDER BY token_hash", (email,)).fetchall()


def test_cookie_mode_login_sets_httponly_strict_cookie_scoped_to_auth(server):
    server.register("cookie1@example.com")
    r = cookie_login(server, "cookie1@example.com")
    assert "refresh_token" not in r.json and r.json["access_token"]
    c = set_cookies(r)
    value, attrs = c["ragd_refresh"]
    assert len(value) >= 32
    assert attrs["path"] == "/auth" and "httponly" in attrs and attrs["samesite"] == "Strict"
    assert int(attrs["max-age"]) == r.json["refresh_expires_in"] > 0
    assert "secure" not in attrs  # plain HTTP without a proxy saying https
    assert set(c) == {"ragd_refresh"}  # nothing else, and nothing a script could read
    csrf = r.json["csrf_token"]
    assert len(csrf) == 64 and csrf != value and value not in r.body
    assert r.header("Cache-Control") == "no-store"
    # Registering in cookie mode does the same.
    r = server.post("/auth/register", {"email": "cookie1b@example.com", "password": "password123"},
                    headers=COOKIE_MODE)
    assert r.status == 201 and "refresh_token" not in r.json and len(r.json["csrf_token"]) == 64
    assert set(set_cookies(r)) == {"ragd_refresh"}


def test_cookie_secure_behind_https_proxy_or_when_told():
    s = Server(env={"SESSION_COOKIE_SECURE": "auto"})
    try:
        r = s.post("/auth/login", {"email": "free@example.com", "password": "freepassword123"},
                   headers={**COOKIE_MODE, "X-Forwarded-Proto": "https"})
        assert all("secure" in a for _, a in set_cookies(r).values()), r.headers
    finally:
        assert s.stop() == 0
    s = Server(env={"SESSION_COOKIE_SECURE": "true"})
    try:
        r = s.post("/auth/login", {"email": "free@example.com", "password": "freepassword123"},
                   headers=COOKIE_MODE)
        assert all("secure" in a for _, a in set_cookies(r).values()), r.headers
    finally:
        assert s.stop() == 0


def test_cookie_refresh_needs_the_csrf_token_and_rotates(server):
    server.register("cookie2@example.com")
    login = cookie_login(server, "cookie2@example.com")
    refresh, csrf = set_cookies(login)["ragd_refresh"][0], login.json["csrf_token"]
    jar = f"ragd_refresh={refresh}"
    # A reloaded page gets the token back from the cookie; without one there is none.
    assert server.get("/auth/csrf", headers={"Cookie": jar}).json == {"csrf_token": csrf}
    assert server.get("/auth/csrf").json == {"csrf_token": None}
    before = refresh_rows(server, "cookie2@example.com")
    for bad in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "0" * 64},
                {"X-CSRF-Token": csrf[:-1] + ("0" if csrf[-1] != "0" else "1")},
                {"X-CSRF-Token": csrf + "0"}):
        r = server.post("/auth/refresh", headers={"Cookie": jar, **bad})
        assert r.status == 403 and r.json["code"] == "CSRF_FAILED", (bad, r)
        assert "ragd_refresh" not in set_cookies(r)
    assert refresh_rows(server, "cookie2@example.com") == before  # nothing rotated or revoked
    r = server.post("/auth/refresh", headers={"Cookie": jar, "X-CSRF-Token": csrf})
    assert r.status == 200, r
    assert "refresh_token" not in r.json and r.json["access_token"]
    n = set_cookies(r)
    assert n["ragd_refresh"][0] != refresh and n["ragd_refresh"][1]["path"] == "/auth"
    assert "httponly" in n["ragd_refresh"][1] and r.json["csrf_token"] != csrf
    assert server.get("/auth/csrf", headers={"Cookie": f"ragd_refresh={n['ragd_refresh'][0]}"}
                      ).json["csrf_token"] == r.json["csrf_token"]
    assert server.get("/auth/me", token=r.json["access_token"]).json["email"] == "cookie2@example.com"
    # The old cookie with its own (valid) CSRF token is a reused token: refused, cookies cleared.
    r = server.post("/auth/refresh", headers={"Cookie": jar, "X-CSRF-Token": csrf})
    assert r.status == 401 and r.json["code"] == "TOKEN_REUSED"
    gone = set_cookies(r)
    assert gone["ragd_refresh"][0] == "" and gone["ragd_refresh"][1]["max-age"] == "0"


def test_cookie_logout_clears_and_revokes(server):
    server.register("cookie3@example.com")
    r = cookie_login(server, "cookie3@example.com")
    access, csrf = r.json["access_token"], r.json["csrf_token"]
    refresh = set_cookies(r)["ragd_refresh"][0]
    jar = f"ragd_refresh={refresh}"
    r = server.post("/auth/logout", {}, token=access, headers={"Cookie": jar})
    assert r.status == 403 and r.json["code"] == "CSRF_FAILED"
    assert server.get("/auth/me", token=access).status == 200  # not logged out
    r = server.post("/auth/logout", {}, token=access, headers={"Cookie": jar, "X-CSRF-Token": csrf})
    assert r.status == 200, r
    gone = set_cookies(r)["ragd_refresh"]
    assert gone[0] == "" and gone[1]["max-age"] == "0" and gone[1]["path"] == "/auth"
    assert server.get("/auth/me", token=access).status == 401
    r = server.post("/auth/refresh", headers={"Cookie": jar, "X-CSRF-Token": csrf})
    assert r.status == 401


def test_json_refresh_path_unchanged(server):
    server.register("cookie4@example.com")
    r = server.post("/auth/login", {"email": "cookie4@example.com", "password": "password123"})
    assert r.status == 200 and r.json["refresh_token"] and "csrf_token" not in r.json
    assert not set_cookies(r)
    r2 = server.post("/auth/refresh", {"refresh_token": r.json["refresh_token"]})
    assert r2.status == 200 and r2.json["refresh_token"] != r.json["refresh_token"]
    assert not set_cookies(r2) and "csrf_token" not in r2.json
    # A body token is used as before even when a browser also sends its cookie.
    r3 = server.post("/auth/refresh", {"refresh_token": r2.json["refresh_token"]},
                     headers={"Cookie": "ragd_refresh=something-else"})
    assert r3.status == 200 and r3.json["refresh_token"]
    assert server.post("/auth/refresh", {}).status == 422
    assert server.post("/auth/refresh", {}, headers={"Cookie": "other=1"}).status == 422
    assert server.post("/auth/logout", {}, token=r3.json["access_token"]).status == 200
