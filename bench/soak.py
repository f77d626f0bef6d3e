#!/usr/bin/env python3
"""Soak: mixed traffic from many users on two ragd nodes sharing PostgreSQL + Redis, with Redis
restarted twice and PostgreSQL once, and a flood in the middle (slow header trickles, parallel
registrations and wrong logins, one user asking /v1 for huge answers). Started by
bench/soak.sh, which owns the servers; this script only speaks HTTP (and reads the database and
/proc at the end). Loopback only, bounded in time, stops by itself.

Legitimate users connect from 127.0.1.x and the flood from 127.0.9.x, so per-address limits
see them as different clients, as they would be on a network.

Prints: requests by status; 5xx other than 503 with Retry-After (and any 5xx outside the
PostgreSQL outage); legitimate users' latency before and during the flood; acknowledged writes
checked afterwards; quota counters against limits and the ledger; each node's RSS."""
import argparse
import collections
import http.client
import json
import random
import socket
import statistics
import subprocess
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--ports", required=True, help="comma list of node ports")
ap.add_argument("--pids", required=True, help="comma list of node pids")
ap.add_argument("--services", required=True, help="scripts/services.sh directory")
ap.add_argument("--pg-url", required=True)
ap.add_argument("--seconds", type=float, default=600)
ap.add_argument("--users", type=int, default=40)
ap.add_argument("--workers", type=int, default=12)
ap.add_argument("--model", default="tiny")
args = ap.parse_args()
PORTS = [int(p) for p in args.ports.split(",")]
PIDS = [int(p) for p in args.pids.split(",")]
T0 = time.time()
END = T0 + args.seconds

# ---- timeline (fractions of the run) ----
REDIS_RESTARTS = (0.15, 0.75)
PG_DOWN = (0.30, 8.0)           # at, seconds down
FLOOD = (0.45, 0.60)


def phase(t):
    f = (t - T0) / args.seconds
    if f < FLOOD[0]:
        return "before"
    return "flood" if f < FLOOD[1] else "after"


pg_window = [None, None]          # wall times PostgreSQL was down (+ 3 s to reconnect)
lock = threading.Lock()
records = []                      # (t, who, action, status, has_retry_after, ms)


def record(who, action, status, ra, ms):
    with lock:
        records.append((time.time(), who, action, status, ra, ms))


# ---- HTTP ----

def request(port, method, path, body=None, token=None, src="127.0.1.1", timeout=30, raw=None):
    t = time.time()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                          source_address=(src, 0))
        h = {}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        if token:
            h["Authorization"] = "Bearer " + token
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        payload = resp.read()
        status, ra = resp.status, resp.getheader("Retry-After") is not None
        conn.close()
    except (OSError, http.client.HTTPException):
        return 0, False, None, (time.time() - t) * 1000
    try:
        js = json.loads(payload) if payload else None
    except ValueError:
        js = None
    return status, ra, js, (time.time() - t) * 1000


# ---- users ----

class User:
    def __init__(self, i):
        self.i = i
        self.email = f"soak{i}-{int(T0)}@example.com"
        self.password = "soak-password-123"
        self.src = f"127.0.1.{1 + i % 250}"
        self.token = None
        self.docs = []            # acknowledged uploads
        self.messages = []        # (session_id, message_id) acknowledged
        self.port = PORTS[i % len(PORTS)]


def setup_users(admin_token):
    users = []
    for i in range(args.users):
        u = User(i)
        st, _, js, _ = request(u.port, "POST", "/auth/register",
                               {"email": u.email, "password": u.password}, src=u.src)
        if st != 201:
            raise SystemExit(f"cannot register soak user: {st} {js}")
        u.token = js["access_token"]
        if i % 2:  # half the users on pro, half on free (free ones meet their quotas)
            request(PORTS[0], "PATCH", f"/users/{js['user_id']}", {"subscription_plan": "pro"},
                    token=admin_token)
        users.append(u)
    return users


