#!/usr/bin/env python3
"""The monitoring kit (docs/monitoring/) against a live s3lb.

1. `promtool check rules` on alerts.yml and `promtool test rules` on alerts_test.yml.
2. s3lb (one worker) in front of two scripted loopback nodes: requests that succeed, a node's 503
   SlowDown, failed requests whose retries the retry budget refuses (node A drops every request,
   node B holds its answer, so retries pile up on B), and s3lb's own SlowDown at its client
   connection limit. The /metrics scrape passes `promtool check metrics` and shows those counters.
3. A second s3lb with a `dr:` service, in a network namespace of its own (IPVS is per namespace,
   so the host's table is never touched): its scrape has the s3lb_ipvs_* families. On a kernel
   without IPVS (this project's development hosts) they have no per-destination series, only
   their `# TYPE` lines, and the failure counter rises; the series themselves are checked by
   unit.test_admin_metrics_ipvs from a fake director snapshot. This test says which case it saw.
4. Every metric name used by an alerts.yml expression and by a dashboard.json query exists in
   one of the scrapes (as a series, or as a family of the dr: instance), and every family of
   the scrapes is documented in docs/operations.md.
Run time: about 10 s.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_protocol as tp  # noqa: E402

check = tp.check
SRC = os.environ.get("S3LB_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "../.."))
MON = os.path.join(SRC, "docs", "monitoring")
SLOWDOWN = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
            b"<Message>Please reduce your request rate.</Message></Error>")


def need_cmd(name, what):
    """As lib.sh's need_cmd: declared in tests/needs, else FAIL; missing, else SKIPPED."""
    with open(os.path.join(SRC, "tests", "needs")) as f:
        if not any(re.match(r"cmd +%s " % re.escape(name), l) for l in f):
            print("FAIL need_cmd %s: not declared in tests/needs" % name)
            sys.exit(1)
    if not shutil.which(name):
        print("SKIPPED: %s not installed (%s missing)" % (what, name))
        sys.exit(77)


class Scripted(tp.Node):
    """tp.Node plus: /bkt/slow* answers 503 SlowDown; /bkt/budget* is read and dropped unanswered
    (mode "drop") or held for a while, then answered 200 (mode "hold")."""

    def __init__(self, host, mode):
        self.mode = mode
        super().__init__(host)

    def respond(self, c, path, head, body):
        if path.startswith("/bkt/slow"):
            c.sendall(b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                      b"Content-Length: %d\r\n\r\n%s" % (len(SLOWDOWN), SLOWDOWN))
            return True
        if path.startswith("/bkt/budget"):
            if self.mode == "drop":
                c.close()  # read the request, never answer: a failed attempt, retried elsewhere
                return False
            time.sleep(1.5)
        return super().respond(c, path, head, body)


def get(port, path, host="s3.local"):
    out, _ = tp.exchange(port, b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (
        path.encode(), host.encode()))
    r = tp.responses(out)
    return r[0] if r else (None, {}, b"")


def scrape_text(port):
    st, hdrs, body = get(port, "/metrics", host="127.0.0.1")
    return st, hdrs, body.decode()


def names_in(text):
    """Sample names and family names (# TYPE) of a scrape."""
    samples, families = set(), set()
    for l in text.splitlines():
        if l.startswith("# TYPE "):
            families.add(l.split()[2])
        elif l and not l.startswith("#"):
            samples.add(re.split(r"[{ ]", l, 1)[0])
    return samples, families


def promtool_metrics(text, what):
    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=30)
    check("promtool check metrics: " + what, p.returncode == 0 and not p.stdout.strip() and
          not p.stderr.strip(), (p.stdout + p.stderr)[:2000])


def value(text, name, **labels):
    """The sum of the samples of name whose labels include labels."""
    total, seen = 0.0, False
    for l in text.splitlines():
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", l)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(4))
            seen = True
    return total if seen else None


# ---- the kit's metric names ---------------------------------------------------------------------

