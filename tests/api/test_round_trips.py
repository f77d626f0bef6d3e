"""Round trips to PostgreSQL and Redis per request on the production path (issue: performance),
read from ragd_route_round_trips_total. Budgets are ceilings: a change that adds a query or a
Redis command to these routes fails here instead of slowing every node silently."""
import re
import statistics
import time
import uuid

import pytest

from kb_helpers import upload_ready
from ragd_client import PG_URL, REDIS_URL, Server

pytestmark = pytest.mark.skipif(not (PG_URL and REDIS_URL),
                                reason="needs the private PostgreSQL and Redis of make test")

# Per request, steady state (the connection's statements already prepared).
# Before the production-path work: bench 15 + 2, search 31 + 3; then 11 + 2, 17 + 3 before the
# write-only transactions (usage; a reservation with nothing to check) went as one pipeline;
# then 4 + 2, 13 + 3 before the Redis commands of a request went together, and 4 + 1, 13 + 1
# before the organization was read once per request, and 4 + 1, 11 + 1 before a reservation
# that checks limits went as two pipelines, and 4 + 1, 7 + 1 before the search's activity count
# went with the usage, and 3 + 1, 6 + 1 before a token already checked under the revocation
# epoch read with the session was no longer looked up, and 2 + 1 before a reservation with no
# limit to check stopped writing holds (and 5 + 1 for the member before their organization's
# count went with the usage, 4 + 1 before their organization came from the cache with the
# session).
BUDGET = {
    # POST /search as admin with bench/backends.sh's body: no limit to check, so nothing is
    # reserved in the store; the usage transaction (BEGIN, lock, usage record, counters, the
    # search's activity count and COMMIT in one pipeline) / session and revocation epoch read
    # (the previous request's quota forget, sent without waiting, is answered with it).
    "bench": {"postgresql": 1, "redis": 1},
    # POST /search as a member of an organization on a limited plan: the same, but its
    # reservation checks limits (BEGIN, lock, purge and one read of every limited counter in
    # one pipeline; holds and COMMIT in another); the organization's and the member's usage
    # are counted in the usage transaction's pipeline / the rate limit script and the
    # organization's cached entry (feature gate and organization quota share it) go with the
    # session read.
    "search": {"postgresql": 3, "redis": 1},
    # POST /chat/message as admin starting a session (the extractive answer; a worker answers):
    # nothing reserved in the store (no limit to check, for the message or its tokens); the
    # session and both messages stored (BEGIN, lock, writes and COMMIT in one pipeline); the
    # usage with the activity counts, its COMMIT and the quota it leaves for usage_info (one
    # pipeline) / the session read. Before: 15 + 3 (an owner check on both threads and in
    # the store, history read for a session just made, each write of the exchange on its
    # own, the activity counts one by one, usage_info read after the commit through the
    # cache, and two reservations).
    "chat_new": {"postgresql": 2, "redis": 1},
    # The same in an existing session, plus its history read with its owner; the exchange
    # is written only into a session of the user (an upsert that leaves another user's alone,
    # messages on the condition the session is theirs, the COMMIT with a read that they were
    # written: still one pipeline). Before: 15 + 3.
    "chat_follow": {"postgresql": 3, "redis": 1},
    # A new session as the organization member: the message reserved (limits checked: two
    # pipelines) and the answer's tokens likewise; the exchange stored; the usage with the
    # organization's count and usage_info's read (its organization from the cache, with the
    # session). Before: 19 + 3.
    "chat_member": {"postgresql": 6, "redis": 1},
    # GET /documents and GET /chat/sessions: the page with the count of all in one query /
    # the session read. Before: 2 + 1 (the count, then the page; the documents' page also
    # read every listed document's text).
    "list": {"postgresql": 1, "redis": 1},
    # POST /widget/message (an organization's visitor, the extractive answer): the widget
    # session read (its renewal written at most once a minute); the organization's daily
    # answer count taken in one conditional upsert; the conversation's last messages; the
    # visitor's message with its sentiment (one pipeline); the passages' chunks; the answer
    # with its cost (one pipeline); the escalation signals in one query / the session's
    # message rate with the organization's cached entry; the query's embedding. Before:
    # 38 + 2 (each message's seq, conversation, analytics and sentiment writes on their own,
    # the session renewed by every message, the organization read three times, four
    # escalation reads).
    "widget": {"postgresql": 7, "redis": 2},
    # The GET routes behind the web UI's pages and the admin's lists, each one query: a page
    # carries the count of all (a subquery evaluated once, or a window count); GET /users
    # lists every user with this month's and today's usage counters in the same query, and
    # GET /billing/usage reads both periods' counters at once / the session read (GET
    # /billing/history also reads the cached subscription, which it lists the events of).
    # Before: /users 1 + 2 per listed user (the count, the page, then each user's month and
    # day counters), /billing/usage 2, /billing/history 4 (the user's plan, the subscription,
    # the count, the page), the chat history, the audit log, the organizations and the
    # tickets 2 each.
    "pages": {"postgresql": 1, "redis": 1},
    "pages_history": {"postgresql": 1, "redis": 2},
    # POST /widget/session (a page opening the widget): the key with its origin check in one
    # query; the conversation, the session and the day's analytics mark in one pipeline (no
    # longer under a lock for every organization) / the address's session rate with the
    # organization's cached entry (the theme comes from it too); the organization's session
    # rate; the session cache. Before: 7 + 5.
    "widget_session": {"postgresql": 2, "redis": 3},
}
BENCH_BODY = {"query": "quota checked benchmark query", "top_k": 5, "route": "exact"}