def act(u, rnd):
    port = rnd.choice(PORTS)
    a = rnd.random()
    if a < 0.10:
        st, ra, js, ms = request(port, "POST", "/auth/login",
                                 {"email": u.email, "password": u.password}, src=u.src)
        if st == 200:
            u.token = js["access_token"]
        return "login", st, ra, ms
    if a < 0.35:
        st, ra, js, ms = request(port, "POST", "/chat/message",
                                 {"message": rnd.choice(["what is ragd?", "how do quotas work?",
                                                         "explain the knowledge base"])},
                                 token=u.token, src=u.src, timeout=60)
        if st == 200 and js and js.get("message_id"):
            u.messages.append((js["session_id"], js["message_id"]))
        return "chat", st, ra, ms
    if a < 0.55:
        st, ra, _, ms = request(port, "POST", "/search", {"query": "quota limits", "top_k": 5},
                                token=u.token, src=u.src)
        return "search", st, ra, ms
    if a < 0.65:
        st, ra, js, ms = request(port, "POST", "/documents",
                                 {"title": f"soak note {rnd.random():.6f}",
                                  "content": "A soak test note about quotas and limits. " * 20},
                                 token=u.token, src=u.src)
        if st == 202 and js:
            u.docs.append(js.get("id") or js.get("document_id"))
        return "upload", st, ra, ms
    if a < 0.85:
        st, ra, _, ms = request(port, "GET", "/billing/usage", token=u.token, src=u.src)
        return "billing", st, ra, ms
    st, ra, _, ms = request(port, "POST", "/v1/chat/completions",
                            {"model": args.model, "max_tokens": 8,
                             "messages": [{"role": "user", "content": "hello"}]},
                            token=u.token, src=u.src, timeout=120)
    return "v1", st, ra, ms


def worker(users, seed, stop):
    rnd = random.Random(seed)
    while not stop.is_set() and time.time() < END:
        u = rnd.choice(users)
        action, st, ra, ms = act(u, rnd)
        record("user", action, st, ra, ms)
        if st in (0, 429, 503):
            time.sleep(0.5)  # a client backs off when told to (or when nobody answers)


# ---- faults and floods ----

def services(verb):
    subprocess.run(["scripts/services.sh", verb, args.services], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def at(frac):
    while time.time() < T0 + frac * args.seconds:
        time.sleep(0.2)


def faults(stop):
    events = sorted([(f, "redis") for f in REDIS_RESTARTS] + [(PG_DOWN[0], "pg")])
    for frac, what in events:
        at(frac)
        if stop.is_set():
            return
        if what == "redis":
            print(f"[{time.time() - T0:6.1f}s] restarting Redis", flush=True)
            services("redis-stop")
            time.sleep(3)
            services("redis-start")
        else:
            print(f"[{time.time() - T0:6.1f}s] stopping PostgreSQL for {PG_DOWN[1]:.0f} s", flush=True)
            pg_window[0] = time.time()
            services("pg-stop")
            time.sleep(PG_DOWN[1])
            services("pg-start")
            pg_window[1] = time.time() + 3


def flood_slow_headers(stop, n=600):
    """Sockets that send a header line every 2 s and never finish (item 1)."""
    socks = []
    deadline = T0 + FLOOD[1] * args.seconds
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", PORTS[i % len(PORTS)]), timeout=2,
                                         source_address=(f"127.0.9.{1 + i % 4}", 0))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            socks.append(s)
        except OSError:
            pass
    while time.time() < deadline and not stop.is_set():
        for s in list(socks):
            try:
                s.sendall(b"X-Slow: 1\r\n")
            except OSError:
                socks.remove(s)
        time.sleep(2)
    for s in socks:
        s.close()
    record("flood", "slow-sockets-alive-at-end", len(socks), False, 0)


