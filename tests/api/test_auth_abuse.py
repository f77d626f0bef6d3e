"""Abuse of the account routes, scaled down: registration and refresh floods, parallel
password guessing (per client and per account), lockouts others cause, bcrypt floods that
must not starve other requests, tokens from the future, logout from every session, and
usernames that differ only in case."""
import http.client
import json
import random
import threading
import time

import pytest

from ragd_client import PG_URL, REDIS_URL, Server
from test_auth import claims_for, forge


def fresh_ip():
    """A loopback address no earlier run used: with Redis, limiter state outlives a server."""
    return "127.%d.%d.%d" % tuple(random.randint(1, 254) for _ in range(3))


def post_from(server, ip, path, body, token=None):
    """POST from source address ip (any 127.x address reaches the loopback listener)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60,
                                      source_address=(ip, 0))
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = f"Bearer {token}"
    conn.request("POST", path, body=json.dumps(body).encode(), headers=h)
    r = conn.getresponse()
    status, hdrs = r.status, dict((k.lower(), v) for k, v in r.getheaders())
    data = r.read().decode()
    conn.close()
    return status, hdrs, (json.loads(data) if data else None)


def register_from(server, ip, email):
    return post_from(server, ip, "/auth/register", {"email": email, "password": "password123"})


IP = {}


def client_ip(name):
    """The test's client called name: fresh for every run."""
    return IP.setdefault(name, fresh_ip())


def parallel(n, fn):
    out = [None] * n
    def run(i):
        out[i] = fn(i)
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def test_registration_and_refresh_are_rate_limited_per_ip_and_globally():
    # The global budget's state is shared through Redis and outlives this server: a period
    # of its own (the budget is part of the key) keeps an earlier run out of it.
    period = random.randint(3000, 3999)
    s = Server(seed=False, env={"REGISTER_RATE_LIMIT_PER_IP": "2/3600",
                                "REGISTER_RATE_LIMIT_GLOBAL": f"3/{period}",
                                "REFRESH_RATE_LIMIT_PER_IP": "2/3600"})
    try:
        assert register_from(s, client_ip("2"), "r1@example.com")[0] == 201
        st, _, first = register_from(s, client_ip("2"), "r2@example.com")
        assert st == 201
        st, h, j = register_from(s, client_ip("2"), "r3@example.com")
        assert st == 429 and j["code"] == "TOO_MANY_REGISTRATIONS", j
        assert int(h["retry-after"]) > 0
        # another client still gets in until the global budget is spent
        assert register_from(s, client_ip("3"), "r4@example.com")[0] == 201
        st, _, j = register_from(s, client_ip("3"), "r5@example.com")
        assert st == 429 and j["code"] == "TOO_MANY_REGISTRATIONS", j
        # refresh: two per client, then refused
        tok = first["refresh_token"]
        for _ in range(2):
            st, _, j = post_from(s, client_ip("4"), "/auth/refresh", {"refresh_token": tok})
            assert st == 200, j
            tok = j["refresh_token"]
        st, _, j = post_from(s, client_ip("4"), "/auth/refresh", {"refresh_token": tok})
        assert st == 429 and j["code"] == "TOO_MANY_REFRESHES", j
        assert post_from(s, client_ip("5"), "/auth/refresh", {"refresh_token": tok})[0] == 200
    finally:
        assert s.stop() == 0


def test_accounts_per_ip_per_day_are_capped():
    s = Server(seed=False, env={"REGISTRATIONS_PER_IP_PER_DAY": "2"})
    try:
        assert register_from(s, client_ip("6"), "d1@example.com")[0] == 201
        assert register_from(s, client_ip("6"), "d2@example.com")[0] == 201
        st, _, j = register_from(s, client_ip("6"), "d3@example.com")
        assert st == 429 and j["code"] == "TOO_MANY_ACCOUNTS", j
        assert register_from(s, client_ip("7"), "d3@example.com")[0] == 201
        with s.db() as db:  # the client is kept as a hash, not as its address
            tags = [r[0] for r in db.execute("SELECT created_from FROM users").fetchall()]
        assert len(tags) == 3 and all(t and "127." not in t for t in tags)
    finally:
        assert s.stop() == 0