@pytest.fixture(scope="module")
def node():
    # No demo documents, as in bench/backends.sh: the counts do not then depend on how far
    # their ingestion has got (each result's document adds one metadata read).
    s = Server(env={"LOGIN_MAX_ATTEMPTS_PER_IP": "100000", "SEED_DEMO_DOCS": "false"})
    yield s
    assert s.stop() == 0


def counters(node, route):
    """{backend: round trips so far} and the number of requests served on route."""
    text = node.get("/metrics").body
    trips = {"postgresql": 0.0, "redis": 0.0}
    for backend, v in re.findall(
            r'^ragd_route_round_trips_total\{route="%s",backend="(\w+)"\} (\S+)$'
            % re.escape(route), text, re.M):
        trips[backend] = float(v)
    served = sum(float(v) for v in re.findall(
        r'^ragd_http_requests_total\{[^}]*route="%s"[^}]*\} (\S+)$' % re.escape(route), text,
        re.M))
    return trips, served


def per_request(node, token, body, n=12, route="/search", warm=8):
    """Round trips of each of n requests, after a warm-up that prepares every statement (body
    None: GET)."""
    def call():
        if body is None:
            return node.get(route, token=token)
        return node.post(route, body, token=token)
    return measure(node, call, route, n, warm, deferred=route != "/search" and body is not None)


def measure(node, call, route, n, warm, deferred):
    """per_request's loop over call(), one request each; deferred: answered by a worker."""
    for _ in range(warm):
        assert call().status in (200, 201)
    seen = {"postgresql": [], "redis": []}
    for _ in range(n):
        before, served0 = counters(node, route)
        assert call().status in (200, 201)
        # The request is counted as served once its response has gone out, just after the
        # client has it: wait for that, so that exactly one request lies between the scrapes.
        deadline = time.time() + 5
        after, served1 = counters(node, route)
        while served1 - served0 < 1 and time.time() < deadline:
            time.sleep(0.01)
            after, served1 = counters(node, route)
        assert served1 - served0 == 1
        if deferred:
            # A deferred reply's round trips are recorded when its worker returns, which may
            # be just after the response: wait for the counters to stop moving.
            while True:
                time.sleep(0.05)
                again, _ = counters(node, route)
                if again == after:
                    break
                after = again
        for k in seen:
            seen[k].append(after[k] - before[k])
    return {k: statistics.median(v) for k, v in seen.items()}, seen