def flood_auth(stop):
    """Parallel registrations and wrong logins from a few addresses (items 2 and 3)."""
    deadline = T0 + FLOOD[1] * args.seconds
    n = [0]

    def one(k):
        while time.time() < deadline and not stop.is_set():
            n[0] += 1
            port = PORTS[n[0] % len(PORTS)]
            if n[0] % 2:
                st, ra, _, ms = request(port, "POST", "/auth/register",
                                        {"email": f"flood{n[0]}-{k}-{int(T0)}@example.com",
                                         "password": "flood-password-1"},
                                        src=f"127.0.9.{10 + k % 4}")
                record("flood", "register", st, ra, ms)
            else:
                st, ra, _, ms = request(port, "POST", "/auth/login",
                                        {"email": "admin@example.com", "password": "wrong-guess"},
                                        src=f"127.0.9.{10 + k % 4}")
                record("flood", "wrong-login", st, ra, ms)
    ts = [threading.Thread(target=one, args=(k,)) for k in range(24)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def flood_generation(stop, hog):
    """One user asks /v1 for huge answers with 10 requests at a time (item 5)."""
    deadline = T0 + FLOOD[1] * args.seconds

    def one():
        while time.time() < deadline and not stop.is_set():
            st, ra, _, ms = request(PORTS[0], "POST", "/v1/chat/completions",
                                    {"model": args.model, "max_tokens": 32768,
                                     "messages": [{"role": "user", "content": "write a lot"}]},
                                    token=hog.token, src="127.0.9.20", timeout=300)
            record("flood", "v1-hog", st, ra, ms)
    ts = [threading.Thread(target=one) for _ in range(10)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def floods(stop, hog):
    at(FLOOD[0])
    print(f"[{time.time() - T0:6.1f}s] flood starts", flush=True)
    ts = [threading.Thread(target=flood_slow_headers, args=(stop,)),
          threading.Thread(target=flood_auth, args=(stop,)),
          threading.Thread(target=flood_generation, args=(stop, hog))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(f"[{time.time() - T0:6.1f}s] flood ends", flush=True)


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# ---- checks after the run ----

def check_writes(users, admin_token):
    lost = collections.Counter()
    checked = collections.Counter()
    for u in users:
        st, _, js, _ = request(PORTS[1 % len(PORTS)], "POST", "/auth/login",
                               {"email": u.email, "password": u.password}, src=u.src)
        checked["accounts"] += 1
        if st != 200:
            lost["accounts"] += 1
            continue
        tok = js["access_token"]
        for d in u.docs:
            checked["documents"] += 1
            st = 429
            while st == 429:
                st, _, _, _ = request(PORTS[0], "GET", f"/documents/{d}", token=tok, src=u.src)
                if st == 429:
                    time.sleep(1)
            if st != 200:
                lost["documents"] += 1
        # All of the user's messages, a page at a time (one request per session would meet
        # the api rate limit for the busiest users).
        seen, offset = set(), 0
        while True:
            st, ra, js, _ = request(PORTS[0], "GET", f"/chat/history?limit=500&offset={offset}",
                                    token=tok, src=u.src)
            if st == 429:
                time.sleep(1)
                continue
            items = js.get("conversations", []) if st == 200 and js else []
            for c in items:
                seen.add(c.get("message_id"))
                seen.add(c.get("id"))
            if len(items) < 500:
                break
            offset += 500
        for _, mid in u.messages:
            checked["chat answers"] += 1
            if mid not in seen:
                lost["chat answers"] += 1
    return checked, lost


def check_quotas(users):
    """Counters never above the plan's limits, and monthly counters equal to the ledger."""
    import psycopg2
    db = psycopg2.connect(args.pg_url)
    cur = db.cursor()
    over, mismatched, checked = [], [], 0
    for u in users:
        st, _, js, _ = request(PORTS[0], "POST", "/auth/login",
                               {"email": u.email, "password": u.password}, src=u.src)
        if st != 200:
            continue
        tok = js["access_token"]
        st, _, usage, _ = request(PORTS[0], "GET", "/billing/usage", token=tok, src=u.src)
        if st != 200:
            continue
        cur.execute("SELECT id FROM users WHERE email = %s", (u.email,))
        uid = cur.fetchone()[0]
        for res, v in usage["usage"].items():
            checked += 1
            if v["limit"] >= 0 and v["used"] > v["limit"]:
                over.append((u.email, res, v["used"], v["limit"]))
            cur.execute("SELECT COALESCE(SUM(quantity), 0) FROM usage_records WHERE user_id = %s"
                        " AND resource_type = %s AND billing_period_start = %s",
                        (uid, res, usage["period_start"]))
            ledger = cur.fetchone()[0]
            if ledger != v["used"]:
                mismatched.append((u.email, res, v["used"], ledger))
        for name, v in usage["daily"]["counters"].items():
            checked += 1
            if v["limit"] >= 0 and v["used"] > v["limit"]:
                over.append((u.email, name, v["used"], v["limit"]))
    db.close()
    return checked, over, mismatched


def pct(xs, p):
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def main():
    st, _, js, _ = request(PORTS[0], "POST", "/auth/login",
                           {"email": "admin@example.com", "password": "adminpassword123"})
    if st != 200:
        raise SystemExit(f"admin login failed: {st}")
    admin = js["access_token"]
    users = setup_users(admin)
    hog = User(10_000)
    st, _, js, _ = request(PORTS[0], "POST", "/auth/register",
                           {"email": hog.email, "password": hog.password}, src="127.0.9.20")
    hog.token = js["access_token"] if st == 201 else admin
    request(PORTS[0], "PATCH", f"/users/{js['user_id']}", {"subscription_plan": "enterprise"},
            token=admin) if st == 201 else None
    rss0 = {p: rss_kb(p) for p in PIDS}
    print(f"{len(users)} users, {args.workers} workers, {args.seconds:.0f} s, nodes on {PORTS}",
          flush=True)
    stop = threading.Event()
    ts = [threading.Thread(target=worker, args=(users, k, stop)) for k in range(args.workers)]
    ts += [threading.Thread(target=faults, args=(stop,)),
           threading.Thread(target=floods, args=(stop, hog))]
    for t in ts:
        t.start()
    try:
        for t in ts:
            t.join()
    except KeyboardInterrupt:
        stop.set()
        for t in ts:
            t.join()
    time.sleep(3)  # let the last ingestion jobs land
    rss1 = {p: rss_kb(p) for p in PIDS}

    print("\n== requests by status (legitimate users)")
    by = collections.Counter((r[2], r[3]) for r in records if r[1] == "user")
    for (action, status), n in sorted(by.items()):
        print(f"  {action:10} {status:4} {n:7}")
    print("== flood requests by status")
    byf = collections.Counter((r[2], r[3]) for r in records if r[1] == "flood")
    for (action, status), n in sorted(byf.items()):
        print(f"  {action:26} {status:4} {n:7}")

    def in_pg_outage(t):
        return pg_window[0] and pg_window[0] <= t <= (pg_window[1] or END)
    bad = [r for r in records if r[1] == "user" and r[3] >= 500 and
           not (r[3] == 503 and r[4]) and r[3] != 507]
    outside = [r for r in records if r[1] == "user" and r[3] >= 500 and not in_pg_outage(r[0])]
    noreply = [r for r in records if r[1] == "user" and r[3] == 0]
    print(f"== 5xx other than 503 with Retry-After: {len(bad)}")
    print(f"== 5xx outside the PostgreSQL outage: {len(outside)}"
          f" ({collections.Counter(r[3] for r in outside)})")
    print(f"== no answer (connection refused or timed out): {len(noreply)}")

    print("== legitimate latency (ms, answered requests, p50 / p99)")
    for action in ("login", "chat", "search", "upload", "billing", "v1"):
        line = f"  {action:8}"
        for ph in ("before", "flood", "after"):
            xs = [r[5] for r in records if r[1] == "user" and r[2] == action and r[3] and
                  phase(r[0]) == ph and not in_pg_outage(r[0])]
            line += f"  {ph}: {pct(xs, 50):7.1f} / {pct(xs, 99):8.1f} (n={len(xs)})"
        print(line)

    checked, lost = check_writes(users, admin)
    print("== acknowledged writes checked afterwards")
    for k in checked:
        print(f"  {k:14} {checked[k]:6} checked, {lost[k]} lost")
    n, over, mismatched = check_quotas(users)
    print(f"== quota counters: {n} checked, {len(over)} over their limit, "
          f"{len(mismatched)} different from the ledger")
    for o in over[:10]:
        print("   over:", o)
    for m in mismatched[:10]:
        print("   ledger:", m)
    print("== RSS per node (MiB, after setup -> end)")
    for p in PIDS:
        a, b = rss0.get(p), rss1.get(p)
        if a and b:
            print(f"  pid {p}: {a / 1024:.1f} -> {b / 1024:.1f} ({(b - a) / 1024:+.1f})")
        else:
            print(f"  pid {p}: not running at the end" if a else f"  pid {p}: ?")


main()
