"""Shared set-up for the support-desk tests: two organizations, each with members of every
role, a document of its own and a publishable widget key."""
import uuid

from kb_helpers import upload_ready
from ragd_client import Server

ROLES = ("owner", "admin", "agent", "member")

ACME_DOC = ("# Acme support\n\nThe Zephyr blender carries a seven year warranty. To reset the "
            "Zephyr blender, hold the pulse button for ten seconds. Acme ships orders within "
            "two business days.")
GLOBEX_DOC = ("# Globex help\n\nThe Quantum toaster carries a two year warranty. Globex refunds "
              "toasters returned within thirty days. The Quantum toaster needs a firmware "
              "update every spring.")


def support_server(**env):
    base = {"RAGD_TEST_MODE": "1", "LOGIN_MAX_ATTEMPTS_PER_IP": "100000",
            "SEED_DEMO_DOCS": "false"}
    base.update(env)
    return Server(env=base)


def user(server, email):
    reg = server.register(email)
    return reg["user_id"], server.login(email, "password123")


class Org:
    def __init__(self, id, name, people, doc_id, origin, key, key_id):
        self.id, self.name, self.people, self.doc_id = id, name, people, doc_id
        self.origin, self.key, self.key_id = origin, key, key_id


def make_org(server, name, doc, origin):
    """An organization with an owner, admin, agent and member, one ready document uploaded by
    its owner and a publishable key for origin. people: role -> (user_id, token, email)."""
    tag = uuid.uuid4().hex[:8]
    people = {}
    for role in ROLES:
        email = f"{role}-{tag}@{name.lower()}.test"
        uid, tok = user(server, email)
        people[role] = (uid, tok, email)
    owner_tok = people["owner"][1]
    r = server.post("/organizations", {"name": name}, token=owner_tok)
    assert r.status == 201, r
    org_id = r.json["id"]
    assert r.json["your_role"] == "owner"
    for role in ("admin", "agent", "member"):
        r = server.post(f"/organizations/{org_id}/members",
                        {"email": people[role][2], "role": role}, token=owner_tok)
        assert r.status == 201 and r.json["status"] == "added", r
    d = upload_ready(server, owner_tok, doc, title=f"{name} handbook")
    assert d["status"] in ("ready", "completed", "processed"), d
    assert d["organization_id"] == org_id, d
    r = server.post(f"/organizations/{org_id}/widget-keys",
                    {"name": "site", "allowed_origins": [origin]}, token=owner_tok)
    assert r.status == 201, r
    assert r.json["key"].startswith("pk_")
    return Org(org_id, name, people, d["id"], origin, r.json["key"], r.json["id"])


def two_orgs(a_origin, b_origin, **env):
    """A support server (env overrides its settings) with the organizations Acme (its widget
    allowed from a_origin) and Globex (from b_origin): (server, acme, globex)."""
    s = support_server(**env)
    return s, make_org(s, "Acme", ACME_DOC, a_origin), make_org(s, "Globex", GLOBEX_DOC, b_origin)


def code(r):
    """The machine-readable error code of a response, or None."""
    return (r.json or {}).get("code")