@pytest.fixture(scope="module")
def tokens(node):
    t = {"bench": node.login("admin@example.com", "adminpassword123"),
         "search": node.login("test@example.com", "testpassword123")}
    # A login forgets the cached session and blocks refilling it for a few seconds (a cache
    # tombstone): the steady state, which a token's later requests see, starts after that.
    time.sleep(3.5)
    return t


@pytest.mark.parametrize("who", ["bench", "search"])
def test_search_round_trips_within_budget(node, tokens, who):
    token = tokens[who]
    body = BENCH_BODY if who == "bench" else {"query": "round trip budget query", "top_k": 3}
    med, seen = per_request(node, token, body)
    print(who, med, seen)
    assert med["postgresql"] > 0 and med["redis"] > 0, seen  # the counters do count
    for backend, ceiling in BUDGET[who].items():
        assert med[backend] <= ceiling, (who, backend, seen)


def test_search_with_an_api_key_round_trips(node, tokens):
    # A key this node already looked up under the revocation epoch it reads with the session
    # is not looked up again: the same budget as a token's (it was one more before).
    r = node.post("/users/me/api-keys", {"name": "round trips"}, token=tokens["bench"])
    assert r.status == 201, r
    med, seen = per_request(node, r.json["key"], BENCH_BODY)
    print("api key", med, seen)
    assert med["postgresql"] > 0 and med["redis"] > 0, seen
    for backend, ceiling in BUDGET["bench"].items():
        assert med[backend] <= ceiling, ("api key", backend, seen)


def test_search_results_read_in_one_query(node, tokens):
    # Runs after the budget tests (it adds documents): the hits' chunks and their documents'
    # metadata are each read in one query however many results and documents there are, on a
    # cache miss (a new query) as on a hit. Before: one chunk read per result on a miss, one
    # metadata read per document on both.
    token = tokens["bench"]
    word = "w" + uuid.uuid4().hex[:10]
    for i in range(3):
        upload_ready(node, token, f"{word} notes number {i}: {word} appears twice here.")
    base = dict(BENCH_BODY, query=word)
    med, seen = per_request(node, token, base)
    assert med["postgresql"] <= BUDGET["bench"]["postgresql"] + 1, seen
    misses = []
    for i in range(6):
        before, served0 = counters(node, "/search")
        r = node.post("/search", dict(base, query=f"{word} {i}"), token=token)
        assert r.status == 200 and len(r.json["results"]) == 3, r
        deadline = time.time() + 5
        after, served1 = counters(node, "/search")
        while served1 - served0 < 1 and time.time() < deadline:
            time.sleep(0.01)
            after, served1 = counters(node, "/search")
        misses.append(after["postgresql"] - before["postgresql"])
    # the chunks' read, and the metadata comes with it
    assert statistics.median(misses) <= BUDGET["bench"]["postgresql"] + 1, misses


def test_chat_round_trips_within_budget(node, tokens):
    token = tokens["bench"]
    body = {"message": "round trip budget question"}
    med, seen = per_request(node, token, body, route="/chat/message", warm=12)
    print("chat new", med, seen)
    assert med["postgresql"] > 0 and med["redis"] > 0, seen
    for backend, ceiling in BUDGET["chat_new"].items():
        assert med[backend] <= ceiling, ("chat_new", backend, seen)
    sid = node.post("/chat/message", body, token=token).json["session_id"]
    med, seen = per_request(node, token, dict(body, session_id=sid), route="/chat/message",
                            warm=12)
    print("chat follow-up", med, seen)
    for backend, ceiling in BUDGET["chat_follow"].items():
        assert med[backend] <= ceiling, ("chat_follow", backend, seen)
    med, seen = per_request(node, tokens["search"], body, route="/chat/message", warm=8)
    print("chat member", med, seen)
    for backend, ceiling in BUDGET["chat_member"].items():
        assert med[backend] <= ceiling, ("chat_member", backend, seen)
    # usage_info, read with the commit, counts each message once.
    used = [node.post("/chat/message", dict(body, session_id=sid), token=token).json[
        "usage_info"]["messages_used"] for _ in range(3)]
    assert used[1] == used[0] + 1 and used[2] == used[1] + 1, used


