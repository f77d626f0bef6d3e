"""The operator's command line: help on every verb, users, API keys, ingestion with a progress
bar (in a pseudo-terminal) or JSON lines, backup while serving and restore into a fresh data
directory."""
import json
import os
import pty
import re
import select
import subprocess
import sys
import time

import pytest

from kb_helpers import make_pdf, search, upload_ready
from ragd_client import BIN, Server, backend

VERBS = ["serve", "init", "user", "apikey", "seed", "ingest", "backup", "restore", "erase",
         "admin", "config", "version"]
ENGINE_VERBS = ["tokenize", "detokenize", "eval", "generate", "model", "embed"]


def run(*args, env=None, input=None, timeout=120):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=timeout,
                          env=env or dict(os.environ, ASAN_OPTIONS="detect_leaks=0"),
                          input=input)


def test_every_verb_has_help_and_a_whole_summary():
    top = run("--help")
    assert top.returncode == 0
    for v in VERBS:
        line = re.search(rf"^  {v} +(.*)$", top.stdout, re.M)
        assert line, v
        assert line.group(1).endswith("."), f"summary of {v} cut mid-sentence: {line.group(1)!r}"
        h = run(v, "--help")
        assert h.returncode == 0 and h.stdout.startswith("usage: ragd " + v), (v, h.stdout,
                                                                                h.stderr)
    for v in ENGINE_VERBS:
        h = run(v, "--help")
        assert h.returncode == 0 and f"ragd {v} " in h.stdout, (v, h.stdout, h.stderr)
    assert run("user", "frobnicate").returncode == 2
    assert run("ingest").returncode == 2  # no path


@pytest.fixture(scope="module")
def srv():
    s = Server(env={"SEED_DEMO_DOCS": "false", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000",
                    "INGEST_WORKERS": "1"})
    yield s
    s.stop()


def test_user_list_passwd_delete(srv):
    p = srv.cli("user", "list", "--data", srv.data)
    users = [json.loads(ln) for ln in p.stdout.splitlines()]
    assert {u["email"] for u in users} >= {"admin@example.com", "test@example.com"}
    assert all("hashed_password" not in u and "password" not in json.dumps(u) for u in users)
    srv.cli("user", "create", "--email", "ops-cli@example.com", "--stdin", "--data", srv.data,
            input="first-password-1\n")
    tok = srv.login("ops-cli@example.com", "first-password-1")
    # never from argv
    p = srv.cli("user", "passwd", "ops-cli@example.com", "--password", "x" * 10, "--data",
                srv.data, check=False)
    assert p.returncode == 2 and "never" in p.stderr
    p = srv.cli("user", "passwd", "ops-cli@example.com", "--data", srv.data, input="short\n",
                check=False)
    assert p.returncode == 2
    srv.cli("user", "passwd", "ops-cli@example.com", "--data", srv.data,
            input="second-password-2\n")
    assert srv.post("/auth/login", {"email": "ops-cli@example.com",
                                    "password": "first-password-1"}).status == 401
    srv.login("ops-cli@example.com", "second-password-2")
    assert srv.get("/auth/me", token=tok).status == 401, "old sessions must end"
    p = srv.cli("user", "passwd", "nobody@example.com", "--data", srv.data, input="whatever123\n",
                check=False)
    assert p.returncode == 3
    p = srv.cli("user", "delete", "ops-cli@example.com", "--data", srv.data)
    assert json.loads(p.stdout)["deleted"] == "ops-cli@example.com"
    assert srv.post("/auth/login", {"email": "ops-cli@example.com",
                                    "password": "second-password-2"}).status == 401
    assert srv.cli("user", "delete", "ops-cli@example.com", "--data", srv.data,
                   check=False).returncode == 3


