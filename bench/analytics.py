#!/usr/bin/env python3
"""Support-desk analytics and widget figures on a release build (SQLite):

1. GET /analytics over 30 and 90 days at MESSAGES widget messages (default 1M: about 100k
   conversations of two organizations over 90 days, written straight into the database by
   bench/analytics_data.py), p50/p95 in alternating rounds next to a reference measured in
   the same rounds: GET /widget/conversation (a session's own conversation: auth, one indexed
   read, JSON), so the ratio says what the analytics cost beyond a plain store-backed route.
2. The widget's overhead without an LLM: POST /widget/message answered by the extractive
   provider (no model) against the same question through POST /search and POST /chat/message
   by a member of the same organization, in alternating rounds; medians and ratios.

Next to each wall-clock figure, the server process's CPU time per request (user + system,
from /proc): on a shared machine the wall clock also measures the neighbours.

usage: bench/analytics.py [--messages 1000000] [--days 90] [--rounds 15] [--widget-rounds 40]"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "api"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
os.environ.setdefault("RAGD_BIN", "build/release/ragd")
os.environ.pop("RAGD_TEST_PG_URL", None)  # this benchmark measures SQLite
os.environ.pop("RAGD_TEST_REDIS_URL", None)

from analytics_data import generate  # noqa: E402
from ragd_client import Server  # noqa: E402
from support_helpers import ACME_DOC, GLOBEX_DOC, make_org  # noqa: E402

ENV = {"RAGD_TEST_MODE": "1", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000", "SEED_DEMO_DOCS": "false",
       "LOG_LEVEL": "error", "RATE_LIMIT_WIDGET": "1000000/60", "RATE_LIMIT_SEARCH": "1000000/60",
       "RATE_LIMIT_CHAT": "1000000/60", "RATE_LIMIT_API": "1000000/60", "WIDGET_SESSIONS_PER_IP_PER_MINUTE": "100000",
       "WIDGET_MESSAGES_PER_SESSION_PER_MINUTE": "100000"}
QUESTION = "How long is the Zephyr blender warranty?"


def pct(xs, p):
    s = sorted(xs)
    return s[max(0, -(-p * len(s) // 100) - 1)]  # nearest rank


PID = [0]  # the server's process: its CPU time next to the wall-clock time


def cpu_ms():
    with open(f"/proc/{PID[0]}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def timed(fn):
    c0, t0 = cpu_ms(), time.perf_counter()
    r = fn()
    ms = (time.perf_counter() - t0) * 1000
    assert r.status == 200, r
    return ms, cpu_ms() - c0, r


def rounds(kinds, n):
    """Runs each kind (name, fn[, an untimed step before fn]) once per round, the order
    rotating, n rounds: {name: ([ms], [cpu ms])}."""
    out = {k[0]: ([], []) for k in kinds}
    for i in range(n):
        for k in range(len(kinds)):
            name, fn, *pre = kinds[(i + k) % len(kinds)]
            for step in pre:
                step()
            ms, cpu, _ = timed(fn)
            out[name][0].append(ms)
            out[name][1].append(cpu)
    return out


def report(res, ref):
    base = statistics.median(res[ref][0])
    for name, (xs, cpu) in res.items():
        med = statistics.median(xs)
        print(f"  {name:<40} p50 {med:8.2f} ms  p95 {pct(xs, 95):8.2f} ms"
              f"  x{med / base:7.2f} of the reference   server CPU p50 "
              f"{statistics.median(cpu):7.1f} ms")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1000000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--widget-rounds", type=int, default=40)
    a = ap.parse_args()

    s = Server(env=ENV)
    admin = s.login("admin@example.com", "adminpassword123")
    orgs = [make_org(s, "Acme", ACME_DOC, "http://127.0.0.1:8201"),
            make_org(s, "Globex", GLOBEX_DOC, "http://127.0.0.1:8202")]
    for o in orgs:  # the free plan's 200 widget answers a day would end the rounds early
        assert s.patch(f"/organizations/{o.id}", {"plan": "enterprise"}, token=admin).status == 200
        assert s.patch(f"/users/{o.people['owner'][0]}", {"subscription_plan": "enterprise"},
                       token=admin).status == 200
    assert s.stop() == 0
    t0 = time.time()
    n = generate(os.path.join(s.data, "ragd.db"), [o.id for o in orgs], a.messages, a.days)
    gen_s = time.time() - t0
    s = Server(env=ENV, data=s.data, seed=False)
    PID[0] = s.proc.pid
    size = os.path.getsize(os.path.join(s.data, "ragd.db")) / 1e6
    ver = (s.cli("version").stdout.split() + ["?", "?"])[1]
    print(f"ragd {ver}, {os.cpu_count()} cores (load {os.getloadavg()[0]:.1f}), SQLite; "
          f"{n} widget messages of "
          f"{len(orgs)} organizations over {a.days} days written in {gen_s:.0f} s "
          f"(database {size:.0f} MB)")

    acme = orgs[0]
    owner = acme.people["owner"][1]
    tok = s.post("/widget/session", {"key": acme.key}, headers={"Origin": acme.origin})
    assert tok.status == 201, tok
    wh = {"Authorization": "Bearer " + tok.json["session_token"], "Origin": acme.origin}
    today = time.strftime("%Y-%m-%d", time.gmtime())
    d30 = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 29 * 86400))
    d90 = time.strftime("%Y-%m-%d", time.gmtime(time.time() - (a.days - 1) * 86400))
    q30, q90 = f"/analytics?from={d30}&to={today}", f"/analytics?from={d90}&to={today}"
    ms, _, r = timed(lambda: s.get(q90, token=owner))  # warms the page cache too
    tot = r.json["totals"]
    print(f"GET /analytics, one organization: {tot['messages']} messages and "
          f"{tot['conversations']} conversations in {a.days} days (first call {ms:.0f} ms)")
    # Today's summary goes stale with each write counted in it: a feedback mark flipped just
    # before the report makes it sum today's rows again.
    r = s.post("/widget/message", {"message": QUESTION}, headers=wh)
    assert r.status == 200, r
    mid, flip = r.json["message_id"], [False]

    def write_today():
        flip[0] = not flip[0]
        r = s.post("/widget/feedback", {"message_id": mid, "helpful": flip[0]}, headers=wh)
        assert r.status == 200, r

    res = rounds([
        ("GET /widget/conversation (reference)", lambda: s.get("/widget/conversation",
                                                               headers=wh)),
        ("GET /analytics, 30 days", lambda: s.get(q30, token=owner)),
        (f"GET /analytics, {a.days} days", lambda: s.get(q90, token=owner)),
        (f"GET /analytics, {a.days} days, today written", lambda: s.get(q90, token=owner),
         write_today),
    ], a.rounds)
    print(f"{a.rounds} alternating rounds:")
    report(res, "GET /widget/conversation (reference)")

    res = rounds([
        ("POST /search (reference)", lambda: s.post("/search", {"query": QUESTION},
                                                    token=owner)),
        ("POST /chat/message", lambda: s.post("/chat/message", {"message": QUESTION},
                                              token=owner)),
        ("POST /widget/message (extractive)", lambda: s.post(
            "/widget/message", {"message": QUESTION}, headers=wh)),
    ], a.widget_rounds)
    print(f"widget message overhead without an LLM, {a.widget_rounds} alternating rounds:")
    report(res, "POST /search (reference)")
    w, c = (statistics.median(res[k][0]) for k in ("POST /widget/message (extractive)",
                                                 "POST /chat/message"))
    print(f"  widget / chat: x{w / c:.2f}")
    assert s.stop() == 0


if __name__ == "__main__":
    main()
