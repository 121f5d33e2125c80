#!/usr/bin/env python3
"""Workers (`workers: N`): one event loop per thread, connections spread by the kernel.

For 2 and 4 workers: 1,000 connections are accepted by every worker (SO_REUSEPORT spreads them;
/status shows each worker's count) and all are answered; the request counters in /metrics sum
the workers' (they equal the requests sent); a drain decided on the main loop reaches every
worker at once (no request on any connection reaches the drained node afterwards); 20 reloads
under load across the workers lose no request and are counted once each; SIGTERM lets requests
in flight on every worker finish, then the process exits 0; a reload whose new listen address
cannot be bound changes nothing in any worker. Run time: about 25 s under the ASan build.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_protocol as tp  # noqa: E402

check = tp.check
TOKEN = "workers-test-token-0123456789"


def status(admin):
    out, _ = tp.exchange(admin, b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return json.loads(out.split(b"\r\n\r\n", 1)[1])


def requests_total(admin):
    out, _ = tp.exchange(admin, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return sum(int(v) for v in re.findall(rb"\ns3lb_requests_total\{[^}]*\} (\d+)", out))


def reloads(admin):
    out, _ = tp.exchange(admin, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    m = re.search(rb"\ns3lb_config_reloads_total (\d+)", out)
    return int(m.group(1)) if m else None


def get(port, path, keep=None):
    """One GET; on keep (an open socket) or a new connection. Returns (status, socket)."""
    s = keep or socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(10)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: s3.local\r\n\r\n" % path.encode())
    head, n, rest = b"", 0, b""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            return None, None
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(rest) < n:
        d = s.recv(65536)
        if not d:
            return None, None
        rest += d
    return int(head.split(b" ")[1]), s


def config(port, admin, nodes, workers, token_file, extra_listen=""):
    cfg = tp.config(port, admin, nodes, workers=workers,
                    extra="    max_conns_per_node: 64\n")
    cfg = cfg.replace("admin: { listen: 127.0.0.1:%d }" % admin,
                      "admin: { listen: 127.0.0.1:%d, token_file: %s }" % (admin, token_file))
    if extra_listen:
        cfg = cfg.replace("listen: [127.0.0.1:%d]" % port,
                          "listen: [127.0.0.1:%d, %s]" % (port, extra_listen))
    return cfg


def spread(port, admin, workers):
    before = status(admin)
    sent = 1000
    codes = []
    lock = threading.Lock()

    def client(k):
        for i in range(k, sent, 8):
            st, s = get(port, "/bkt/spread%d" % i)
            if s:
                s.close()
            with lock:
                codes.append(st)

    t0 = requests_total(admin)
    th = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in th:
        t.start()
    for t in th:
        t.join(120)
    after = status(admin)
    per = [a["accepted"] - b["accepted"] for a, b in zip(after["per_worker"],
                                                          before["per_worker"])]
    check("%d workers: /status shows %d workers" % (workers, workers),
          after.get("workers") == workers and len(after.get("per_worker", [])) == workers,
          repr(after.get("per_worker")))
    check("%d workers: 1,000 connections all answered 200" % workers,
          len(codes) == sent and all(c == 200 for c in codes),
          "%d answers, %d not 200" % (len(codes), sum(1 for c in codes if c != 200)))
    # the kernel hashes connections over the sockets: each worker gets a fair share
    fair = sent / workers
    check("%d workers: every worker accepted a share of them %r" % (workers, per),
          sum(per) >= sent and all(p >= fair * 0.4 for p in per), repr(per))
    deadline = time.time() + 3
    while requests_total(admin) - t0 < sent and time.time() < deadline:
        time.sleep(0.05)  # the last access-log lines of other workers
    check("%d workers: /metrics sums every worker's requests" % workers,
          requests_total(admin) - t0 == sent, "%d counted" % (requests_total(admin) - t0))


def drain_reaches_all(port, admin, lb, n1, n2, workers):
    # keep-alive connections, enough that every worker holds some
    socks = []
    for i in range(8 * workers):
        st, s = get(port, "/bkt/warm%d" % i)
        socks.append(s)
    out, _ = tp.exchange(admin, b"POST /drain?node=p/n2 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Authorization: Bearer " + TOKEN.encode() +
                         b"\r\nContent-Length: 0\r\n\r\n")
    at = len(n2.requests)
    bad = 0
    for rnd in range(3):
        for s in socks:
            st, _ = get(port, "/bkt/after", keep=s)
            bad += st != 200
    check("%d workers: a drain reaches every worker: no request on any connection reaches "
          "the drained node" % workers,
          out.startswith(b"HTTP/1.1 200") and len(n2.requests) == at and bad == 0,
          "%d -> %d, %d failed, %r" % (at, len(n2.requests), bad, out[:60]))
    tp.exchange(admin, b"POST /undrain?node=p/n2 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Authorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: 0\r\n\r\n")
    for s in socks:
        s.close()


def reload_under_load(port, admin, lb, workers, cfg_a, cfg_b):
    stop = threading.Event()
    errors, done = [], [0]
    lock = threading.Lock()

    def load():
        s = None
        while not stop.is_set():
            try:
                st, s = get(port, "/bkt/rl", keep=s)
            except OSError as e:
                st, s = repr(e), None
            with lock:
                if st != 200:
                    errors.append(st)
                else:
                    done[0] += 1
            if s is None or done[0] % 7 == 0:
                if s:
                    s.close()
                s = None  # a mix of new and kept-alive connections
        if s:
            s.close()

    r0 = reloads(admin)
    th = [threading.Thread(target=load) for _ in range(6)]
    for t in th:
        t.start()
    for i in range(20):
        lb.rewrite(cfg_b if i % 2 == 0 else cfg_a)
        lb.proc.send_signal(signal.SIGHUP)
        time.sleep(0.15)
    time.sleep(0.3)
    stop.set()
    for t in th:
        t.join(30)
    check("%d workers: 20 reloads under load lose no request (%d served)" % (workers, done[0]),
          not errors and done[0] > 50, repr(errors[:5]))
    deadline = time.time() + 3
    while reloads(admin) - r0 < 20 and time.time() < deadline:
        time.sleep(0.05)
    check("%d workers: each reload counted once" % workers, reloads(admin) - r0 == 20,
          "%s" % (reloads(admin) - r0))


def reload_bind_fails(port, admin, lb, workers, cfg_a):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    taken = "127.0.0.1:%d" % busy.getsockname()[1]
    lb.rewrite(cfg_a.replace("listen: [127.0.0.1:%d]" % port,
                             "listen: [127.0.0.1:%d, %s]" % (port, taken)))
    r0 = reloads(admin)
    lb.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    st, s = get(port, "/bkt/still")
    if s:
        s.close()
    log = open(os.path.join(tp.TMP, "s3lb.log")).read()
    check("%d workers: a reload that cannot bind a new address is refused by all, the old "
          "config serves" % workers,
          st == 200 and reloads(admin) == r0 and "cannot listen on " + taken in log,
          log[-300:])
    busy.close()
    lb.rewrite(cfg_a)


def sigterm_drains_all(port, lb, workers):
    socks = []
    for i in range(4 * workers):
        s = socket.create_connection(("127.0.0.1", port), 5)
        s.sendall(b"GET /slowhead%d HTTP/1.1\r\nHost: s3.local\r\n\r\n" % i)
        socks.append(s)
    time.sleep(0.3)
    lb.proc.send_signal(signal.SIGTERM)
    ok = 0
    for s in socks:
        s.settimeout(10)
        out = b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                out += d
        except OSError:
            pass
        ok += out.startswith(b"HTTP/1.1 200")
        s.close()
    rc = lb.proc.wait(15)
    check("%d workers: SIGTERM lets the requests in flight on every worker finish, exit 0" %
          workers, ok == len(socks) and rc == 0, "%d of %d, rc %s" % (ok, len(socks), rc))


def run(workers):
    n1, n2 = tp.Node("127.0.0.38"), tp.Node("127.0.0.39")
    port, admin = tp.free_port(), tp.free_port()
    token_file = os.path.join(tp.TMP, "token%d" % workers)
    with open(os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(TOKEN + "\n")
    cfg_a = config(port, admin, [n1.addr, n2.addr], workers, token_file)
    cfg_b = cfg_a.replace("    balance: round-robin\n", "    balance: least-requests\n")
    lb = tp.S3lb(cfg_a)
    try:
        tp.wait_port(port)
        spread(port, admin, workers)
        drain_reaches_all(port, admin, lb, n1, n2, workers)
        reload_under_load(port, admin, lb, workers, cfg_a, cfg_b)
        reload_bind_fails(port, admin, lb, workers, cfg_a)
        sigterm_drains_all(port, lb, workers)
    finally:
        lb.stop()
        n1.close()
        n2.close()


def main():
    if not os.path.exists(tp.BIN):
        print("FAIL: s3lb binary not found at " + tp.BIN)
        return 1
    for w in (2, 4):
        run(w)
    print("%d failed" % len(tp.FAILED) if tp.FAILED else "all workers cases passed")
    if tp.FAILED:
        print("logs kept in " + tp.TMP)
    return 1 if tp.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
