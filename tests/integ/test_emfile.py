#!/usr/bin/env python3
"""s3lb at its open file limit (issue 9, defect 13): connections refused at EMFILE leave a log line
(at most one a second) and a count in s3lb_accept_errors_total{reason="emfile"}, and s3lb serves
again once fds are free. The limit is lowered on the running s3lb with prlimit(2), a little above
what it holds at rest; clients then hold idle connections until accept fails. ~4 s."""
import os
import resource
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_protocol as tp  # noqa: E402

TMP = tp.TMP
HEADROOM = 12


def fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def metric(admin, name):
    out, _ = tp.exchange(admin, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    for line in out.decode("latin-1").splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return None


def lines(port):
    try:
        with open(os.path.join(TMP, "s3lb.log"), errors="replace") as f:
            return [x for x in f if "accept on 127.0.0.1:%d: too many open files" % port in x]
    except OSError:
        return []


def burst(port, n):
    """Opens n idle connections; returns (held sockets, how many were refused)."""
    held, refused = [], 0
    for _ in range(n):
        try:
            held.append(socket.create_connection(("127.0.0.1", port), timeout=2))
        except OSError:
            refused += 1
    time.sleep(0.3)
    refused += sum(closed(s, 0.05) for s in held)
    return held, refused


def closed(s, timeout):
    """True when s3lb closed (refused) the connection s within timeout."""
    s.settimeout(timeout)
    try:
        return s.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def ask(s, i):
    """One request on the kept-alive connection s; the status code, or None (no answer in 3 s)."""
    try:
        s.settimeout(3)
        s.sendall(b"GET /b/alive%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        buf = b""
        while b"\r\n\r\n" not in buf:
            d = s.recv(65536)
            if not d:
                return None
            buf += d
        head, _, body = buf.partition(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
        while len(body) < n:
            d = s.recv(65536)
            if not d:
                return None
            body += d
        return int(head.split(b" ")[1])
    except (OSError, ValueError):
        return None


def main():
    if not hasattr(resource, "prlimit"):
        print("SKIPPED: no prlimit(2) in this Python")
        return 77
    n1 = tp.Node("127.0.0.61")
    port, admin = tp.free_port(), tp.free_port()
    cfg = (f"admin: {{ listen: 127.0.0.1:{admin} }}\n"
           f"log: {{ level: info, access: {TMP}/access.log, error: {TMP}/s3lb.log }}\n"
           f"timeouts: {{ client_idle: 30s }}\n"
           f"pools:\n  - name: p\n    health: {{ kind: none, passive: {{ failures: 0 }} }}\n"
           f"    nodes:\n      - {{ name: n1, addr: {n1.addr} }}\n"
           f"frontends:\n  - name: s3\n    listen: [127.0.0.1:{port}]\n    routes:\n"
           f"      - {{ pool: p }}\n"
           f"workers: {tp.WORKERS}\n")
    lb = tp.S3lb(cfg)
    try:
        tp.wait_port(port)
        code = tp.responses(tp.exchange(port, b"GET /b/k HTTP/1.1\r\nHost: x\r\n"
                                        b"Connection: close\r\n\r\n")[0])
        tp.check("serves before the limit", code and code[0][0] == 200, repr(code))
        # kept-alive connections made before the limit, spread over the workers
        alive = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(16)]
        tp.check("kept-alive connections served before the limit",
                 [ask(s, i) for i, s in enumerate(alive)] == [200] * 16)
        time.sleep(0.2)
        base = fds(lb.proc.pid)
        _, hard = resource.prlimit(lb.proc.pid, resource.RLIMIT_NOFILE)
        resource.prlimit(lb.proc.pid, resource.RLIMIT_NOFILE, (base + HEADROOM, hard))
        before = metric(admin, 's3lb_accept_errors_total{reason="emfile"}')
        tp.check("s3lb_accept_errors_total{reason=\"emfile\"} is exported, 0 at first",
                 before == 0, repr(before))

        # three bursts over ~2 s: every one refuses, the log says so at most once a second
        held, refused = [], 0
        t0 = time.time()
        for _ in range(3):
            h, r = burst(port, 40)
            held += h
            refused += r
            time.sleep(0.5)
        # At the limit, with connections waiting in every worker's backlog, each worker still
        # serves the connections it has: a worker that cannot refuse (another holds the reserve)
        # pauses its listener instead of looping in accept.
        codes = [ask(s, i) for i, s in enumerate(alive)]
        tp.check("every worker serves its connections at the limit", codes == [200] * 16,
                 repr(codes))

        # The reserve lost: the limit lowered under the reserve's own number, so that freeing it
        # frees nothing below the limit and it cannot be taken back (as when another open takes
        # the freed slot first). Every worker that has a connection waiting then has neither the
        # reserve nor a free fd: it must step out of accept (pause its listener), not loop in it.
        # (two workers may both open "/" for a moment: one keeps it, the other closes its own)
        for _ in range(50):
            reserve = []
            for n in os.listdir("/proc/%d/fd" % lb.proc.pid):
                try:
                    if os.readlink("/proc/%d/fd/%s" % (lb.proc.pid, n)) == "/":
                        reserve.append(int(n))
                except OSError:
                    pass  # closed meanwhile
            if len(reserve) == 1:
                break
            time.sleep(0.02)
        tp.check("s3lb holds one reserve fd at the limit", len(reserve) == 1, repr(reserve))
        resource.prlimit(lb.proc.pid, resource.RLIMIT_NOFILE, (reserve[0], hard))
        waiting = [socket.create_connection(("127.0.0.1", port), timeout=2) for _ in range(8)]
        time.sleep(0.3)
        codes = [ask(s, i) for i, s in enumerate(alive)]
        tp.check("every worker serves its connections with the reserve lost",
                 codes == [200] * 16, repr(codes))
        resource.prlimit(lb.proc.pid, resource.RLIMIT_NOFILE, (base + HEADROOM, hard))
        time.sleep(0.5)
        refused += sum(closed(s, 2) for s in waiting)
        held += waiting
        took = time.time() - t0
        tp.check("connections past the limit are refused (%d of 120)" % refused,
                 refused >= 120 - 6 * HEADROOM, "refused %d" % refused)
        for s in held + alive:
            s.close()
        time.sleep(0.5)
        got = lines(port)
        tp.check("refusals are logged, at most one line a second (%d lines in %.1fs)" % (
            len(got), took), 1 <= len(got) <= int(took) + 2 and "open file limit %d" % (
                base + HEADROOM) in got[0], "".join(got))
        after = metric(admin, 's3lb_accept_errors_total{reason="emfile"}')
        # and nothing else: a worker that cannot drain (another holds the reserve) counts none
        tp.check("every refused connection is counted, once (%s, %d refused)" % (after, refused),
                 after is not None and refused <= after <= refused + 2 * HEADROOM, repr(after))

        # fds free again: s3lb serves, nothing more is refused
        codes = []
        for i in range(20):
            r = tp.responses(tp.exchange(port, b"GET /b/r%d HTTP/1.1\r\nHost: x\r\n"
                                         b"Connection: close\r\n\r\n" % i)[0])
            codes.append(r[0][0] if r else None)
        tp.check("s3lb serves again once fds are free", codes == [200] * 20, repr(codes))
        tp.check("nothing refused after recovery",
                 metric(admin, 's3lb_accept_errors_total{reason="emfile"}') == after)
        tp.check("s3lb still runs", lb.proc.poll() is None)
    finally:
        lb.stop()
    print("%d failed" % len(tp.FAILED) if tp.FAILED else "all emfile cases passed")
    if tp.FAILED:
        print("logs kept in " + TMP)
    return 1 if tp.FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
