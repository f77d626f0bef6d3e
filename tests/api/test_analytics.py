"""GET /analytics: an organization's support-desk figures over whole days, for its owners and
admins (and platform admins naming it). Two organizations chat through the widget; a
controlled history written straight into the database pins every figure exactly: per-day
counts, escalation / resolution / deflection rates, sentiment distribution and trend, top
questions grouped by similarity, low-confidence answers, helpful rate, p50/p95, tokens."""
import time
import uuid

import pytest

from ragd_client import backend
from support_helpers import ACME_DOC, GLOBEX_DOC, make_org, support_server

A_ORIGIN = "http://127.0.0.1:8111"
B_ORIGIN = "http://127.0.0.1:8112"
D1, D2, D3 = "2026-01-05", "2026-01-06", "2026-01-07"
RANGE = f"from={D1}&to={D3}"


def new_id():
    return str(uuid.uuid4())


class History:
    """Writes conversations, messages and tickets of one organization into the database."""

    def __init__(self, server, org_id):
        self.server, self.org = server, org_id
        self.ids = {}

    def conv(self, name, at, handoff=False):
        cid = self.ids[name] = new_id()
        with self.server.db() as db:
            db.execute(
                "INSERT INTO widget_conversations (id, org_id, visitor_id, origin, status,"
                " handoff_requested_at, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                (cid, self.org, "visitor-" + name, A_ORIGIN,
                 "handoff_requested" if handoff else "open", at if handoff else None, at, at))
            if hasattr(db, "commit"):
                db.commit()
        self.seq = getattr(self, "seq", {})
        self.seq[cid] = 0
        return cid

    def msg(self, name, role, at, body, label=None, score=None, confidence=None,
            feedback=None, tokens=None, latency=None, internal=0):
        cid = self.ids[name]
        self.seq[cid] += 1
        with self.server.db() as db:
            db.execute(
                "INSERT INTO widget_messages (id, conversation_id, org_id, role, body,"
                " confidence, feedback, internal, created_at, seq, sentiment_label,"
                " sentiment_score, tokens, latency_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (new_id(), cid, self.org, role, body, confidence, feedback, internal, at,
                 self.seq[cid], label, score, tokens, latency))
            if hasattr(db, "commit"):
                db.commit()

    def ticket(self, name, at, status):
        with self.server.db() as db:
            db.execute(
                "INSERT INTO tickets (id, conversation_id, organization_id, category, status,"
                " priority, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
                (new_id(), self.ids[name], self.org, "general", status, "HIGH", at, at))
            if hasattr(db, "commit"):
                db.commit()


def t(day, hhmm):
    return f"{day}T{hhmm}:00.000Z"


