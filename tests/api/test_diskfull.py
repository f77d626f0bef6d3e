"""A full disk: with the data directory on a small tmpfs, writes that cannot be stored answer
507 (or 503 with Retry-After), never 500; nothing acknowledged is lost; reads go on; and ragd
recovers by itself when space returns. The test mounts its own tmpfs, so it needs root (and
mount); otherwise it is skipped with a message. SQLite only: the data directory holds the
database there (on PostgreSQL the same mapping, SQLSTATE 53100 -> 507, is in the store)."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from ragd_client import Server, backend

pytestmark = pytest.mark.skipif(backend() != "sqlite",
                                reason="disk-full test runs on the SQLite backend")


@pytest.fixture()
def small_disk():
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("disk-full test needs root to mount a small tmpfs")
    mnt = tempfile.mkdtemp(prefix="ragd-diskfull-")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if p.returncode != 0:
        os.rmdir(mnt)
        pytest.skip("cannot mount a tmpfs here: " + p.stderr.strip())
    yield mnt
    subprocess.run(["umount", "-l", mnt])
    os.rmdir(mnt)


def fill(path):
    """Writes a filler file until the file system is full; returns its path."""
    filler = os.path.join(path, "filler")
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block = os.urandom(1 << 16)
        while True:
            os.write(fd, block)
    except OSError:
        pass
    try:  # the last blocks: the file system is full to the byte
        while True:
            os.write(fd, b"x" * 512)
    except OSError:
        pass
    os.close(fd)
    return filler


def wait_status(s, token, doc_id, want, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = s.get(f"/documents/{doc_id}", token=token)
        if r.status == 200 and r.json["status"] in want:
            return r.json["status"]
        time.sleep(0.2)
    raise AssertionError(f"document {doc_id} did not reach {want}: {r.json}")


def test_full_disk_refuses_writes_keeps_reads_and_recovers(small_disk):
    s = Server(data=os.path.join(small_disk, "data"),
               env={"LOGIN_MAX_ATTEMPTS_PER_IP": "100000", "SEED_DEMO_DOCS": "false"})
    try:
        # Acknowledged before the disk fills: a user and a document.
        before = s.register("before-full@example.com", "password12345")
        tok = before["access_token"]
        r = s.post("/documents", {"title": "kept", "content": "acknowledged before the disk filled"},
                   token=tok)
        assert r.status == 202, r
        kept_id = r.json["document_id"] if "document_id" in r.json else r.json["id"]
        assert wait_status(s, tok, kept_id, ("ready",)) == "ready"

        filler = fill(small_disk)
        statuses = []
        # Writes of every kind: new accounts, profile changes, uploads, API keys.
        for i in range(4):
            statuses.append(s.post("/auth/register", {"email": f"full{i}@example.com",
                                                      "password": "password12345"}))
            statuses.append(s.patch("/users/me", {"username": f"renamed{i}"}, token=tok))
            statuses.append(s.post("/documents", {"title": f"big{i}", "content": "x" * 200000},
                                   token=tok))
            statuses.append(s.post("/users/me/api-keys", {"name": f"k{i}"}, token=tok))
        refused = [r for r in statuses if r.status >= 500]
        assert refused, "nothing was refused although the disk is full"
        for r in statuses:
            assert r.status != 500, r
            if r.status >= 500:
                assert r.status in (503, 507), r
                assert r.json["code"] in ("INSUFFICIENT_STORAGE", "SERVICE_UNAVAILABLE"), r
                assert r.header("Retry-After"), r
        # Reads go on.
        assert s.get("/auth/me", token=tok).status == 200
        assert s.get(f"/documents/{kept_id}", token=tok).status == 200
        assert s.get("/billing/plans").status == 200
        assert s.get("/health").status == 200
        # What was refused was not half-stored: the refused accounts do not exist.
        with s.db() as db:
            n = db.execute("SELECT COUNT(*) FROM users WHERE email LIKE 'full%@example.com'") \
                .fetchone()[0]
        created = sum(1 for r in statuses[0::4] if r.status == 201)
        assert n == created

        # Space returns: ragd takes writes again without a restart.
        os.remove(filler)
        deadline = time.time() + 20
        while True:
            r = s.post("/auth/register", {"email": "after-full@example.com",
                                          "password": "password12345"})
            if r.status == 201 or time.time() > deadline:
                break
            time.sleep(0.5)
        assert r.status == 201, r
        r = s.post("/documents", {"title": "after", "content": "stored once space came back"},
                   token=tok)
        assert r.status == 202, r
        after_id = r.json["document_id"] if "document_id" in r.json else r.json["id"]
        assert wait_status(s, tok, after_id, ("ready",)) == "ready"
        # Every upload that was acknowledged (202) while the disk was full ends ready or failed
        # with a reason; none stays pending for ever.
        for r in statuses[2::4]:
            if r.status == 202:
                did = r.json.get("document_id") or r.json.get("id")
                assert wait_status(s, tok, did, ("ready", "failed"), timeout=60)
        assert s.login("before-full@example.com", "password12345")
        assert s.get(f"/documents/{kept_id}", token=tok).json["status"] == "ready"
    finally:
        rc = s.stop()
    assert rc == 0, s.read_log()[-3000:]
    assert "AddressSanitizer" not in s.read_log()
