"""Fake model providers on 127.0.0.1 for the provider-pool tests: one speaking the OpenAI
chat-completions format, one the Gemini generateContent format. Each is told per key what to do
with the next requests (a list of modes consumed in order, then a default mode):

  "ok"          answer (streamed as server-sent events when asked)
  "500"         HTTP 500
  "429:N"       HTTP 429 with Retry-After: N
  "401"         HTTP 401 (quoting the key, as real providers partly do)
  "timeout"     wait `slow` seconds before answering
  "invalid"     HTTP 200 with a body that is not JSON
  "break"       stream one piece of the answer, then drop the connection

Every request is recorded as (path, key, body)."""
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeProvider:
    def __init__(self, kind, answer="Fake answer from the pool.", slow=4.0, dim=16):
        assert kind in ("openai", "gemini")
        self.kind = kind
        self.answer = answer
        self.slow = slow
        self.dim = dim  # of /embeddings vectors (OpenAI format)
        self.modes = {}  # key -> list of modes for the next requests
        self.default = {}  # key -> mode once the list is used up
        self.requests = []
        self.lock = threading.Lock()
        fp = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(n)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = None
                if fp.kind == "openai":
                    auth = self.headers.get("Authorization") or ""
                    key = auth[7:] if auth.startswith("Bearer ") else ""
                else:
                    key = self.headers.get("x-goog-api-key") or ""
                mode = fp.next_mode(key)
                with fp.lock:
                    fp.requests.append((self.path, key, body))
                if mode == "500":
                    return self._send(500, b'{"error":{"message":"internal error"}}')
                if mode.startswith("429"):
                    secs = mode.split(":")[1] if ":" in mode else "30"
                    return self._send(429, b'{"error":{"message":"quota exceeded",'
                                      b'"status":"RESOURCE_EXHAUSTED"}}',
                                      extra={"Retry-After": secs})
                if mode == "401":
                    msg = json.dumps({"error": {"message": f"Incorrect API key provided: {key}"}})
                    return self._send(401, msg.encode())
                if mode == "invalid":
                    return self._send(200, b"<html>this is not json", ctype="application/json")
                if mode == "timeout":
                    time.sleep(fp.slow)
                if self.path.endswith("/embeddings"):
                    inp = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    data = [{"index": i, "embedding": [1.0 / (1 + j) for j in range(fp.dim)]}
                            for i in range(len(inp))]
                    return self._send(200, json.dumps({"data": data}).encode())
                stream = (fp.kind == "openai" and body and body.get("stream")) or \
                    (fp.kind == "gemini" and "alt=sse" in self.path)
                pieces = re.findall(r"\S+\s*", fp.answer)
                if not stream:
                    return self._send(200, json.dumps(fp.whole()).encode())
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for i, piece in enumerate(pieces):
                        ev = fp.event(piece, last=i == len(pieces) - 1)
                        self.wfile.write(b"data: " + json.dumps(ev).encode() + b"\n\n")
                        self.wfile.flush()
                        if mode == "break":
                            time.sleep(0.2)
                            self.connection.shutdown(2)
                            return
                    if fp.kind == "openai":
                        self.wfile.write(b"data: [DONE]\n\n")
                except OSError:
                    pass

            def _send(self, status, data, ctype="application/json", extra=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base = (f"http://127.0.0.1:{self.port}/v1" if kind == "openai"
                     else f"http://127.0.0.1:{self.port}/v1beta")
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def next_mode(self, key):
        with self.lock:
            q = self.modes.get(key)
            if q:
                return q.pop(0)
            return self.default.get(key, "ok")

    def set(self, key, default="ok", *nxt):
        """The key answers with the modes nxt in order, then with default."""
        with self.lock:
            self.default[key] = default
            self.modes[key] = list(nxt)

    def count(self, key):
        with self.lock:
            return sum(1 for _, k, _ in self.requests if k == key)

    def event(self, piece, last=False):
        if self.kind == "openai":
            return {"choices": [{"index": 0, "delta": {"content": piece},
                                 "finish_reason": "stop" if last else None}],
                    "model": "fake-gpt"}
        cand = {"content": {"role": "model", "parts": [{"text": piece}]}}
        if last:
            cand["finishReason"] = "STOP"
        return {"candidates": [cand], "modelVersion": "fake-gemini"}

    def whole(self):
        if self.kind == "openai":
            return {"model": "fake-gpt", "usage": {"prompt_tokens": 5, "completion_tokens": 5},
                    "choices": [{"index": 0, "message": {"role": "assistant",
                                                         "content": self.answer}}]}
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": self.answer}]},
                                "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 5},
                "modelVersion": "fake-gemini"}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