def write_history(s, a, b):
    """Organization A: seven conversations over three days (see the figures asserted below);
    organization B: one conversation on the same days, which A's figures must not include."""
    h = History(s, a.id)
    h.conv("c1", t(D1, "10:00"))
    h.msg("c1", "visitor", t(D1, "10:00"), "How do I reset my password?", "POSITIVE", 0.8)
    h.msg("c1", "assistant", t(D1, "10:01"), "Use the reset link.", confidence=0.9, feedback=1,
          tokens=100, latency=100)
    h.conv("c2", t(D1, "11:00"))
    h.msg("c2", "visitor", t(D1, "11:00"), "how to reset my password", "NEUTRAL", 0.5)
    h.msg("c2", "assistant", t(D1, "11:01"), "Use the reset link.", confidence=0.9, feedback=1,
          tokens=200, latency=200)
    h.conv("c3", t(D1, "12:00"))
    h.msg("c3", "visitor", t(D1, "12:00"), "I want a refund for my order!", "NEGATIVE", 0.1)
    h.msg("c3", "assistant", t(D1, "12:01"), "I am not sure.", confidence=0.2, feedback=-1,
          tokens=300, latency=300)
    h.ticket("c3", t(D1, "12:02"), "resolved")
    h.conv("c4", t(D2, "09:00"))
    h.msg("c4", "visitor", t(D2, "09:00"), "Can I get a refund for my order", "NEGATIVE", 0.2)
    h.msg("c4", "assistant", t(D2, "09:01"), "Perhaps.", confidence=0.3, tokens=400,
          latency=400)
    h.ticket("c4", t(D2, "09:02"), "open")
    h.msg("c4", "agent", t(D2, "09:30"), "Refund issued.")
    h.msg("c4", "agent", t(D2, "09:31"), "internal: checked the order", internal=1)
    h.conv("c5", t(D2, "10:00"), handoff=True)
    h.msg("c5", "visitor", t(D2, "10:00"), "Where is the warranty policy?", "NEUTRAL", 0.5)
    h.msg("c5", "assistant", t(D2, "10:01"), "Maybe here.", confidence=0.4, feedback=-1,
          tokens=500, latency=500)
    h.msg("c5", "system", t(D2, "10:02"), "The visitor asked for a person.")
    h.conv("c6", t(D3, "08:00"))
    h.msg("c6", "visitor", t(D3, "08:00"), "reset my account password please")
    h.msg("c6", "assistant", t(D3, "08:01"), "Use the reset link.", confidence=0.95, feedback=1,
          tokens=600, latency=600)
    h.ticket("c6", t(D3, "08:02"), "closed")
    h.conv("c7", t(D3, "09:00"))
    h.msg("c7", "visitor", t(D3, "09:00"), "hello", "NEUTRAL", 0.5)
    # A conversation just outside the range on each side.
    h.conv("before", t("2026-01-04", "23:59"))
    h.msg("before", "visitor", t("2026-01-04", "23:59"), "reset my password", "POSITIVE", 0.9)
    h.conv("after", t("2026-01-08", "00:00"))
    h.msg("after", "visitor", t("2026-01-08", "00:00"), "reset my password", "POSITIVE", 0.9)

    g = History(s, b.id)
    g.conv("b1", t(D2, "12:00"))
    g.msg("b1", "visitor", t(D2, "12:00"), "Is the Quantum toaster safe?", "POSITIVE", 0.9)
    g.msg("b1", "assistant", t(D2, "12:01"), "Yes.", confidence=0.1, feedback=1, tokens=7,
          latency=7)
    g.ticket("b1", t(D2, "12:05"), "open")
    return h


@pytest.fixture(scope="module")
def env():
    s = support_server(WIDGET_SESSIONS_PER_IP_PER_MINUTE="1000", RATE_LIMIT_WIDGET="1000/60")
    a = make_org(s, "Acme", ACME_DOC, A_ORIGIN)
    b = make_org(s, "Globex", GLOBEX_DOC, B_ORIGIN)
    h = write_history(s, a, b)
    yield s, a, b, h
    assert s.stop() == 0


def get(s, org, role="admin", query=RANGE):
    return s.get("/analytics?" + query, token=org.people[role][1])


def test_exact_figures_over_a_range(env):
    s, a, _, h = env
    r = get(s, a)
    assert r.status == 200, r
    j = r.json
    assert (j["organization_id"], j["from"], j["to"], j["days"]) == (a.id, D1, D3, 3)
    assert j["totals"] == {"conversations": 7, "messages": 14, "visitor_messages": 7,
                           "answers": 6, "agent_messages": 1, "tickets": 3}
    days = j["daily"]
    assert [d["date"] for d in days] == [D1, D2, D3]
    assert [d["conversations"] for d in days] == [3, 2, 2]
    assert [d["messages"] for d in days] == [6, 5, 3]
    assert [d["visitor_messages"] for d in days] == [3, 2, 2]
    assert [d["answers"] for d in days] == [3, 2, 1]
    assert [d["agent_messages"] for d in days] == [0, 1, 0]
    assert [d["sentiment"] for d in days] == [
        {"POSITIVE": 1, "NEUTRAL": 1, "NEGATIVE": 1},
        {"POSITIVE": 0, "NEUTRAL": 1, "NEGATIVE": 1},
        {"POSITIVE": 0, "NEUTRAL": 1, "NEGATIVE": 0}]
    assert [d["average_sentiment"] for d in days] == pytest.approx([1.4 / 3, 0.35, 0.5])
    assert [(d["helpful"], d["not_helpful"]) for d in days] == [(2, 1), (0, 1), (1, 0)]
    assert [d["low_confidence"] for d in days] == [1, 2, 0]
    assert [d["tokens"] for d in days] == [600, 900, 600]

    assert j["escalation"] == {"rate": pytest.approx(3 / 7), "escalated_conversations": 3,
                               "conversations": 7}
    assert j["resolution"] == {"rate": pytest.approx(2 / 3), "resolved_tickets": 2,
                               "tickets": 3, "by_status": {"open": 1, "pending": 0,
                                                           "resolved": 1, "closed": 1}}
    assert j["deflection"] == {"rate": pytest.approx(2 / 7), "deflected_conversations": 2,
                               "answered_conversations": 6, "handoffs": 1, "conversations": 7}
    assert j["sentiment"] == {"distribution": {"POSITIVE": 1, "NEUTRAL": 3, "NEGATIVE": 2,
                                               "unscored": 1},
                              "average_score": pytest.approx(2.6 / 6), "scored": 6}
    assert j["feedback"] == {"helpful": 3, "not_helpful": 2, "helpful_rate": pytest.approx(0.6)}
    # Nearest rank over 100..600: p50 is the 3rd value, p95 the 6th.
    assert j["response_time_ms"] == {"p50": 300, "p95": 600, "answers": 6}
    assert j["tokens"] == {"total": 2100, "average_per_answer": pytest.approx(350),
                           "answers": 6}


