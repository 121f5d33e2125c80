#!/usr/bin/env python3
"""Response bodies moved by splice(2) (limits.splice_min): the client gets exactly the node's bytes
or an aborted connection, whatever the size, the reader's speed or the way either side ends.

A scripted node serves deterministic bodies (GET /obj/SIZE; /cut/SIZE/AT ends the connection after
AT body bytes, /reset/SIZE/AT resets it, /stall/SIZE/AT stops sending). The checks: the body's
SHA-256 and length; keep-alive on both sides after a spliced body; the counters in /metrics show
splicing for bodies at or above the threshold and none below it; a truncated, reset or stalled
body aborts the client connection (never a short body that looks whole); a client that goes away
mid-body leaves no fd behind; the pipes s3lb holds stay bounded over rounds of concurrent
downloads. Run time: about 10 s under the ASan build. Each case prints `ok NAME` or `FAIL NAME`.
"""
import hashlib
import os
import re
import select
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_protocol as tp  # noqa: E402

check = tp.check
SPLICE_MIN = 128 << 10


def pattern(size):
    """The body of /obj/SIZE: a counter pattern, so a shifted or repeated span shows."""
    block = b"".join(struct.pack(">I", i) for i in range(16384))  # 64 KiB
    out = bytearray()
    while len(out) < size:
        out += block
    return bytes(out[:size])


BODY = pattern(64 << 20)


class Node:
    def __init__(self, host):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.addr = "%s:%d" % self.sock.getsockname()
        self.lock = threading.Lock()
        self.ends = []  # how each served connection ended
        self.puts = []  # ("complete" | "incomplete", body bytes received) per PUT
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        end = "eof"
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                i = buf.index(b"\r\n\r\n") + 4
                head, buf = buf[:i].decode("latin-1"), buf[i:]
                method, path = head.split(" ")[:2]
                if "s3lb-health" in head:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    continue
                if method == "PUT":
                    if not self.take_put(c, head, buf, path):
                        return
                    buf = b""
                    continue
                m = re.match(r"/(obj|cut|reset|stall)/(\d+)(?:/(\d+))?", path)
                kind, size = m.group(1), int(m.group(2))
                at = int(m.group(3) or size)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nETag: \"x\"\r\n\r\n" % size)
                if method == "HEAD":
                    continue
                view = memoryview(BODY)
                sent = 0
                while sent < at:
                    n = c.send(view[sent:min(at, sent + (1 << 20))])
                    sent += n
                if kind == "cut":
                    end = "cut"
                    return
                if kind == "reset":
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    end = "reset"
                    return
                if kind == "stall":
                    time.sleep(4)
                    end = "stalled"
                    return
        except OSError as e:
            end = "error " + e.__class__.__name__
        finally:
            with self.lock:
                self.ends.append(end)
            c.close()


    def take_put(self, c, head, buf, path):
        """A PUT body read whole (after a pause for /slowput): answered with its SHA-256 and
        length; one that ends short is recorded as incomplete (the node never saw a request)."""
        n = int(re.search(r"(?i)\r\ncontent-length: *(\d+)", head).group(1))
        if path.startswith("/slowput"):
            time.sleep(3)
        h = hashlib.sha256(buf[:n])
        got = len(buf[:n])
        while got < n:
            try:
                d = c.recv(min(1 << 20, n - got))
            except OSError:
                d = b""  # reset: s3lb aborted the request
            if not d:
                with self.lock:
                    self.puts.append(("incomplete", got))
                return False
            h.update(d)
            got += len(d)
        with self.lock:
            self.puts.append(("complete", got))
        body = b"%s %d" % (h.hexdigest().encode(), got)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        return True


