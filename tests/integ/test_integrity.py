#!/usr/bin/env python3
"""Request-integrity regressions (issue 9's defects), against a scripted node that logs every byte.

One node behind s3lb and one pooled node connection (max_conns_per_node: 1), so that requests of
different clients follow each other on the same upstream connection, which is where a smuggled
request shows: the victim's request absorbed into the attacker's, the victim answered with the
attacker's response. Each case prints `ok <name>` or `FAIL <name>: detail`; any failure exits 1.
"""
import json
import os
import re
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_protocol as tp  # noqa: E402  (S3lb, config, exchange, responses, check)

check = tp.check


class Node:
    """A node on 127.0.0.x that keeps, per accepted connection, every byte received and how the
    connection ended ('eof' or 'reset'), and answers per path (see respond)."""

    def __init__(self, host):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.addr = "%s:%d" % self.sock.getsockname()
        self.lock = threading.Lock()
        self.conns = []  # [{"raw": bytearray, "end": None|"eof"|"reset", "heads": [...]}]
        self.pause_body = 0.0  # seconds to wait before reading a request body
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rec = {"raw": bytearray(), "end": None, "reqs": []}
            with self.lock:
                self.conns.append(rec)
            threading.Thread(target=self.serve, args=(c, rec), daemon=True).start()

    def recv(self, c, rec):
        d = c.recv(65536)
        with self.lock:
            rec["raw"] += d
        return d

    def serve(self, c, rec):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = self.recv(c, rec)
                    if not d:
                        rec["end"] = "eof"
                        return
                    buf += d
                i = buf.index(b"\r\n\r\n") + 4
                head, buf = buf[:i], buf[i:]
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                hdrs = {}
                for l in lines[1:]:
                    if ":" in l:
                        k, v = l.split(":", 1)
                        hdrs[k.strip().lower()] = v.strip()
                if "user-agent" in hdrs and hdrs["user-agent"].startswith("s3lb-health"):
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    continue
                if path.startswith("/slowread"):
                    time.sleep(self.pause_body)
                if hdrs.get("transfer-encoding", "").lower() == "chunked":
                    # raw chunked body up to its end (no trailers in these cases)
                    while not (buf.startswith(b"0\r\n\r\n") or b"\r\n0\r\n\r\n" in buf):
                        d = self.recv(c, rec)
                        if not d:
                            rec["end"] = "eof"
                            return
                        buf += d
                    n = 5 if buf.startswith(b"0\r\n\r\n") else buf.index(b"\r\n0\r\n\r\n") + 7
                else:
                    n = int(hdrs.get("content-length", "0") or "0")
                    acc = bytearray(buf)
                    while len(acc) < n:
                        d = self.recv(c, rec)
                        if not d:
                            rec["end"] = "eof"
                            return
                        acc += d
                    buf = bytes(acc)
                body, buf = buf[:n], buf[n:]
                with self.lock:
                    rec["reqs"].append((method, path, head, body))
                if not self.respond(c, method, path, hdrs, body):
                    return
        except ConnectionResetError:
            rec["end"] = "reset"
        except OSError:
            rec["end"] = rec["end"] or "error"
        finally:
            c.close()

    def respond(self, c, method, path, hdrs, body):
        if path.startswith("/emptymeta"):
            c.sendall(b"HTTP/1.1 200 OK\r\nx-amz-meta-a:\r\nETag: \"e\"\r\n"
                      b"Content-Length: 3\r\n\r\nbar")
            return True
        if path.startswith("/stray"):
            # a body after a HEAD response, as a node that ignores HEAD would send it
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
            time.sleep(0.05)
            c.sendall(b"hello")
            return True
        m = re.match(r"/interim(\d+)", path)
        if m:
            c.sendall(b"HTTP/1.1 102 Processing\r\n\r\n" * int(m.group(1)))
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            return True
        m = re.match(r"/big(\d+)", path)
        if m:
            n = int(m.group(1))
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % n)
            chunk = bytes(range(256)) * 256
            sent = 0
            while sent < n:
                k = min(len(chunk), n - sent)
                c.sendall(chunk[:k])
                sent += k
            return True
        payload = json.dumps({"path": path, "len": len(body),
                              "auth": hdrs.get("authorization", "")}).encode()
        if method == "HEAD":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(payload))
        else:
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload))
        return True

    def reqs(self):
        with self.lock:
            return [r for rec in self.conns for r in rec["reqs"]]

    def raw(self):
        with self.lock:
            return b"".join(bytes(rec["raw"]) for rec in self.conns)


def sock(port):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(5)
    return s


