"""The provider key pool against fake providers on 127.0.0.1 (one OpenAI-format, one Gemini):
adding keys (test call, duplicates, confirmation), failover, cooldown on 429, degraded after
consecutive failures, disabled on 401, timeouts and invalid replies, streams failing over
before their first token only, recovery by the health monitor, FEATURE_UNAVAILABLE for one
feature while chat goes on, personal keys, tampered ciphertexts, and no key in clear in the
database, the log or any response."""
import glob
import http.client
import json
import os
import time

import pytest

from fake_providers import FakeProvider
from upstreams import Upstream
from kb_helpers import enterprise_user, parse_sse, private_server
from prom_helpers import assert_promtool_clean
from ragd_client import PG_URL, REDIS_URL, Server, backend

# Keys look like real ones (long, mixed letters and digits) so that a leak would be obvious.
K = {name: f"sk-test-{name}-7Qm2ZpX9vR4tL8wK3nB6yH1cF5jD0s" for name in
     ("a", "b", "c", "bad", "dup", "slow", "inv", "brk", "mcq", "tamper", "personal", "deg",
      "limit", "auth", "recov")}
G = {name: f"AIzaSyFake{name}Gm4Qx8Rt2Wv6Yz0Bc3Df7Hj" for name in ("a", "b", "mcq")}
ALL_KEYS = list(K.values()) + list(G.values())
SEEN = []  # every response body, searched for keys at the end


@pytest.fixture(scope="module")
def env():
    oa = FakeProvider("openai", answer="OpenAI fake says the heart has four chambers.")
    gm = FakeProvider("gemini", answer="Gemini fake says the heart has four chambers.")
    s = private_server(PROVIDER_TIMEOUT_SECONDS="2", PROVIDER_FAILURE_THRESHOLD="2",
                       PROVIDER_HEALTH_INTERVAL_SECONDS="1", PROVIDER_HEALTH_IDLE_SECONDS="3600",
                       PROVIDER_BACKOFF_MS="10", PROVIDER_RETRY_AFTER_MAX_SECONDS="2",
                       PROVIDER_SYNC_MS="200", LOG_LEVEL="info",
                       PERSONAL_KEY_BASE_URLS=f"https://llm.example.com/v1, {oa.base}/",
                       ENABLE_RATE_LIMITING="false")
    orig = s.request

    def recording(*a, **kw):
        r = orig(*a, **kw)
        SEEN.append(r.body)
        for k, v in r.headers:
            SEEN.append(f"{k}: {v}")
        return r

    s.request = recording
    admin = s.login("admin@example.com", "adminpassword123")
    user = enterprise_user(s, "pool-user@example.com")
    yield {"s": s, "oa": oa, "gm": gm, "admin": admin, "user": user}
    s.stop()
    oa.close()
    gm.close()


@pytest.fixture
def pool(env):
    """Each test starts with an empty pool."""
    s, admin = env["s"], env["admin"]
    yield env
    for k in s.get("/admin/provider-keys", token=admin).json["keys"]:
        if not k.get("read_only"):
            assert s.delete(f"/admin/provider-keys/{k['id']}?confirm=true", token=admin).status == 200
    env["oa"].modes.clear()
    env["oa"].default.clear()
    env["gm"].modes.clear()
    env["gm"].default.clear()


def add(env, key, fake, feature="*", priority=50, skip_test=True, label="", expect=201):
    r = env["s"].post("/admin/provider-keys",
                      {"provider": fake.kind, "key": key, "base_url": fake.base,
                       "model": "fake-model", "feature": feature, "priority": priority,
                       "label": label, "skip_test": skip_test}, token=env["admin"])
    assert r.status == expect, r
    return r.json


def key_row(env, kid):
    for k in env["s"].get("/admin/provider-keys", token=env["admin"]).json["keys"]:
        if k["id"] == kid:
            return k
    raise AssertionError(f"no key {kid}")


def chat(env, message="How many chambers does the heart have?", token=None, **kw):
    body = {"message": message, "enable_rag": False, "debug_mode": True, **kw}
    return env["s"].post("/chat/message", body, token=token or env["user"], timeout=60)


def outbox(env, event):
    with env["s"].db() as db:
        return [json.loads(p) for (p,) in db.execute(
            "SELECT payload FROM notification_outbox WHERE event = ? ORDER BY created_ms",
            (event,)).fetchall()]


