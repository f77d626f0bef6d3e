"""HTTP helpers for the model-serving benchmarks: JSON calls to a ragd on 127.0.0.1."""
import http.client
import json
import time


class Ragd:
    def __init__(self, port):
        self.port = port
        self.token = None

    def call(self, method, path, body=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        h = {"Content-Type": "application/json"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        c.request(method, path, json.dumps(body) if body is not None else None, h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data else None

    def open(self, method, path, body):
        """Starts a request and returns (connection, response) to read as a stream."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        c.request(method, path, json.dumps(body), {"Content-Type": "application/json",
                                                   "Authorization": "Bearer " + self.token})
        return c, c.getresponse()

    def wait_and_login(self, email="admin@example.com", password="adminpassword123"):
        for _ in range(600):
            try:
                if self.call("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        st, j = self.call("POST", "/auth/login", {"email": email, "password": password})
        assert st == 200, (st, j)
        self.token = j["access_token"]

    def generator(self):
        return self.call("GET", "/health/detailed")[1]["services"]["models"]["generator"]