def read_response(s):
    """One response with a Content-Length body: (status, headers, body) or None on EOF/reset."""
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                return None
            buf += d
        i = buf.index(b"\r\n\r\n") + 4
        lines = buf[:i].decode("latin-1").split("\r\n")
        hdrs = {}
        for l in lines[1:]:
            if ":" in l:
                k, v = l.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        body = buf[i:]
        while len(body) < n:
            d = s.recv(65536)
            if not d:
                return None
            body += d
        return int(lines[0].split()[1]), hdrs, body[:n]
    except (ConnectionResetError, socket.timeout):
        return None


HOST = b"Host: s3.local\r\n"


def smuggling_empty_value(port, node):
    # The attacker's head has an empty header value; with the defect the node's head ended at
    # it, the rest of the head became body bytes, and the tail of the attacker's body became an
    # incomplete PUT that swallowed the next request on the pooled connection.
    smuggled = b"PUT /bkt/stolen HTTP/1.1\r\nHost: s3.local\r\nContent-Length: 400\r\n\r\n"
    rest = b"X-Pad: %s\r\nX-Forwarded-For: 127.0.0.1\r\n\r\n"
    pad = b"p" * (len(smuggled) - len(rest % b""))
    assert len(rest % pad) == len(smuggled)
    body = b"f" * 200 + smuggled
    attacker = (b"PUT /bkt/attacker HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n" % len(body) +
                b"X-A:\r\nX-Pad: " + pad + b"\r\n\r\n" + body)
    a = sock(port)
    a.sendall(attacker)
    ra = read_response(a)
    v = sock(port)
    v.sendall(b"GET /bkt/victim HTTP/1.1\r\n" + HOST + b"Authorization: AWS4 victim-secret\r\n\r\n")
    rv = read_response(v)
    a.close()
    v.close()
    time.sleep(0.1)
    reqs = [(m, p, len(b)) for m, p, h, b in node.reqs()]
    check("empty header value: the attacker's PUT arrives whole",
          ("PUT", "/bkt/attacker", len(body)) in reqs and ("PUT", "/bkt/stolen", 400) not in reqs,
          repr(reqs[-4:]))
    check("empty header value: the victim's request reaches the node intact",
          any(p == "/bkt/victim" and b"victim-secret" in h for m, p, h, b in node.reqs()),
          repr(reqs[-4:]))
    check("empty header value: the victim gets its own response",
          rv is not None and rv[0] == 200 and json.loads(rv[2])["path"] == "/bkt/victim",
          repr(rv))
    check("empty header value: the attacker gets its own response",
          ra is not None and ra[0] == 200 and json.loads(ra[2])["path"] == "/bkt/attacker",
          repr(ra))


def empty_values_both_ways(port, node):
    s = sock(port)
    s.sendall(b"PUT /bkt/meta HTTP/1.1\r\n" + HOST + b"x-amz-meta-a:\r\nx-amz-meta-b:   \r\n"
              b"Content-Length: 3\r\n\r\nbar")
    r = read_response(s)
    got = [(h, b) for m, p, h, b in node.reqs() if p == "/bkt/meta"]
    check("PUT with empty metadata values: head and body arrive whole",
          r is not None and r[0] == 200 and got and b"x-amz-meta-a:\r\n" in got[-1][0] and
          b"x-amz-meta-b:   \r\n" in got[-1][0] and b"Content-Length: 3\r\n" in got[-1][0] and
          got[-1][1] == b"bar", repr((r, got[-1:])))
    s.sendall(b"GET /emptymeta HTTP/1.1\r\n" + HOST + b"\r\n")
    r = read_response(s)
    check("GET of an object with an empty metadata value: the right body and header",
          r is not None and r[0] == 200 and r[2] == b"bar" and r[1].get("x-amz-meta-a") == "" and
          r[1].get("etag") == '"e"', repr(r))
    s.close()


def refused(port, node, name, req, status):
    before = node.raw()
    out, how = tp.exchange(port, req, timeout=3)
    time.sleep(0.1)
    check(name, out.startswith(b"HTTP/1.1 %d" % status) and node.raw() == before,
          repr((out[:120], how, node.raw()[len(before):][:200])))


def connection_names_framing(port, node):
    refused(port, node, "Connection: Content-Length -> 400, nothing at the node",
            b"PUT /bkt/x HTTP/1.1\r\n" + HOST + b"Content-Length: 30\r\nConnection: Content-Length"
            b"\r\n\r\nGET /bkt/smuggled HTTP/1.1\r\n\r\n", 400)
    refused(port, node, "Connection: Transfer-Encoding -> 400, nothing at the node",
            b"PUT /bkt/x HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n"
            b"Connection: keep-alive, transfer-encoding\r\n\r\n0\r\n\r\n", 400)
    refused(port, node, "Connection: Host -> 400, nothing at the node",
            b"GET /other/k HTTP/1.1\r\nHost: bkt.s3.local\r\nConnection: Host\r\n\r\n", 400)
    refused(port, node, "empty Host -> 400, nothing at the node",
            b"GET /bkt/k HTTP/1.1\r\nHost:\r\n\r\n", 400)