def test_parallel_wrong_logins_are_counted_before_the_check():
    s = Server(seed=False, env={"LOGIN_MAX_ATTEMPTS_PER_IP": "5",
                                "BCRYPT_MAX_CONCURRENT": "64"})
    try:
        for i in range(12):
            s.register(f"spray{i}@example.com")
        # 30 parallel guesses at one account from one client: only its allowance is checked
        res = parallel(30, lambda i: post_from(s, client_ip("8"), "/auth/login",
                                               {"email": "spray0@example.com",
                                                "password": f"wrong-{i}-pass"}))
        codes = [r[0] for r in res]
        assert codes.count(401) == 5, codes
        assert codes.count(429) == 25
        assert {r[2]["code"] for r in res if r[0] == 429} == {"TOO_MANY_LOGIN_ATTEMPTS"}
        # a spray over 12 accounts from another client: the same allowance
        res = parallel(12, lambda i: post_from(s, client_ip("9"), "/auth/login",
                                               {"email": f"spray{i}@example.com",
                                                "password": "wrong-password"}))
        codes = [r[0] for r in res]
        assert codes.count(401) == 5 and codes.count(429) == 7, codes
        # good logins give their unit back: a client can log in any number of times
        for _ in range(8):
            st, _, j = post_from(s, client_ip("10"), "/auth/login",
                                 {"email": "spray1@example.com", "password": "password123"})
            assert st == 200, j
    finally:
        assert s.stop() == 0


def test_lockout_by_others_does_not_keep_the_owner_out():
    s = Server(seed=False, env={"LOGIN_MAX_ATTEMPTS_PER_IP": "1000",
                                "ACCOUNT_LOCKOUT_THRESHOLD": "3",
                                "BCRYPT_MAX_CONCURRENT": "64"})
    try:
        s.register("victim@example.com")
        res = parallel(20, lambda i: post_from(s, client_ip("11"), "/auth/login",
                                               {"email": "victim@example.com",
                                                "password": f"guess-{i}-xx"}))
        codes = [r[0] for r in res]
        # the account's attempts are taken before the check: the threshold, plus at most
        # one attempt of a client that had not failed yet when the lock began
        assert 3 <= codes.count(401) <= 4, codes
        assert {r[2]["code"] for r in res if r[0] == 429} == {"ACCOUNT_LOCKED"}
        # the attacking client stays locked out, even with the right password ...
        st, h, j = post_from(s, client_ip("11"), "/auth/login",
                             {"email": "victim@example.com", "password": "password123"})
        assert st == 429 and j["code"] == "ACCOUNT_LOCKED" and int(h["retry-after"]) > 0
        # ... while the owner, from a client with no failures, gets in (and lifts the lock)
        st, _, j = post_from(s, client_ip("12"), "/auth/login",
                             {"email": "victim@example.com", "password": "password123"})
        assert st == 200, j
        # a clean client with a wrong password is checked once, then counts as failed
        s2 = post_from(s, client_ip("13"), "/auth/login",
                       {"email": "victim@example.com", "password": "still-wrong"})
        assert s2[0] == 401
    finally:
        assert s.stop() == 0


def test_bcrypt_flood_leaves_workers_for_other_requests():
    s = Server(seed=False, env={"BCRYPT_ROUNDS": "13", "WORKER_THREADS": "4",
                                "BCRYPT_MAX_CONCURRENT": "1",
                                "LOGIN_MAX_ATTEMPTS_PER_IP": "100000",
                                "RAGD_TEST_MODE": "1"})
    try:
        tok = s.register("flood@example.com")["access_token"]
        probe = {}

        def flood(i):
            if i == 0:  # a request that needs a worker thread but no bcrypt
                time.sleep(0.2)
                t0 = time.time()
                r = s.post("/test/consume", {"hold_ms": 1}, token=tok)
                probe["status"], probe["s"] = r.status, time.time() - t0
                return None
            return post_from(s, client_ip("14"), "/auth/login",
                             {"email": "flood@example.com", "password": f"wrong-{i}-pw"})

        res = [r for r in parallel(41, flood) if r]
        codes = [r[0] for r in res]
        assert set(codes) <= {401, 503}, codes
        assert codes.count(503) >= 1, codes
        assert {r[2]["code"] for r in res if r[0] == 503} == {"AUTH_BUSY"}
        assert all(int(r[1]["retry-after"]) >= 1 for r in res if r[0] == 503)
        assert probe["status"] == 200
        assert probe["s"] < 0.5, probe  # unbounded, it waits behind ~40 bcrypt jobs (> 1 s)
    finally:
        assert s.stop() == 0


