"""Several ragd nodes on one PostgreSQL and one Redis, and faults in either (issue: production
backends). Runs only in the PostgreSQL + Redis pass of `make test`."""
import os
import subprocess
import threading
import time

import pytest

from ragd_client import PG_URL, REDIS_URL, ROOT, Server

pytestmark = pytest.mark.skipif(not (PG_URL and REDIS_URL),
                                reason="needs the private PostgreSQL and Redis of make test")
SERVICES = os.environ.get("RAGD_TEST_SERVICES")


def services(action):
    subprocess.run([os.path.join(ROOT, "scripts/services.sh"), action, SERVICES], check=True,
                   capture_output=True, timeout=120)


@pytest.fixture
def two_nodes():
    a = Server(env={"JWT_SECRET_KEY": None})
    b = Server(seed=False, data=a.data + "-b", env={
        "JWT_SECRET_KEY": None, "DATABASE_URL": a.env["DATABASE_URL"],
        "REDIS_URL": a.env["REDIS_URL"]})
    yield a, b
    assert a.stop() == 0
    assert b.stop() == 0


def test_token_from_one_node_valid_on_the_other(two_nodes):
    a, b = two_nodes
    j = a.register("multi@example.com")
    assert b.get("/auth/me", token=j["access_token"]).status == 200
    r = b.post("/auth/refresh", {"refresh_token": j["refresh_token"]})
    assert r.status == 200
    # Rotation is global: the old refresh token is dead on node A too.
    assert a.post("/auth/refresh", {"refresh_token": j["refresh_token"]}).status == 401
    # Logout on B revokes the access token on A.
    assert b.post("/auth/logout", {}, token=r.json["access_token"]).status == 200
    assert a.get("/auth/me", token=r.json["access_token"]).status == 401


def test_rate_limit_shared_across_nodes(two_nodes):
    a, b = two_nodes
    a.register("shared-limit@example.com")
    bad = {"email": "shared-limit@example.com", "password": "wrongpass1"}
    for node in (a, b, a, b, a):
        assert node.post("/auth/login", bad).status == 401
    # Five failures spread over two nodes exhaust the one per-IP allowance.
    assert b.post("/auth/login", bad).status == 429
    assert a.post("/auth/login", bad).status == 429


def load(node, stop, out, make_body):
    i = 0
    while not stop.is_set():
        i += 1
        try:
            r = node.post("/auth/register", make_body(i), timeout=10)
            out.append((make_body(i)["email"], r.status))
        except OSError as e:
            out.append((make_body(i)["email"], repr(e)))
        time.sleep(0.01)


def test_redis_killed_mid_load_then_back():
    s = Server()
    try:
        stop, out = threading.Event(), []
        tag = str(time.time_ns())
        t = threading.Thread(target=load, args=(s, stop, out, lambda i: {
            "email": f"r{tag}-{i}@example.com", "password": "password123"}))
        t.start()
        time.sleep(0.5)
        services("redis-stop")
        try:
            time.sleep(1.0)
            h = s.get("/health/detailed")
            assert h.status == 200 and h.json["services"]["cache"]["status"] == "degraded", h
            assert h.json["status"] == "degraded"
            # Limits still hold on this node while Redis is away.
            s.register(f"fallback-{tag}@example.com")
            bad = {"email": f"fallback-{tag}@example.com", "password": "wrongpass1"}
            codes = [s.post("/auth/login", bad).status for _ in range(6)]
            assert codes[-1] == 429, codes
        finally:
            services("redis-start")
        deadline = time.time() + 10
        while time.time() < deadline:
            if s.get("/health/detailed").json["services"]["cache"]["status"] == "healthy":
                break
            time.sleep(0.2)
        else:
            raise AssertionError("did not return to redis")
        time.sleep(0.3)
        stop.set()
        t.join()
        statuses = [st for _, st in out]
        assert statuses and all(st == 201 for st in statuses), set(map(str, statuses))
    finally:
        assert s.stop() == 0


