"""GET /metrics: `promtool check metrics` finds nothing to say after a workload (chat, a stream,
search, an upload, a rate-limit and a quota 429, a plan change); the latency histograms (time
to first token, generation, queue wait, embedding, ingestion) count the actions they measure;
process_* figures and ragd_build_info; the database and Redis up gauges; METRICS_TOKEN; and a
real Prometheus server scraping ragd."""
import json
import math
import os
import re
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from kb_helpers import enterprise_user, make_pdf, private_server, upload_file, upload_ready
from prom_helpers import assert_promtool_clean
from model_helpers import make_tiny_models, tiny_model_paths
from ragd_client import PG_URL, REDIS_URL, ROOT, Server, free_port

MODELS, LLM, ENC = tiny_model_paths("ragd-metrics-models-")
TOKEN = "metrics-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HISTOGRAMS = ["ragd_generation_ttft_seconds", "ragd_generation_duration_seconds",
              "ragd_generation_queue_wait_seconds", "ragd_embedding_duration_seconds",
              "ragd_ingestion_duration_seconds"]


def setup_module():
    make_tiny_models(LLM, ENC)


def teardown_module():
    shutil.rmtree(MODELS, True)


@pytest.fixture(scope="module")
def srv():
    s = private_server(GENERATION_MODEL=LLM, EMBEDDING_MODEL=ENC, GENERATION_CONTEXT_LENGTH="2048",
                       GENERATION_MAX_TOKENS="8", RATE_LIMIT_SEARCH="4/60", METRICS_TOKEN=TOKEN)
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def tok(srv):
    return enterprise_user(srv, "metrics@example.com")


