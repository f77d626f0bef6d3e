"""Synthetic support-desk traffic written straight into a ragd SQLite database, for the
analytics benchmark: widget conversations of some organizations spread over a number of days,
each with visitor questions (drawn from a few dozen topics, phrased in several ways so that the
similarity grouping has something to group), answers with confidence, tokens, response time
and feedback, sentiment on the visitor messages, hand-offs and tickets.

    python3 bench/analytics_data.py DB ORG_ID[,ORG_ID...] MESSAGES DAYS

The organizations must exist (the benchmark creates them through the API first). Rows are
inserted in time order in large transactions with synchronous off: about 1M messages a
minute on one core."""
import random
import sqlite3
import sys
import time
import uuid

TOPICS = [
    "reset my password", "cancel my subscription", "change the billing address",
    "download an invoice", "update my credit card", "track my order", "return a product",
    "get a refund", "change the delivery address", "delete my account", "export my data",
    "enable two factor authentication", "invite a colleague", "change my email address",
    "upgrade my plan", "downgrade my plan", "contact a person", "reset the blender",
    "find the warranty terms", "pay by bank transfer", "use a discount code",
    "change the language", "connect the mobile app", "recover a deleted file",
    "set up single sign on", "increase the upload limit", "see my usage", "close my store",
    "add a team member", "remove a team member", "change the shipping method",
    "report a bug", "request a feature", "get an api key", "rotate an api key",
    "configure webhooks", "book a demo", "pause my subscription", "merge two accounts",
    "change the time zone",
]
FORMS = ["how do i {}?", "How can I {}", "i want to {}", "I need to {} please",
         "can you help me {}?", "how to {}", "What is the way to {}?", "{} - how?"]
LABELS = [("POSITIVE", 0.25, (0.6, 0.95)), ("NEUTRAL", 0.55, (0.4, 0.6)),
          ("NEGATIVE", 0.20, (0.05, 0.4))]


def pick_label(rng):
    x = rng.random()
    for name, share, (lo, hi) in LABELS:
        if x < share:
            return name, round(rng.uniform(lo, hi), 3)
        x -= share
    return "NEUTRAL", 0.5


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + ".%03dZ" % int(ts * 1000 % 1000)


def generate(db_path, orgs, messages, days, end=None, seed=1):
    rng = random.Random(seed)
    end = end or time.time()
    start = end - days * 86400
    n_conv = max(1, messages // 10)  # five questions and five answers each
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA journal_mode=WAL")
    convs, msgs, tickets = [], [], []
    stamps = sorted(rng.uniform(start, end - 3600) for _ in range(n_conv))
    written = 0

    def flush():
        db.executemany(
            "INSERT INTO widget_conversations (id, org_id, visitor_id, origin, status, priority,"
            " handoff_requested_at, created_at, updated_at, sentiment_label, sentiment_score,"
            " visitor_messages) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", convs)
        db.executemany(
            "INSERT INTO widget_messages (id, conversation_id, org_id, role, body, confidence,"
            " feedback, created_at, seq, sentiment_label, sentiment_score, sentiment_priority,"
            " tokens, latency_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", msgs)
        db.executemany(
            "INSERT INTO tickets (id, conversation_id, organization_id, category, status,"
            " priority, created_at, updated_at, resolved_at) VALUES (?,?,?,?,?,?,?,?,?)",
            tickets)
        db.commit()
        convs.clear()
        msgs.clear()
        tickets.clear()

    for i, t0 in enumerate(stamps):
        org = orgs[i % len(orgs)]
        cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        t = t0
        scores = []
        label = "NEUTRAL"
        for k in range(5):
            topic = TOPICS[min(int(rng.expovariate(0.12)), len(TOPICS) - 1)]
            body = rng.choice(FORMS).format(topic)
            label, score = pick_label(rng)
            scores.append(score)
            prio = "HIGH" if label == "NEGATIVE" else "LOW" if label == "POSITIVE" else "MEDIUM"
            msgs.append((str(uuid.UUID(int=rng.getrandbits(128), version=4)), cid, org,
                         "visitor", body, None, None, iso(t), 2 * k + 1, label, score, prio,
                         None, None))
            lat = int(rng.lognormvariate(6.5, 0.5))
            t += lat / 1000.0
            conf = 0.3 if rng.random() < 0.2 else 0.9
            fb = rng.choice((1, 1, 1, -1)) if rng.random() < 0.3 else None
            msgs.append((str(uuid.UUID(int=rng.getrandbits(128), version=4)), cid, org,
                         "assistant", "Here is how to " + topic + ".", conf, fb, iso(t),
                         2 * k + 2, None, None, None, rng.randint(50, 400), lat))
            t += rng.uniform(5, 60)
        status, handoff = "open", None
        if rng.random() < 0.08:
            status = "escalated"
            st = rng.choice(("open", "pending", "resolved", "closed", "resolved"))
            tickets.append((str(uuid.UUID(int=rng.getrandbits(128), version=4)), cid, org,
                            "general", st, "HIGH", iso(t), iso(t),
                            iso(t + 3600) if st in ("resolved", "closed") else None))
        elif rng.random() < 0.03:
            status, handoff = "handoff_requested", iso(t)
        convs.append((cid, org, "v-%d" % i, "https://bench.example", status, None, handoff,
                      iso(t0), iso(t), label, round(sum(scores) / len(scores), 3), 5))
        written += 10
        if len(msgs) >= 100000:
            flush()
    flush()
    db.close()
    return written


if __name__ == "__main__":
    n = generate(sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4]))
    print(f"{n} messages written")