METRIC = re.compile(r"\bs3lb_[a-zA-Z0-9_]+")


def alert_exprs(path):
    """The `expr:` values of a rules file (one line, or a `|` block), without a YAML library."""
    exprs, lines = [], open(path).read().splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(?:- )?expr:\s*(.*)$", lines[i])
        i += 1
        if not m:
            continue
        if m.group(2) not in ("|", ">", "|-", ">-"):
            exprs.append(m.group(2))
            continue
        block = []
        while i < len(lines) and (not lines[i].strip() or
                                  len(lines[i]) - len(lines[i].lstrip()) > len(m.group(1))):
            block.append(lines[i].strip())
            i += 1
        exprs.append(" ".join(block))
    return exprs


def dashboard_exprs(path):
    d = json.load(open(path))
    exprs = []

    def panels(ps):
        for p in ps:
            exprs.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
            panels(p.get("panels", []))
    panels(d["panels"])
    for v in d.get("templating", {}).get("list", []):
        q = v.get("query")
        if isinstance(q, dict):
            q = q.get("query")
        if v.get("type") == "query" and q:
            exprs.append(q)
    return exprs


# ---- the cases ----------------------------------------------------------------------------------

def run_rules():
    rules = os.path.join(MON, "alerts.yml")
    p = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True,
                       timeout=30)
    check("promtool check rules docs/monitoring/alerts.yml",
          p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr)
    p = subprocess.run(["promtool", "test", "rules", os.path.join(MON, "alerts_test.yml")],
                       capture_output=True, text=True, timeout=60)
    check("promtool test rules docs/monitoring/alerts_test.yml (node down, pool without healthy "
          "nodes, IPVS reconcile, retry budget)", p.returncode == 0 and "SUCCESS" in p.stdout,
          p.stdout + p.stderr)


def run_gateway():
    """The single-worker s3lb: drives the alerts' counters, returns its scrape."""
    a, b = Scripted("127.0.0.71", "drop"), Scripted("127.0.0.72", "hold")
    port, admin = tp.free_port(), tp.free_port()
    cfg = tp.config(port, admin, [a.addr, b.addr], limits=", max_connections: 16", workers=1)
    lb = tp.S3lb(cfg)
    try:
        tp.wait_port(port)
        tp.wait_port(admin)
        oks = sum(get(port, "/bkt/ok%d" % i)[0] == 200 for i in range(6))
        check("plain GETs answered 200", oks == 6, "%d of 6" % oks)
        slow = [get(port, "/bkt/slow%d" % i) for i in range(4)]
        check("a node's 503 SlowDown reaches the client as it is",
              all(s == 503 and b"<Code>SlowDown</Code>" in body for s, _, body in slow),
              repr(slow[:1]))

        # 12 at once, round robin: ~6 land on A first, fail, and want a retry on B, where B
        # holds every attempt 1.5 s; the budget (max(3, 20% of 12 in flight)) lets 3 through.
        res = []

        def one(i):
            res.append(get(port, "/bkt/budget%d" % i)[0])
        ts = [threading.Thread(target=one, args=(i,)) for i in range(12)]
        for t in ts:
            t.start()
            time.sleep(0.02)
        for t in ts:
            t.join(10)
        refused = sum(1 for s in res if s is not None and s >= 500)
        check("retries beyond the budget are refused (%d of 12): the client gets the error"
              % refused, refused >= 1 and res.count(200) >= 6, repr(sorted(res, key=str)))

        # s3lb's own SlowDown: the client connection limit (16) reached
        held = []
        for _ in range(16):
            held.append(socket.create_connection(("127.0.0.1", port), 2))
        time.sleep(0.2)
        st, _, body = get(port, "/bkt/over")
        for s in held:
            s.close()
        check("the 17th connection gets s3lb's 503 SlowDown",
              st == 503 and b"<Code>SlowDown</Code>" in body, repr((st, body[:200])))
        time.sleep(0.2)

        st, hdrs, text = scrape_text(admin)
        check("GET /metrics -> 200 text/plain 0.0.4", st == 200 and
              hdrs.get("content-type", "").startswith("text/plain; version=0.0.4"), repr(hdrs))
        with open(os.path.join(tp.TMP, "metrics.txt"), "w") as f:
            f.write(text)
        promtool_metrics(text, "the gateway's scrape")
        v = value(text, "s3lb_retry_budget_exhausted_total", pool="p")
        check("s3lb_retry_budget_exhausted_total{pool=\"p\"} counts the refusals",
              v is not None and v == refused, "metric %r, refused %d" % (v, refused))
        v = value(text, "s3lb_upstream_responses_503_total", pool="p")
        check("s3lb_upstream_responses_503_total counts the nodes' SlowDowns (4)", v == 4,
              repr(v))
        v = value(text, "s3lb_slowdowns_sent_total", pool="-")
        check("s3lb_slowdowns_sent_total{pool=\"-\"} counts the connection-limit SlowDown",
              v == 1, repr(v))
        v = value(text, "s3lb_slowdowns_sent_total", pool="p")
        check("no SlowDown of s3lb's own for pool p", v == 0, repr(v))
        v = value(text, "s3lb_requests_total", pool="p", status="503")
        check("s3lb_requests_total{status=\"503\"} has the nodes' SlowDowns", v == 4, repr(v))
        check("no IPVS families without dr:", "s3lb_ipvs_" not in text)
        return text
    finally:
        lb.stop()
        a.close()
        b.close()


