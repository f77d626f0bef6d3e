"""Escalation into tickets and the agents' ticket routes: a scripted angry conversation
escalates with the right priority and category, keyword / not-helpful / hand-off rules, one
open ticket per conversation, round robin across agents, agents' replies reaching the widget
(internal notes not), the status life cycle with its timestamps, SLA breach flags on the test
clock, settings validation, and an authorization matrix over every ticket route."""
import uuid

import pytest

from support_helpers import code, two_orgs, user

A_ORIGIN = "http://127.0.0.1:8301"
B_ORIGIN = "http://127.0.0.1:8302"
PRIOS = ["LOW", "MEDIUM", "HIGH", "URGENT"]


@pytest.fixture(scope="module")
def env():
    # The owner's token makes many calls here: the per-user allowances are raised.
    s, a, b = two_orgs(A_ORIGIN, B_ORIGIN, WIDGET_SESSIONS_PER_IP_PER_MINUTE="1000",
                       RATE_LIMIT_WIDGET="1000/60", WIDGET_MESSAGES_PER_SESSION_PER_MINUTE="1000",
                       RATE_LIMIT_API="10000/60")
    yield s, a, b
    s.stop()


class Visitor:
    """One widget session of an organization."""

    def __init__(self, s, org):
        self.s, self.org = s, org
        r = s.post("/widget/session", {"key": org.key}, headers={"Origin": org.origin})
        assert r.status == 201, r
        self.token, self.conv = r.json["session_token"], r.json["conversation_id"]
        self.h = {"Authorization": "Bearer " + self.token, "Origin": org.origin}

    def say(self, text):
        r = self.s.post("/widget/message", {"message": text}, headers=self.h)
        assert r.status == 200, r
        return r.json

    def mark(self, mid, helpful):
        r = self.s.post("/widget/feedback", {"message_id": mid, "helpful": helpful}, headers=self.h)
        assert r.status == 200, r
        return r.json

    def conversation(self):
        r = self.s.get("/widget/conversation", headers=self.h)
        assert r.status == 200, r
        return r.json


def owner(org):
    return org.people["owner"][1]


def ticket_of(s, org, conv):
    r = s.get("/tickets?limit=200", token=owner(org))
    assert r.status == 200, r
    found = [t for t in r.json["items"] if t["conversation_id"] == conv]
    assert len(found) <= 1, found
    return found[0] if found else None


def calm_settings(s, org, **rules):
    """Sets the organization's escalation settings (each rule as given, the others off)."""
    esc = {"enabled": True, "assignment": "round_robin"}
    for name in ("sentiment", "human_request", "low_confidence", "not_helpful", "keywords"):
        esc[name] = {"enabled": False}
    esc.update(rules)
    r = s.patch(f"/organizations/{org.id}", {"settings": {"escalation": esc}}, token=owner(org))
    assert r.status == 200, r


def defaults(s, org):
    r = s.patch(f"/organizations/{org.id}", {"settings": {"escalation": {}}}, token=owner(org))
    assert r.status == 200, r


# ---- sentiment on messages ----

def test_each_message_is_scored_and_stored(env):
    s, a, _ = env
    v = Visitor(s, a)
    j = v.say("Thanks! How do I reset the Zephyr blender?")
    assert set(j["sentiment"]) == {"label", "score", "priority"}
    assert j["sentiment"]["label"] in ("POSITIVE", "NEUTRAL", "NEGATIVE")
    assert 0 <= j["sentiment"]["score"] <= 1 and j["sentiment"]["priority"] in PRIOS
    assert isinstance(j["suggested_actions"], list)
    assert j["confidence"] == 0.9 and j["escalation"] is None
    j2 = v.say("This is useless and I am really angry, nothing works!!!")
    assert j2["sentiment"]["label"] == "NEGATIVE"
    assert "offer_human" in j2["suggested_actions"]
    with s.db() as db:
        rows = db.execute("SELECT role, sentiment_label, sentiment_score, sentiment_priority,"
                          " tokens, latency_ms FROM widget_messages WHERE conversation_id = ?"
                          " ORDER BY seq", (v.conv,)).fetchall()
        conv = db.execute("SELECT sentiment_label, sentiment_score, visitor_messages"
                          " FROM widget_conversations WHERE id = ?", (v.conv,)).fetchall()[0]
    assert [r[0] for r in rows] == ["visitor", "assistant", "visitor", "assistant"]
    assert rows[0][1] == j["sentiment"]["label"] and rows[2][1] == "NEGATIVE"
    assert abs(rows[2][2] - j2["sentiment"]["score"]) < 1e-9
    assert rows[1][1] is None and rows[1][4] > 0 and rows[1][5] >= 0  # answer: tokens, time
    assert rows[0][4] is None
    assert conv[0] == "NEGATIVE" and conv[2] == 2
    assert abs(conv[1] - (j["sentiment"]["score"] + j2["sentiment"]["score"]) / 2) < 1e-9


