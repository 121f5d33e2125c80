#!/usr/bin/env python3
"""HTTP-level behaviour of the gateway, against scripted nodes that record every byte they get.

Real S3 clients against real Ceph are in the other integ tests; this file covers what a real
server cannot be made to do on demand: reset mid-response, answer 100-continue or an early 403,
stall, and it proves what never reaches a node (bad input) and what reaches it byte for byte.
Each case prints `ok <name>`; the first failure prints FAIL with the detail and exits 1.
"""
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.environ.get("S3LB_BIN") or os.path.join(
    os.environ.get("S3LB_BUILD", os.path.join(os.path.dirname(__file__), "../../build")), "s3lb")
TMP = tempfile.mkdtemp(prefix="s3lb-proto.")
FAILED = []


def free_port(host="127.0.0.1"):
    s = socket.socket()
    s.bind((host, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def listen_below_ephemeral(host):
    """A listening socket on a free port below the kernel's ephemeral range: a node that is
    closed and restarted (Node.restart) gets its port back, where a port from bind(0) can be
    taken meanwhile by any process's outgoing connection (seen: EADDRINUSE under load)."""
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            s.listen(128)
            return s
        except OSError:
            s.close()
    raise OSError("no free port below %d on %s" % (low, host))


# ---- a scripted node ----------------------------------------------------------------------------

class Node:
    """A raw HTTP/1.1 node on 127.0.0.x. Records each request's raw head and raw body."""

    def __init__(self, host):
        self.host = host
        self.sock = listen_below_ephemeral(host)
        self.port = self.sock.getsockname()[1]
        self.requests = []  # (head bytes, body bytes)
        self.probes = 0
        self.frozen = False
        self.fail_status = None  # answer every request (not probes) with this status
        self.clients = []
        self.conns = 0
        self.lock = threading.Lock()
        self.stopped = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    def accept_loop(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns += 1
                self.clients.append(c)
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def close(self):
        """Like kill -9: the listening socket and every connection go away (reset)."""
        self.stopped = True
        self.sock.close()
        with self.lock:
            for c in self.clients:
                try:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    c.close()
                except OSError:
                    pass
            self.clients = []

    def restart(self):
        """Listens again on the same address and port."""
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((self.host, self.port))
        self.sock.listen(128)
        self.stopped = False
        threading.Thread(target=self.accept_loop, daemon=True).start()

    @staticmethod
    def read_head(c, buf):
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return None, buf
            buf += d
        i = buf.index(b"\r\n\r\n") + 4
        return buf[:i], buf[i:]

    @staticmethod
    def read_body(c, head, buf, send_continue):
        h = head.lower()
        if b"expect: 100-continue" in h and send_continue:
            c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if b"transfer-encoding: chunked" in h:
            body = b""
            while True:  # raw chunked body up to and including the final CRLF
                while b"\r\n" not in buf:
                    buf += c.recv(65536)
                line, rest = buf.split(b"\r\n", 1)
                size = int(line.split(b";")[0], 16)
                if size == 0:
                    while not rest.startswith(b"\r\n") and b"\r\n\r\n" not in rest:
                        rest += c.recv(65536)
                    end = 2 if rest.startswith(b"\r\n") else rest.index(b"\r\n\r\n") + 4
                    body += line + b"\r\n" + rest[:end]
                    return body, rest[end:]
                while len(rest) < size + 2:
                    rest += c.recv(65536)
                body += line + b"\r\n" + rest[:size + 2]
                buf = rest[size + 2:]
        n = 0
        for l in h.split(b"\r\n"):
            if l.startswith(b"content-length:"):
                n = int(l.split(b":")[1])
        while len(buf) < n:
            d = c.recv(65536)
            if not d:
                break
            buf += d
        return buf[:n], buf[n:]

    def serve(self, c):
        buf = b""
        try:
            while True:
                head, buf = self.read_head(c, buf)
                if head is None:
                    return
                path = head.split(b" ")[1].decode()
                if path.startswith("/early403"):
                    with self.lock:
                        self.requests.append((head, b""))
                    body = b"<Error><Code>AccessDenied</Code></Error>"
                    c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (
                        len(body), body))
                    c.close()
                    return
                body, buf = self.read_body(c, head, buf, "nocontinue" not in path)
                with self.lock:
                    if b"User-Agent: s3lb-health" in head:
                        self.probes += 1  # health probes are not requests under test
                    else:
                        self.requests.append((head, body))
                while self.frozen and not self.stopped:
                    time.sleep(0.05)  # like a SIGSTOPped process: the kernel accepts, no answer
                if self.stopped:
                    return
                if not self.respond(c, path, head, body):
                    return
        except OSError:
            return
        finally:
            try:
                c.close()
            except OSError:
                pass

    def respond(self, c, path, head, body):
        method = head.split(b" ")[0]
        if self.fail_status and b"User-Agent: s3lb-health" not in head:
            c.sendall(b"HTTP/1.1 %d Oops\r\nContent-Length: 0\r\n\r\n" % self.fail_status)
            return True
        if path.startswith("/reset"):
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 1000)
            time.sleep(0.1)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            c.close()
            return False
        if path.startswith("/chunked"):
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            return True
        if path.startswith("/big"):
            n = int(path.split("=")[1])
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
            chunk = b"0123456789abcdef" * 4096
            sent = 0
            while sent < n:
                k = min(len(chunk), n - sent)
                c.sendall(chunk[:k])
                sent += k
            return True
        if path.startswith("/drop"):
            c.close()  # read the request, never answer
            return False
        if path.startswith("/hang"):
            time.sleep(4)
        if path.startswith("/slowhead"):
            time.sleep(1)
        if path.startswith("/eof"):
            c.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof-body")
            return False
        if path.startswith("/fail503"):
            c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
            return True
        payload = json.dumps({"node": self.addr, "path": path, "len": len(body)}).encode()
        extra = b"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-Node: %s\r\n" % self.addr.encode()
        if method == b"HEAD":
            c.sendall(b"HTTP/1.1 200 OK\r\n" + extra + b"Content-Length: 1234\r\n\r\n")
        else:
            c.sendall(b"HTTP/1.1 200 OK\r\n" + extra + b"Content-Length: %d\r\n\r\n%s" % (
                len(payload), payload))
        return True


# ---- s3lb ---------------------------------------------------------------------------------------

def own_state(cfg_text):
    """cfg_text with this test's own drain_state (unless it names one): drains are kept across
    restarts in that file, and no test may see another's (the default is the host's)."""
    if "drain_state:" in cfg_text:
        return cfg_text
    return cfg_text + "drain_state: %s\n" % os.path.join(TMP, "drained")


class S3lb:
    def __init__(self, cfg_text):
        self.cfg = os.path.join(TMP, "s3lb.yaml")
        with open(self.cfg, "w") as f:
            f.write(own_state(cfg_text))
        self.err = open(os.path.join(TMP, "error.log"), "ab")
        self.proc = subprocess.Popen([BIN, "run", "-c", self.cfg], stdout=subprocess.DEVNULL,
                                     stderr=self.err)

    def rewrite(self, cfg_text):
        with open(self.cfg, "w") as f:
            f.write(own_state(cfg_text))

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for l in f:
                if l.startswith("VmRSS:"):
                    return int(l.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# Workers of the s3lb under test: S3LB_TEST_WORKERS, else 2, so that every suite runs with
# connections spread over more than one loop.
WORKERS = int(os.environ.get("S3LB_TEST_WORKERS", "2"))


def config(port, admin, nodes, extra="", routes="      - { pool: p }\n", timeouts="",
           limits="", fe_extra="", balance="round-robin", workers=None):
    n = "".join("      - { name: n%d, addr: %s }\n" % (i + 1, a) for i, a in enumerate(nodes))
    return (f"admin: {{ listen: 127.0.0.1:{admin} }}\n"
            f"log: {{ level: info, access: {TMP}/access.log, error: {TMP}/s3lb.log }}\n"
            f"limits: {{ max_header_size: 4KiB, max_headers: 20, buffer_size: 64KiB{limits} }}\n"
            f"timeouts: {{ client_header: 1s, client_body: 1s, upstream_connect: 500ms, "
            f"upstream_header: 2s{timeouts} }}\n"
            f"pools:\n  - name: p\n    balance: {balance}\n"
            f"    health: {{ kind: none, passive: {{ failures: 0 }} }}\n{extra}    nodes:\n{n}"
            f"frontends:\n  - name: s3\n    listen: [127.0.0.1:{port}]\n    domains: [s3.local]\n"
            f"{fe_extra}    routes:\n{routes}"
            f"workers: {workers or WORKERS}\n")


def wait_port(port, timeout=10):
    t = time.time() + timeout
    while time.time() < t:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("s3lb did not listen on %d" % port)


def exchange(port, data, timeout=5, shut=False):
    """Sends raw bytes, reads until the connection closes or times out.
    Returns (bytes, how): how is 'eof', 'reset' or 'timeout'."""
    s = socket.create_connection(("127.0.0.1", port), timeout)
    s.settimeout(timeout)
    if data:
        s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    out = b""
    how = "eof"
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        how = "timeout"
    except ConnectionResetError:
        how = "reset"
    s.close()
    return out, how


def responses(raw):
    """Splits raw HTTP/1.1 responses with Content-Length bodies: [(status, headers, body)]."""
    res = []
    while raw:
        i = raw.find(b"\r\n\r\n")
        if i < 0:
            break
        head = raw[:i].decode("latin-1").split("\r\n")
        hdrs = {}
        for l in head[1:]:
            k, v = l.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        res.append((int(head[0].split()[1]), hdrs, raw[i + 4:i + 4 + n]))
        raw = raw[i + 4 + n:]
    return res


def check(name, cond, detail=""):
    if cond:
        print("ok   " + name)
    else:
        print("FAIL " + name + (": " + detail if detail else ""))
        FAILED.append(name)


def main():
    if not os.path.exists(BIN):
        print("FAIL: s3lb binary not found at " + BIN)
        return 1
    n1, n2 = Node("127.0.0.31"), Node("127.0.0.32")
    dead = "127.0.0.33:%d" % free_port("127.0.0.33")  # nothing listens here
    port, admin = free_port(), free_port()
    lb = S3lb(config(port, admin, [n1.addr, n2.addr]))
    try:
        wait_port(port)
        run_cases(lb, port, admin, n1, n2, dead)
    finally:
        lb.stop()
    if lb.proc.returncode not in (0, None):
        check("s3lb exits 0 on SIGTERM", False, "exit %s" % lb.proc.returncode)
    port, admin = free_port(), free_port()
    # one worker: max_conns_per_node is each worker's share, and which worker a connection
    # lands on is the kernel's choice (SO_REUSEPORT); max_connections holds for the process
    lb = S3lb(config(port, admin, [n1.addr, n2.addr],
                     extra="    max_conns_per_node: 1\n    max_idle_per_node: 1\n",
                     limits=", max_connections: 3", fe_extra="    x_real_ip: true\n",
                     workers=1))
    try:
        wait_port(port)
        run_limits(lb, port, n1, n2)
    finally:
        lb.stop()
    port, admin = free_port(), free_port()
    lb = S3lb(config(port, admin, [n1.addr, n2.addr], balance="hash-key"))
    try:
        wait_port(port)
        run_hash(port)
    finally:
        lb.stop()
    print("%d failed" % len(FAILED) if FAILED else "all protocol cases passed")
    if FAILED:
        print("logs kept in " + TMP)
    return 1 if FAILED else 0


def nreq(*nodes):
    return sum(len(n.requests) for n in nodes)


def run_cases(lb, port, admin, n1, n2, dead):
    host = "Host: s3.local:%d\r\n" % port

    # transparency: the node gets the client's request line and headers byte for byte
    req = (b"GET /bkt/a%2Fb%20c?x-id=GetObject&versionId=null HTTP/1.1\r\n"
           b"host: s3.local\r\nX-Amz-Date:20261126T000000Z\r\n"
           b"authorization: AWS4-HMAC-SHA256 Credential=AK/20261126/us-east-1/s3/aws4_request, "
           b"SignedHeaders=host;x-amz-date, Signature=abc\r\n"
           b"X-Weird-Case:  two  spaces \r\nConnection: close, X-Drop-Me\r\nX-Drop-Me: 1\r\n"
           b"Keep-Alive: 5\r\n\r\n")
    before = nreq(n1, n2)
    out, _ = exchange(port, req)
    got = (n1.requests + n2.requests)
    seen = [r for r in got if b"a%2Fb%20c" in r[0]]
    check("a request reaches a node", len(seen) == 1 and nreq(n1, n2) == before + 1,
          repr(out[:200]))
    if seen:
        h = seen[0][0]
        lines = h.split(b"\r\n")
        check("request line byte for byte",
              lines[0] == b"GET /bkt/a%2Fb%20c?x-id=GetObject&versionId=null HTTP/1.1",
              repr(lines[0]))
        check("signed headers byte for byte",
              b"host: s3.local\r\n" in h and b"X-Amz-Date:20261126T000000Z\r\n" in h and
              b"authorization: AWS4-HMAC-SHA256 Credential=AK/20261126/us-east-1/s3/aws4_request, "
              b"SignedHeaders=host;x-amz-date, Signature=abc\r\n" in h, repr(h))
        check("header whitespace kept", b"X-Weird-Case:  two  spaces" in h, repr(h))
        check("hop-by-hop headers dropped",
              b"Connection" not in h and b"X-Drop-Me" not in h and b"Keep-Alive" not in h,
              repr(h))
        check("X-Forwarded-For added", b"X-Forwarded-For: 127.0.0.1\r\n" in h, repr(h))
    r = responses(out)
    check("response relayed, hop-by-hop dropped, close announced",
          len(r) == 1 and r[0][0] == 200 and "keep-alive" not in r[0][1] and
          r[0][1].get("connection") == "close" and b'"len": 0' in r[0][2], repr(out))

    # one JSON access-log line per request, with the fields operators rely on
    time.sleep(0.2)
    with open(os.path.join(TMP, "access.log")) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    mine = [l for l in lines if l.get("key") == "a%2Fb%20c"]
    want = {"time", "client", "method", "bucket", "key", "op", "status", "bytes_in", "bytes_out",
            "duration_ms", "node", "request_id", "pool"}
    check("access log: one JSON line with every field",
          len(mine) == 1 and want <= set(mine[0]) and mine[0]["bucket"] == "bkt" and
          mine[0]["op"] == "read" and mine[0]["status"] == 200 and mine[0]["method"] == "GET" and
          mine[0]["node"] in ("n1", "n2") and mine[0]["bytes_out"] > 0, repr(mine))

    # keep-alive + pipelining: three requests in one write, answered in order
    pipe = b"".join(b"GET /bkt/k%d HTTP/1.1\r\n%s\r\n" % (i, host.encode()) for i in range(3))
    pipe += b"GET /bkt/last HTTP/1.1\r\n" + host.encode() + b"Connection: close\r\n\r\n"
    out, how = exchange(port, pipe)
    r = responses(out)
    paths = [json.loads(x[2])["path"] for x in r if x[2]]
    check("pipelined requests answered in order",
          paths == ["/bkt/k0", "/bkt/k1", "/bkt/k2", "/bkt/last"] and how == "eof", repr(paths))
    check("round-robin over both nodes",
          len({x[1].get("x-node") for x in r}) == 2, repr([x[1].get("x-node") for x in r]))

    # HEAD: Content-Length kept, no body expected
    out, _ = exchange(port, b"HEAD /bkt/k HTTP/1.1\r\n" + host.encode() +
                      b"\r\nGET /bkt/after HTTP/1.1\r\n" + host.encode() + b"Connection: close\r\n\r\n")
    check("HEAD relayed without a body, next request follows",
          out.startswith(b"HTTP/1.1 200") and b"Content-Length: 1234" in out and
          out.count(b"HTTP/1.1 200") == 2 and b'"/bkt/after"' in out, repr(out[:400]))

    # chunked both ways, raw framing preserved
    body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32: AAAA\r\n\r\n"
    out, _ = exchange(port, b"PUT /bkt/chunky HTTP/1.1\r\n" + host.encode() +
                      b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body)
    seen = [r for r in n1.requests + n2.requests if b"/bkt/chunky" in r[0]]
    check("chunked request body relayed byte for byte", seen and seen[-1][1] == body,
          repr(seen[-1][1] if seen else None))
    out, _ = exchange(port, b"GET /chunked HTTP/1.1\r\n" + host.encode() + b"Connection: close\r\n\r\n")
    check("chunked response relayed", out.endswith(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
          repr(out))

    # Expect: 100-continue relayed faithfully (the node decides)
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.sendall(b"PUT /bkt/exp HTTP/1.1\r\n" + host.encode() +
              b"Content-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
    first = s.recv(100)
    s.sendall(b"abcde")
    rest = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        rest += d
    s.close()
    check("100 Continue relayed before the body",
          first.startswith(b"HTTP/1.1 100 Continue") and b'"len": 5' in rest, repr(first + rest))
    out, _ = exchange(port, b"PUT /early403 HTTP/1.1\r\n" + host.encode() +
                      b"Content-Length: 100000\r\nExpect: 100-continue\r\n\r\n", timeout=5)
    check("a node's early final answer to Expect is relayed, then close",
          out.startswith(b"HTTP/1.1 403") and b"Connection: close" in out, repr(out[:300]))

    # response until EOF
    out, how = exchange(port, b"GET /eof HTTP/1.1\r\n" + host.encode() + b"\r\n")
    check("response delimited by EOF relayed, then close",
          out.endswith(b"until-eof-body") and how == "eof", repr(out))

    # bad input: status, connection closed, nothing reached a node
    before = nreq(n1, n2)
    cases = [
        ("header block over the limit -> 431", b"GET /bkt/k HTTP/1.1\r\n" + host.encode() +
         b"X-Big: " + b"a" * 5000 + b"\r\n\r\n", 431),
        ("too many headers -> 431", b"GET /bkt/k HTTP/1.1\r\n" + host.encode() +
         b"".join(b"X-H%d: v\r\n" % i for i in range(30)) + b"\r\n", 431),
        ("Content-Length with Transfer-Encoding -> 400", b"POST /bkt/k HTTP/1.1\r\n" +
         host.encode() + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("two different Content-Length -> 400", b"PUT /bkt/k HTTP/1.1\r\n" + host.encode() +
         b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef", 400),
        ("absolute-form for a foreign host -> 400", b"GET http://example.com/x HTTP/1.1\r\n"
         b"Host: example.com\r\n\r\n".replace(b"Host: example.com", b"Host: s3.local"), 400),
        ("CONNECT -> 400", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 400),
        ("missing Host -> 400", b"GET /bkt/k HTTP/1.1\r\n\r\n", 400),
        ("obs-fold / bad header syntax -> 400", b"GET /bkt/k HTTP/1.1\r\n" + host.encode() +
         b"Bad Header: x\r\n\r\n", 400),
    ]
    for name, data, status in cases:
        out, how = exchange(port, data, shut=False)
        ok = out.startswith(b"HTTP/1.1 %d" % status) and how == "eof"
        ok = ok and b"<Error><Code>" in out and b"x-amz-request-id:" in out
        check(name + " (closed)", ok, "%s %r" % (how, out[:300]))
    # invalid chunk framing: the head may have gone to a node, the bad body never completes there
    out, how = exchange(port, b"PUT /bkt/badchunk HTTP/1.1\r\n" + host.encode() +
                        b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n")
    check("invalid chunk framing -> 400 and close",
          out.startswith(b"HTTP/1.1 400") and how == "eof", repr(out[:200]))
    t0 = time.time()
    out, how = exchange(port, b"GET /bkt/k HTTP/1.1\r\n" + host.encode(), timeout=5)
    took = time.time() - t0
    check("slow header sender cut at the header timeout -> 408",
          out.startswith(b"HTTP/1.1 408") and how == "eof" and 0.8 < took < 3,
          "%.2fs %s %r" % (took, how, out[:200]))
    check("none of the bad requests reached a node",
          nreq(n1, n2) - before == len([r for r in n1.requests + n2.requests
                                        if b"/bkt/badchunk" in r[0]]),
          "%d new requests at the nodes" % (nreq(n1, n2) - before))

    # a request body that stalls -> 400 RequestTimeout
    out, how = exchange(port, b"PUT /bkt/stall HTTP/1.1\r\n" + host.encode() +
                        b"Content-Length: 100\r\n\r\n0123456789", timeout=6)
    check("stalled request body -> 400 RequestTimeout",
          out.startswith(b"HTTP/1.1 400") and b"<Code>RequestTimeout</Code>" in out, repr(out[:300]))

    # a node that resets mid-response: the client sees an aborted connection, not a short 200
    out, how = exchange(port, b"GET /reset HTTP/1.1\r\n" + host.encode() + b"\r\n")
    hdr_end = out.find(b"\r\n\r\n")
    check("reset mid-response aborts the client connection",
          out.startswith(b"HTTP/1.1 200") and how in ("reset", "eof") and
          len(out) - hdr_end - 4 < 1000000,
          "%s, %d body bytes" % (how, len(out) - hdr_end - 4))

    # slow client: a 64 MiB response read slowly must not be buffered in s3lb
    rss0 = lb.rss_kb()
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"GET /big?n=67108864 HTTP/1.1\r\n" + host.encode() + b"Connection: close\r\n\r\n")
    got = len(s.recv(65536))
    time.sleep(1.5)
    rss1 = lb.rss_kb()
    s.settimeout(30)
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        got += len(d)
    s.close()
    check("slow reader: memory stays bounded (RSS grew %d KiB while 64 MiB waited)" % (rss1 - rss0),
          rss1 - rss0 < 4096 and got > 67108864, "rss %d -> %d KiB, got %d" % (rss0, rss1, got))

    # no route -> NoSuchBucket without touching a node
    before = nreq(n1, n2)
    lb.rewrite(config(port, admin, [n1.addr, n2.addr],
                      routes="      - { bucket: \"only-*\", pool: p }\n"))
    lb.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    out, _ = exchange(port, b"GET /other/k HTTP/1.1\r\n" + host.encode() + b"Connection: close\r\n\r\n")
    check("SIGHUP reload applies new routes; no route -> 404 NoSuchBucket",
          out.startswith(b"HTTP/1.1 404") and b"<Code>NoSuchBucket</Code>" in out and
          b"<Resource>/other/k</Resource>" in out and nreq(n1, n2) == before, repr(out[:400]))
    out, _ = exchange(port, b"GET /only-x/k HTTP/1.1\r\n" + host.encode() + b"Connection: close\r\n\r\n")
    check("routed bucket still served after reload", out.startswith(b"HTTP/1.1 200"), repr(out[:200]))

    # a stopped node: requests go to the others (GET and PUT: connect failures never reached it)
    lb.rewrite(config(port, admin, [dead, n1.addr]))
    lb.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    codes = []
    for i in range(10):
        m = b"GET" if i % 2 else b"PUT"
        out, _ = exchange(port, m + b" /bkt/r%d HTTP/1.1\r\n" % i + host.encode() +
                          b"Content-Length: 3\r\nConnection: close\r\n\r\nabc")
        codes.append(out[:12])
    check("node refusing connections: all requests served by the other",
          all(c == b"HTTP/1.1 200" for c in codes), repr(codes))

    # no node at all -> 503 ServiceUnavailable
    lb.rewrite(config(port, admin, [dead]))
    lb.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    out, _ = exchange(port, b"GET /bkt/k HTTP/1.1\r\n" + host.encode() + b"Connection: close\r\n\r\n")
    check("no node reachable -> 503 ServiceUnavailable",
          out.startswith(b"HTTP/1.1 503") and b"<Code>ServiceUnavailable</Code>" in out, repr(out[:300]))

    lb.rewrite(config(port, admin, [n1.addr, n2.addr]))
    lb.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)

    # retries only when safe: a node that reads the request and closes without answering
    def count(path):
        return len([r for r in n1.requests + n2.requests if (b" " + path + b" ") in r[0]])
    out, _ = exchange(port, b"GET /drop/g HTTP/1.1\r\n" + host.encode() + b"Connection: close\r\n\r\n")
    check("idempotent GET retried on the other node, then 502",
          count(b"/drop/g") == 2 and out.startswith(b"HTTP/1.1 502"), "%d attempts, %r" % (
              count(b"/drop/g"), out[:100]))
    out, _ = exchange(port, b"POST /drop/p?uploads HTTP/1.1\r\n" + host.encode() +
                      b"Content-Length: 0\r\nConnection: close\r\n\r\n")
    check("non-idempotent POST that reached a node is not retried -> 502",
          count(b"/drop/p?uploads") == 1 and out.startswith(b"HTTP/1.1 502"), "%d attempts, %r" % (
              count(b"/drop/p?uploads"), out[:100]))
    t0 = time.time()
    out, _ = exchange(port, b"GET /hang HTTP/1.1\r\n" + host.encode() + b"Connection: close\r\n\r\n",
                      timeout=10)
    took = time.time() - t0
    check("no response head within upstream_header (2s) on either node -> 504",
          out.startswith(b"HTTP/1.1 504") and 3.5 < took < 6, "%.1fs %r" % (took, out[:100]))

    # admin endpoint
    st, _ = exchange(admin, b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    body = st[st.find(b"\r\n\r\n") + 4:]
    try:
        j = json.loads(body)
        ok = j["pools"][0]["name"] == "p" and len(j["pools"][0]["nodes"]) == 2
    except Exception as e:  # noqa: BLE001
        ok = False
        body = repr(e).encode() + body
    check("admin /status is JSON with pools and nodes", ok, repr(body[:300]))
    mt, _ = exchange(admin, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    check("admin /metrics has request counters",
          b's3lb_requests_total{pool="p",op="read",status="200"}' in mt, repr(mt[:300]))

    # SIGTERM: an in-flight request finishes, then s3lb exits 0
    s = socket.create_connection(("127.0.0.1", port), 10)
    s.sendall(b"GET /slowhead HTTP/1.1\r\n" + host.encode() + b"\r\n")
    time.sleep(0.3)
    lb.proc.send_signal(signal.SIGTERM)
    out = b""
    s.settimeout(10)
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    s.close()
    rc = lb.proc.wait(10)
    check("SIGTERM lets the in-flight request finish, then exits 0",
          out.startswith(b"HTTP/1.1 200") and b"Connection: close" in out and rc == 0,
          "rc=%s %r" % (rc, out[:200]))


def run_limits(lb, port, n1, n2):
    host = b"Host: s3.local\r\n"
    # keep-alive to nodes: sequential requests from fresh client connections reuse one
    # connection per node (max_conns_per_node: 1 would refuse a second one anyway)
    c0 = n1.conns + n2.conns
    for i in range(10):
        out, _ = exchange(port, b"GET /bkt/ka%d HTTP/1.1\r\n" % i + host + b"Connection: close\r\n\r\n")
        if not out.startswith(b"HTTP/1.1 200"):
            break
    check("upstream keep-alive: 10 requests over at most 2 node connections",
          out.startswith(b"HTTP/1.1 200") and n1.conns + n2.conns - c0 <= 2,
          "%d new node connections" % (n1.conns + n2.conns - c0))
    # X-Real-IP: ours replaces a client-supplied one
    exchange(port, b"GET /bkt/realip HTTP/1.1\r\n" + host + b"X-Real-IP: 6.6.6.6\r\nConnection: close\r\n\r\n")
    seen = [r for r in n1.requests + n2.requests if b"/bkt/realip" in r[0]]
    check("X-Real-IP set by s3lb, the client's dropped",
          seen and b"X-Real-IP: 127.0.0.1\r\n" in seen[-1][0] and b"6.6.6.6" not in seen[-1][0],
          repr(seen[-1][0] if seen else None))
    # both nodes busy (max_conns_per_node: 1) -> SlowDown
    a = socket.create_connection(("127.0.0.1", port), 5)
    b = socket.create_connection(("127.0.0.1", port), 5)
    a.sendall(b"GET /slowhead HTTP/1.1\r\n" + host + b"\r\n")
    b.sendall(b"GET /slowhead HTTP/1.1\r\n" + host + b"\r\n")
    time.sleep(0.3)
    out, _ = exchange(port, b"GET /bkt/k HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n")
    check("every node at its connection limit -> 503 SlowDown",
          out.startswith(b"HTTP/1.1 503") and b"<Code>SlowDown</Code>" in out, repr(out[:300]))
    # client connection limit (3): a and b are open; a third is served, a fourth is refused.
    # The SlowDown above lingers until s3lb has read our close: give it that time first, or c
    # may come while that connection still counts
    time.sleep(0.3)
    c = socket.create_connection(("127.0.0.1", port), 5)
    time.sleep(0.2)
    out, _ = exchange(port, b"GET /bkt/k HTTP/1.1\r\n" + host + b"\r\n")
    check("client connection limit -> 503 SlowDown and close",
          out.startswith(b"HTTP/1.1 503") and b"<Code>SlowDown</Code>" in out and
          b"Connection: close" in out, repr(out[:300]))
    for x in (a, b, c):
        x.close()


def run_hash(port):
    host = b"Host: s3.local\r\n"
    placement = {}
    ok = True
    for rnd in range(3):
        for i in range(20):
            out, _ = exchange(port, b"GET /bkt/obj-%d HTTP/1.1\r\n" % i + host +
                              b"Connection: close\r\n\r\n")
            r = responses(out)
            node = r[0][1].get("x-node") if r else None
            if placement.setdefault(i, node) != node:
                ok = False
    check("hash-key: each object always goes to the same node, both nodes used",
          ok and len(set(placement.values())) == 2, repr(placement))


if __name__ == "__main__":
    sys.exit(main())