def test_postgres_restart_mid_load_no_lost_writes():
    s = Server(seed=False)
    try:
        stop, out = threading.Event(), []
        tag = str(time.time_ns())
        t = threading.Thread(target=load, args=(s, stop, out, lambda i: {
            "email": f"p{tag}-{i}@example.com", "password": "password123"}))
        t.start()
        time.sleep(0.5)
        services("pg-stop")
        time.sleep(1.0)
        down = s.get("/ready")
        assert down.status == 503 and down.json["code"] == "NOT_READY"
        h = s.get("/health/detailed")
        assert h.status == 503 and h.json["services"]["database"]["status"] == "unhealthy"
        services("pg-start")
        deadline = time.time() + 15
        while s.get("/ready").status != 200 and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
        stop.set()
        t.join()
        codes = [st for _, st in out]
        assert 201 in codes
        assert all(st in (201, 503) for st in codes), set(map(str, codes))
        assert codes[-1] == 201  # recovered without restarting ragd
        acknowledged = [e for e, st in out if st == 201]
        with s.db() as db:
            have = {r[0] for r in db.execute("SELECT email FROM users").fetchall()}
        assert set(acknowledged) <= have, set(acknowledged) - have
        assert s.proc.poll() is None
    finally:
        assert s.stop() == 0


def search_ids(node, token, word):
    r = node.post("/search", {"query": word, "route": "exact"}, token=token)
    assert r.status == 200, r
    return {h["document_id"] for h in r.json["results"]}


def test_document_through_one_node_searchable_on_the_other(two_nodes):
    from kb_helpers import upload_ready
    a, b = two_nodes
    ta = a.login("admin@example.com", "adminpassword123")
    tb = b.login("admin@example.com", "adminpassword123")
    word = "zyxmultinode" + str(time.time_ns())[-6:]
    doc = upload_ready(a, ta, f"The {word} procedure keeps nodes in step.\n\nSecond paragraph.",
                       title="multi")
    deadline = time.time() + 1.0  # the bound: within a second
    while doc["id"] not in search_ids(b, tb, word):
        assert time.time() < deadline, "not searchable on the second node within 1 s"
        time.sleep(0.05)
    # Deleting through B removes it from A's results too.
    assert b.delete(f"/documents/{doc['id']}", token=tb).status in (200, 204)
    deadline = time.time() + 1.0
    while doc["id"] in search_ids(a, ta, word):
        assert time.time() < deadline, "still found on the first node after 1 s"
        time.sleep(0.05)


def test_parallel_quota_across_two_nodes(two_nodes):
    """200 parallel requests from one free user with 3 messages left, over two nodes."""
    import concurrent.futures
    a, b = two_nodes
    j = a.register("quota2n@example.com")
    tok = j["access_token"]
    for _ in range(7):  # 10 messages a month on free: leave 3
        r = a.post("/chat/message", {"message": "hello", "enable_rag": False}, token=tok)
        assert r.status == 200, r

    def one(i):
        node = a if i % 2 else b
        return node.post("/chat/message", {"message": f"m{i}", "enable_rag": False},
                         token=tok, timeout=60).status

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as ex:
        codes = list(ex.map(one, range(200)))
    assert codes.count(200) == 3, {c: codes.count(c) for c in set(codes)}
    assert set(codes) <= {200, 429}
    r = b.get("/billing/usage", token=tok)
    assert r.json["messages_this_month"] == 10