def test_streamed_answer_carries_sentiment_and_actions(env):
    s, a, _ = env
    from kb_helpers import parse_sse
    v = Visitor(s, a)
    r = s.post("/widget/message", {"message": "How do I reset the blender?", "stream": True},
               headers=v.h)
    assert r.status == 200, r
    done = [e for e in parse_sse(r.body)[:-1] if e["type"] == "done"][0]
    assert done["sentiment"]["label"] in ("POSITIVE", "NEUTRAL", "NEGATIVE")
    assert isinstance(done["suggested_actions"], list) and "escalation" in done


# ---- escalation rules ----

ANGRY = [
    "Your blender broke after two days. This is terrible!",
    "I am furious, this is the worst service ever and nobody helps me!!!",
    "Absolutely unacceptable. I hate this product.",
]


def test_angry_conversation_escalates_with_its_priority(env):
    s, a, _ = env
    defaults(s, a)
    v = Visitor(s, a)
    answers = [v.say(t) for t in ANGRY[:2]]
    assert all(x["sentiment"]["label"] == "NEGATIVE" for x in answers), answers
    esc = answers[1]["escalation"]
    assert answers[0]["escalation"] is None
    assert esc and esc["category"] == "sentiment" and esc["new_ticket"] is True, answers[1]
    want = PRIOS[max([PRIOS.index("HIGH")] +
                     [PRIOS.index(x["sentiment"]["priority"]) for x in answers])]
    assert esc["priority"] == want
    assert "offer_human" in answers[1]["suggested_actions"]
    t = ticket_of(s, a, v.conv)
    assert t["id"] == esc["ticket_id"] and t["category"] == "sentiment"
    assert t["priority"] == want and t["status"] == "open"
    assert t["conversation"]["status"] == "escalated"
    assert t["conversation"]["sentiment"]["label"] == "NEGATIVE"
    assert t["subject"] == ANGRY[1]
    # A later trigger does not open a second ticket.
    later = v.say("I want to talk to a human right now")
    assert later["escalation"]["ticket_id"] == t["id"] and later["escalation"]["new_ticket"] is False
    r = s.get(f"/tickets?limit=200", token=owner(a))
    assert [x["conversation_id"] for x in r.json["items"]].count(v.conv) == 1
    full = s.get(f"/tickets/{t['id']}", token=owner(a)).json
    trail = full["sentiment_trail"]
    assert [x["label"] for x in trail][:2] == ["NEGATIVE", "NEGATIVE"] and len(trail) == 3
    assert [m["role"] for m in full["transcript"]][:4] == ["visitor", "assistant"] * 2
    kinds = [e["kind"] for e in full["events"]]
    assert kinds[0] == "created" and ("trigger" in kinds or "priority" in kinds), kinds


def test_keyword_rule(env):
    s, a, _ = env
    calm_settings(s, a, keywords={"enabled": True, "words": ["refund", "data protection"],
                                  "priority": "MEDIUM"})
    try:
        v = Visitor(s, a)
        assert v.say("When do orders ship?")["escalation"] is None
        # Whole words only: "refunds" is not "refund".
        assert v.say("Do you do refunds on blenders?")["escalation"] is None
        j = v.say("I would like a REFUND for my order")
        assert j["escalation"]["category"] == "keyword:refund", j
        t = ticket_of(s, a, v.conv)
        assert t["category"] == "keyword:refund"
        assert PRIOS.index(t["priority"]) >= PRIOS.index("MEDIUM")
        w = Visitor(s, a)
        j = w.say("Question about data protection rules")
        assert j["escalation"]["category"] == "keyword:data protection", j
        r = s.get("/tickets?category=keyword&limit=200", token=owner(a))
        cats = {x["category"] for x in r.json["items"]}
        assert {"keyword:refund", "keyword:data protection"} <= cats and all(
            c.startswith("keyword:") for c in cats)
    finally:
        defaults(s, a)