def test_apikey_create_list_revoke(srv):
    p = srv.cli("apikey", "create", "--user", "test@example.com", "--name", "backup job",
                "--data", srv.data)
    k = json.loads(p.stdout)
    assert k["key"].startswith("rgd_") and k["name"] == "backup job"
    me = srv.get("/auth/me", headers={"X-API-Key": k["key"]})
    assert me.status == 200 and me.json["email"] == "test@example.com"
    p = srv.cli("apikey", "list", "--user", "test@example.com", "--data", srv.data)
    listed = [json.loads(ln) for ln in p.stdout.splitlines()]
    assert any(x["id"] == k["id"] and x["prefix"] == k["prefix"] for x in listed)
    assert k["key"] not in p.stdout
    srv.cli("apikey", "revoke", k["id"], "--user", "test@example.com", "--data", srv.data)
    assert srv.get("/auth/me", headers={"X-API-Key": k["key"]}).status == 401
    p = srv.cli("apikey", "revoke", k["id"], "--user", "test@example.com", "--data", srv.data,
                check=False)
    assert p.returncode == 3
    assert srv.cli("apikey", "list", "--user", "ghost@example.com", "--data", srv.data,
                   check=False).returncode == 3


def make_tree(root, tag):
    os.makedirs(os.path.join(root, "sub", "deeper"))
    files = {
        "a.md": f"# Alpha {tag}\n\nThe {tag}alpha manual explains valves.\n",
        "b.txt": f"Plain text about {tag}bravo pumps and their seals.\n",
        "sub/c.html": f"<html><head><title>C</title></head><body><p>{tag}charlie gauges"
                      "</p></body></html>",
        "sub/deeper/d.markdown": f"Deep notes on {tag}delta filters.\n",
        "sub/ignored.bin": "not a supported type",
        ".hidden.md": "hidden files are skipped",
    }
    for name, text in files.items():
        with open(os.path.join(root, name), "w") as f:
            f.write(text)
    with open(os.path.join(root, "sub", "e.pdf"), "wb") as f:
        f.write(make_pdf([f"Scanned {tag}echo datasheet"]))
    return 5  # the supported, visible files


def test_ingest_json_lines_summary_and_failure_status(srv, tmp_path):
    n = make_tree(str(tmp_path / "kb"), "json")
    with open(tmp_path / "kb" / "broken.txt", "wb") as f:
        f.write(b"\x00\x01\x02binary\x00")
    p = srv.cli("ingest", str(tmp_path / "kb"), "--user", "test@example.com", "--data", srv.data,
                check=False)
    lines = [json.loads(ln) for ln in p.stdout.splitlines()]
    files, summary = lines[:-1], lines[-1]
    assert [x["n"] for x in files] == list(range(1, n + 2))
    assert all(x["total"] == n + 1 and x["event"] == "file" for x in files)
    assert summary == {**summary, "event": "summary", "files": n + 1, "ingested": n, "failed": 1}
    bad = [x for x in files if x["status"] == "failed"]
    assert len(bad) == 1 and bad[0]["path"].endswith("broken.txt") and bad[0]["error"]
    assert p.returncode == 1, "a failed file makes the exit status non-zero"
    # the documents are the user's, searchable through the serving node
    tok = srv.login("test@example.com", "testpassword123")
    docs = srv.get("/documents?limit=100", token=tok).json["documents"]
    assert sum(1 for d in docs if d["status"] == "ready") >= n
    deadline = time.time() + 20
    while time.time() < deadline:
        hits = search(srv, tok, "jsoncharlie", route="exact")["results"]
        if hits and search(srv, tok, "jsonecho", route="exact")["results"]:
            break
        time.sleep(0.2)
    assert hits, "the serving node did not pick up the ingested documents"
    # everything ok: exit 0
    good = tmp_path / "good.md"
    good.write_text("A single good file about jsonfoxtrot.\n")
    p = srv.cli("ingest", str(good), "--user", "test@example.com", "--data", srv.data)
    assert json.loads(p.stdout.splitlines()[-1])["ingested"] == 1
    assert srv.cli("ingest", str(tmp_path / "missing"), "--data", srv.data,
                   check=False).returncode == 2
    assert srv.cli("ingest", str(good), "--org", "No Such Org", "--data", srv.data,
                   check=False).returncode == 3
    # into an organization, by name: shared with its members, skipped when already there
    for expect in ("ingested", "exists"):
        p = srv.cli("ingest", str(good), "--org", "Default Organization", "--data", srv.data)
        assert json.loads(p.stdout.splitlines()[0])["status"] == expect, p.stdout