def test_top_questions_grouped_by_similarity(env):
    s, a, _, _ = env
    top = get(s, a).json["top_questions"]
    # "reset my account password please" joins the password cluster (Jaccard 2/3); the two
    # refund questions share their words; "hello" has only function words and stands alone.
    assert [(q["question"], q["count"]) for q in top] == [
        ("How do I reset my password?", 3),
        ("I want a refund for my order!", 2),
        ("Where is the warranty policy?", 1),
        ("hello", 1)]
    assert [q["share"] for q in top] == pytest.approx([3 / 7, 2 / 7, 1 / 7, 1 / 7])


def test_low_confidence_answers_are_the_documentation_gaps(env):
    s, a, _, h = env
    low = get(s, a).json["low_confidence"]
    assert low["threshold"] == 0.5 and low["answers"] == 3
    assert low["rate"] == pytest.approx(0.5)
    assert [(q["question"], q["count"]) for q in low["questions"]] == [
        ("I want a refund for my order!", 2), ("Where is the warranty policy?", 1)]
    refund = low["questions"][0]
    assert refund["lowest_confidence"] == pytest.approx(0.2)
    assert refund["last_at"] == t(D2, "09:01") and refund["conversation_id"] == h.ids["c4"]
    # The organization's own threshold (settings.escalation.low_confidence.threshold).
    owner = a.people["owner"][1]
    r = s.patch(f"/organizations/{a.id}", {"settings": {"escalation": {"low_confidence": {"threshold": 0.25}}}},
                token=owner)
    assert r.status == 200, r
    try:
        low = get(s, a).json["low_confidence"]
        assert low["threshold"] == 0.25 and low["answers"] == 1
        assert [(q["question"], q["count"]) for q in low["questions"]] == [
            ("I want a refund for my order!", 1)]
    finally:
        r = s.patch(f"/organizations/{a.id}",
                    {"settings": {"escalation": {"low_confidence": {"threshold": 0.5}}}},
                    token=owner)
        assert r.status == 200, r


def test_organizations_are_isolated(env):
    s, a, b, _ = env
    j = get(s, b).json
    assert j["organization_id"] == b.id
    assert j["totals"] == {"conversations": 1, "messages": 2, "visitor_messages": 1,
                           "answers": 1, "agent_messages": 0, "tickets": 1}
    assert [q["question"] for q in j["top_questions"]] == ["Is the Quantum toaster safe?"]
    assert j["escalation"]["rate"] == 1 and j["response_time_ms"]["p50"] == 7
    # A's admin naming B's organization learns nothing about it.
    r = get(s, a, query=f"{RANGE}&organization_id={b.id}")
    assert r.status == 404 and r.json["code"] == "ORGANIZATION_NOT_FOUND", r
    r = get(s, a, "owner", query=f"{RANGE}&organization_id={b.id}")
    assert r.status == 404, r
    # Naming one's own organization is fine.
    r = get(s, a, query=f"{RANGE}&organization_id={a.id}")
    assert r.status == 200 and r.json["totals"]["conversations"] == 7