def test_not_helpful_and_low_confidence_rules(env):
    s, a, _ = env
    calm_settings(s, a, not_helpful={"enabled": True, "count": 2, "priority": "MEDIUM"})
    try:
        v = Visitor(s, a)
        m1 = v.say("When do orders ship?")["message_id"]
        m2 = v.say("How do I reset the blender?")["message_id"]
        assert v.mark(m1, False)["escalation"] is None
        assert v.mark(m1, True)["escalation"] is None  # changed its mind
        assert v.mark(m1, False)["escalation"] is None
        j = v.mark(m2, False)
        assert j["escalation"]["category"] == "not_helpful" and j["escalation"]["new_ticket"], j
        assert ticket_of(s, a, v.conv)["category"] == "not_helpful"
    finally:
        defaults(s, a)
    # Low confidence: every answer's confidence is below a threshold of 1.0.
    calm_settings(s, a, low_confidence={"enabled": True, "threshold": 1.0, "consecutive": 2})
    try:
        v = Visitor(s, a)
        j1 = v.say("When do orders ship?")
        assert j1["escalation"] is None and "ask_clarifying_question" in j1["suggested_actions"]
        j2 = v.say("And the warranty?")
        assert j2["escalation"]["category"] == "low_confidence", j2
    finally:
        defaults(s, a)


def test_handoff_and_human_phrases(env):
    s, a, _ = env
    v = Visitor(s, a)
    v.say("When do orders ship?")
    r = s.post("/widget/handoff", {"email": "dora@customer.test", "message": "call me"},
               headers=v.h)
    assert r.status == 200 and r.json["conversation_status"] == "handoff_requested", r
    assert r.json["escalation"]["category"] == "human_request"
    t = ticket_of(s, a, v.conv)
    assert t["category"] == "human_request" and t["conversation"]["contact_email"] == \
        "dora@customer.test"
    w = Visitor(s, a)
    j = w.say("Can I speak to a real person please?")
    assert j["escalation"] and j["escalation"]["category"] == "human_request", j
    assert ticket_of(s, a, w.conv)["conversation"]["status"] == "escalated"


def test_no_ticket_when_the_organization_turns_tickets_off(env):
    s, a, _ = env
    feats = ["chat", "search", "analytics", "widget"]
    r = s.patch(f"/organizations/{a.id}", {"settings": {"features_enabled": feats}},
                token=owner(a))
    assert r.status == 200, r
    try:
        v = Visitor(s, a)
        j = v.say("I want to talk to a human")
        assert j["escalation"]["category"] == "human_request", j
        assert j["escalation"]["ticket_id"] is None and j["escalation"]["new_ticket"] is False
        assert v.conversation()["status"] == "escalated"
        assert ticket_of(s, a, v.conv) is None
    finally:
        r = s.patch(f"/organizations/{a.id}", {"settings": {"features_enabled": feats + [
            "tickets"]}}, token=owner(a))
        assert r.status == 200, r


def test_round_robin_across_two_agents(env):
    s, a, _ = env
    tag = uuid.uuid4().hex[:6]
    uid, tok = user(s, f"agent2-{tag}@acme.test")
    r = s.post(f"/organizations/{a.id}/members", {"email": f"agent2-{tag}@acme.test",
                                                   "role": "agent"}, token=owner(a))
    assert r.status == 201, r
    calm_settings(s, a, keywords={"enabled": True, "words": ["escalate"]})
    try:
        got = []
        for _ in range(4):
            v = Visitor(s, a)
            j = v.say("please escalate this")
            assert j["escalation"]["new_ticket"], j
            got.append(ticket_of(s, a, v.conv)["assigned_to"])
        agents = {a.people["agent"][0], uid}
        assert set(got) == agents, got
        assert got[0] != got[1] and got[0] == got[2] and got[1] == got[3], got
        # assignee filters
        mine = s.get("/tickets?assignee=me&limit=200", token=tok).json["items"]
        assert mine and all(t["assigned_to"] == uid for t in mine)
        r = s.get(f"/tickets?assignee={uid}&category=keyword:escalate", token=owner(a))
        assert r.json["total"] == 2, r
        r = s.get(f"/tickets?assignee={uid}&category=keyword:escalate&limit=1&offset=1",
                  token=owner(a))
        assert r.json["total"] == 2 and len(r.json["items"]) == 1, r
        r = s.get(f"/tickets?assignee={uid}&category=keyword:escalate&offset=9", token=owner(a))
        assert r.json["total"] == 2 and r.json["items"] == [], r  # a page past the end
        # unassigned mode
        calm_settings(s, a, keywords={"enabled": True, "words": ["escalate"]})
        r = s.patch(f"/organizations/{a.id}", {"settings": {"escalation": {
            "assignment": "unassigned", "keywords": {"words": ["escalate"]}}}}, token=owner(a))
        assert r.status == 200, r
        v = Visitor(s, a)
        v.say("please escalate this")
        t = ticket_of(s, a, v.conv)
        assert t["assigned_to"] is None
        none = s.get("/tickets?assignee=none&limit=200", token=owner(a)).json["items"]
        assert t["id"] in [x["id"] for x in none]
        assert all(x["assigned_to"] is None for x in none)
    finally:
        s.delete(f"/organizations/{a.id}/members/{uid}", token=owner(a))
        defaults(s, a)