def read_head(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            raise ConnectionError("closed before the head: %r" % buf[:200])
        buf += d
    i = buf.index(b"\r\n\r\n") + 4
    head = buf[:i].decode("latin-1")
    m = re.search(r"(?i)\r\ncontent-length: *(\d+)", head)
    return head, (int(m.group(1)) if m else None), buf[i:]


def get(s, path, method="GET", slow=0.0):
    """One request on socket s. Returns (status, declared length, body, how the body ended)."""
    s.sendall(b"%s %s HTTP/1.1\r\nHost: b.s3.local\r\n\r\n" % (method.encode(), path.encode()))
    head, n, rest = read_head(s)
    status = int(head.split(" ")[1])
    if method == "HEAD":
        return status, n, b"", "head"
    body = bytearray(rest)
    how = "whole"
    try:
        while len(body) < n:
            d = s.recv(min(1 << 20, n - len(body)) if not slow else 16384)
            if not d:
                how = "eof"
                break
            body += d
            if slow:
                time.sleep(slow)
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        how = "timeout"
    return status, n, bytes(body), how


def metrics(admin):
    out, _ = tp.exchange(admin, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    vals = {}
    for name in ("s3lb_spliced_responses_total", "s3lb_spliced_requests_total",
                 "s3lb_spliced_bytes_total",
                 "s3lb_splice_fallbacks_total"):
        m = re.search(rb"\n" + name.encode() + rb" (\d+)", out)
        vals[name] = int(m.group(1)) if m else None
    return vals


def fds(pid):
    kinds = {"pipe": 0, "socket": 0, "other": 0}
    for f in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, f))
        except OSError:
            continue
        kinds["pipe" if t.startswith("pipe:") else "socket" if t.startswith("socket:")
              else "other"] += 1
    return kinds


def conn(port):
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(10)
    return s


def sizes_and_counters(port, admin):
    before = metrics(admin)
    check("the splice counters are exported", None not in before.values(), str(before))
    if None in before.values():
        return
    sizes = [0, 1, 65536, SPLICE_MIN - 1, SPLICE_MIN, SPLICE_MIN + 1, 1 << 20, (16 << 20) + 7,
             64 << 20]
    s = conn(port)
    spliced = 0
    spliced_bytes = 0
    for size in sizes:
        st, n, body, how = get(s, "/obj/%d" % size)
        ok = st == 200 and n == size and how == "whole" and \
            hashlib.sha256(body).digest() == hashlib.sha256(BODY[:size]).digest()
        check("GET of %d bytes is byte-exact on one keep-alive connection" % size, ok,
              "status %d, %d of %s bytes, %s" % (st, len(body), n, how))
    # a HEAD of a large object has no body to splice, and the connection stays usable
    st, n, body, how = get(s, "/obj/%d" % (8 << 20), method="HEAD")
    check("HEAD of a large object: no body", st == 200 and n == 8 << 20 and body == b"")
    st, n, body, how = get(s, "/obj/%d" % (2 << 20))
    check("GET after HEAD on the same connection is byte-exact",
          how == "whole" and body == BODY[:2 << 20], "%d bytes, %s" % (len(body), how))
    s.close()
    after = metrics(admin)
    # a body is spliced when more than splice_min is left after the bytes that came with the head;
    # how many came with the head depends on timing, so count only what must have been spliced
    must = [x for x in sizes + [2 << 20] if x >= 2 * SPLICE_MIN]
    may = [x for x in sizes + [2 << 20] if x >= SPLICE_MIN]
    spliced = after["s3lb_spliced_responses_total"] - before["s3lb_spliced_responses_total"]
    spliced_bytes = after["s3lb_spliced_bytes_total"] - before["s3lb_spliced_bytes_total"]
    check("every large body was spliced, no small one",
          len(must) <= spliced <= len(must) + 2, "spliced %d, expected %d" % (spliced, len(must)))
    check("spliced bytes are most of the large bodies' bytes",
          sum(must) - len(must) * (1 << 20) <= spliced_bytes <= sum(may),
          "spliced %d, between %d and %d" % (spliced_bytes, sum(must) - len(must) * (1 << 20),
                                             sum(may)))
    check("no fallback to copying", after["s3lb_splice_fallbacks_total"] ==
          before["s3lb_splice_fallbacks_total"], str(after))


def slow_reader(port):
    s = conn(port)
    t = time.time()
    st, n, body, how = get(s, "/obj/%d" % (3 << 20), slow=0.002)
    check("a slow reader gets every byte", how == "whole" and body == BODY[:3 << 20],
          "%d bytes, %s, %.1f s" % (len(body), how, time.time() - t))
    st, n, body, how = get(s, "/obj/%d" % SPLICE_MIN)
    check("and its connection carries the next request", how == "whole" and
          body == BODY[:SPLICE_MIN])
    s.close()