def test_who_may_read(env):
    s, a, b, _ = env
    assert s.get("/analytics?" + RANGE).status == 401
    for role in ("agent", "member"):
        r = get(s, a, role)
        assert r.status == 403 and r.json["code"] == "ORG_PERMISSION_DENIED", (role, r)
    r = get(s, a, "owner")
    assert r.status == 200, r
    # Reports are costly: each caller's count against the api rate budget (100 a minute).
    assert r.header("X-RateLimit-Limit") == "100", r
    first = int(r.header("X-RateLimit-Remaining"))
    # (99 again only if the minute's window turned between the two calls)
    assert int(get(s, a, "owner").header("X-RateLimit-Remaining")) in (first - 1, 99)
    # A user in no organization; a platform admin names the organization.
    email = f"loner-{uuid.uuid4().hex[:8]}@example.test"
    s.register(email)
    loner = s.login(email, "password123")
    r = s.get("/analytics?" + RANGE, token=loner)
    assert r.status == 404 and r.json["code"] == "NOT_IN_ORGANIZATION", r
    r = s.get(f"/analytics?{RANGE}&organization_id={a.id}", token=loner)
    assert r.status == 404 and r.json["code"] == "ORGANIZATION_NOT_FOUND", r
    admin = s.login("admin@example.com", "adminpassword123")
    r = s.get(f"/analytics?{RANGE}&organization_id={a.id}", token=admin)
    assert r.status == 200 and r.json["totals"]["conversations"] == 7, r
    r = s.get(f"/analytics?{RANGE}&organization_id={uuid.uuid4()}", token=admin)
    assert r.status == 404, r
    # Without organization_id, the admin's own organization (the demo one).
    r = s.get("/analytics?" + RANGE, token=admin)
    assert r.status == 200 and r.json["organization_id"] not in (a.id, b.id), r
    assert r.json["totals"]["conversations"] == 0
    # A widget session is not a user.
    tok = s.post("/widget/session", {"key": a.key}, headers={"Origin": a.origin}).json
    r = s.get("/analytics?" + RANGE, headers={"Authorization": "Bearer " + tok["session_token"],
                                              "Origin": a.origin})
    assert r.status == 403 and r.json["code"] == "WIDGET_TOKEN_NOT_ALLOWED", r


def test_feature_switch(env):
    s, a, _, _ = env
    owner = a.people["owner"][1]
    r = s.patch(f"/organizations/{a.id}",
                {"settings": {"features_enabled": ["chat", "search", "widget", "tickets"]}},
                token=owner)
    assert r.status == 200, r
    try:
        r = get(s, a)
        assert r.status == 403 and r.json["code"] == "ORG_FEATURE_DISABLED", r
    finally:
        r = s.patch(f"/organizations/{a.id}", {"settings": {"features_enabled": [
            "chat", "search", "analytics", "widget", "tickets"]}}, token=owner)
        assert r.status == 200, r
    assert get(s, a).status == 200


@pytest.mark.parametrize("query,code", [
    ("from=2026-02-30&to=2026-03-01", "INVALID_DATE"),
    ("from=2026-1-5&to=2026-01-07", "INVALID_DATE"),
    ("from=yesterday", "INVALID_DATE"),
    ("to=2026-01-07T00:00", "INVALID_DATE"),
    ("from=2026-01-08&to=2026-01-07", "INVALID_RANGE"),
    ("from=2025-01-01&to=2026-01-02", "RANGE_TOO_LONG"),
])
def test_bad_ranges(env, query, code):
    s, a, _, _ = env
    r = get(s, a, query=query)
    assert r.status == 422 and r.json["code"] == code, r