# ---- agents at work ----

def escalated(s, org, text="I want to talk to a human"):
    v = Visitor(s, org)
    j = v.say(text)
    assert j["escalation"], j
    return v, j["escalation"]["ticket_id"]


def test_agent_reply_reaches_the_widget_and_notes_do_not(env):
    s, a, _ = env
    v, tid = escalated(s, a)
    agent = a.people["agent"][1]
    t0 = s.get(f"/tickets/{tid}", token=agent).json
    assert t0["first_response_at"] is None
    r = s.post(f"/tickets/{tid}/messages", {"body": "Internal: check the order", "internal": True},
               token=agent)
    assert r.status == 201 and r.json["internal"] is True, r
    assert r.json["ticket"]["first_response_at"] is None
    r = s.post(f"/tickets/{tid}/messages", {"body": "Hello, this is Dana from Acme."},
               token=agent)
    assert r.status == 201, r
    first = r.json["ticket"]["first_response_at"]
    assert first
    r = s.post(f"/tickets/{tid}/messages", {"body": "Anything else?"}, token=agent)
    assert r.json["ticket"]["first_response_at"] == first
    msgs = v.conversation()["messages"]
    agent_msgs = [m["body"] for m in msgs if m["role"] == "agent"]
    assert agent_msgs == ["Hello, this is Dana from Acme.", "Anything else?"]
    assert all("Internal" not in m["body"] for m in msgs)
    full = s.get(f"/tickets/{tid}", token=agent).json
    notes = [m for m in full["transcript"] if m["internal"]]
    assert [m["body"] for m in notes] == ["Internal: check the order"]
    assert notes[0]["author_id"] == a.people["agent"][0]
    assert s.post(f"/tickets/{tid}/messages", {"body": ""}, token=agent).status == 422
    # text search over the transcript
    r = s.get("/tickets?q=dana%20from", token=agent)
    assert [t["id"] for t in r.json["items"]] == [tid], r


def test_status_life_cycle(env):
    s, a, _ = env
    _, tid = escalated(s, a)
    tok = a.people["admin"][1]

    def patch(body):
        return s.patch(f"/tickets/{tid}", body, token=tok)

    r = patch({"status": "pending"})
    assert r.status == 200 and r.json["status"] == "pending", r
    assert r.json["resolved_at"] is None
    r = patch({"status": "resolved"})
    assert r.status == 200 and r.json["resolved_at"] and r.json["closed_at"] is None, r
    resolved_at = r.json["resolved_at"]
    r = patch({"status": "pending"})
    assert r.status == 409 and code(r) == "INVALID_STATUS_TRANSITION", r
    r = patch({"status": "closed"})
    assert r.status == 200 and r.json["closed_at"] and r.json["resolved_at"] == resolved_at, r
    for bad in ("pending", "resolved"):
        r = patch({"status": bad})
        assert r.status == 409 and code(r) == "INVALID_STATUS_TRANSITION", r
    r = s.post(f"/tickets/{tid}/messages", {"body": "late"}, token=tok)
    assert r.status == 409 and code(r) == "TICKET_CLOSED", r
    assert patch({"status": "archived"}).status == 422
    assert patch({}).status == 422
    assert patch({"priority": "SEVERE"}).status == 422
    r = patch({"status": "open", "priority": "URGENT"})
    assert r.status == 200 and r.json["status"] == "open" and r.json["priority"] == "URGENT", r
    assert r.json["resolved_at"] is None and r.json["closed_at"] is None
    statuses = [(e["from"], e["to"]) for e in r.json["events"] if e["kind"] == "status"]
    assert statuses == [("open", "pending"), ("pending", "resolved"), ("resolved", "closed"),
                        ("closed", "open")], statuses
    # assignment: an agent of the organization, "me", null; nobody else
    r = patch({"assigned_to": a.people["member"][0]})
    assert r.status == 422, r
    r = patch({"assigned_to": "me"})
    assert r.status == 200 and r.json["assigned_to"] == a.people["admin"][0], r
    r = patch({"assigned_to": None})
    assert r.status == 200 and r.json["assigned_to"] is None, r
    b = env[2]
    assert patch({"assigned_to": b.people["agent"][0]}).status == 422
    r = s.get("/tickets?status=open&priority=URGENT&limit=200", token=tok)
    assert tid in [t["id"] for t in r.json["items"]]
    assert all(t["status"] == "open" and t["priority"] == "URGENT" for t in r.json["items"])
    assert s.get("/tickets?status=nope", token=tok).status == 422
    assert s.get("/tickets?assignee=someone", token=tok).status == 422