def node_ends_mid_body(port):
    for kind in ("cut", "reset", "stall"):
        s = conn(port)
        size, at = 8 << 20, 5 << 20
        t = time.time()
        st, n, body, how = get(s, "/%s/%d/%d" % (kind, size, at))
        took = time.time() - t
        check("node %s mid-body: the client connection is aborted, not a short whole body" % kind,
              how in ("eof", "reset") and len(body) <= at and body == BODY[:len(body)],
              "%d bytes, %s" % (len(body), how))
        if kind == "stall":
            check("a stalled node is given up after upstream_read (1 s)", 0.8 < took < 3.5,
                  "%.2f s" % took)
        s.close()


def client_goes_away(port, pid):
    base = fds(pid)
    for _ in range(5):
        s = conn(port)
        s.sendall(b"GET /obj/%d HTTP/1.1\r\nHost: b.s3.local\r\n\r\n" % (32 << 20))
        s.recv(300000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    deadline = time.time() + 5
    while time.time() < deadline:
        now = fds(pid)
        if now["socket"] <= base["socket"] + 1:
            break
        time.sleep(0.1)
    check("clients that go away mid-body leave no socket behind",
          now["socket"] <= base["socket"] + 1, "before %s, after %s" % (base, now))
    s = conn(port)
    st, n, body, how = get(s, "/obj/%d" % (1 << 20))
    check("and the next client is served", how == "whole" and body == BODY[:1 << 20])
    s.close()


def pipes_bounded(port, pid, base):
    """base: the pipe fds s3lb holds before any splice (libuv's signal pipe)."""
    counts = []
    for rnd in range(2):
        results = []

        def one():
            s = conn(port)
            try:
                results.append(get(s, "/obj/%d" % (4 << 20), slow=0.001))
            finally:
                s.close()

        ts = [threading.Thread(target=one) for _ in range(24)]
        for t in ts:
            t.start()
        time.sleep(0.3)
        during = fds(pid)["pipe"] - base
        for t in ts:
            t.join(30)
        ok = len(results) == 24 and all(r[3] == "whole" and r[2] == BODY[:4 << 20]
                                        for r in results)
        check("round %d: 24 concurrent slow downloads are byte-exact" % rnd, ok,
              "%d results" % len(results))
        counts.append((during, fds(pid)["pipe"] - base))
    # two fds per pipe; at most one pipe per download in flight
    check("pipes in use stay within one per download", all(d <= 2 * 24 for d, _ in counts),
          str(counts))
    # pipes are kept for reuse, never more than were in use at once: rounds do not add up
    check("idle pipes kept are at most those one round used", all(a <= 2 * 24 for _, a in counts),
          str(counts))


def pipes_one_worker():
    """The pipe pool is per worker thread: its bound is checked on one."""
    node = Node("127.0.0.37")
    port, admin = tp.free_port(), tp.free_port()
    lb = tp.S3lb(tp.config(port, admin, [node.addr], workers=1))
    try:
        tp.wait_port(port)
        pipes_bounded(port, lb.proc.pid, fds(lb.proc.pid)["pipe"])
    finally:
        lb.stop()


def put(s, path, size, rate=None, stop_at=None):
    """PUT of size pattern bytes: (status, response body); rate: bytes per second after the
    first 256 KiB; stop_at: send that many body bytes, then go away (reset)."""
    s.sendall(b"PUT %s HTTP/1.1\r\nHost: b.s3.local\r\nContent-Length: %d\r\n\r\n" % (
        path.encode(), size))
    view = memoryview(BODY)
    sent = 0
    end = size if stop_at is None else stop_at
    try:
        while sent < end:
            step = 1 << 20 if rate is None or sent < (256 << 10) else max(1, rate // 10)
            k = min(step, end - sent)
            s.sendall(view[sent:sent + k])
            sent += k
            if rate is not None and sent >= (256 << 10):
                time.sleep(0.1)
                if select.select([s], [], [], 0)[0]:
                    break  # s3lb answered before the end of the body (an error): read it
    except OSError:
        return None, b"send failed at %d" % sent
    if stop_at is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        return None, b""
    head, n, rest = read_head(s)
    while len(rest) < (n or 0):
        d = s.recv(65536)
        if not d:
            break
        rest += d
    return int(head.split(" ")[1]), rest


def request_bodies(port, admin, node):
    before = metrics(admin)
    for size in (SPLICE_MIN + 1, 1 << 20, (16 << 20) + 3, 64 << 20):
        s = conn(port)
        st, body = put(s, "/put/%d" % size, size)
        want = b"%s %d" % (hashlib.sha256(BODY[:size]).hexdigest().encode(), size)
        check("PUT of %d bytes reaches the node byte-exact" % size, st == 200 and body == want,
              "%s %r" % (st, body[:80]))
        st2, _, b2, how = get(s, "/obj/%d" % SPLICE_MIN)
        check("and the connection carries the next request (%d)" % size,
              how == "whole" and b2 == BODY[:SPLICE_MIN])
        s.close()
    after = metrics(admin)
    n = after["s3lb_spliced_requests_total"] - before["s3lb_spliced_requests_total"]
    check("large request bodies were spliced", n >= 3, "%d spliced" % n)

    # a client that goes away mid-body: the node never completes the request
    k = len(node.puts)
    s = conn(port)
    put(s, "/put/%d" % (16 << 20), 16 << 20, stop_at=5 << 20)
    deadline = time.time() + 5
    while len(node.puts) == k and time.time() < deadline:
        time.sleep(0.05)
    check("a client gone mid-body: the node sees an incomplete request, never a whole one",
          node.puts[k:] and node.puts[k][0] == "incomplete", repr(node.puts[k:]))



def trickled_body():
    """limits.min_body_rate holds for a spliced body: a trickle gets 400 RequestTimeout and the
    node's connection is reset before it has the whole request."""
    node = Node("127.0.0.46")
    port, admin = tp.free_port(), tp.free_port()
    lb = tp.S3lb(tp.config(port, admin, [node.addr], limits=", min_body_rate: 1MiB"))
    try:
        tp.wait_port(port)
        s = conn(port)
        t = time.time()
        st, body = put(s, "/put/%d" % (8 << 20), 8 << 20, rate=20000)
        took = time.time() - t
        check("a trickled spliced body -> 400 RequestTimeout within 4 s",
              st == 400 and b"RequestTimeout" in body and took < 4,
              "%s after %.1f s: %r" % (st, took, body[:100]))
        s.close()
        deadline = time.time() + 3
        while not node.puts and time.time() < deadline:
            time.sleep(0.05)
        check("... and the node never had the whole request",
              node.puts and node.puts[0][0] == "incomplete", repr(node.puts))
        check("... the body was spliced", metrics(admin)["s3lb_spliced_requests_total"] == 1)
        # a node slow to take the body (3 s, client_body is 1 s, upstream_read 60 s): the
        # client is not timed out
        s = conn(port)
        st, body = put(s, "/slowput/%d" % (4 << 20), 4 << 20)
        check("a node slow to take a spliced body: the client is not timed out", st == 200 and
              body.endswith(b" %d" % (4 << 20)), "%s %r" % (st, body[:80]))
        s.close()
    finally:
        lb.stop()


def threshold_off(port0):
    """A second s3lb with splice_min: 0 copies every body."""
    node = Node("127.0.0.36")
    port, admin = tp.free_port(), tp.free_port()
    lb = tp.S3lb(tp.config(port, admin, [node.addr], limits=", splice_min: 0"))
    try:
        tp.wait_port(port)
        s = conn(port)
        st, n, body, how = get(s, "/obj/%d" % (8 << 20))
        check("splice_min 0: a large body is copied byte-exact", how == "whole" and
              body == BODY[:8 << 20])
        s.close()
        check("splice_min 0: nothing spliced",
              metrics(admin)["s3lb_spliced_responses_total"] == 0)
    finally:
        lb.stop()


def main():
    if not os.path.exists(tp.BIN):
        print("FAIL: s3lb binary not found at " + tp.BIN)
        return 1
    node = Node("127.0.0.35")
    port, admin = tp.free_port(), tp.free_port()
    lb = tp.S3lb(tp.config(port, admin, [node.addr], timeouts=", upstream_read: 1s",
                           limits=", splice_min: 128KiB"))
    try:
        tp.wait_port(port)
        sizes_and_counters(port, admin)
        slow_reader(port)
        node_ends_mid_body(port)
        client_goes_away(port, lb.proc.pid)
        request_bodies(port, admin, node)
        trickled_body()
        pipes_one_worker()
        threshold_off(port)
    finally:
        lb.stop()
    if lb.proc.returncode not in (0, None):
        check("s3lb exits 0 on SIGTERM", False, "exit %s" % lb.proc.returncode)
    print("%d failed" % len(tp.FAILED) if tp.FAILED else "all splice cases passed")
    if tp.FAILED:
        print("logs kept in " + tp.TMP)
    return 1 if tp.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
