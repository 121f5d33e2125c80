#!/usr/bin/env python3
"""health/ end to end with scripted nodes (test_protocol.Node): detection of a dead and of a
frozen node within interval x fall + timeout, return within interval x rise, in-flight requests
moved off a node marked down, passive ejection with back-off, drain/undrain from the admin API and
the command line, and what /status and /metrics show. The same behaviours against real Ceph are
in test_health_ceph.sh."""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_protocol as tp  # noqa: E402

TMP = tp.TMP
INTERVAL, TIMEOUT, FAST, RISE, FALL = 0.5, 0.25, 0.1, 2, 2


TOKEN = "health-test-token-%d" % os.getpid()
AUTH = b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"


def status(admin):
    out, _ = tp.exchange(admin, b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return json.loads(out[out.find(b"\r\n\r\n") + 4:])


def node_state(admin, name):
    for p in status(admin)["pools"]:
        for n in p["nodes"]:
            if n["name"] == name:
                return n
    return None


def wait_state(admin, name, want, limit):
    t0 = time.time()
    while time.time() - t0 < limit:
        n = node_state(admin, name)
        if n and n["state"] == want:
            return time.time() - t0
        time.sleep(0.02)
    return None


def get(port, path, timeout=10):
    out, how = tp.exchange(port, b"GET " + path.encode() + b" HTTP/1.1\r\nHost: s3.local\r\n"
                           b"Connection: close\r\n\r\n", timeout=timeout)
    r = tp.responses(out)
    return (r[0][0], r[0][1].get("x-node")) if r else (None, None)


def main():
    n1, n2, n3 = tp.Node("127.0.0.51"), tp.Node("127.0.0.52"), tp.Node("127.0.0.53")
    n4 = tp.Node("127.0.0.54")
    port, admin = tp.free_port(), tp.free_port()
    token_file = os.path.join(TMP, "admin.token")
    with open(os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(TOKEN + "\n")
    cfg = (f"admin: {{ listen: 127.0.0.1:{admin}, token_file: {token_file} }}\n"
           f"log: {{ level: info, access: {TMP}/access.log, error: {TMP}/s3lb.log }}\n"
           f"timeouts: {{ upstream_header: 20s }}\n"
           f"pools:\n  - name: p\n    balance: round-robin\n"
           f"    health: {{ interval: 500ms, timeout: 250ms, fast_interval: 100ms, rise: {RISE}, "
           f"fall: {FALL}, http: {{ path: /health }}, "
           f"passive: {{ failures: 3, backoff: 2s, max_backoff: 8s }} }}\n"
           f"    nodes:\n      - {{ name: n1, addr: {n1.addr} }}\n"
           f"      - {{ name: n2, addr: {n2.addr} }}\n      - {{ name: n3, addr: {n3.addr} }}\n"
           f"  - name: solo\n"
           f"    health: {{ interval: 500ms, timeout: 250ms, fast_interval: 100ms, rise: {RISE}, "
           f"fall: {FALL}, http: {{ path: /health }}, "
           f"passive: {{ failures: 3, backoff: 2s, max_backoff: 8s }} }}\n"
           f"    nodes:\n      - {{ name: n4, addr: {n4.addr} }}\n"
           f"frontends:\n  - name: s3\n    listen: [127.0.0.1:{port}]\n    domains: [s3.local]\n"
           f"    routes:\n      - {{ bucket: solo, pool: solo }}\n      - {{ pool: p }}\n"
           f"workers: {tp.WORKERS}\n")
    lb = tp.S3lb(cfg)
    try:
        tp.wait_port(port)
        run_passive_rules(port, admin, n1, n4)
        run(lb, port, admin, n1, n2, n3)
    finally:
        lb.stop()
    print("%d failed" % len(tp.FAILED) if tp.FAILED else "all health cases passed")
    if tp.FAILED:
        print("logs kept in " + TMP)
    return 1 if tp.FAILED else 0


def log_text():
    try:
        with open(os.path.join(TMP, "s3lb.log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def run_passive_rules(port, admin, n1, n4):
    """Issue 9 defect 15: 500s that the requests caused (RGW: ENAMETOOLONG for an over-long
    key) ejected the pool's only node, and every client got 503. 500s alone never eject;
    passive ejection never takes out a pool's last usable node."""
    wait_state(admin, "n1", "up", 5)
    wait_state(admin, "n4", "up", 5)
    time.sleep(0.5)
    tr1 = node_state(admin, "n1")["health"]["transitions"]
    tr4 = node_state(admin, "n4")["health"]["transitions"]

    # a node of a 3-node pool answering 500 to every request, its probes fine: not ejected
    n1.fail_status = 500
    codes = [get(port, "/bkt/e%d" % i)[0] for i in range(12)]
    n1.fail_status = None
    n = node_state(admin, "n1")
    tp.check("500s alone do not eject a node (its 500s relayed, no 503, node stays up)",
             codes.count(500) >= 3 and codes.count(500) + codes.count(200) == 12 and
             n["state"] == "up" and
             n["health"]["transitions"] == tr1, repr((codes, n)))

    # the only node of a pool answering 500: every client gets the node's own 500, never 503
    n4.fail_status = 500
    before = len(n4.requests)
    codes = [get(port, "/solo/%s" % ("k" * 200 + str(i)))[0] for i in range(8)]
    n = node_state(admin, "n4")
    tp.check("pool's only node answering 500: 8 x 500 from the node, no 503, node up",
             codes == [500] * 8 and len(n4.requests) - before == 8 and n["state"] == "up" and
             n["health"]["transitions"] == tr4, repr((codes, n)))

    # the only node answering 503 (a node fault): passive health spares it, says so once
    n4.fail_status = 503
    before = len(n4.requests)
    codes = [get(port, "/solo/f%d" % i)[0] for i in range(8)]
    n4.fail_status = None
    n = node_state(admin, "n4")
    spared = [line for line in log_text().splitlines()
              if "n4" in line and "not ejected" in line and "last usable node" in line]
    tp.check("pool's last usable node is never ejected passively (8 x 503 from the node, up)",
             codes == [503] * 8 and len(n4.requests) - before == 8 and n["state"] == "up" and
             n["health"]["transitions"] == tr4, repr((codes, n)))
    tp.check("sparing the last node is logged once per run of failures", len(spared) == 1,
             repr(spared))
    codes = [get(port, "/solo/ok%d" % i)[0] for i in range(3)]
    tp.check("the spared node serves again", codes == [200] * 3, repr(codes))


def run(lb, port, admin, n1, n2, n3):
    limit_down = INTERVAL * FALL + TIMEOUT
    limit_up = INTERVAL * RISE
    time.sleep(1)
    tp.check("probes reach the nodes (GET /health, User-Agent s3lb-health)",
             n1.probes > 0 and n2.probes > 0 and n3.probes > 0, "%d %d %d" % (
                 n1.probes, n2.probes, n3.probes))
    n = node_state(admin, "n1")
    tp.check("/status shows health per node",
             n and n["state"] == "up" and n["health"]["probe"] == "http" and
             n["health"]["probes_ok"] > 0 and n["health"]["last_probe_ms"] >= 0, repr(n))

    # a dead node (every socket reset, connections refused): DOWN in time, no request fails
    errors = []
    stop = threading.Event()

    def load():
        i = 0
        while not stop.is_set():
            code, _ = get(port, "/bkt/load%d" % i)
            i += 1
            if code != 200:
                errors.append(code)

    th = [threading.Thread(target=load) for _ in range(3)]
    for t in th:
        t.start()
    time.sleep(0.5)
    n2.close()
    took = wait_state(admin, "n2", "down", 10)
    tp.check("dead node marked down within interval x fall + timeout (%.2fs <= %.2fs)" % (
        took or -1, limit_down + 0.3), took is not None and took <= limit_down + 0.3)
    time.sleep(0.5)
    n2.restart()
    took = wait_state(admin, "n2", "up", 10)
    tp.check("restarted node up again within interval x rise (%.2fs <= %.2fs)" % (
        took or -1, limit_up + INTERVAL * 0.1 + 0.3), took is not None and took <= limit_up + 0.35)
    time.sleep(0.5)
    stop.set()
    for t in th:
        t.join()
    tp.check("no request failed while a node died and came back", not errors, repr(errors[:10]))
    before = len(n2.requests)
    for i in range(9):
        get(port, "/bkt/after%d" % i)
    tp.check("requests return to the restarted node", len(n2.requests) > before)

    # a frozen node (accepts, never answers): the in-flight GET moves when health marks it down
    n3.frozen = True
    t0 = time.time()
    results = []
    ths = [threading.Thread(target=lambda: results.append(get(port, "/bkt/frozen%d" % i)))
           for i in range(6)]
    for t in ths:
        t.start()
    took = wait_state(admin, "n3", "down", 10)
    for t in ths:
        t.join()
    elapsed = time.time() - t0
    tp.check("frozen node marked down within interval x fall + timeout (%.2fs)" % (took or -1),
             took is not None and took <= limit_down + 0.3)
    tp.check("GETs waiting on the frozen node moved to others (all 200 within %.1fs)" % elapsed,
             all(r[0] == 200 for r in results) and elapsed < 5, repr(results))
    n3.frozen = False
    wait_state(admin, "n3", "up", 10)

    # passive ejection: n1 answers every request with 503, its probes stay fine
    n1.fail_status = 503
    codes = [get(port, "/bkt/p%d" % i)[0] for i in range(12)]
    took_down = node_state(admin, "n1")["state"]
    tp.check("3 consecutive 5xx eject the node (passive), whatever its probes say",
             took_down == "down" and "passive" in node_state(admin, "n1")["health"]["reason"],
             repr(node_state(admin, "n1")))
    tp.check("5xx from the node were relayed (never retried: the node answered)",
             codes.count(503) == 3 and codes.count(200) == 9, repr(codes))
    took = wait_state(admin, "n1", "up", 10)
    tp.check("after a first ejection the probes bring the node back at once (%.2fs)" % (took or -1),
             took is not None and took <= limit_up + 0.35)
    # ejected again (still failing): now its probes wait for the back-off (2s)
    codes = [get(port, "/bkt/q%d" % i)[0] for i in range(12)]
    tp.check("the still-failing node is ejected again", node_state(admin, "n1")["state"] == "down")
    n1.fail_status = None
    t0 = time.time()
    took = wait_state(admin, "n1", "up", 10)
    tp.check("a second ejection holds the node back for the back-off (%.2fs >= 1.5s)" %
             (took or -1), took is not None and 1.5 <= took <= 2 + limit_up + 0.5)

    # drain under load: zero failures, no new request reaches the drained node
    errors.clear()
    stop.clear()
    th = [threading.Thread(target=load) for _ in range(3)]
    for t in th:
        t.start()
    time.sleep(0.3)
    out = subprocess.run([tp.BIN, "drain", "n2", "-c", lb.cfg], capture_output=True, text=True,
                         timeout=10)
    drained_at = len(n2.requests)
    time.sleep(1)
    after = len(n2.requests)
    stop.set()
    for t in th:
        t.join()
    tp.check("s3lb drain n2: answered, node draining",
             out.returncode == 0 and '"draining"' in out.stdout and
             node_state(admin, "n2")["state"] == "draining", out.stdout + out.stderr)
    tp.check("no new request reaches a drained node, none failed",
             after == drained_at and not errors, "%d -> %d, errors %r" % (
                 drained_at, after, errors[:5]))
    out, _ = tp.exchange(admin, b"POST /undrain?node=p/n2 HTTP/1.1\r\nHost: 127.0.0.1\r\n" + AUTH +
                         b"Content-Length: 0\r\n\r\n")
    tp.check("POST /undrain?node=p/n2 brings it back",
             out.startswith(b"HTTP/1.1 200") and node_state(admin, "n2")["state"] == "up", repr(out))
    out, _ = tp.exchange(admin, b"POST /drain?node=nope HTTP/1.1\r\nHost: 127.0.0.1\r\n" + AUTH +
                         b"Content-Length: 0\r\n\r\n")
    tp.check("draining an unknown node -> 404", out.startswith(b"HTTP/1.1 404"), repr(out[:100]))
    out, _ = tp.exchange(admin, b"GET /drain?node=n1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    tp.check("GET /drain -> 405 Allow: POST", out.startswith(b"HTTP/1.1 405") and b"Allow: POST" in out,
             repr(out[:200]))
    mt, _ = tp.exchange(admin, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    tp.check("/metrics exports node state and probe figures",
             b's3lb_node_up{pool="p",node="n1"} 1' in mt and
             b's3lb_health_probes_total{pool="p",node="n1",result="ok"} ' in mt and
             b's3lb_health_last_probe_seconds{pool="p",node="n2"} 0.' in mt and
             b's3lb_health_transitions_total{pool="p",node="n2"} ' in mt, repr(mt[-1500:]))

    # a reload keeps health state; a node removed by the config stops being probed
    p3 = n3.probes
    lb.rewrite(open(lb.cfg).read().replace("      - { name: n3, addr: %s }\n" % n3.addr, ""))
    subprocess.run([tp.BIN, "drain", "n1", "-c", lb.cfg], capture_output=True)
    lb.proc.send_signal(signal.SIGHUP)
    time.sleep(1.5)
    tp.check("reload: drained node stays drained, removed node no longer probed",
             node_state(admin, "n1")["state"] == "draining" and node_state(admin, "n3") is None and
             n3.probes - p3 <= 3, "n3 probes +%d" % (n3.probes - p3))


if __name__ == "__main__":
    sys.exit(main())