def test_query_embeddings_shared_in_redis_with_seed_ttl():
    """Seed 001: embedding cache by text hash, 24 h, here shared by every node."""
    import redis as redis_mod
    from upstreams import Upstream
    up = Upstream(dim=16)
    extra = {"EMBEDDING_API_BASE": up.base, "EMBEDDING_DIMENSION": "16",
             "EMBEDDING_MODEL": "hash-bow-16", "EMBEDDING_API_KEY": "k"}
    a = Server(env=extra)
    b = Server(seed=False, data=a.data + "-b",
               env={**extra, "DATABASE_URL": a.env["DATABASE_URL"], "REDIS_URL": a.env["REDIS_URL"]})
    try:
        ta = a.login("admin@example.com", "adminpassword123")
        q = {"query": "shared embedding cache probe " + str(time.time_ns()), "route": "vector"}
        assert a.post("/search", q, token=ta).status == 200
        calls = len(up.paths())
        rc = redis_mod.Redis.from_url(a.env["REDIS_URL"])
        keys = [k for k in rc.keys("embedding:*")]
        assert keys, "no embedding:* key in Redis"
        assert 86000 < rc.ttl(keys[0]) <= 86400
        tb = b.login("admin@example.com", "adminpassword123")
        assert b.post("/search", q, token=tb).status == 200
        assert len(up.paths()) == calls  # node B reused node A's vector: no upstream call
    finally:
        assert a.stop() == 0
        assert b.stop() == 0
        up.close()


def test_shared_ingestion_queue_and_orphans():
    """Uploads through an API-only node (INGEST_WORKERS=0) are ingested by another node:
    through the Redis queue, and, when the job never reached Redis, by the other node's
    sweeper. A document whose bytes are in the database can be ingested anywhere."""
    from kb_helpers import wait_doc
    api = Server(env={"INGEST_WORKERS": "0"})
    worker = Server(seed=False, data=api.data + "-w", env={
        "DATABASE_URL": api.env["DATABASE_URL"], "REDIS_URL": api.env["REDIS_URL"]})
    local = Server(seed=False, data=api.data + "-l", env={
        "DATABASE_URL": api.env["DATABASE_URL"], "REDIS_URL": api.env["REDIS_URL"],
        "INGEST_WORKERS": "0", "INGEST_QUEUE": "local"})
    try:
        tok = api.login("admin@example.com", "adminpassword123")
        r = api.post("/documents", {"title": "q", "content": "Queued through Redis."}, token=tok)
        assert r.status == 202, r
        ready = wait_doc(api, tok, r.json["id"], timeout=20)
        assert ready["status"] == "ready", ready
        # A job that never reached Redis: only the worker's sweeper can find it.
        r = local.post("/documents", {"title": "o", "content": "An orphaned upload."}, token=tok)
        assert r.status == 202, r
        ready = wait_doc(local, tok, r.json["id"], timeout=30)
        assert ready["status"] == "ready", ready
        with api.db() as db:
            assert db.execute("SELECT count(*) FROM document_uploads").fetchone()[0] == 0
    finally:
        for s in (api, worker, local):
            assert s.stop() == 0


def redis_client(node):
    import redis
    return redis.Redis.from_url(node.env["REDIS_URL"])


def test_session_cache_shared_and_invalidated_across_nodes(two_nodes):
    a, b = two_nodes
    admin = a.login("admin@example.com", "adminpassword123")
    j = a.register("cached@example.com")
    tok, uid = j["access_token"], j["user_id"]
    assert b.get("/auth/me", token=tok).status == 200  # cached by B
    rc = redis_client(a)
    raw = rc.get(f"session:{uid}")
    assert raw and b"hashed_password" not in raw and b"$2b$" not in raw
    assert 0 < rc.ttl(f"session:{uid}") <= 3600
    # A change through A is seen by B at once: the entry is invalidated in Redis.
    assert a.patch(f"/users/{uid}", {"subscription_plan": "pro"}, token=admin).status == 200
    assert b.get("/auth/me", token=tok).json["subscription_plan"] == "pro"
    assert a.patch(f"/users/{uid}", {"is_active": False}, token=admin).status == 200
    r = b.get("/auth/me", token=tok)
    assert r.status == 403 and r.json["code"] == "USER_INACTIVE", r
    assert b.get("/billing/subscription", token=tok).status == 403