def test_range_bounds_and_defaults(env):
    s, a, _, _ = env
    r = get(s, a, query="from=2025-01-05&to=2026-01-05")  # 366 days: the most
    assert r.status == 200 and r.json["days"] == 366, r
    assert r.json["totals"]["conversations"] == 4  # "before" and the first day's three
    r = get(s, a, query="from=2026-01-04&to=2026-01-08")
    assert r.json["totals"]["conversations"] == 9
    r = get(s, a, query="")
    assert r.status == 200, r
    today = time.strftime("%Y-%m-%d", time.gmtime())
    assert r.json["days"] == 30 and r.json["to"] == today
    assert r.json["daily"][-1]["date"] == today and len(r.json["daily"]) == 30


def test_widget_conversations_are_counted(env):
    s, a, _, _ = env
    today = time.strftime("%Y-%m-%d", time.gmtime())
    q = f"from={today}&to={today}"
    before = get(s, a, query=q).json
    r = s.post("/widget/session", {"key": a.key}, headers={"Origin": a.origin})
    assert r.status == 201, r
    h = {"Authorization": "Bearer " + r.json["session_token"], "Origin": a.origin}
    ids = []
    for question in ("When do orders ship?", "When will my orders ship?"):
        r = s.post("/widget/message", {"message": question}, headers=h)
        assert r.status == 200, r
        ids.append(r.json["message_id"])
    assert s.post("/widget/feedback", {"message_id": ids[0], "helpful": True},
                  headers=h).status == 200
    assert s.post("/widget/feedback", {"message_id": ids[1], "helpful": False},
                  headers=h).status == 200
    j = get(s, a, query=q).json
    tot, tb = j["totals"], before["totals"]
    assert tot["conversations"] == tb["conversations"] + 1
    assert tot["visitor_messages"] == tb["visitor_messages"] + 2
    assert tot["answers"] == tb["answers"] + 2
    assert j["daily"][0]["messages"] == before["daily"][0]["messages"] + 4
    assert j["feedback"]["helpful"] == before["feedback"]["helpful"] + 1
    assert j["feedback"]["not_helpful"] == before["feedback"]["not_helpful"] + 1
    assert j["deflection"]["answered_conversations"] == \
        before["deflection"]["answered_conversations"] + 1
    # Both questions are about shipping orders: one cluster of two.
    top = {x["question"]: x["count"] for x in j["top_questions"]}
    assert top.get("When do orders ship?") == 2, j["top_questions"]


def test_daily_sums_come_from_covering_indexes(env):
    """The plans of the queries GET /analytics runs for each day (store/analytics.c): the
    sums are read from an index alone, the probes are index seeks, nothing scans a table."""
    s, a, _, _ = env
    if backend() != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's")
    args = (a.id, D1, D2)
    plans = {
        "answers": ("SELECT count(*), sum(CASE WHEN feedback = 1 THEN 1 ELSE 0 END),"
                    " sum(CASE WHEN confidence < 0.5 THEN 1 ELSE 0 END), sum(tokens),"
                    " count(tokens) FROM widget_messages WHERE org_id = ? AND role = 'assistant'"
                    " AND created_at >= ? AND created_at < ?"),
        "visits": ("SELECT count(*), sum(CASE WHEN sentiment_label = 'POSITIVE' THEN 1 ELSE 0"
                   " END), sum(sentiment_score) FROM widget_messages WHERE org_id = ?"
                   " AND role = 'visitor' AND created_at >= ? AND created_at < ?"),
        "conversations": (
            "SELECT count(*), sum(a) FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM"
            " widget_messages m WHERE m.conversation_id = c.id AND m.role = 'assistant')"
            " THEN 1 ELSE 0 END AS a, CASE WHEN EXISTS (SELECT 1 FROM tickets k"
            " WHERE k.conversation_id = c.id) THEN 1 ELSE 0 END AS t"
            " FROM widget_conversations c WHERE c.org_id = ? AND c.created_at >= ?"
            " AND c.created_at < ?) x"),
        "tickets": ("SELECT status, count(*) FROM tickets WHERE organization_id = ?"
                    " AND created_at >= ? AND created_at < ? GROUP BY status"),
    }
    with s.db() as db:
        got = {k: " | ".join(r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + q, args))
               for k, q in plans.items()}
    assert "COVERING INDEX widget_messages_analytics" in got["answers"], got
    assert "COVERING INDEX widget_messages_analytics" in got["visits"], got
    assert "INDEX widget_conversations_org_created" in got["conversations"], got
    assert "COVERING INDEX widget_messages_conv_role" in got["conversations"], got
    assert "COVERING INDEX tickets_org_" in got["tickets"], got  # by status or by time
    assert not any("SCAN" in p.replace("SCAN x", "") for p in got.values()), got


