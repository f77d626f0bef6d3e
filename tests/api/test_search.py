"""Search routes (vector / exact / hybrid / auto), filters, fallbacks and caches. Vector search
runs against a real HTTP embeddings peer (tests/api/upstreams.py)."""
import uuid

import pytest

from kb_helpers import private_server, search, upload_ready
from upstreams import Upstream


def unique():
    return "w" + uuid.uuid4().hex[:10]


def test_without_embedder_vector_is_unavailable_and_auto_is_lexical(server, pro_token):
    word = unique()
    upload_ready(server, pro_token, f"The {word} gearbox needs oil every year.")
    r = server.post("/search", {"query": word, "route": "vector"}, token=pro_token)
    assert r.status == 503 and r.json["code"] == "VECTOR_SEARCH_UNAVAILABLE", r
    res = search(server, pro_token, f"how often does the {word} gearbox need oil", route="auto")
    assert res["search_type"] == "exact" and res["methods_used"] == ["keyword"]
    assert res["results"] and word in res["results"][0]["content"]
    sem = search(server, pro_token, word, path="/search/semantic", top_k=3)
    assert sem["search_type"] == "exact" and sem["fallback"] is True
    assert isinstance(sem["processing_time_ms"], float) and sem["results"]
    r0 = sem["results"][0]
    for k in ("document_id", "chunk_id", "title", "content", "score", "source", "metadata"):
        assert k in r0
    hyb = search(server, pro_token, word, path="/search/hybrid")
    assert hyb["methods_used"] == ["keyword"] and hyb["fallback"] is True
    h = server.get("/health/detailed").json["services"]
    assert h["indexes"]["vector_search"] is False
    assert h["models"]["embedder"]["status"] == "not_configured"


def test_filters(server, pro_token):
    word = unique()
    a = upload_ready(server, pro_token, f"{word} alpha notes", category="cat-a", tags=["x", "y"],
                     source="a.md")
    b = upload_ready(server, pro_token, f"{word} beta notes", category="cat-b", tags=["z"],
                     source="b.md")
    ids = lambda res: {h["document_id"] for h in res["results"]}
    assert ids(search(server, pro_token, word, route="exact")) >= {a["id"], b["id"]}
    assert ids(search(server, pro_token, word, route="exact",
                      filters={"category": "cat-a"})) == {a["id"]}
    assert ids(search(server, pro_token, word, route="exact",
                      filters={"category": ["cat-a", "cat-b"]})) == {a["id"], b["id"]}
    assert ids(search(server, pro_token, word, route="exact", filters={"tags": "z"})) == {b["id"]}
    assert ids(search(server, pro_token, word, route="exact",
                      filters={"tags": ["y", "q"]})) == {a["id"]}
    assert ids(search(server, pro_token, word, route="exact", filters={"source": "b.md"})) == \
        {b["id"]}
    assert ids(search(server, pro_token, word, route="exact",
                      filters={"document_id": a["id"]})) == {a["id"]}
    assert ids(search(server, pro_token, word, route="exact",
                      filters={"category": "cat-a", "tags": "z"})) == set()
    assert ids(search(server, pro_token, word, route="exact", filters={"shared": True})) == set()
    for bad, field in (({"colour": "red"}, "filters"), ({"tags": 3}, "filters.tags"),
                       ({"category": [1]}, "filters.category"),
                       ({"shared": "yes"}, "filters.shared")):
        r = server.post("/search", {"query": word, "filters": bad}, token=pro_token)
        assert r.status == 422 and r.json["field"] == field, (bad, r)


def test_search_validation(server, pro_token):
    for body, field in (({}, "query"), ({"query": ""}, "query"), ({"query": "x", "top_k": 0},
                        "top_k"), ({"query": "x", "top_k": 101}, "top_k"),
                        ({"query": "x", "route": "psychic"}, "route"),
                        ({"query": "x" * 10001}, "query")):
        r = server.post("/search", body, token=pro_token)
        assert r.status == 422 and r.json["field"] == field, (body, r)
    for w in ({"vector": -1}, {"vector": 0, "keyword": 0}, {"colour": 1}, {"vector": "a"}):
        r = server.post("/search/hybrid", {"query": "x", "weights": w}, token=pro_token)
        assert r.status == 422 and r.json["field"] == "weights", (w, r)
    assert server.post("/search", {"query": "x"}).status == 401


def test_top_k_and_result_order(server, pro_token):
    word = unique()
    for i in range(6):
        upload_ready(server, pro_token, f"{word} " * (i + 1) + f"filler text number {i}.")
    res = search(server, pro_token, word, route="exact", top_k=4)["results"]
    assert len(res) == 4
    scores = [h["score"] for h in res]
    assert scores == sorted(scores, reverse=True)


@pytest.fixture(scope="module")
def vec():
    up = Upstream(dim=64)
    s = private_server(EMBEDDING_API_BASE=up.base, EMBEDDING_DIMENSION="64",
                       EMBEDDING_MODEL="hash-bow-64", EMBEDDING_API_KEY="sk-test-embed")
    tok = s.login("admin@example.com", "adminpassword123")
    yield s, tok, up
    s.stop()
    up.close()


