"""Small real HTTP peers for the knowledge tests: an OpenAI-compatible embeddings endpoint that
returns deterministic hashed bag-of-words vectors, and a chat-completions endpoint that streams a
scripted answer. Both run in a thread on 127.0.0.1 and record what they receive; either can be
made to fail with a given status and body (an upstream that quotes the key in its 401)."""
import hashlib
import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORD = re.compile(r"[a-z0-9]+")


def embed(text, dim):
    v = [0.0] * dim
    for w in WORD.findall(text.lower()):
        h = int.from_bytes(hashlib.sha256(w.encode()).digest()[:4], "little")
        v[h % dim] += 1.0 if (h >> 31) & 1 else -1.0
    n = math.sqrt(sum(x * x for x in v))
    if n == 0:
        v[0] = 1.0
        n = 1.0
    return [x / n for x in v]


class Upstream:
    def __init__(self, dim=64, answer="Upstream says hello [1].", fail=False, stream=True,
                 delay=0.0):
        self.dim = dim
        self.delay = delay  # seconds between streamed pieces
        self.answer = answer
        self.fail = fail
        self.stream = stream
        self.error = None  # (status, body bytes): answer every request with that error
        self.requests = []
        self.aborted = 0
        self.tool_calls = None  # OpenAI tool_calls to answer with instead of text
        up = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n) or b"{}")
                up.requests.append((self.path, body, self.headers.get("Authorization")))
                if up.error:
                    self._send(up.error[0], "application/json", up.error[1])
                    return
                if up.fail:
                    self._send(500, "application/json", b'{"error":"upstream broken"}')
                    return
                if self.path.endswith("/embeddings"):
                    inp = body["input"]
                    inp = [inp] if isinstance(inp, str) else inp
                    data = [{"object": "embedding", "index": i, "embedding": embed(t, up.dim)}
                            for i, t in enumerate(inp)]
                    self._send(200, "application/json",
                               json.dumps({"object": "list", "data": data}).encode())
                elif self.path.endswith("/chat/completions"):
                    if up.tool_calls is not None:
                        msg = {"role": "assistant", "content": None,
                               "tool_calls": up.tool_calls}
                        out = {"model": "upstream-model",
                               "choices": [{"index": 0, "message": msg,
                                            "finish_reason": "tool_calls"}],
                               "usage": {"prompt_tokens": 11, "completion_tokens": 7}}
                        self._send(200, "application/json", json.dumps(out).encode())
                    elif up.stream and body.get("stream"):
                        self.send_response(200)
                        self.send_header("Content-Type", "text/event-stream")
                        self.send_header("Connection", "close")
                        self.end_headers()
                        self.close_connection = True
                        try:
                            for piece in re.findall(r"\S+\s*", up.answer):
                                ev = {"choices": [{"index": 0, "delta": {"content": piece}}],
                                      "model": "upstream-model"}
                                self.wfile.write(b"data: " + json.dumps(ev).encode() + b"\n\n")
                                self.wfile.flush()
                                if up.delay:
                                    time.sleep(up.delay)
                            self.wfile.write(b"data: [DONE]\n\n")
                        except (BrokenPipeError, ConnectionResetError):
                            up.aborted += 1  # the client (ragd) hung up mid-stream
                    else:
                        out = {"model": "upstream-model",
                               "choices": [{"index": 0, "message": {"role": "assistant",
                                                                    "content": up.answer}}],
                               "usage": {"prompt_tokens": 11, "completion_tokens": 7}}
                        self._send(200, "application/json", json.dumps(out).encode())
                else:
                    self._send(404, "application/json", b'{"error":"no such path"}')

            def _send(self, status, ctype, data):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def paths(self):
        return [p for p, _, _ in self.requests]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