def wait_for(fn, timeout=8.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    return fn()


def test_add_list_duplicate_delete(pool):
    s, admin, oa = pool["s"], pool["admin"], pool["oa"]
    # The minimal test call refuses a key the provider rejects.
    oa.set(K["bad"], "401")
    r = s.post("/admin/provider-keys", {"provider": "openai", "key": K["bad"],
                                        "base_url": oa.base, "model": "m"}, token=admin)
    assert r.status == 422 and r.json["code"] == "KEY_INVALID", r
    # A working key passes its test call and is stored; the response shows its last 4 only.
    n = oa.count(K["a"])
    k = add(pool, K["a"], oa, priority=100, skip_test=False, label="free tier")
    assert oa.count(K["a"]) == n + 1
    assert k["key_last4"] == K["a"][-4:] and k["status"] == "active" and k["priority"] == 100
    # Duplicates are refused (by fingerprint), before any call.
    n = oa.count(K["a"])
    r = s.post("/admin/provider-keys", {"provider": "openai", "key": K["a"], "base_url": oa.base},
               token=admin)
    assert r.status == 409 and r.json["code"] == "DUPLICATE_KEY", r
    assert oa.count(K["a"]) == n
    # Validation.
    r = s.post("/admin/provider-keys", {"provider": "cohere", "key": K["c"]}, token=admin)
    assert r.status == 422, r
    r = s.post("/admin/provider-keys", {"provider": "openai", "key": K["c"],
                                        "base_url": "ftp://x"}, token=admin)
    assert r.status == 422 and r.json["field"] == "base_url", r
    # Lists never show a key.
    lst = s.get("/admin/provider-keys", token=admin)
    assert lst.status == 200 and [x["id"] for x in lst.json["keys"]] == [k["id"]]
    # Non-admins cannot see or change the pool.
    assert s.get("/admin/provider-keys", token=pool["user"]).status == 403
    assert s.post("/admin/provider-keys", {"provider": "openai", "key": K["c"]},
                  token=pool["user"]).status == 403
    # PATCH changes priority, label, feature; bad values are 422; unknown ids 404.
    r = s.patch(f"/admin/provider-keys/{k['id']}", {"priority": 10, "label": "last resort"},
                token=admin)
    assert r.status == 200 and r.json["priority"] == 10 and r.json["label"] == "last resort"
    assert s.patch(f"/admin/provider-keys/{k['id']}", {"status": "broken"},
                   token=admin).status == 422
    assert s.patch("/admin/provider-keys/nope", {"priority": 1}, token=admin).status == 404
    # Deleting needs ?confirm=true.
    r = s.delete(f"/admin/provider-keys/{k['id']}", token=admin)
    assert r.status == 400 and r.json["code"] == "CONFIRMATION_REQUIRED", r
    assert s.delete(f"/admin/provider-keys/{k['id']}?confirm=true", token=admin).status == 200
    assert s.get("/admin/provider-keys", token=admin).json["keys"] == []
    # Each action is audited and notified.
    acts = [i["action"] for i in s.get("/admin/audit-log?limit=50", token=admin).json["items"]]
    assert {"provider_key.add", "provider_key.update", "provider_key.delete"} <= set(acts)
    assert any(e["key_id"] == k["id"] for e in outbox(pool, "key_added"))
    assert any(e["key_id"] == k["id"] for e in outbox(pool, "key_deleted"))


def test_failover_counts_and_metrics(pool):
    s, oa, gm = pool["s"], pool["oa"], pool["gm"]
    a = add(pool, K["a"], oa, priority=100)
    b = add(pool, G["a"], gm, priority=50)
    oa.set(K["a"], "500")
    r = chat(pool)
    assert r.status == 200, r
    assert r.json["answer"] == gm.answer
    assert r.json["debug_info"]["provider"] == "gemini"
    assert r.json["answer_source"] == "model"
    # The Gemini request had the key in its header and the prompt in its contents.
    path, key, body = [q for q in gm.requests if q[1] == G["a"]][-1]
    assert ":streamGenerateContent" in path and "alt=sse" in path
    assert body["contents"][-1]["role"] == "user" and "systemInstruction" in body
    ka = key_row(pool, a["id"])
    assert ka["failure_count"] == 1 and ka["failure_total"] == 1 and ka["status"] == "active"
    assert ka["last_error"] == "http_500"
    # Successes are written off the request's path, within moments.
    kb = wait_for(lambda: (lambda k: k if k["success_total"] == 1 else None)(
        key_row(pool, b["id"])))
    assert kb and kb["failure_count"] == 0

    def health_rows():
        with s.db() as db:
            return db.execute("SELECT key_id, outcome, feature FROM provider_health"
                              " WHERE key_id IN (?, ?) ORDER BY at_ms",
                              (a["id"], b["id"])).fetchall()
    assert wait_for(lambda: len(health_rows()) == 2)
    assert sorted(health_rows()) == sorted([(a["id"], "error", "chat"),
                                            (b["id"], "success", "chat")])
    m = s.get("/metrics").body
    assert 'ragd_provider_requests_total{provider="openai",feature="chat",outcome="error"}' in m
    assert 'ragd_provider_requests_total{provider="gemini",feature="chat",outcome="success"}' in m
    assert 'ragd_provider_failovers_total{feature="chat"}' in m
    assert "ragd_provider_request_duration_seconds_bucket" in m
    assert_promtool_clean(m)
    assert outbox(pool, "failover") and outbox(pool, "key_failed")
    # A success resets the streak.
    oa.set(K["a"], "ok")
    assert chat(pool).json["debug_info"]["provider"] == "openai"
    assert wait_for(lambda: key_row(pool, a["id"])["failure_count"] == 0)


def test_equal_priorities_take_turns(pool):
    oa, gm = pool["oa"], pool["gm"]
    add(pool, K["b"], oa, feature="highyield", priority=70)
    add(pool, G["b"], gm, feature="highyield", priority=70)
    used = [chat(pool, "/highyield murmurs").json["debug_info"]["provider"] for _ in range(4)]
    # Ties go to the least recently used key.
    assert sorted(used) == ["gemini", "gemini", "openai", "openai"]
    assert used[0] != used[1] and used[2] != used[3]


def test_rate_limit_cooldown_is_not_a_failure(pool):
    oa, gm = pool["oa"], pool["gm"]
    a = add(pool, K["limit"], oa, priority=100)
    add(pool, G["a"], gm, priority=50)
    oa.set(K["limit"], "ok", "429:30")
    r = chat(pool)
    assert r.status == 200 and r.json["debug_info"]["provider"] == "gemini", r
    ka = key_row(pool, a["id"])
    assert ka["status"] == "active" and ka["failure_count"] == 0 and ka["cooldown_until"]
    # In cooldown the key is not tried at all.
    n = oa.count(K["limit"])
    assert chat(pool).json["debug_info"]["provider"] == "gemini"
    assert oa.count(K["limit"]) == n
    # An admin setting it active ends the cooldown.
    pool["s"].patch(f"/admin/provider-keys/{a['id']}", {"status": "active"}, token=pool["admin"])
    assert chat(pool).json["debug_info"]["provider"] == "openai"


def test_short_retry_after_is_waited_out_when_no_other_key_is_left(pool):
    oa = pool["oa"]
    a = add(pool, K["limit"], oa, feature="explain")
    oa.set(K["limit"], "ok", "429:1")
    n = oa.count(K["limit"])
    t0 = time.time()
    r = chat(pool, "/explain preload")
    assert r.status == 200 and r.json["debug_info"]["provider"] == "openai", r
    assert oa.count(K["limit"]) == n + 2 and 0.9 < time.time() - t0 < 10
    assert key_row(pool, a["id"])["failure_count"] == 0


def test_degraded_after_threshold_then_recovered_by_health_check(pool):
    s, oa, gm = pool["s"], pool["oa"], pool["gm"]
    d = add(pool, K["deg"], oa, priority=100)
    add(pool, G["a"], gm, priority=50)
    oa.set(K["deg"], "500")
    for _ in range(2):  # PROVIDER_FAILURE_THRESHOLD=2
        assert chat(pool).json["debug_info"]["provider"] == "gemini"
    assert key_row(pool, d["id"])["status"] == "degraded"
    assert any(e["key_id"] == d["id"] for e in outbox(pool, "key_degraded"))
    # Degraded keys are tried only when nothing else is left. (The health monitor probes the
    # degraded key every second here: its probes are not counted.)
    def served(fp, key):
        with fp.lock:
            return sum(1 for _, k, b in fp.requests
                       if k == key and "Reply with OK." not in json.dumps(b))
    n = served(oa, K["deg"])
    assert chat(pool).json["debug_info"]["provider"] == "gemini"
    assert served(oa, K["deg"]) == n
    def gemini_rate():
        h = s.get("/admin/providers/health", token=pool["admin"]).json
        return [g["success_rate"] for g in h["providers"]
                if g["provider"] == "gemini" and g["feature"] == "chat"][0]
    assert wait_for(lambda: gemini_rate() == 1.0)
    h = s.get("/admin/providers/health", token=pool["admin"]).json
    grp = [g for g in h["providers"] if g["provider"] == "openai" and g["feature"] == "chat"][0]
    assert grp["keys_by_status"] == {"degraded": 1} and grp["status"] == "degraded"
    assert grp["recent_failures"] and grp["recent_failures"][0]["key_id"] == d["id"]
    ggrp = [g for g in h["providers"] if g["provider"] == "gemini" and g["feature"] == "chat"][0]
    assert ggrp["success_rate"] == 1.0 and ggrp["p50_latency_ms"] is not None
    assert ggrp["key_in_use"]["last4"] == G["a"][-4:]
    # The provider comes back: the health monitor (every second here) restores the key.
    oa.set(K["deg"], "ok")
    assert wait_for(lambda: key_row(pool, d["id"])["status"] == "active")
    assert any(e["key_id"] == d["id"] for e in outbox(pool, "key_recovered"))
    assert chat(pool).json["debug_info"]["provider"] == "openai"


def test_auth_failure_disables_at_once(pool):
    oa, gm = pool["oa"], pool["gm"]
    a = add(pool, K["auth"], oa, priority=100)
    add(pool, G["a"], gm, priority=50)
    oa.set(K["auth"], "401")
    assert chat(pool).json["debug_info"]["provider"] == "gemini"
    ka = key_row(pool, a["id"])
    assert ka["status"] == "disabled" and ka["last_error"] == "http_401"
    assert any(e["key_id"] == a["id"] for e in outbox(pool, "key_disabled"))
    n = oa.count(K["auth"])
    chat(pool)
    assert oa.count(K["auth"]) == n  # disabled keys are never tried
    # The test endpoint reports the failure and keeps it disabled.
    r = pool["s"].post(f"/admin/provider-keys/{a['id']}/test", token=pool["admin"])
    assert r.status == 200 and r.json["passed"] is False and "401" in r.json["error"]


def test_feature_without_usable_key_notifies(pool):
    oa = pool["oa"]
    add(pool, K["c"], oa, feature="chat", priority=10)
    # A feature whose only key is disabled has no usable key left: all_keys_failed.
    m = add(pool, K["mcq"], oa, feature="mcq", priority=10)
    oa.set(K["mcq"], "401")
    r = chat(pool, "/mcq valves")
    assert r.status == 503 and r.json["code"] == "FEATURE_UNAVAILABLE", r
    assert key_row(pool, m["id"])["status"] == "disabled"
    assert wait_for(lambda: [e for e in outbox(pool, "all_keys_failed") if e["feature"] == "mcq"])
    assert "feature has no usable provider key" in pool["s"].read_log()


def test_attempts_are_capped(pool):
    oa = pool["oa"]
    names = ("a", "b", "c", "slow")
    for i, n in enumerate(names):
        add(pool, K[n], oa, feature="flashcard", priority=100 - i)
        oa.set(K[n], "500")
    before = [oa.count(K[n]) for n in names]
    r = chat(pool, "/flashcard mitral valve")
    assert r.status == 503 and r.json["detail"] == "Flashcard generation temporarily unavailable"
    # PROVIDER_MAX_ATTEMPTS (3): the lowest-priority key was never tried.
    assert [oa.count(K[n]) - b for n, b in zip(names, before)] == [1, 1, 1, 0]


def test_timeout_and_invalid_reply_fail_over(pool):
    oa, gm = pool["oa"], pool["gm"]
    add(pool, K["slow"], oa, priority=100)
    add(pool, K["inv"], oa, priority=90)
    b = add(pool, G["a"], gm, priority=50)
    oa.set(K["slow"], "timeout")
    oa.set(K["inv"], "invalid")
    t0 = time.time()
    r = chat(pool)
    assert r.status == 200 and r.json["debug_info"]["provider"] == "gemini", r
    assert 1.5 < time.time() - t0 < 10  # PROVIDER_TIMEOUT_SECONDS=2
    errs = {k["last_error"] for k in pool["s"].get("/admin/provider-keys",
                                                   token=pool["admin"]).json["keys"]}
    assert {"timeout", "invalid_reply"} <= errs
    assert wait_for(lambda: key_row(pool, b["id"])["success_total"] >= 1)


def test_stream_fails_over_before_first_token_only(pool):
    s, oa, gm = pool["s"], pool["oa"], pool["gm"]
    add(pool, K["a"], oa, priority=100)
    add(pool, G["a"], gm, priority=50)

    def stream():
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=60)
        conn.request("POST", "/chat/message",
                     body=json.dumps({"message": "heart?", "stream": True, "enable_rag": False}),
                     headers={"Authorization": f"Bearer {pool['user']}",
                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        body = resp.read().decode()
        conn.close()
        SEEN.append(body)
        return resp.status, parse_sse(body)

    oa.set(K["a"], "500")
    status, events = stream()
    toks = "".join(e["content"] for e in events if isinstance(e, dict) and e["type"] == "token")
    assert status == 200 and toks == gm.answer
    assert events[-2]["type"] == "done"
    # A failure after the first piece ends the stream with an error event; no other key.
    oa.set(K["a"], "break")
    n = gm.count(G["a"])
    status, events = stream()
    types = [e["type"] for e in events if isinstance(e, dict)]
    assert status == 200 and types[0] == "token" and types[-1] == "error", events
    assert "done" not in types
    assert gm.count(G["a"]) == n


def test_feature_unavailable_while_chat_goes_on(pool):
    s, oa, gm = pool["s"], pool["oa"], pool["gm"]
    add(pool, K["c"], oa, feature="chat", priority=100)
    add(pool, K["mcq"], oa, feature="mcq", priority=100)
    add(pool, G["mcq"], gm, feature="mcq", priority=50)
    oa.set(K["mcq"], "500")
    gm.set(G["mcq"], "500")
    before = len([e for e in outbox(pool, "all_keys_failed") if e["feature"] == "mcq"])
    r = chat(pool, "/mcq cardiac cycle")
    assert r.status == 503 and r.json["code"] == "FEATURE_UNAVAILABLE", r
    assert r.json["detail"] == "MCQ generation temporarily unavailable"
    assert r.header("Retry-After")
    # Every key of the feature failed: the maintenance hook's event, once.
    assert len([e for e in outbox(pool, "all_keys_failed") if e["feature"] == "mcq"]) == before + 1
    r = chat(pool)
    assert r.status == 200 and r.json["answer"] == oa.answer, r
    # Chat's key was used for chat only; mcq's keys for mcq only.
    assert all(k != K["c"] for _, k, b in oa.requests
               if b and "cardiac" in json.dumps(b))
    # With two failures each the mcq keys are degraded: the feature shows unavailable health.
    chat(pool, "/mcq cardiac cycle")
    h = s.get("/health/detailed").json["services"]["providers"]
    assert h["status"] == "degraded" and h["features"]["mcq"]["active"] == 0
    assert h["features"]["chat"]["status"] == "healthy"
    assert h["features"]["mcq"]["degraded"] == 2
    # The provider answers again: the feature is usable again.
    gm.set(G["mcq"], "ok")
    again = s.read_log().count('"provider feature usable again","feature":"mcq"')
    r = chat(pool, "/mcq cardiac cycle")
    assert r.status == 200 and r.json["debug_info"]["provider"] == "gemini", r
    assert s.read_log().count('"provider feature usable again","feature":"mcq"') == again + 1


def test_personal_key_first_then_pool(pool):
    s, oa, gm = pool["s"], pool["oa"], pool["gm"]
    add(pool, G["a"], gm, priority=50)
    # A user cannot point the server at an address the operator did not allow.
    r = s.put("/users/me/provider-key", {"provider": "openai", "key": K["personal"],
                                         "base_url": "http://127.0.0.1:9/v1"}, token=pool["user"])
    assert r.status == 422 and r.json["field"] == "base_url", r
    r = s.put("/users/me/provider-key", {"provider": "openai", "key": K["personal"],
                                         "base_url": oa.base, "model": "mine"},
              token=pool["user"])
    assert r.status == 200 and r.json["key_last4"] == K["personal"][-4:], r
    assert wait_for(lambda: chat(pool).json["debug_info"]["provider"] == "openai")
    assert oa.requests[-1][1] == K["personal"]
    # Someone else does not use it.
    other = enterprise_user(s, "pool-other@example.com")
    assert chat(pool, token=other).json["debug_info"]["provider"] == "gemini"
    # A failing personal key falls back to the shared pool.
    oa.set(K["personal"], "500")
    r = chat(pool)
    assert r.status == 200 and r.json["debug_info"]["provider"] == "gemini"
    got = s.get("/users/me/provider-key", token=pool["user"]).json
    assert got["key_last4"] == K["personal"][-4:] and "key" not in got
    assert s.delete("/users/me/provider-key", token=pool["user"]).status == 200
    assert s.delete("/users/me/provider-key", token=pool["user"]).status == 404


def test_tampered_ciphertext_disables_the_key(pool):
    s, oa, gm = pool["s"], pool["oa"], pool["gm"]
    t = add(pool, K["tamper"], oa, priority=100)
    add(pool, G["a"], gm, priority=50)
    n = oa.count(K["tamper"])
    with s.db() as db:
        ct = db.execute("SELECT key_ciphertext FROM provider_keys WHERE id = ?",
                        (t["id"],)).fetchone()[0]
        bad = ("0" if ct[0] != "0" else "1") + ct[1:]
        db.execute("UPDATE provider_keys SET key_ciphertext = ? WHERE id = ?", (bad, t["id"]))
        db.execute("UPDATE provider_pool_state SET version = version + 1")
        if hasattr(db, "commit"):
            db.commit()
    # Every node reloads within a second; the key cannot open and is disabled and reported.
    assert wait_for(lambda: key_row(pool, t["id"])["status"] == "disabled", 5)
    h = s.get("/admin/providers/health", token=pool["admin"]).json
    assert [x["id"] for x in h["undecryptable"]] == [t["id"]]
    r = chat(pool)
    assert r.status == 200 and r.json["debug_info"]["provider"] == "gemini"
    assert oa.count(K["tamper"]) == n  # never called once it cannot be opened
    assert s.get("/health").status == 200



def test_embeddings_go_through_the_pool():
    """Embeddings keys (feature "embeddings") come before the configured embedder, which is
    the last resort when they fail."""
    base = Upstream(dim=16)
    fake = FakeProvider("openai", dim=16)
    s = private_server(EMBEDDING_API_BASE=base.base, EMBEDDING_DIMENSION="16",
                       EMBEDDING_MODEL="hash-16", ENABLE_RATE_LIMITING="false",
                       OPENAI_API_BASE=fake.base, OPENAI_API_KEY=K["b"])
    try:
        admin = s.login("admin@example.com", "adminpassword123")
        # OPENAI_* is one read-only entry of the pool.
        env_entry = s.get("/admin/provider-keys", token=admin).json["keys"]
        assert [(e["id"], e["read_only"], e["key_last4"]) for e in env_entry] == \
            [("env", True, K["b"][-4:])]
        r = s.patch("/admin/provider-keys/env", {"priority": 5}, token=admin)
        assert r.status == 409 and r.json["code"] == "READ_ONLY"
        assert s.delete("/admin/provider-keys/env?confirm=true", token=admin).status == 409
        key = K["c"]
        # The test call on add uses the embeddings endpoint.
        r = s.post("/admin/provider-keys", {"provider": "openai", "key": key, "base_url": fake.base,
                                            "model": "emb", "feature": "embeddings"}, token=admin)
        assert r.status == 201, r
        assert fake.requests[-1][0].endswith("/embeddings")
        r = s.post("/admin/provider-keys", {"provider": "gemini", "key": G["a"],
                                            "feature": "embeddings", "skip_test": True},
                   token=admin)
        assert r.status == 422 and r.json["field"] == "feature", r
        n_base = len(base.requests)
        r = s.post("/v1/embeddings", {"model": "hash-16", "input": ["heart", "lung"]}, token=admin)
        assert r.status == 200 and len(r.json["data"]) == 2, r
        assert fake.count(key) == 2 and len(base.requests) == n_base
        # The key fails: the configured embedder answers, and the failure is counted.
        fake.set(key, "500")
        r = s.post("/v1/embeddings", {"model": "hash-16", "input": "heart"}, token=admin)
        assert r.status == 200 and len(base.requests) == n_base + 1, r
        k = [k for k in s.get("/admin/provider-keys", token=admin).json["keys"]
             if not k["read_only"]][0]
        assert k["failure_count"] == 1 and k["last_error"] == "http_500"
        SEEN.append(s.read_log())
    finally:
        s.stop()
        fake.close()
        base.close()

@pytest.mark.skipif(not (PG_URL and REDIS_URL), reason="needs PostgreSQL and Redis")
def test_status_change_seen_by_another_node_within_a_second(env):
    oa, gm = env["oa"], env["gm"]
    a = Server(env={"JWT_SECRET_KEY": None, "SEED_DEMO_DOCS": "false",
                    "ENABLE_RATE_LIMITING": "false"})
    b = Server(seed=False, data=a.data + "-b", env={
        "JWT_SECRET_KEY": None, "DATABASE_URL": a.env["DATABASE_URL"],
        "REDIS_URL": a.env["REDIS_URL"], "SEED_DEMO_DOCS": "false",
        "ENABLE_RATE_LIMITING": "false"})
    try:
        admin = a.login("admin@example.com", "adminpassword123")
        x = a.post("/admin/provider-keys", {"provider": "openai", "key": K["b"], "base_url": oa.base,
                                            "priority": 100, "skip_test": True}, token=admin).json
        a.post("/admin/provider-keys", {"provider": "gemini", "key": G["b"], "base_url": gm.base,
                                        "priority": 50, "skip_test": True}, token=admin)

        def via_b():
            r = b.post("/chat/message", {"message": "heart?", "enable_rag": False,
                                         "debug_mode": True}, token=admin, timeout=30)
            SEEN.append(r.body)
            return r.json["debug_info"]["provider"]

        assert wait_for(lambda: via_b() == "openai", 3)
        assert a.patch(f"/admin/provider-keys/{x['id']}", {"status": "disabled"},
                       token=admin).status == 200
        t0 = time.time()
        while via_b() != "gemini":
            assert time.time() - t0 < 1.0, "node B still used the disabled key after 1 s"
            time.sleep(0.05)
    finally:
        assert a.stop() == 0
        assert b.stop() == 0


def test_no_key_in_clear_anywhere(env):
    s = env["s"]
    log = s.read_log()
    texts = SEEN + [log]
    blobs = []
    if backend() == "sqlite":
        # The database file and its WAL, byte for byte.
        blobs = [open(f, "rb").read() for f in glob.glob(os.path.join(s.data, "ragd.db*"))]
        assert blobs
    else:
        with s.db() as db:
            tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master").fetchall()]
            assert "provider_keys" in tables
            for t in tables:
                texts.append(repr(db.execute(f"SELECT * FROM {t}").fetchall()))
    assert len(texts) > 50
    for key in ALL_KEYS:
        for t in texts:
            assert key not in t, key
        for b in blobs:
            assert key.encode() not in b, key
    # The personal and shared keys were used, so this is not vacuous.
    assert any(k == K["personal"] for _, k, _ in env["oa"].requests)



def test_chat_without_usable_key_enters_and_leaves_maintenance(pool):
    s, oa, admin = pool["s"], pool["oa"], pool["admin"]
    c = add(pool, K["c"], oa, feature="chat", priority=10)
    oa.set(K["c"], "401")  # the only chat key is refused: chat has no provider left
    r = chat(pool)
    assert r.status == 503 and r.json["code"] in ("FEATURE_UNAVAILABLE", "MAINTENANCE"), r
    m = wait_for(lambda: (lambda j: j if j["level"] == "hard" else None)(
        s.get("/maintenance").json))
    assert m and m["level"] == "hard", m
    r = chat(pool)
    assert r.status == 503 and r.json["code"] == "MAINTENANCE" and int(r.header("retry-after")) > 0
    am = s.get("/admin/maintenance", token=admin).json
    assert am["automatic"] is True, am
    assert [e for e in outbox(pool, "maintenance_entered") if e.get("level") == "hard"]
    # The provider is fixed and the admin turns the key back on: maintenance ends by itself.
    oa.set(K["c"], "ok")
    r = s.request("PATCH", f"/admin/provider-keys/{c['id']}", {"status": "active"}, token=admin)
    assert r.status == 200, r
    assert wait_for(lambda: s.get("/maintenance").json["level"] == "none")
    assert [e for e in outbox(pool, "maintenance_exited")]
    r = chat(pool)
    assert r.status == 200 and r.json["debug_info"]["provider"] == "openai", r