def netns_ok():
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True,
                              timeout=10).returncode == 0
    except OSError:
        return False


def run_dr():
    """s3lb with a dr: service in its own network namespace; returns its scrape and whether the
    kernel there has IPVS."""
    port, admin = tp.free_port(), tp.free_port()
    cfg = (tp.config(port, admin, ["192.0.2.21:80", "192.0.2.22:80"], workers=1) +
           "dr:\n  - { vip: 192.0.2.10:80, pool: p }\n"
           "dr_state: %s\n" % os.path.join(tp.TMP, "ipvs-owned"))
    path = os.path.join(tp.TMP, "s3lb-dr.yaml")
    with open(path, "w") as f:
        f.write(tp.own_state(cfg))
    err = open(os.path.join(tp.TMP, "error-dr.log"), "ab")
    proc = subprocess.Popen(["unshare", "-n", "sh", "-c",
                             'ip link set lo up && exec "$0" run -c "$1"', tp.BIN, path],
                            stdout=subprocess.DEVNULL, stderr=err)
    text = ""
    try:
        deadline = time.time() + 10
        while time.time() < deadline:
            # the admin listener is inside the namespace: ask from there
            p = subprocess.run(["nsenter", "-t", str(proc.pid), "-n", "curl", "-s", "-m", "2",
                                "http://127.0.0.1:%d/metrics" % admin],
                               capture_output=True, text=True, timeout=10)
            # wait for the director's first cycle (reconcile or failure) to be published
            if p.returncode == 0 and (value(p.stdout, "s3lb_ipvs_reconciles_total") or
                                      value(p.stdout, "s3lb_ipvs_reconcile_failures_total")):
                text = p.stdout
                break
            if proc.poll() is not None:
                break
            time.sleep(0.2)
        check("s3lb with dr: runs in its own network namespace and answers /metrics", bool(text),
              "exit %r, see %s" % (proc.poll(), os.path.join(tp.TMP, "error-dr.log")))
        if not text:
            return "", False
        with open(os.path.join(tp.TMP, "metrics-dr.txt"), "w") as f:
            f.write(text)
        promtool_metrics(text, "the dr: instance's scrape")
        available = value(text, "s3lb_ipvs_available") == 1
        if available:
            print("     (IPVS is available here: the dr: service was reconciled)")
            check("IPVS: a weight series per destination, named by pool and node",
                  value(text, "s3lb_ipvs_dest_weight", pool="p", node="n1") is not None and
                  value(text, "s3lb_ipvs_dest_weight", pool="p", node="n2") is not None,
                  text[-2000:])
            check("IPVS: a reconcile succeeded",
                  (value(text, "s3lb_ipvs_last_reconcile_success_timestamp_seconds") or 0) > 0)
        else:
            print("     (no IPVS in this kernel: the s3lb_ipvs_* series are checked by "
                  "unit.test_admin_metrics_ipvs; here only the families and the failures)")
            check("no IPVS: s3lb_ipvs_available 0, failures counted, no success yet",
                  value(text, "s3lb_ipvs_available") == 0 and
                  value(text, "s3lb_ipvs_reconcile_failures_total") >= 1 and
                  value(text, "s3lb_ipvs_last_reconcile_success_timestamp_seconds") == 0,
                  "\n".join(l for l in text.splitlines() if l.startswith("s3lb_ipvs_")))
        return text, available
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_names(gw_text, dr_text, dr_available):
    gw_samples, gw_fams = names_in(gw_text)
    dr_samples, dr_fams = names_in(dr_text)
    used = {}
    for what, exprs in (("alerts.yml", alert_exprs(os.path.join(MON, "alerts.yml"))),
                        ("dashboard.json", dashboard_exprs(os.path.join(MON, "dashboard.json")))):
        check("%s has expressions" % what, len(exprs) >= 6, repr(exprs))
        for e in exprs:
            for n in METRIC.findall(e):
                used.setdefault(n, set()).add(what)
    for n in sorted(used):
        where = "/".join(sorted(used[n]))
        if n in gw_samples or n in dr_samples:
            check("%s (%s) has series in a scrape" % (n, where), True)
        elif n.startswith("s3lb_ipvs_") and n in dr_fams and not dr_available:
            check("%s (%s) is a family of the dr: scrape (no IPVS here: no series)" % (n, where),
                  True)
        else:
            check("%s (%s) exists in a scrape" % (n, where), False,
                  "families: %s" % ("yes" if n in gw_fams | dr_fams else "no"))
    ops = open(os.path.join(SRC, "docs", "operations.md")).read()
    undocumented = sorted(n for n in gw_fams | dr_fams if not re.search(r"`%s[`{]" % n, ops))
    check("every family of the scrapes is in docs/operations.md", not undocumented,
          " ".join(undocumented))
    check("the kit uses the new counters", all(n in used for n in (
        "s3lb_retry_budget_exhausted_total", "s3lb_upstream_responses_503_total",
        "s3lb_slowdowns_sent_total", "s3lb_ipvs_reconcile_failures_total",
        "s3lb_ipvs_last_reconcile_success_timestamp_seconds", "s3lb_ipvs_dest_weight",
        "s3lb_ipvs_dest_active_connections", "s3lb_ipvs_dest_bytes_total")), repr(sorted(used)))


def main():
    if not os.path.exists(tp.BIN):
        print("FAIL: s3lb binary not found at " + tp.BIN)
        return 1
    need_cmd("promtool", "Prometheus's promtool (Debian's prometheus package)")
    need_cmd("curl", "curl")
    need_cmd("nsenter", "nsenter (util-linux)")
    need_cmd("unshare", "unshare (util-linux)")
    need_cmd("ip", "ip (iproute2)")
    run_rules()
    gw = run_gateway()
    skipped = None
    dr, avail = "", False
    if netns_ok():
        dr, avail = run_dr()
    else:
        skipped = "cannot create a network namespace (unshare -n): the dr: scrape was not checked"
    if not skipped:
        run_names(gw, dr, avail)
    if tp.FAILED:
        print("%d failed; logs kept in %s" % (len(tp.FAILED), tp.TMP))
        return 1
    if skipped:
        print("SKIPPED: " + skipped)
        return 77
    print("all monitoring cases passed")
    shutil.rmtree(tp.TMP, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