def test_logout_from_all_sessions_kills_every_access_token(server):
    server.register("everywhere@example.com")
    a = server.login("everywhere@example.com", "password123")
    b = server.login("everywhere@example.com", "password123")
    assert server.get("/auth/me", token=b).status == 200
    r = server.post("/auth/logout", {"all_sessions": True}, token=a)
    assert r.status == 200, r
    r = server.get("/auth/me", token=b)
    assert r.status == 401 and r.json["code"] == "INVALID_TOKEN", r
    c = server.login("everywhere@example.com", "password123")  # a new session works
    assert server.get("/auth/me", token=c).status == 200


def test_tokens_from_the_future_are_refused(server):
    uid = server.register("future@example.com")["user_id"]
    now = int(time.time())
    assert server.get("/auth/me", token=forge(claims_for(uid, iat=now - 10))).status == 200
    for name, over in {"nbf": {"nbf": now + 3600}, "iat": {"iat": now + 3600},
                       "nbf text": {"nbf": "tomorrow"}}.items():
        r = server.get("/auth/me", token=forge(claims_for(uid, **over)))
        assert r.status == 401 and r.json["code"] == "INVALID_TOKEN", (name, r)


def test_usernames_are_unique_ignoring_case(server):
    server.register("case1@example.com", username="CaseUser")
    r = server.post("/auth/register", {"email": "case2@example.com",
                                       "password": "password123", "username": "caseuser"})
    assert r.status == 409 and r.json["code"] == "USERNAME_TAKEN", r
    j = server.register("case3@example.com", username="other-name")
    r = server.patch("/users/me", {"username": "CASEUSER"}, token=j["access_token"])
    assert r.status == 409 and r.json["code"] == "USERNAME_TAKEN", r


@pytest.mark.skipif(not (PG_URL and REDIS_URL), reason="needs PostgreSQL and Redis")
def test_guesses_spread_over_two_nodes_share_the_allowances():
    env = {"LOGIN_MAX_ATTEMPTS_PER_IP": "6", "ACCOUNT_LOCKOUT_THRESHOLD": "1000",
           "BCRYPT_MAX_CONCURRENT": "64"}
    a = Server(seed=False, env=env)
    b = Server(seed=False, data=a.data + "-b", env={
        **env, "DATABASE_URL": a.env["DATABASE_URL"], "REDIS_URL": a.env["REDIS_URL"]})
    try:
        a.register("two-nodes@example.com")
        nodes = (a, b)
        res = parallel(30, lambda i: post_from(nodes[i % 2], client_ip("15"), "/auth/login",
                                               {"email": "two-nodes@example.com",
                                                "password": f"wrong-{i}-pw"}))
        codes = [r[0] for r in res]
        assert codes.count(401) == 6 and codes.count(429) == 24, codes  # one allowance
        # the account's lock is one too: 4 failures lock it, from either node
        for n in nodes:
            assert n.stop() == 0
        env2 = {**env, "LOGIN_MAX_ATTEMPTS_PER_IP": "1000", "ACCOUNT_LOCKOUT_THRESHOLD": "4"}
        a = Server(seed=False, data=a.data, env=env2)
        b = Server(seed=False, data=a.data + "-b", env={
            **env2, "DATABASE_URL": a.env["DATABASE_URL"], "REDIS_URL": a.env["REDIS_URL"]})
        nodes = (a, b)
        b.register("two-nodes-2@example.com")
        res = parallel(16, lambda i: post_from(nodes[i % 2], client_ip("16"), "/auth/login",
                                               {"email": "two-nodes-2@example.com",
                                                "password": f"guess-{i}-pw"}))
        codes = [r[0] for r in res]
        assert 4 <= codes.count(401) <= 5, codes
        assert {r[2]["code"] for r in res if r[0] == 429} == {"ACCOUNT_LOCKED"}
    finally:
        assert a.stop() == 0
        assert b.stop() == 0