def test_sla_targets_and_breaches(env):
    s, a, _ = env
    r = s.patch(f"/organizations/{a.id}", {"settings": {"sla": {
        "first_response_minutes": {"LOW": 5, "MEDIUM": 5, "HIGH": 5, "URGENT": 5},
        "resolution_minutes": {"LOW": 60, "MEDIUM": 60, "HIGH": 60, "URGENT": 60}}}},
        token=owner(a))
    assert r.status == 200, r
    admin = s.login("admin@example.com", "adminpassword123")
    _, answered = escalated(s, a)
    _, ignored = escalated(s, a)
    try:
        t = s.get(f"/tickets/{ignored}", token=owner(a)).json
        sla = t["sla"]
        assert sla["first_response_breached"] is False and sla["resolution_breached"] is False
        assert sla["first_response_due_at"] > t["created_at"]
        assert s.post(f"/tickets/{answered}/messages", {"body": "On it"},
                      token=owner(a)).status == 201
        assert s.post("/admin/test/clock", {"offset_ms": 10 * 60000}, token=admin).status == 200
        t = s.get(f"/tickets/{ignored}", token=owner(a)).json["sla"]
        assert t["first_response_breached"] is True and t["resolution_breached"] is False
        t = s.get(f"/tickets/{answered}", token=owner(a)).json["sla"]
        assert t["first_response_breached"] is False
        assert s.post("/admin/test/clock", {"offset_ms": 90 * 60000}, token=admin).status == 200
        fresh = s.login(a.people["owner"][2], "password123")  # access tokens age too
        t = s.get(f"/tickets/{answered}", token=fresh).json["sla"]
        assert t["resolution_breached"] is True
    finally:
        admin = s.login("admin@example.com", "adminpassword123")
        assert s.post("/admin/test/clock", {"offset_ms": 0}, token=admin).status == 200
        r = s.patch(f"/organizations/{a.id}", {"settings": {"sla": {}}}, token=owner(a))
        assert r.status == 200, r


@pytest.mark.parametrize("settings,field", [
    ({"escalation": {"sentiment": {"threshold": -2}}}, "settings.escalation.sentiment.threshold"),
    ({"escalation": {"sentiment": {"consecutive": 0}}},
     "settings.escalation.sentiment.consecutive"),
    ({"escalation": {"keywords": {"words": ["ok", "<b>"]}}}, "settings.escalation.keywords.words"),
    ({"escalation": {"not_helpful": {"priority": "LOUD"}}},
     "settings.escalation.not_helpful.priority"),
    ({"escalation": {"assignment": "random"}}, "settings.escalation.assignment"),
    ({"escalation": {"bogus": 1}}, "settings.escalation"),
    ({"escalation": []}, "settings.escalation"),
    ({"sla": {"first_response_minutes": {"HIGH": 0}}}, "settings.sla.first_response_minutes"),
    ({"sla": {"resolution_minutes": {"SOON": 5}}}, "settings.sla.resolution_minutes"),
    ({"sla": {"other": {}}}, "settings.sla"),
])
def test_settings_are_validated(env, settings, field):
    s, a, _ = env
    r = s.patch(f"/organizations/{a.id}", {"settings": settings}, token=owner(a))
    assert r.status == 422 and r.json["field"] == field, r