def test_organization_cache_shared_and_invalidated_across_nodes(two_nodes):
    # A member's organization (its features and limits, read by the guards) comes from
    # org:{id} in Redis; a change through one node is seen by the other's next request.
    import json
    a, b = two_nodes
    j = a.register("org-cache@example.com")
    tok = j["access_token"]
    r = a.post("/organizations", {"name": "Cached Org"}, token=tok)
    assert r.status == 201, r
    org = r.json["id"]
    tok = a.login("org-cache@example.com", "password123")  # a token of the member
    for _ in range(2):  # the second read comes from the cache
        assert b.post("/search", {"query": "anything"}, token=tok).status == 200
    rc = redis_client(a)
    cached = json.loads(rc.get(f"org:{org}"))
    assert cached["id"] == org and "members" not in cached and "member_count" not in cached
    assert 0 < rc.ttl(f"org:{org}") <= 300
    r = a.patch(f"/organizations/{org}", {"settings": {"features_enabled": ["chat"]}}, token=tok)
    assert r.status == 200, r
    r = b.post("/search", {"query": "anything"}, token=tok)
    assert r.status == 403 and r.json["code"] == "ORG_FEATURE_DISABLED", r
    r = a.patch(f"/organizations/{org}", {"settings": {"features_enabled": ["chat", "search"]}},
                token=tok)
    assert r.status == 200, r
    assert b.post("/search", {"query": "anything"}, token=tok).status == 200
    # An entry that is not this organization's (a stale or foreign value) is not trusted.
    rc.set(f"org:{org}", json.dumps(dict(cached, id="0" * 36,
                                         settings=json.dumps({"features_enabled": []}))))
    assert b.post("/search", {"query": "anything"}, token=tok).status == 200


def test_subscription_and_quota_caches_follow_changes(two_nodes):
    a, b = two_nodes
    j = a.register("quota-cache@example.com")
    tok, uid = j["access_token"], j["user_id"]
    q = b.get("/billing/quota/api_calls", token=tok).json
    assert q["current_usage"] == 0 and q["max_allowed"] == 20
    rc = redis_client(a)
    assert rc.exists(f"quota:{uid}:api_calls") and 0 < rc.ttl(f"quota:{uid}:api_calls") <= 300
    # Usage recorded through A shows on B's next read, not 300 s later.
    assert a.post("/search", {"query": "anything"}, token=tok).status == 200
    assert b.get("/billing/quota/api_calls", token=tok).json["current_usage"] == 1
    sub = b.get("/billing/subscription", token=tok).json
    assert sub["plan_type"] == "free"
    assert rc.exists(f"subscription:{uid}") and 0 < rc.ttl(f"subscription:{uid}") <= 1800
    r = a.put("/billing/subscription", {"plan_type": "pro", "billing_cycle": "monthly"},
              token=tok)
    assert r.status == 200, r
    assert b.get("/billing/subscription", token=tok).json["plan_type"] == "pro"
    assert b.get("/billing/quota/api_calls", token=tok).json["max_allowed"] == 500


def test_change_during_redis_outage_is_not_hidden_by_the_cache(two_nodes):
    a, b = two_nodes
    admin = a.login("admin@example.com", "adminpassword123")
    j = a.register("outage-cache@example.com")
    tok, uid = j["access_token"], j["user_id"]
    assert b.get("/auth/me", token=tok).status == 200
    assert redis_client(a).exists(f"session:{uid}")
    services("redis-stop")
    try:
        # The invalidation cannot reach Redis; while it is down nobody reads the cache.
        assert a.patch(f"/users/{uid}", {"is_active": False}, token=admin).status == 200
        assert b.get("/auth/me", token=tok).status == 403
    finally:
        services("redis-start")
    # Back up (an empty or a restored Redis): the entry A could not delete is flushed.
    deadline = time.time() + 10
    while time.time() < deadline and redis_client(a).exists(f"session:{uid}"):
        time.sleep(0.1)
    r = b.get("/auth/me", token=tok)
    assert r.status == 403, r


def revoked(resp):
    return (resp.status == 401 and resp.json["code"] == "INVALID_TOKEN"
            and "revoked" in resp.json["detail"])


