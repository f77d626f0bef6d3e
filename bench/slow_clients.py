"""Slow-client flood against a running ragd on loopback (bench/slow_clients.sh starts one).

Opens SOCKETS connections spread over ADDRS source addresses (127.0.1.x), each sending its
request line and then one header line every INTERVAL seconds without ever finishing, for
SECONDS in all; meanwhile a separate client (127.0.0.250) asks GET /health every 0.1 s.
Prints the flood's fate (connections refused, cut at the header deadline) and /health's
latency before and during the flood. Stops by itself; loopback only."""
import http.client
import os
import select
import socket
import sys
import time

PORT = int(sys.argv[1])
SOCKETS = int(os.environ.get("SOCKETS", "4200"))
ADDRS = int(os.environ.get("ADDRS", "20"))
INTERVAL = float(os.environ.get("INTERVAL", "2"))
SECONDS = float(os.environ.get("FLOOD_SECONDS", "30"))


def health(samples, errors):
    start = time.time()
    try:
        c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10,
                                       source_address=("127.0.0.250", 0))
        c.request("GET", "/health")
        r = c.getresponse()
        r.read()
        c.close()
        if r.status != 200:
            errors.append(r.status)
        else:
            samples.append(time.time() - start)
    except OSError as e:
        errors.append(type(e).__name__)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000 if xs else float("nan")


before, before_err = [], []
for _ in range(50):
    health(before, before_err)
    time.sleep(0.02)

socks, opened, refused_at_connect, cut = [], 0, 0, 0
lifetimes = []
start = time.time()
for i in range(SOCKETS):
    try:
        s = socket.create_connection(("127.0.0.1", PORT), timeout=2,
                                     source_address=(f"127.0.1.{1 + i % ADDRS}", 0))
        s.setblocking(False)
        s.send(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        socks.append([s, time.time()])
        opened += 1
    except OSError:
        refused_at_connect += 1

poller = select.poll()  # select() stops at descriptor 1024
by_fd = {}
for e in socks:
    by_fd[e[0].fileno()] = e
    poller.register(e[0], select.POLLIN)

during, during_err = [], []
next_line = time.time() + INTERVAL
next_health = time.time()
while time.time() - start < SECONDS:
    now = time.time()
    if now >= next_health:
        health(during, during_err)
        next_health = now + 0.1
    if now >= next_line:
        for entry in socks:
            if entry[0] is None:
                continue
            try:
                entry[0].send(b"X-Slow: 1\r\n")
            except OSError:
                pass
        next_line = now + INTERVAL
    for fd, _ in poller.poll(0):
        e = by_fd.pop(fd)
        poller.unregister(fd)
        try:
            data = e[0].recv(1024)
        except OSError:
            data = b""
        if data == b"":
            lifetimes.append(time.time() - e[1])
            e[0].close()
            e[0] = None
    time.sleep(0.02)

still_open = sum(1 for e in socks if e[0] is not None)
for e in socks:
    if e[0] is not None:
        e[0].close()

print(f"flood: {SOCKETS} sockets from {ADDRS} addresses, a header line every {INTERVAL:g} s, "
      f"{SECONDS:g} s")
print(f"  connect failed {refused_at_connect}, opened {opened}, closed by ragd {len(lifetimes)} "
      f"(closed within 0.5 s: {sum(1 for t in lifetimes if t < 0.5)}, "
      f"max lifetime {max(lifetimes) if lifetimes else 0:.1f} s), still open at the end "
      f"{still_open}")
print(f"GET /health before: n={len(before)} p50 {pct(before, 50):.1f} ms p99 "
      f"{pct(before, 99):.1f} ms errors {len(before_err)}")
print(f"GET /health during: n={len(during)} p50 {pct(during, 50):.1f} ms p99 "
      f"{pct(during, 99):.1f} ms max {pct(during, 100):.1f} ms errors {len(during_err)} "
      f"{sorted(set(map(str, during_err)))[:5]}")