def test_notification_is_emitted(env):
    s, a, _ = env
    _, tid = escalated(s, a)
    with s.db() as db:
        rows = db.execute("SELECT event, urgency, payload FROM notification_outbox"
                          " WHERE event = 'ticket_created'").fetchall()
    mine = [row for row in rows if tid in row[2]]
    assert len(mine) == 1 and mine[0][1] == "medium", rows
    assert a.id in mine[0][2] and "human_request" in mine[0][2]


# ---- access ----

def test_authorization_matrix(env):
    s, a, b = env
    _, tid = escalated(s, a)
    visitor = Visitor(s, a)
    uid, no_org = user(s, f"loner-{uuid.uuid4().hex[:6]}@nowhere.test")
    callers = {role: a.people[role][1] for role in ("owner", "admin", "agent", "member")}
    callers["other_org_owner"] = owner(b)
    callers["other_org_agent"] = b.people["agent"][1]
    callers["no_org_user"] = no_org
    callers["anonymous"] = None
    callers["widget_token"] = visitor.token
    routes = [
        ("GET", lambda: "/tickets", None),
        ("GET", lambda: f"/tickets/{tid}", None),
        ("PATCH", lambda: f"/tickets/{tid}", lambda: {"priority": "HIGH"}),
        ("POST", lambda: f"/tickets/{tid}/messages", lambda: {"body": "hi", "internal": True}),
    ]
    violations, checked = [], 0
    for method, path, body in routes:
        for who, tok in callers.items():
            headers = None
            if who == "widget_token":
                headers = {"Authorization": "Bearer " + tok, "Origin": a.origin}
                tok = None
            r = s.request(method, path(), body=body() if body else None, token=tok,
                          headers=headers)
            checked += 1
            listing = path() == "/tickets"
            if who == "anonymous":
                ok = r.status == 401
            elif who == "widget_token":
                ok = r.status == 403 and code(r) == "WIDGET_TOKEN_NOT_ALLOWED"
            elif who in ("owner", "admin", "agent"):
                ok = 200 <= r.status < 300
                if ok and listing:
                    ok = tid in [t["id"] for t in r.json["items"]]
            elif who == "member":
                ok = r.status == 403 and code(r) == "ORG_PERMISSION_DENIED"
            elif who.startswith("other_org"):
                if listing:  # their own organization's tickets, never Acme's
                    ok = r.status == 200 and all(t["organization_id"] == b.id
                                                 for t in r.json["items"])
                else:
                    ok = r.status == 404 and code(r) == "TICKET_NOT_FOUND"
            else:  # no organization at all
                ok = (r.status == 404 and code(r) == "NOT_IN_ORGANIZATION") if listing else \
                    (r.status == 404 and code(r) == "TICKET_NOT_FOUND")
            if not ok:
                violations.append((method, path(), who, r.status, r.body[:160]))
    # Foreign organization ids and made-up ticket ids.
    for who in ("other_org_owner", "member", "no_org_user"):
        r = s.get(f"/tickets?organization_id={a.id if who != 'member' else b.id}",
                  token=callers[who])
        checked += 1
        if not (r.status == 404 and code(r) == "ORGANIZATION_NOT_FOUND"):
            violations.append(("GET", "/tickets?organization_id", who, r.status))
    r = s.get(f"/tickets/{uuid.uuid4()}", token=callers["owner"])
    checked += 1
    if r.status != 404:
        violations.append(("GET", "/tickets/<unknown>", "owner", r.status))
    assert violations == []
    assert checked == len(routes) * len(callers) + 4
    # A platform admin (tickets.manage) reaches every organization's tickets.
    admin = s.login("admin@example.com", "adminpassword123")
    r = s.get("/tickets?limit=200", token=admin)
    assert r.status == 200 and {t["organization_id"] for t in r.json["items"]} >= {a.id}, r
    assert s.get(f"/tickets?organization_id={b.id}", token=admin).status == 200
    assert s.get(f"/tickets/{tid}", token=admin).status == 200


def test_every_ticket_route_is_in_the_matrix(env):
    s, _, _ = env
    doc = s.get("/openapi.json").json
    ops = {(m.upper(), p) for p, item in doc["paths"].items() for m in item
           if p.startswith("/tickets")}
    assert ops == {("GET", "/tickets"), ("GET", "/tickets/{id}"), ("PATCH", "/tickets/{id}"),
                   ("POST", "/tickets/{id}/messages")}, ops