def test_ingest_progress_bar_in_a_pseudo_terminal(srv, tmp_path):
    n = make_tree(str(tmp_path / "kb"), "tty")
    pid, fd = pty.fork()
    if pid == 0:  # the child: ragd with the pty as its terminal
        os.execve(BIN, [BIN, "ingest", str(tmp_path / "kb"), "--data", srv.data], srv.env)
    out = b""
    deadline = time.time() + 120
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    text = out.decode("utf-8", "replace")
    assert os.WEXITSTATUS(status) == 0, text
    assert "\r" in text and "{" not in text, "a terminal gets a bar, not JSON"
    for i in range(n + 1):
        assert f"] {i}/{n} files" in text, (i, text)
    assert re.search(rf"\[#{{24}}\] {n}/{n} files .*B/.*B  ETA 0:00", text), text
    assert f"{n} files" in text and f"{n} ingested" in text, text


def test_backup_while_serving_then_restore_into_a_fresh_data_dir(tmp_path):
    s = Server(env={"SEED_DEMO_DOCS": "false", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    try:
        tok = s.login("test@example.com", "testpassword123")
        doc = upload_ready(s, tok, "Restored manuals mention the zebracrossing valve.",
                           title="restore me")
        assert doc["status"] == "ready"
        s.cli("user", "create", "--email", "kept@example.com", "--password", "kept-password-1",
              "--data", s.data)
        backup = str(tmp_path / "ragd-backup.db")
        p = s.cli("backup", backup, "--data", s.data, check=False)
        if backend() != "sqlite":
            assert p.returncode == 1 and "pg_dump" in p.stderr
            return
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["bytes"] > 0
        assert s.get("/health").status == 200, "serving went on during the backup"
        # the serving node keeps writing after the backup; the backup does not have this
        s.cli("user", "create", "--email", "later@example.com", "--password", "later-password-1",
              "--data", s.data)
    finally:
        s.stop()
    fresh = str(tmp_path / "fresh")
    p = subprocess.run([BIN, "restore", backup, "--data", fresh], env=s.env, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    r = Server(data=fresh, seed=False, env={"LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    try:
        tok = r.login("test@example.com", "testpassword123")
        r.login("kept@example.com", "kept-password-1")
        assert r.post("/auth/login", {"email": "later@example.com",
                                      "password": "later-password-1"}).status == 401
        got = r.get(f"/documents/{doc['id']}", token=tok)
        assert got.status == 200 and got.json["title"] == "restore me"
        hits = search(r, tok, "zebracrossing", route="exact")["results"]
        assert any(h["document_id"] == doc["id"] for h in hits), hits
        # restoring under a serving ragd is refused
        p = subprocess.run([BIN, "restore", backup, "--data", fresh], env=r.env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 1 and "in use" in p.stderr, p.stderr
    finally:
        r.stop()
    # back over the original data directory: what was written after the backup is gone
    p = subprocess.run([BIN, "restore", backup, "--data", s.data], env=s.env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    o = Server(data=s.data, seed=False, env={"LOGIN_MAX_ATTEMPTS_PER_IP": "100000"})
    try:
        assert o.post("/auth/login", {"email": "later@example.com",
                                      "password": "later-password-1"}).status == 401
        tok = o.login("test@example.com", "testpassword123")
        hits = search(o, tok, "zebracrossing", route="exact")["results"]
        assert any(h["document_id"] == doc["id"] for h in hits), hits
    finally:
        o.stop()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    p = subprocess.run([BIN, "restore", str(junk), "--data", str(tmp_path / "other")], env=s.env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr


def test_ingest_stops_cleanly_on_sigint(srv, tmp_path):
    kb = tmp_path / "many"
    kb.mkdir()
    for i in range(60):
        (kb / f"f{i:02}.md").write_text(f"Note {i} about sigint{i} handling.\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen([BIN, "ingest", str(kb), "--data", srv.data],
                            env=dict(srv.env, TMPDIR=str(scratch)), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()
    assert json.loads(first)["n"] == 1
    proc.send_signal(2)
    out, err = proc.communicate(timeout=120)
    lines = [json.loads(ln) for ln in out.splitlines()]
    summary = lines[-1]
    assert proc.returncode == 130, err
    assert summary["event"] == "summary" and summary["interrupted"] is True
    assert summary["ingested"] == len(lines) and len(lines) < 60  # the first line plus the rest
    assert os.listdir(scratch) == [], "the scratch node was left behind"