def day_row(s, org_id, day):
    with s.db() as db:
        return tuple(db.execute("SELECT version, built FROM analytics_days WHERE org_id = ?"
                                " AND day = ?", (org_id, day)).fetchone())


def test_day_summaries_follow_every_write(env):
    """A report reads each day's summary (analytics_days) unless a write counted in that day
    came after it. After each kind of write through the API (messages, feedback, an
    escalation, an agent's reply and note, a ticket resolved, a handoff), the report equals a
    recomputation from the raw rows."""
    s, a, _, _ = env
    today = time.strftime("%Y-%m-%d", time.gmtime())
    q = f"from={today}&to={today}"
    before = get(s, a, query=q).json
    version, built = day_row(s, a.id, today)
    assert built == version  # the summary just built is current
    assert get(s, a, query=q).json == before
    assert day_row(s, a.id, today) == (version, built)  # read again, not rebuilt

    def recomputed():
        """The report from the summaries, then from the raw rows (every summary of the
        organization forgotten): equal. The second build leaves the day current."""
        kept = get(s, a, query=q).json
        with s.db() as db:
            db.execute("DELETE FROM analytics_days WHERE org_id = ?", (a.id,))
            if hasattr(db, "commit"):
                db.commit()
        assert get(s, a, query=q).json == kept
        return kept

    r = s.post("/widget/session", {"key": a.key}, headers={"Origin": a.origin})
    assert r.status == 201, r
    recomputed()
    h = {"Authorization": "Bearer " + r.json["session_token"], "Origin": a.origin}
    r = s.post("/widget/message", {"message": "When do orders ship?"}, headers=h)
    assert r.status == 200, r
    recomputed()
    assert s.post("/widget/feedback", {"message_id": r.json["message_id"], "helpful": False},
                  headers=h).status == 200
    recomputed()
    r = s.post("/widget/message", {"message": "I want to talk to a human"}, headers=h)
    assert r.status == 200 and r.json["escalation"], r
    tid = r.json["escalation"]["ticket_id"]
    recomputed()
    agent = a.people["agent"][1]
    assert s.post(f"/tickets/{tid}/messages", {"body": "On it."}, token=agent).status == 201
    recomputed()
    assert s.post(f"/tickets/{tid}/messages", {"body": "note", "internal": True},
                  token=agent).status == 201
    recomputed()
    assert s.patch(f"/tickets/{tid}", {"status": "resolved"}, token=agent).status == 200
    recomputed()
    r = s.post("/widget/session", {"key": a.key}, headers={"Origin": a.origin})
    h2 = {"Authorization": "Bearer " + r.json["session_token"], "Origin": a.origin}
    assert s.post("/widget/message", {"message": "Where is my parcel?"},
                  headers=h2).status == 200
    r = s.post("/widget/handoff", {"email": "ann@customer.test", "message": "call me"},
               headers=h2)
    assert r.status == 200, r
    kept = recomputed()

    tb, tk = before["totals"], kept["totals"]
    assert tk["conversations"] == tb["conversations"] + 2
    assert tk["visitor_messages"] == tb["visitor_messages"] + 3
    assert tk["agent_messages"] == tb["agent_messages"] + 1  # the note is not a message
    assert tk["tickets"] == tb["tickets"] + 2  # the handoff opens one too
    assert kept["resolution"]["by_status"]["resolved"] == \
        before["resolution"]["by_status"]["resolved"] + 1
    assert kept["deflection"]["handoffs"] == before["deflection"]["handoffs"] + 1
    assert kept["escalation"]["escalated_conversations"] == \
        before["escalation"]["escalated_conversations"] + 2
    assert kept["feedback"]["not_helpful"] == before["feedback"]["not_helpful"] + 1
    sent = kept["sentiment"]["distribution"]
    assert sum(sent.values()) == tk["visitor_messages"]