def test_logout_reaches_a_node_that_already_checked_the_token(two_nodes):
    # A node remembers the tokens it found not revoked under the revocation epoch it read with
    # the session; a logout anywhere deletes the epoch, so none of them is vouched for after it.
    a, b = two_nodes
    rc = redis_client(a)
    tok = a.register("epoch-logout@example.com")["access_token"]
    keep = a.register("epoch-keep@example.com")["access_token"]
    deadline = time.time() + 10  # a registration's cache tombstones last a few seconds
    while time.time() < deadline and not rc.get("revocation:epoch"):
        assert b.get("/auth/me", token=tok).status == 200
        time.sleep(0.2)
    epoch = rc.get("revocation:epoch")
    assert epoch and len(epoch) == 32, epoch
    for t in (tok, keep, tok, keep):  # checked under this epoch, then taken from B's memory
        assert b.get("/auth/me", token=t).status == 200
    assert a.post("/auth/logout", {}, token=tok).status == 200
    assert rc.get("revocation:epoch") != epoch
    r = b.get("/auth/me", token=tok)
    assert revoked(r), r
    assert b.get("/auth/me", token=keep).status == 200
    # Once a new epoch is set, the revoked token stays refused and the other is vouched for.
    deadline = time.time() + 10
    while time.time() < deadline and not rc.get("revocation:epoch"):
        assert b.get("/auth/me", token=keep).status == 200
        time.sleep(0.2)
    assert rc.get("revocation:epoch") not in (None, epoch)
    for node in (b, a, b):
        assert revoked(node.get("/auth/me", token=tok))
        assert node.get("/auth/me", token=keep).status == 200


def test_logout_during_redis_outage_reaches_the_other_node(two_nodes):
    a, b = two_nodes
    rc = redis_client(a)
    tok = a.register("epoch-outage@example.com")["access_token"]
    deadline = time.time() + 10
    while time.time() < deadline and not rc.get("revocation:epoch"):
        assert b.get("/auth/me", token=tok).status == 200
        time.sleep(0.2)
    assert b.get("/auth/me", token=tok).status == 200
    services("redis-stop")
    try:
        # No epoch can be read while Redis is down: every check asks the database.
        assert a.post("/auth/logout", {}, token=tok).status == 200
        assert revoked(b.get("/auth/me", token=tok))
    finally:
        services("redis-start")
    # Back up with its data: the epoch A could not delete is flushed with the cache.
    deadline = time.time() + 10
    while time.time() < deadline and redis_client(a).exists("revocation:epoch"):
        time.sleep(0.1)
    for node in (b, a):
        assert revoked(node.get("/auth/me", token=tok))


def test_key_revoked_on_one_node_is_refused_by_the_other(two_nodes):
    # As for tokens: a node remembers the API keys it looked up under the revocation epoch it
    # read first, and a revocation anywhere deletes the epoch.
    a, b = two_nodes
    rc = redis_client(a)
    tok = a.register("epoch-key@example.com")["access_token"]
    keys = [a.post("/users/me/api-keys", {"name": n}, token=tok).json for n in ("one", "two")]
    deadline = time.time() + 10
    while time.time() < deadline and not rc.get("revocation:epoch"):
        assert b.get("/auth/me", token=keys[0]["key"]).status == 200
        time.sleep(0.2)
    assert rc.get("revocation:epoch")
    for k in keys + keys:  # looked up under this epoch, then taken from B's memory
        assert b.get("/auth/me", token=k["key"]).status == 200
    assert a.delete(f"/users/me/api-keys/{keys[0]['id']}", token=tok).status == 200
    r = b.get("/auth/me", token=keys[0]["key"])
    assert r.status == 401 and r.json["code"] == "INVALID_API_KEY", r
    assert b.get("/auth/me", token=keys[1]["key"]).status == 200
    # The uses through B are recorded, whether the key was looked up or remembered.
    listed = b.get("/users/me/api-keys", token=tok).json["api_keys"]
    assert [k["id"] for k in listed] == [keys[1]["id"]] and listed[0]["last_used_at"]
