"""LangChain JS (@langchain/openai, @langchain/core) unchanged against a live ragd with a tiny
random local model and an embedder: chat with LangChain's defaults and its penalties, streaming,
bindTools with a tool call round trip, withStructuredOutput through response_format json_schema
and through a forced tool call, embeddings under OpenAI's model name via MODEL_ALIASES, and the
ragd-rag model answering from an uploaded document with its sources; then the official openai
SDK's checks (tests/api/openai_sdk.mjs) with tool calls and response_format. Skipped with a message when
node, npm or the npm registry is not available."""
import os
import shutil
import subprocess
import tempfile

import pytest

from kb_helpers import enterprise_user, private_server, upload_ready
from ragd_client import BIN, ROOT

MODELS = tempfile.mkdtemp(prefix="ragd-lc-models-")
LLM = os.path.join(MODELS, "tiny-qwen3.gguf")
ENC = os.path.join(MODELS, "tiny-bert.gguf")
PACKAGES = ["@langchain/openai@0.6", "@langchain/core@0.3", "zod@3", "openai@5"]


def setup_module():
    for args in (("--arch", "qwen3", "--out", LLM, "--seed", "7"),
                 ("--arch", "bert", "--out", ENC, "--seed", "8")):
        p = subprocess.run([BIN, "model", "mktiny", *args], capture_output=True, text=True)
        assert p.returncode == 0, p.stderr


def teardown_module():
    shutil.rmtree(MODELS, True)


def npm_langchain():
    """Installs LangChain JS into the build directory once; the reason it cannot otherwise."""
    if not shutil.which("node") or not shutil.which("npm"):
        return None, "node or npm is not installed"
    d = os.path.join(ROOT, "build", "npm-langchain")
    if not os.path.isdir(os.path.join(d, "node_modules", "@langchain", "openai")):
        os.makedirs(d, exist_ok=True)
        p = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", d,
                            *PACKAGES], capture_output=True, text=True, timeout=300)
        if p.returncode != 0:
            first = next((ln for ln in p.stderr.splitlines() if ln.strip()), "no output")
            return None, f"npm cannot install LangChain JS (registry unreachable?): {first}"
    return d, None


def test_langchain_js():
    d, why = npm_langchain()
    if d is None:
        pytest.skip(why + ": the LangChain JS test cannot run here")
    s = private_server(GENERATION_MODEL=LLM, EMBEDDING_MODEL=ENC, GENERATION_MAX_TOKENS="256",
                       GENERATION_CONTEXT_LENGTH="2048",
                       MODEL_ALIASES="text-embedding-3-small=local",
                       RATE_LIMIT_BILLING="1000/60", RATE_LIMIT_CHAT="100000/60",
                       RATE_LIMIT_API="100000/60")
    try:
        tok = enterprise_user(s, "lc@example.com")
        doc = upload_ready(s, tok, "Basalt columns form when thick lava flows cool and contract "
                           "into hexagonal joints.", title="LangChain basalt")
        r = s.post("/users/me/api-keys", {"name": "langchain"}, token=tok)
        assert r.status == 201, r
        # The script resolves its imports from the folder it lies in.
        script = os.path.join(d, "langchain_client.mjs")
        shutil.copy(os.path.join(os.path.dirname(__file__), "langchain_client.mjs"), script)
        env = dict(os.environ, RAGD_BASE_URL=f"http://127.0.0.1:{s.port}/v1",
                   RAGD_TOKEN=r.json["key"], RAGD_CHAT_MODEL="tiny-qwen3.gguf",
                   RAGD_RAG_TITLE="LangChain basalt", RAGD_RAG_DOC=str(doc["id"]),
                   RAGD_RAG_FACT="basalt")
        p = subprocess.run(["node", script], env=env, capture_output=True, text=True,
                           timeout=240)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "langchain: all checks passed" in p.stdout
        # The official openai SDK (the version LangChain brings) on the same server, with its
        # tool calls and structured output: this server leaves room for a whole call.
        sdk = os.path.join(d, "openai_sdk.mjs")
        shutil.copy(os.path.join(os.path.dirname(__file__), "openai_sdk.mjs"), sdk)
        env.update(RAGD_EMBED_MODEL="tiny-bert.gguf", RAGD_TOOLS="1")
        p = subprocess.run(["node", sdk], env=env, capture_output=True, text=True, timeout=240)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "openai sdk: all checks passed" in p.stdout
    finally:
        assert s.stop() == 0