def scrape(s):
    r = s.get("/metrics", headers=AUTH)
    assert r.status == 200, r
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4"), r.headers
    return r.body


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def samples(body):
    """{(name, frozenset of (label, value)): float} of every sample line."""
    out = {}
    for line in body.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = frozenset(LABEL.findall(m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def value(body, name, **labels):
    """The sample of name whose labels include the given ones (summed if several); 0 if none."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples(body).items() if n == name and want <= set(ls))


def test_promtool_clean_after_a_workload(srv, tok):
    r = srv.post("/chat/message", {"message": "What do glaciers carve?", "enable_rag": False},
                 token=tok, timeout=120)
    assert r.status == 200, r
    r = srv.post("/chat/message", {"message": "And rivers?", "stream": True}, token=tok,
                 timeout=120)
    assert r.status == 200, r
    upload_ready(srv, tok, "Glaciers carve U-shaped valleys as the ice flows.", title="Ice")
    codes = [srv.post("/search", {"query": "glaciers"}, token=tok).status for _ in range(6)]
    assert codes[0] == 200 and codes[-1] == 429, codes
    # A free account has no PDF uploads: a quota refusal. Then it moves up a plan.
    srv.register("metrics-free@example.com")
    free = srv.login("metrics-free@example.com", "password123")
    r = upload_file(srv, free, "a.pdf", make_pdf(["Turbines."]), "application/pdf")
    assert r.status == 429 and r.json["code"] == "PDF_UPLOAD_LIMIT_EXCEEDED", r
    r = srv.put("/billing/subscription", {"plan_type": "pro"}, token=free)
    assert r.status == 200 and r.json["changed"] is True, r
    srv.get("/no/such/route")
    body = scrape(srv)
    assert_promtool_clean(body)
    assert value(body, "ragd_rejections_total", reason="rate_limit") >= 2
    assert value(body, "ragd_rejections_total", reason="quota") >= 1
    assert value(body, "ragd_quota_refusals_total", resource="pdf_uploads") == 1
    assert value(body, "ragd_plan_changes_total", change="upgrade", source="user") == 1
    assert value(body, "ragd_http_requests_total", route="/search", status="200") >= 1
    # Every family has one HELP and one TYPE line, and every sample belongs to a declared one.
    types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", body, re.M))
    helps = re.findall(r"^# HELP (\S+) ", body, re.M)
    assert sorted(helps) == sorted(types) and len(helps) == len(set(helps))
    for name, _ in samples(body):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or types.get(base) == "histogram", name
    for name, t in types.items():
        assert t != "counter" or name.endswith("_total"), name


def histogram(body, name, **labels):
    """(count, sum, [(le, cumulative)]) of one series of a histogram."""
    want = set(labels.items())
    buckets = []
    for (n, ls), v in samples(body).items():
        d = dict(ls)
        if n == name + "_bucket" and want <= set(ls):
            buckets.append((math.inf if d["le"] == "+Inf" else float(d["le"]), v))
    buckets.sort()
    return value(body, name + "_count", **labels), value(body, name + "_sum", **labels), buckets


def check_shape(body, name, **labels):
    count, total, buckets = histogram(body, name, **labels)
    assert buckets and buckets[-1] == (math.inf, count), (name, buckets, count)
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), (name, buckets)
    assert total >= 0
    return count


def test_each_histogram_counts_its_action(srv, tok):
    before = scrape(srv)
    upload_ready(srv, tok, "Moraines are ridges of rock left where a glacier stood.",
                 title="Moraines")
    # The document reads "ready" a moment before its ingestion is timed: wait for that.
    deadline = time.time() + 10
    mid = scrape(srv)
    while (histogram(mid, "ragd_ingestion_duration_seconds")[0]
           <= histogram(before, "ragd_ingestion_duration_seconds")[0] and time.time() < deadline):
        time.sleep(0.05)
        mid = scrape(srv)
    for name in ("ragd_ingestion_duration_seconds", "ragd_embedding_duration_seconds"):
        assert check_shape(mid, name) >= check_shape(before, name) + 1, name
    assert histogram(mid, "ragd_embedding_duration_seconds", outcome="success")[0] >= 1
    r = srv.post("/chat/message", {"message": "What is a moraine?", "enable_rag": False},
                 token=tok, timeout=120)
    assert r.status == 200, r
    after = scrape(srv)
    for name in ("ragd_generation_ttft_seconds", "ragd_generation_duration_seconds",
                 "ragd_generation_queue_wait_seconds"):
        assert check_shape(after, name) >= check_shape(mid, name) + 1, name
    assert histogram(after, "ragd_generation_duration_seconds", outcome="success")[0] >= 1
    # Time to first token is no longer than the whole generation.
    ttft = histogram(after, "ragd_generation_ttft_seconds")
    gen = histogram(after, "ragd_generation_duration_seconds")
    assert 0 < ttft[1] <= gen[1]
    # The slow scale reaches minutes; the HTTP latency keeps its own buckets.
    assert max(le for le, _ in ttft[2] if le != math.inf) >= 300
    http = histogram(after, "ragd_http_request_duration_seconds", route="/chat/message")
    assert min(le for le, _ in http[2]) == 0.0005


def test_process_figures_and_build_info(srv):
    first = scrape(srv)
    t0 = time.time()
    for _ in range(20):
        srv.get("/health")
    body = scrape(srv)
    start = value(body, "process_start_time_seconds")
    assert t0 - 3600 < start <= t0 + 1, (start, t0)
    rss = value(body, "process_resident_memory_bytes")
    vms = value(body, "process_virtual_memory_bytes")
    assert 1 << 20 < rss < 1 << 40 and vms >= rss, (rss, vms)
    fds, max_fds = value(body, "process_open_fds"), value(body, "process_max_fds")
    assert 3 <= fds < max_fds, (fds, max_fds)
    assert abs(fds - len(os.listdir(f"/proc/{srv.proc.pid}/fd"))) <= 4  # a connection or two
    cpu0, cpu1 = value(first, "process_cpu_seconds_total"), value(body, "process_cpu_seconds_total")
    assert 0 < cpu0 <= cpu1
    version = srv.get("/health").json["version"]
    assert samples(body)[("ragd_build_info", frozenset({("version", version)}))] == 1


def test_up_gauges_and_queue_depth(srv):
    body = scrape(srv)
    assert value(body, "ragd_database_up") == 1
    assert ("ragd_ingestion_queue_depth", frozenset()) in samples(body)
    if REDIS_URL:
        assert ("ragd_redis_up", frozenset()) in samples(body) and value(body, "ragd_redis_up") == 1
    else:
        assert "ragd_redis_up" not in body  # no Redis configured: nothing to report


def services(action):
    subprocess.run([os.path.join(ROOT, "scripts/services.sh"), action,
                    os.environ["RAGD_TEST_SERVICES"]], check=True, capture_output=True, timeout=120)


@pytest.mark.skipif(not (PG_URL and REDIS_URL and os.environ.get("RAGD_TEST_SERVICES")),
                    reason="needs the private PostgreSQL and Redis of make test")
def test_up_gauges_follow_the_services():
    s = Server(seed=False)
    try:
        def up(name):
            return value(s.get("/metrics").body, name)
        assert up("ragd_database_up") == 1 and up("ragd_redis_up") == 1
        services("redis-stop")
        try:
            t0 = time.time()
            assert up("ragd_redis_up") == 0 and up("ragd_database_up") == 1
            assert time.time() - t0 < 5  # the probes time out quickly
        finally:
            services("redis-start")
        services("pg-stop")
        try:
            assert up("ragd_database_up") == 0
        finally:
            services("pg-start")
        deadline = time.time() + 15
        while time.time() < deadline and not (up("ragd_database_up") == 1
                                               and up("ragd_redis_up") == 1):
            time.sleep(0.2)
        assert up("ragd_database_up") == 1 and up("ragd_redis_up") == 1
    finally:
        assert s.stop() == 0


def test_metrics_token(srv, server):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                    {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": "Bearer "}):
        r = srv.get("/metrics", headers=headers)
        assert r.status == 401 and r.json["code"] == "METRICS_TOKEN_REQUIRED", (headers, r)
        assert r.header("WWW-Authenticate").startswith("Bearer")
        assert TOKEN not in r.body
    assert srv.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"}).status == 200
    # Unset (the shared server): open as before.
    r = server.get("/metrics")
    assert r.status == 200 and "ragd_build_info" in r.body


def prometheus_query(port, q):
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": q})
    with urllib.request.urlopen(url, timeout=2) as r:
        return json.loads(r.read())["data"]["result"]


def test_prometheus_scrapes_ragd(srv, tmp_path):
    exe = shutil.which("prometheus")
    if not exe:
        pytest.skip("the prometheus server is not installed (Debian's prometheus package; "
                    "scripts/deps.sh installs it)")
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: ragd
    authorization:
      credentials: {TOKEN}
    static_configs:
      - targets: ["127.0.0.1:{srv.port}"]
""")
    log = open(tmp_path / "prometheus.log", "wb")
    p = subprocess.Popen([exe, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                          f"--web.listen-address=127.0.0.1:{port}"],
                         stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        up, info, deadline = [], [], time.time() + 15
        while time.time() < deadline and not (up and info):
            time.sleep(0.5)
            assert p.poll() is None, (tmp_path / "prometheus.log").read_text()[-3000:]
            try:
                up = [x for x in prometheus_query(port, 'up{job="ragd"}') if x["value"][1] == "1"]
                info = prometheus_query(port, "ragd_build_info")
            except OSError:
                continue
        assert up, "no scrape: " + (tmp_path / "prometheus.log").read_text()[-3000:]
        assert info and info[0]["metric"]["version"] and info[0]["value"][1] == "1", info
        assert prometheus_query(port, "process_start_time_seconds")
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