def test_vector_route_with_embedder(vec):
    s, tok, up = vec
    d1 = upload_ready(s, tok, "Photosynthesis converts light energy into chemical energy in "
                              "plants.", category="bio")
    d2 = upload_ready(s, tok, "The stock market closed higher after the interest rate "
                              "decision.", category="fin")
    assert d1["status"] == "ready" and d1["error"] is None
    assert any(p.endswith("/embeddings") for p in up.paths())
    assert up.requests[-1][2] == "Bearer sk-test-embed"
    res = search(s, tok, "light energy plants", route="vector", top_k=2)
    assert res["search_type"] == "vector" and res["methods_used"] == ["vector"]
    assert res["results"][0]["document_id"] == d1["id"]
    assert -1 <= res["results"][0]["score"] <= 1
    sem = search(s, tok, "interest rate market", path="/search/semantic", top_k=1)
    assert sem["search_type"] == "vector" and sem["fallback"] is False
    assert sem["results"][0]["document_id"] == d2["id"]
    filt = search(s, tok, "light energy plants", route="vector", filters={"category": "fin"})
    assert [h["document_id"] for h in filt["results"]] == [d2["id"]]
    hyb = search(s, tok, "chemical energy", path="/search/hybrid",
                 weights={"vector": 0.3, "keyword": 0.7})
    assert set(hyb["methods_used"]) == {"vector", "keyword"}
    assert hyb["results"][0]["document_id"] == d1["id"]
    assert set(hyb["results"][0]["scores"]) == {"vector", "keyword"}
    h = s.get("/health/detailed", token=s.login("admin@example.com", "adminpassword123")).json["services"]
    assert h["indexes"]["vector_search"] is True and h["indexes"]["vectors"] >= 2


def test_auto_route_picks_by_query_shape(vec):
    s, tok, _ = vec
    upload_ready(s, tok, "Error code E11.9 means the sensor is disconnected.")
    assert search(s, tok, "E11.9", route="auto")["search_type"] == "exact"
    assert search(s, tok, '"sensor is disconnected"', route="auto")["search_type"] == "exact"
    long_q = search(s, tok, "what does it mean when the sensor shows an error", route="auto")
    assert long_q["search_type"] == "hybrid"


def test_query_embeddings_are_cached(vec):
    s, tok, up = vec
    q = "unique cached question about " + unique()
    search(s, tok, q, route="vector")
    n = len(up.requests)
    search(s, tok, q, route="vector", top_k=3)  # another search, same text: no new embedding
    assert len(up.requests) == n


def test_embedder_down_degrades_to_lexical(vec):
    s, tok, up = vec
    word = unique()
    upload_ready(s, tok, f"Lexical survivor {word}.")
    up.fail = True
    try:
        hyb = search(s, tok, f"{word} survivor", path="/search/hybrid")
        assert hyb["fallback"] is True and hyb["methods_used"] == ["keyword"]
        assert hyb["results"]
        r = s.post("/search", {"query": f"{word} other", "route": "vector"}, token=tok)
        assert r.status == 503
        d = upload_ready(s, tok, f"Ingested while the embedder is down {word}.")
        assert d["status"] == "ready" and "lexical" in d["error"]
        assert search(s, tok, "embedder down " + word, route="exact")["results"]
    finally:
        up.fail = False


def test_anonymous_health_hides_corpus_sizes(server, pro_token, admin_token):
    """Corpus figures move when another tenant's private upload is indexed: only
    administrators see them; anonymous callers and users get the status alone."""
    upload_ready(server, pro_token, f"{uuid.uuid4().hex} private corpus note")
    sizes = ("chunks", "chunks_stored", "bm25_terms", "vectors", "search_cache",
             "embedding_cache")
    for tok in (None, pro_token):
        ix = server.get("/health/detailed", token=tok).json["services"]["indexes"]
        assert ix["status"] == "healthy", ix
        assert not set(sizes) & set(ix), ix
    ix = server.get("/health/detailed", token=admin_token).json["services"]["indexes"]
    assert ix["chunks"] >= 1 and ix["chunks_stored"] >= 1 and "bm25_terms" in ix, ix


def test_scores_depend_only_on_what_the_caller_may_see():
    """Another tenant's private documents containing a word must not move a user's score for
    it (BM25 statistics over the caller's visible documents only)."""
    from billing_helpers import new_user
    s = private_server(RATE_LIMIT_API="100000/60", RATE_LIMIT_SEARCH="100000/60")
    try:
        word = "zq" + uuid.uuid4().hex[:8]
        _, me = new_user(s, f"me-{uuid.uuid4().hex[:8]}@example.com", "enterprise")
        _, other = new_user(s, f"other-{uuid.uuid4().hex[:8]}@example.com", "enterprise")
        mine = upload_ready(s, me, f"My notes mention {word} once among other words here.")
        upload_ready(s, me, "Unrelated notes about gardening and tomatoes.")

        def my_score():
            hits = search(s, me, word, route="exact")["results"]
            assert [h["document_id"] for h in hits] == [mine["id"]], hits
            return hits[0]["score"]

        before = my_score()
        for n in range(8):
            upload_ready(s, other, f"{word} {word} private text number {n}.")
        assert my_score() == pytest.approx(before, rel=1e-6)
        # The other user's own view counts their documents.
        theirs = search(s, other, word, route="exact", top_k=10)["results"]
        assert len(theirs) == 8 and mine["id"] not in {h["document_id"] for h in theirs}
    finally:
        assert s.stop() == 0