def test_page_routes_round_trips(node, tokens):
    # However many users the page lists, GET /users is one query (it was 1 + 2 per user).
    for i in range(6):
        node.register(f"rt-{i}-{uuid.uuid4().hex[:6]}@example.com")
    admin = tokens["bench"]
    sid = node.post("/chat/message", {"message": "page routes"}, token=admin).json["session_id"]
    routes = {"/users?limit=50": ("/users", "pages"), "/billing/usage": (None, "pages"),
              "/billing/history": (None, "pages_history"),
              f"/chat/history?session_id={sid}": ("/chat/history", "pages"),
              "/admin/audit-log?limit=5": ("/admin/audit-log", "pages"),
              "/admin/organizations": (None, "pages"), "/tickets": (None, "pages")}
    # The first calls may write (the subscription made on first access, which drops the
    # user's cached entries for a few seconds): warm every route, then wait that out.
    for path in routes:
        assert node.get(path, token=admin).status == 200, path
    time.sleep(3.5)
    users = node.get("/users?limit=50", token=admin).json
    assert len(users["items"]) >= 8 and users["total"] == len(users["items"]), users["total"]
    for path, (route, budget) in routes.items():
        med, seen = measure(node, lambda: node.get(path, token=admin), route or path, 8, 8,
                            deferred=False)
        print(path, med, seen)
        assert med["postgresql"] > 0 and med["redis"] > 0, (path, seen)
        for backend, ceiling in BUDGET[budget].items():
            assert med[backend] <= ceiling, (path, backend, seen)


@pytest.mark.parametrize("route", ["/documents", "/chat/sessions"])
def test_lists_round_trips(node, tokens, route):
    med, seen = per_request(node, tokens["search"], None, route=route)
    print(route, med, seen)
    assert med["postgresql"] > 0 and med["redis"] > 0, seen
    for backend, ceiling in BUDGET["list"].items():
        assert med[backend] <= ceiling, (route, backend, seen)


def test_widget_message_round_trips():
    from support_helpers import ACME_DOC, make_org, support_server
    s = support_server(WIDGET_SESSIONS_PER_IP_PER_MINUTE="1000", RATE_LIMIT_WIDGET="100000/60")
    try:
        org = make_org(s, "Acme", ACME_DOC, "http://127.0.0.1:8101")
        r = s.post("/widget/session", {"key": org.key}, headers={"Origin": org.origin})
        assert r.status == 201, r
        h = {"Authorization": "Bearer " + r.json["session_token"], "Origin": org.origin}
        med, seen = measure(s, lambda: s.post("/widget/session", {"key": org.key},
                                              headers={"Origin": org.origin}),
                            "/widget/session", 8, 4, deferred=False)
        print("widget session", med, seen)
        for backend, ceiling in BUDGET["widget_session"].items():
            assert med[backend] <= ceiling, ("widget_session", backend, seen)
        i = iter(range(1000))

        def call():
            return s.post("/widget/message", {"message": f"blender warranty {next(i)}?"},
                          headers=h)
        med, seen = measure(s, call, "/widget/message", 10, 6, deferred=True)
        print("widget", med, seen)
        assert med["postgresql"] > 0 and med["redis"] > 0, seen
        for backend, ceiling in BUDGET["widget"].items():
            assert med[backend] <= ceiling, ("widget", backend, seen)
        # the messages, their sentiment and the answers' cost were all stored
        with s.db() as db:
            rows = db.execute("SELECT role, sentiment_label, tokens, seq FROM widget_messages"
                              " ORDER BY seq").fetchall()
        assert len(rows) == 2 * 16 and [r[3] for r in rows] == list(range(1, 33)), rows
        assert all(r[1] for r in rows if r[0] == "visitor"), rows
        assert all(r[2] and r[2] > 0 for r in rows if r[0] == "assistant"), rows
    finally:
        s.stop()