def leading_crlf(port, node):
    out, _ = tp.exchange(port, b"\r\n\r\nDELETE /bkt/crlf HTTP/1.1\r\n" + HOST +
                         b"Connection: close\r\n\r\n")
    heads = [h for m, p, h, b in node.reqs() if p == "/bkt/crlf"]
    check("empty lines before the request line: the node gets the method whole",
          out.startswith(b"HTTP/1.1 200") and heads and
          heads[-1].startswith(b"DELETE /bkt/crlf HTTP/1.1\r\n"), repr(heads[-1:]))


def framing_before_the_head(port, node):
    for te, status in ((b"gzip", 400), (b"xchunked", 400), (b"gzip, chunked", 501),
                       (b"chunked, gzip", 400)):
        refused(port, node, "Transfer-Encoding: %s -> %d before anything reaches the node" % (
            te.decode(), status),
            b"PUT /bkt/te HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: " + te + b"\r\n\r\n"
            b"5\r\nhello\r\n0\r\n\r\n", status)
    refused(port, node, "Transfer-Encoding in HTTP/1.0 -> 400, nothing at the node",
            b"PUT /bkt/te10 HTTP/1.0\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\n", 400)
    # bad chunk framing in the same read as the head: nothing at all reaches the node
    refused(port, node, "bad chunk framing with the head -> 400, nothing at the node",
            b"PUT /bkt/badchunk0 HTTP/1.1\r\n" + HOST +
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n", 400)
    # bad chunk framing after a good chunk: the node has the head and a part of the body, and
    # its connection is reset, so it can never complete the request
    s = sock(port)
    s.sendall(b"PUT /bkt/badchunk HTTP/1.1\r\n" + HOST +
              b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    time.sleep(0.3)
    s.sendall(b"zz\r\n")
    r = read_response(s)
    s.close()
    time.sleep(0.2)
    with node.lock:
        recs = [x for x in node.conns if b"/bkt/badchunk " in x["raw"]]
    check("bad chunk framing mid-body -> 400, the node's connection reset, no request completed",
          r is not None and r[0] == 400 and recs and recs[-1]["end"] == "reset" and
          recs[-1]["raw"].endswith(b"5\r\nhello\r\n") and
          not any(p == "/bkt/badchunk" for m, p, h, b in node.reqs()),
          repr((r, [(x["end"], bytes(x["raw"][-40:])) for x in recs])))


def trickled_body(port, node):
    # client_body 1s, min_body_rate 1KiB: a body trickled at a byte per 0.3 s is refused after
    # about a second, although no gap between its bytes reaches client_body
    s = sock(port)
    s.sendall(b"PUT /bkt/trickle HTTP/1.1\r\n" + HOST + b"Content-Length: 100\r\n\r\n")
    t0 = time.time()
    out = b""
    s.settimeout(0.3)
    while time.time() - t0 < 6:
        try:
            s.send(b"x")
        except OSError:
            break
        try:
            d = s.recv(65536)
            if not d:
                break
            out += d
        except socket.timeout:
            pass
        except ConnectionResetError:
            break
    took = time.time() - t0
    s.close()
    check("a trickled body -> 400 RequestTimeout within 3 s (limits.min_body_rate)",
          out.startswith(b"HTTP/1.1 400") and b"RequestTimeout" in out and took < 3,
          "%.1fs %r" % (took, out[:200]))


def slow_client_is_not_the_node(port, node, admin):
    # upstream_read 3s; the client reads nothing for 4.5 s while s3lb holds a full buffer: the
    # node is not blamed (no upstream timeout) and the client gets every byte
    n = 8 << 20
    s = sock(port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"GET /big%d HTTP/1.1\r\n" % n + HOST + b"Connection: close\r\n\r\n")
    time.sleep(4.5)
    got = 0
    s.settimeout(10)
    try:
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            got += len(d)
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    head = len(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % n)
    with open(os.path.join(tp.TMP, "s3lb.log")) as f:
        log = f.read()
    check("a slow reader gets the whole body; upstream_read does not fire",
          got == n + head and "upstream read timeout" not in log, "%d of %d" % (got, n + head))
    # the node stops reading a request body for 1.8 s (upstream_read 3s): client_body (1s) must
    # not fire while the node holds the body up (32 MiB: more than the sockets buffer)
    node.pause_body = 1.8
    body = b"b" * (32 << 20)
    s = sock(port)
    s.sendall(b"PUT /slowread HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n\r\n" % len(body))
    t = threading.Thread(target=lambda: s.sendall(body), daemon=True)
    t.start()
    r = read_response(s)
    s.close()
    node.pause_body = 0
    check("a node slow to take a body: the client is not timed out",
          r is not None and r[0] == 200 and json.loads(r[2])["len"] == len(body), repr(r))


def stray_after_head(port, node):
    # the node sends 5 body bytes 50 ms after a HEAD response: the connection must not carry
    # them into the next request's response
    out, _ = tp.exchange(port, b"HEAD /stray HTTP/1.1\r\n" + HOST + b"\r\n", timeout=1)
    time.sleep(0.3)
    ok = True
    detail = []
    for i in range(3):
        s = sock(port)
        s.sendall(b"HEAD /stray HTTP/1.1\r\n" + HOST + b"\r\nGET /bkt/after%d HTTP/1.1\r\n" % i +
                  HOST + b"\r\n")
        r1 = read_response_head(s)
        r2 = read_response(s)
        s.close()
        if not (r1 == 200 and r2 is not None and r2[0] == 200 and
                json.loads(r2[2])["path"] == "/bkt/after%d" % i):
            ok = False
            detail.append((r1, r2))
    check("bytes a node sends after a HEAD response never reach the next request", ok,
          repr(detail))


def read_response_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(1)
        if not d:
            return None
        buf += d
    return int(buf.split(b" ")[1])


def interims(port, node):
    out, _ = tp.exchange(port, b"GET /interim1 HTTP/1.0\r\n" + HOST + b"\r\n")
    check("1xx responses are not relayed to HTTP/1.0 clients",
          out.startswith(b"HTTP/1.1 200") and b"102" not in out and out.endswith(b"ok"),
          repr(out[:200]))
    out, _ = tp.exchange(port, b"GET /interim3 HTTP/1.1\r\n" + HOST + b"Connection: close\r\n\r\n")
    check("a few 1xx responses are relayed to HTTP/1.1 clients",
          out.count(b"HTTP/1.1 102 Processing\r\n\r\n") == 3 and out.endswith(b"ok"),
          repr(out[:200]))
    out, how = tp.exchange(port, b"GET /interim1000 HTTP/1.1\r\n" + HOST + b"\r\n")
    check("1000 1xx responses: at most 16 relayed, then the connection is aborted",
          out.count(b"102 Processing") <= 16 and b"200 OK" not in out, "%d relayed, %s" % (
              out.count(b"102 Processing"), how))


def lingering_close(port, node):
    # A client that writes its whole request before it reads (as most do): a 4 MB header block
    # against a 4 KiB limit. If s3lb closes with the client's bytes unread, the kernel resets the
    # connection and the client's write fails before it ever reads the 431.
    ok = 0
    detail = []
    for i in range(5):
        s = sock(port)
        big = b"GET /bkt/k HTTP/1.1\r\n" + HOST + b"X-Big: " + b"a" * (4 << 20) + b"\r\n\r\n"
        out = b""
        try:
            s.sendall(big)
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except (ConnectionResetError, BrokenPipeError, socket.timeout) as e:
            detail.append(repr(e))
        s.close()
        if out.startswith(b"HTTP/1.1 431"):
            ok += 1
    check("431 for a huge header block reaches a client that writes before it reads "
          "(lingering close)", ok == 5, "%d of 5 %s" % (ok, detail))


def _send_quietly(s, data):
    try:
        s.sendall(data)
    except OSError:
        pass


def main():
    if not os.path.exists(tp.BIN):
        print("FAIL: s3lb binary not found at " + tp.BIN)
        return 1
    node = Node("127.0.0.34")
    port, admin = tp.free_port(), tp.free_port()
    cfg = tp.config(port, admin, [node.addr],
                    extra="    max_conns_per_node: 1\n    max_idle_per_node: 1\n",
                    limits=", min_body_rate: 1KiB",
                    timeouts=", upstream_read: 3s, client_send: 10s",
                    fe_extra="    x_forwarded_for: true\n",
                    workers=1)  # every client on the one pooled node connection
    lb = tp.S3lb(cfg)
    try:
        tp.wait_port(port)
        smuggling_empty_value(port, node)
        empty_values_both_ways(port, node)
        connection_names_framing(port, node)
        leading_crlf(port, node)
        framing_before_the_head(port, node)
        trickled_body(port, node)
        stray_after_head(port, node)
        interims(port, node)
        lingering_close(port, node)
        slow_client_is_not_the_node(port, node, admin)
    finally:
        lb.stop()
    if lb.proc.returncode not in (0, None):
        check("s3lb exits 0 on SIGTERM", False, "exit %s" % lb.proc.returncode)
    print("%d failed" % len(tp.FAILED) if tp.FAILED else "all integrity cases passed")
    if tp.FAILED:
        print("logs kept in " + tp.TMP)
    return 1 if tp.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
