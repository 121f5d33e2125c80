#!/usr/bin/env python3
"""The gateway's side of the handoff decision (issue 12), before any connection moves.

s3lb in front of a small object store on loopback (a dict: PUT, GET with Range, HEAD, DELETE):
the size cache learns from GET/HEAD responses (Content-Length, Content-Range), from PUT 200 (the
body's length, aws-chunked's decoded length) and forgets on DELETE; every request on a handoff
route is decided and counted in s3lb_handoff_decisions_total{pool,reason}. With no agent
reachable yet, a read the cache knows to be large counts as agent_down, one it does not know as
unknown_size, a small one as small, and every response is the proxied one. A route without
handoff counts nothing, and a config without any handoff route has no size cache at all.
Run time: about 3 s.
"""
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_protocol as tp  # noqa: E402

check = tp.check
BIG = 200 * 1024  # above the route's min_size (64KiB)


class Store(tp.Node):
    """An S3-ish object store on test_protocol's raw node: path -> bytes."""

    def __init__(self, host):
        self.objects = {}
        super().__init__(host)

    def respond(self, c, path, head, body):
        c.sendall(self.answer(head, body))
        return True

    def answer(self, head, body):
        lines = head.decode().split("\r\n")
        method, path, _ = lines[0].split(" ")
        hdrs = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        path = path.split("?")[0]
        if method == "PUT":
            self.objects[path] = body
            return b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
        if method == "DELETE":
            self.objects.pop(path, None)
            return b"HTTP/1.1 204 No Content\r\n\r\n"
        if path not in self.objects:
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        data = self.objects[path]
        rng = hdrs.get("range")
        if rng:
            a, b = rng.split("=")[1].split("-")
            a, b = int(a), min(int(b), len(data) - 1)
            part = data[a:b + 1]
            h = b"HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\n\r\n" % (
                a, b, len(data), len(part))
            return h + (b"" if method == "HEAD" else part)
        h = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data)
        return h + (b"" if method == "HEAD" else data)


def request(port, method, path, body=b"", extra="", host="s3.local"):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(5)
    s.sendall(("%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %d\r\n%s\r\n"
               % (method, path, host, len(body), extra)).encode() + body)
    out = b""
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        out += d
    s.close()
    head, _, rest = out.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), rest


def metrics(admin):
    _, body = request(admin, "GET", "/metrics", host="127.0.0.1")
    return body.decode()


def decisions(admin):
    out = {}
    for m in re.finditer(r'^s3lb_handoff_decisions_total\{pool="([^"]+)",reason="([^"]+)"\} (\d+)$',
                         metrics(admin), re.M):
        out[(m.group(1), m.group(2))] = int(m.group(3))
    return out


def scalar(admin, name):
    m = re.search(r"^%s (\d+)$" % name, metrics(admin), re.M)
    return int(m.group(1)) if m else None


def main():
    if not os.path.exists(tp.BIN):
        print("FAIL: s3lb binary not found at " + tp.BIN)
        return 1
    store = Store("127.0.0.%d" % (60 + os.getpid() % 100))
    port, admin = tp.free_port(), tp.free_port()
    key = os.path.join(tp.TMP, "handoff.key")
    with open(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write("k" * 40 + "\n")
    routes = ("      - { bucket: \"ho*\", pool: p, handoff: { min_size: 64KiB } }\n"
              "      - { pool: p }\n")
    cfg = tp.config(port, admin, [store.addr], routes=routes,
                    extra="    handoff: { key_file: %s }\n" % key)
    lb = tp.S3lb(cfg)
    try:
        tp.wait_port(port)
        tp.wait_port(admin)
        big, small = os.urandom(BIG), b"tiny object"
        store.objects["/hobig/a"] = big
        store.objects["/hobig/b"] = big
        store.objects["/plain/a"] = big

        st, body = request(port, "GET", "/hobig/a")
        check("first GET of a big object: proxied, whole", st == 200 and body == big)
        d = decisions(admin)
        check("... counted unknown_size (not in the cache)", d.get(("p", "unknown_size")) == 1, str(d))
        check("the cache learnt it from Content-Length",
              scalar(admin, "s3lb_handoff_size_cache_entries") == 1)
        st, body = request(port, "GET", "/hobig/a")
        d = decisions(admin)
        check("second GET: proxied, counted agent_down (size known, no agent reachable)",
              st == 200 and body == big and d.get(("p", "agent_down")) == 1, str(d))

        st, body = request(port, "GET", "/hobig/b", extra="Range: bytes=0-99\r\n")
        d = decisions(admin)
        check("a 100-byte range of an unknown object: small", st == 206 and body == big[:100] and
              d.get(("p", "small")) == 1, str(d))
        st, _ = request(port, "HEAD", "/hobig/b", extra="Range: bytes=0-99999999\r\n")
        # the 206 above taught /hobig/b's complete length
        d = decisions(admin)
        check("Content-Range taught the complete length (a clipped range is large)",
              d.get(("p", "agent_down")) == 2, str(d))

        st, _ = request(port, "PUT", "/hobig/c", body=small)
        check("PUT proxied", st == 200 and store.objects.get("/hobig/c") == small)
        d = decisions(admin)
        check("a PUT is decided too: operation", d.get(("p", "operation")) == 1, str(d))
        st, body = request(port, "GET", "/hobig/c")
        d = decisions(admin)
        check("GET after PUT: the PUT's length is known: small", st == 200 and body == small and
              d.get(("p", "small")) == 2, str(d))
        st, _ = request(port, "PUT", "/hobig/d", body=big)
        st, body = request(port, "GET", "/hobig/d")
        d = decisions(admin)
        check("GET after a big PUT: agent_down", body == big and d.get(("p", "agent_down")) == 3, str(d))
        st, _ = request(port, "DELETE", "/hobig/d")
        check("DELETE proxied", st == 204 and "/hobig/d" not in store.objects)
        st, _ = request(port, "GET", "/hobig/d")
        d = decisions(admin)
        check("GET after DELETE: unknown again (and 404 proxied)", st == 404 and
              d.get(("p", "unknown_size")) == 2, str(d))
        st, _ = request(port, "GET", "/hobig/a?acl")
        d = decisions(admin)
        check("a sub-resource GET (?acl) is not an object read: operation",
              d.get(("p", "operation")) == 4, str(d))  # PUT c, PUT d, DELETE d, ?acl

        total = sum(decisions(admin).values())
        st, body = request(port, "GET", "/plain/a")
        st2, body2 = request(port, "GET", "/plain/a")
        check("a route without handoff: proxied as before, nothing decided",
              body == big and body2 == big and sum(decisions(admin).values()) == total)
    finally:
        lb.stop()

    # no route with handoff: no size cache, no decision series
    cfg = tp.config(port, admin, [store.addr])
    lb = tp.S3lb(cfg)
    try:
        tp.wait_port(port)
        tp.wait_port(admin)
        st, body = request(port, "GET", "/hobig/a")
        st, body = request(port, "GET", "/hobig/a")
        m = metrics(admin)
        check("without handoff routes: proxied, no cache, no decision series",
              body == big and "s3lb_handoff_size_cache_entries" not in m and
              not re.search(r"^s3lb_handoff_decisions_total\{", m, re.M))
    finally:
        lb.stop()
    if tp.FAILED:
        print("%d failed" % len(tp.FAILED))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
