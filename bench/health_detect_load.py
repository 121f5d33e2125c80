#!/usr/bin/env python3
"""Helper of bench/health-detect (see there): object setup, the client load, the trial driver
and the report. Subcommands:

  setup  --endpoint URL --bucket B --manifest FILE        create the bucket and the small objects
  load   --endpoint URL --bucket B --manifest FILE --out CSV --ready FILE
                                                          steady GET/HEAD load until SIGTERM
  trials --balancer s3lb|haproxy (--admin ADDR | --sock PATH) --events FILE ...
                                                          kill -9 / kill -STOP trials
  report --run DIR ...                                    Markdown tables from the runs' files

Times are wall-clock (time.time(), CLOCK_REALTIME) on one machine, so the script's kill time,
s3lb's error-log timestamps (ms) and HAProxy's log timestamps (us) are on the same clock.
"""
import argparse
import csv
import datetime
import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

NODES = {1: "127.0.0.11", 2: "127.0.0.12", 3: "127.0.0.13"}
RGW_PORT = 8000
NOBJ = 30
OBJ_SIZE = 4096
THREADS = 4
SLOW = 1.0  # a request slower than this (seconds) counts as stalled


# ---- S3 client ----------------------------------------------------------------------------------

def s3client(endpoint):
    import boto3
    import botocore.config
    # No client retries: every failure the balancer lets through is seen. Careful: botocore's
    # `max_attempts` counts retries (legacy meaning; `max_attempts: 1` = 2 attempts), while
    # `total_max_attempts` counts attempts: 1 = the request is sent once. Timeouts are boto3's
    # defaults (connect 60 s, read 60 s).
    cfg = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"},
                                 s3={"addressing_style": "path"},
                                 max_pool_connections=THREADS * 2)
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=cfg,
                        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "s3lbdemo"),
                        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY",
                                                             "s3lbdemosecret"))


def cmd_setup(a):
    s3 = s3client(a.endpoint)
    try:
        s3.create_bucket(Bucket=a.bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    except Exception as e:  # RGW may answer BucketAlreadyExists for our own bucket
        if "BucketAlreadyExists" not in repr(e):
            raise
    man = {}
    for i in range(NOBJ):
        key = "obj%02d" % i
        body = os.urandom(OBJ_SIZE)
        s3.put_object(Bucket=a.bucket, Key=key, Body=body)
        man[key] = hashlib.md5(body).hexdigest()
    with open(a.manifest, "w") as f:
        json.dump(man, f)
    print("bucket %s: %d objects of %d bytes" % (a.bucket, NOBJ, OBJ_SIZE))


def classify(e):
    import botocore.exceptions as bx
    if isinstance(e, bx.ClientError):
        md = e.response.get("ResponseMetadata", {})
        code = e.response.get("Error", {}).get("Code", "")
        if code.isdigit():  # a HEAD: no error body, botocore uses the status as the code
            code = "(HEAD, no body)"
        return "HTTP %s %s" % (md.get("HTTPStatusCode"), code)
    msg = re.sub(r'"?https?://[^ "]*"?', "URL", str(e).replace("\n", " "))
    return "%s: %s" % (type(e).__name__, msg[:120])


def cmd_load(a):
    man = json.load(open(a.manifest))
    keys = sorted(man)
    s3 = s3client(a.endpoint)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    rows = []  # (start, end, op, key, result); list.append is atomic under the GIL

    def worker(seed):
        rnd = random.Random(seed)
        n = 0
        while not stop.is_set():
            key = keys[rnd.randrange(len(keys))]
            op = "GET" if n % 2 == 0 else "HEAD"
            n += 1
            t0 = time.time()
            try:
                if op == "GET":
                    r = s3.get_object(Bucket=a.bucket, Key=key)
                    res = "ok" if hashlib.md5(r["Body"].read()).hexdigest() == man[key] else "bad body"
                else:
                    r = s3.head_object(Bucket=a.bucket, Key=key)
                    res = "ok" if r["ContentLength"] == OBJ_SIZE else "bad length"
            except Exception as e:
                res = classify(e)
            rows.append((t0, time.time(), op, key, res))

    # one warm-up request so that boto3's lazy set-up does not count as latency
    s3.head_object(Bucket=a.bucket, Key=keys[0])
    th = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in th:
        t.start()
    open(a.ready, "w").close()
    done = 0
    with open(a.out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["start", "end", "op", "key", "result"])
        while not stop.is_set():
            stop.wait(1.0)
            n = len(rows)
            for r in rows[done:n]:
                w.writerow(["%.6f" % r[0], "%.6f" % r[1], r[2], r[3], r[4]])
            done = n
            f.flush()
        for t in th:
            t.join(timeout=90)
        for r in rows[done:]:
            w.writerow(["%.6f" % r[0], "%.6f" % r[1], r[2], r[3], r[4]])


# ---- balancer state -----------------------------------------------------------------------------

class S3lbState:
    """Node states from s3lb's GET /status (one kept-alive connection)."""

    def __init__(self, admin):
        host, port = admin.rsplit(":", 1)
        self.host, self.port = host, int(port)
        self.c = None

    def states(self):
        for _ in range(2):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(self.host, self.port, timeout=2)
                self.c.request("GET", "/status")
                r = self.c.getresponse()
                body = r.read()
                out = {}
                for p in json.loads(body)["pools"]:
                    for n in p["nodes"]:
                        out[n["name"]] = "up" if n["state"] == "up" else "down"
                return out
            except (OSError, http.client.HTTPException, ValueError):
                if self.c:
                    self.c.close()
                self.c = None
        return {}


class HaproxyState:
    """Node states from HAProxy's `show stat` on its admin socket: status "UP", "UP 1/3"
    (going down: still takes traffic) -> up; "DOWN", "DOWN 1/2" (going up) -> down."""

    def __init__(self, sock):
        self.sock = sock

    def cmd(self, line):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(self.sock)
            s.sendall(line.encode() + b"\n")
            buf = b""
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
            return buf.decode(errors="replace")
        finally:
            s.close()

    def states(self):
        try:
            text = self.cmd("show stat")
        except OSError:
            return {}
        lines = text.splitlines()
        if not lines or not lines[0].startswith("# "):
            return {}
        hdr = lines[0][2:].split(",")
        ix = {h: i for i, h in enumerate(hdr)}
        out = {}
        for ln in lines[1:]:
            f = ln.split(",")
            if len(f) < len(hdr) or f[ix["pxname"]] != "be_rgw" or f[ix["svname"]] in (
                    "FRONTEND", "BACKEND"):
                continue
            out[f[ix["svname"]]] = "up" if f[ix["status"]].startswith("UP") else "down"
        return out


# ---- trials -------------------------------------------------------------------------------------

def rgw_pid(ceph_dir, n):
    pid = None
    try:
        for ln in open(os.path.join(ceph_dir, "pids")):
            f = ln.split()
            if len(f) == 2 and f[0] == "rgw.gw%d" % n:
                pid = int(f[1])
    except (OSError, ValueError):
        return None
    if pid is None:
        return None
    try:
        cmd = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")
    except OSError:
        return None
    if not cmd or not cmd[0].endswith(b"radosgw") or b"client.rgw.gw%d" % n not in cmd:
        return None
    return pid


def rgw_answers(n):
    c = http.client.HTTPConnection(NODES[n], RGW_PORT, timeout=0.3)
    try:
        c.request("GET", "/")
        return c.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        c.close()


def proc_state(pid):
    """The state letter of a process (R, S, T, Z, ...), or None when it is gone."""
    try:
        return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError, TypeError):
        return None


class Trials:
    def __init__(self, a):
        self.a = a
        self.bal = S3lbState(a.admin) if a.balancer == "s3lb" else HaproxyState(a.sock)
        self.stopped = set()   # PIDs we SIGSTOPped and did not CONT yet
        self.killed = set()    # gateways we killed and did not restart yet
        self.last_kill = {}
        self.cur = None         # (node, kind, pid, phase) while a trial runs
        self.base = {}          # the gateways' PIDs at the start of the trial
        self.disturbed = None
        self.rnd = random.Random()

    def watch(self, st):
        """Notes anything this script did not do during a trial: another gateway restarted,
        stopped or gone, the failed one restarted or continued by someone else, another node down
        in the balancer. (Other sessions may share the cluster: a trial they touch is redone.)"""
        if self.disturbed or self.cur is None:
            return
        n, kind, pid, phase = self.cur
        for m in NODES:
            now = rgw_pid(self.a.ceph_dir, m)
            if m == n:
                if phase == "failed" and kind == "kill -9" and now is not None and now != pid:
                    self.disturbed = "rgw.gw%d restarted by someone else (pid %d)" % (m, now)
                elif phase == "failed" and kind == "kill -STOP":
                    # A group stop takes a moment to reach every thread: only a process seen
                    # stopped and then running again was continued by someone else.
                    st_now = proc_state(pid)
                    if st_now == "T":
                        self.seen_stopped = True
                    elif self.seen_stopped:
                        self.disturbed = "rgw.gw%d (pid %d) continued or gone: state %s" % (
                            m, pid, st_now)
                continue
            if now != self.base[m]:
                self.disturbed = "rgw.gw%d changed from pid %s to %s" % (m, self.base[m], now)
            elif proc_state(now) == "T":
                self.disturbed = "rgw.gw%d (pid %d) stopped by someone else" % (m, now)
            elif st and st.get("rgw%d" % m) not in (None, "up"):
                self.disturbed = "the balancer saw rgw%d down" % m

    def poll(self, cond, limit):
        """Polls the balancer every 20 ms until cond(states) holds; returns that time or None."""
        end = time.time() + limit
        while time.time() < end:
            st = self.bal.states()
            t = time.time()
            self.watch(st)
            if st and cond(st):
                return t
            time.sleep(0.02)
        return None

    def all_up(self, limit=60):
        return self.poll(lambda st: all(st.get("rgw%d" % n) == "up" for n in NODES), limit)

    def restart(self, n):
        return subprocess.run([self.a.cluster, "rgw-start", str(n), self.a.ceph_dir],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def restore(self):
        for pid in list(self.stopped):
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
            self.stopped.discard(pid)
        for n in list(self.killed):
            self.restart(n)
            self.killed.discard(n)

    def trial(self, i, kind, n):
        a = self.a
        name = "rgw%d" % n
        ev = {"balancer": a.balancer, "trial": i, "kind": kind, "node": name}
        self.cur = None
        for m in NODES:   # a gateway left dead or stopped by someone else
            if rgw_pid(a.ceph_dir, m) is None:
                self.restart(m)
            elif proc_state(rgw_pid(a.ceph_dir, m)) == "T":
                ev.setdefault("notes", []).append("rgw.gw%d was stopped before the trial" % m)
        if self.all_up() is None:
            raise SystemExit("trial %d: not all nodes up in %s after 60 s" % (i, a.balancer))
        if kind == "kill -9":
            # s3lb forgives a passive ejection 2 x passive.max_backoff (60 s) after it; killing
            # the same node again sooner would measure the flap back-off, not a first failure.
            wait = self.last_kill.get(n, 0) + a.min_gap - time.time()
            if wait > 0:
                ev["gap_wait_s"] = round(wait, 1)
                time.sleep(wait)
        self.base = {m: rgw_pid(a.ceph_dir, m) for m in NODES}
        pid = self.base[n]
        if pid is None:
            raise SystemExit("rgw.gw%d: no radosgw pid in %s/pids" % (n, a.ceph_dir))
        self.disturbed = None
        self.seen_stopped = False
        self.cur = (n, kind, pid, "before")
        # Random waits (uniform over a span longer than either balancer's check interval) put
        # the failure and the recovery at a random phase of the probes: the trials would
        # otherwise lock onto the check schedule (every wait ends on a state change, which
        # happens at a check) and measure one phase only.
        ev["pre_s"] = round(self.rnd.uniform(a.pre, a.pre + a.spread), 3)
        ev["hold_s"] = round(self.rnd.uniform(a.hold, a.hold + a.spread), 3)
        self.poll(lambda st: False, ev["pre_s"])   # load before the failure, watched
        ev["pid"] = pid
        ev["loadavg"] = os.getloadavg()[0]
        ev["t_fail"] = time.time()
        if kind == "kill -9":
            os.kill(pid, signal.SIGKILL)
            self.killed.add(n)
            self.last_kill[n] = ev["t_fail"]
        else:
            os.kill(pid, signal.SIGSTOP)
            self.stopped.add(pid)
        self.cur = (n, kind, pid, "failed")
        ev["t_down_polled"] = self.poll(lambda st: st.get(name) == "down", a.limit)
        self.poll(lambda st: False, ev["hold_s"])
        ev["t_restore"] = time.time()
        self.cur = (n, kind, pid, "restored")
        if kind == "kill -9":
            p = subprocess.Popen([a.cluster, "rgw-start", str(n), a.ceph_dir],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        else:
            os.kill(pid, signal.SIGCONT)
            self.stopped.discard(pid)
            p = None
        # The node serving again (our own GET / every 20 ms) and the balancer seeing it up.
        end = time.time() + a.limit + 90
        ev["t_serving"] = ev["t_up_polled"] = None
        while time.time() < end and (ev["t_serving"] is None or ev["t_up_polled"] is None):
            if ev["t_serving"] is None and rgw_answers(n):
                ev["t_serving"] = time.time()
            st = self.bal.states()
            self.watch(st)
            if ev["t_up_polled"] is None and st.get(name) == "up":
                ev["t_up_polled"] = time.time()
            time.sleep(0.02)
        if p is not None:
            _, err = p.communicate(timeout=120)
            if p.returncode != 0:
                raise SystemExit("rgw-start %d failed: %s" % (n, err.strip()))
            self.killed.discard(n)
        self.base[n] = rgw_pid(a.ceph_dir, n)
        self.poll(lambda st: False, a.settle)
        ev["t_end"] = time.time()
        self.cur = None
        if self.disturbed:
            ev["disturbed"] = self.disturbed
        return ev

    def run(self):
        a = self.a
        ev_f = open(a.events, "a")
        try:
            for i in range(1, a.trials + 1):
                n = (i - 1) % 3 + 1
                for kind in ("kill -9", "kill -STOP"):
                    for attempt in range(a.redo + 1):
                        ev = self.trial(i, kind, n)
                        ev_f.write(json.dumps(ev) + "\n")
                        ev_f.flush()
                        det = ev["t_down_polled"] and ev["t_down_polled"] - ev["t_fail"]
                        up = (ev["t_up_polled"] and ev["t_serving"] and
                              ev["t_up_polled"] - ev["t_serving"])
                        print("  %-7s trial %2d %-10s rgw%d: down after %s s, up %s s after it "
                              "served again%s" % (
                                  a.balancer, i, kind, n, "%.2f" % det if det else "-",
                                  "%.2f" % up if up else "-",
                                  "; DISTURBED (%s): redone" % ev["disturbed"]
                                  if ev.get("disturbed") else ""), flush=True)
                        if not ev.get("disturbed"):
                            break
                    else:
                        raise SystemExit("trial %d (%s) disturbed %d times in a row: is another "
                                         "session using the cluster?" % (i, kind, a.redo + 1))
        finally:
            self.restore()
            ev_f.close()


def cmd_trials(a):
    t = Trials(a)

    def bye(*_):
        raise SystemExit("interrupted")
    signal.signal(signal.SIGTERM, bye)
    t.run()


# ---- report -------------------------------------------------------------------------------------

S3LB_LOG = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z \[\w+\] node ceph/(rgw\d) "
                      r"\([^)]*\) is (up|down|draining): (.*)$")
HAP_LOG = re.compile(r"^<\d+>1 (\S+) \S+ haproxy \d+ \S+ \S+ Server be_rgw/(rgw\d) is (UP|DOWN)"
                     r"(?:, reason: (.*))?$")
HAP_HTTP = re.compile(r"^<\d+>1 (\S+) .* \[(\S+)\] fe_s3 be_rgw/(\S+) (\S+) (-?\d+) \S+ \S+ \S+ "
                      r"(\S{4}) .*\"(\w+) ")


def ts_iso(s):
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    return datetime.datetime.fromisoformat(s).timestamp()


def transitions(balancer, log):
    """[(time, node, 'up'|'down', reason)] from the balancer's own log."""
    out = []
    if not os.path.exists(log):
        return out
    for ln in open(log, errors="replace"):
        ln = ln.rstrip("\n")
        if balancer == "s3lb":
            m = S3LB_LOG.match(ln)
            if m:
                out.append((ts_iso(m.group(1) + "Z"), m.group(2), m.group(3), m.group(4)))
        else:
            m = HAP_LOG.match(ln)
            if m:
                out.append((ts_iso(m.group(1)), m.group(2), m.group(3).lower(), m.group(4) or ""))
    return out


def load_rows(path):
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            rows.append((float(r["start"]), float(r["end"]), r["op"], r["result"]))
    return rows


def fmt(x, nd=2):
    return "-" if x is None else ("%.*f" % (nd, x))


def med(xs):
    xs = [x for x in xs if x is not None]
    return (statistics.median(xs), min(xs), max(xs)) if xs else (None, None, None)


def s3lb_access(path):
    """[(end time, status, attempts, duration_ms, node)] from s3lb's JSON access log."""
    out = []
    if not os.path.exists(path):
        return out
    for ln in open(path, errors="replace"):
        try:
            j = json.loads(ln)
        except ValueError:
            continue
        out.append((ts_iso(j["time"]), j.get("status"), j.get("attempts", 1),
                    j.get("duration_ms", 0), j.get("node", "")))
    return out


def haproxy_access(path):
    """[(log time, status, termination flags, timers, server)] from HAProxy's httplog lines."""
    out = []
    if not os.path.exists(path):
        return out
    for ln in open(path, errors="replace"):
        m = HAP_HTTP.match(ln)
        if m:
            out.append((ts_iso(m.group(1)), int(m.group(5)), m.group(6), m.group(4), m.group(3)))
    return out


def analyse(run_dir, balancer):
    evs = [json.loads(l) for l in open(os.path.join(run_dir, "events.jsonl"))]
    disturbed = [e for e in evs if e.get("disturbed")]
    log = os.path.join(run_dir, "error.log" if balancer == "s3lb" else "haproxy.log")
    tr = transitions(balancer, log)
    rows = load_rows(os.path.join(run_dir, "load.csv"))
    acc = (s3lb_access(os.path.join(run_dir, "access.log")) if balancer == "s3lb"
           else haproxy_access(os.path.join(run_dir, "haproxy.log")))
    moved = []  # s3lb: requests taken off a node when health marked it down
    if balancer == "s3lb" and os.path.exists(log):
        for ln in open(log, errors="replace"):
            if "upstream node marked down by health" in ln:
                moved.append(ts_iso(ln[:24]))
    res = []
    windows = []
    for ev in evs:
        t0, t1 = ev["t_fail"], ev["t_end"]
        windows.append((t0, t1))
        down = [t for t in tr if t[1] == ev["node"] and t[2] == "down" and t0 - 0.001 <= t[0] <= t1]
        up = [t for t in tr if t[1] == ev["node"] and t[2] == "up" and ev["t_restore"] <= t[0] <= t1]
        r = dict(ev)
        r["det"] = down[0][0] - t0 if down else None
        r["down_reason"] = down[0][3] if down else ""
        r["det_polled"] = ev["t_down_polled"] - t0 if ev.get("t_down_polled") else None
        r["serve_after"] = ev["t_serving"] - ev["t_restore"] if ev.get("t_serving") else None
        r["up_after"] = (up[0][0] - ev["t_serving"]) if up and ev.get("t_serving") else None
        r["up_after_restore"] = up[0][0] - ev["t_restore"] if up else None
        r["up_reason"] = up[0][3] if up else ""
        r["extra_transitions"] = len(down) + len(up) - 2
        w = [x for x in rows if t0 <= x[1] <= t1]
        r["requests"] = len(w)
        fails = [x for x in w if x[3] != "ok"]
        r["failed"] = len(fails)
        r["fail_kinds"] = {}
        for x in fails:
            r["fail_kinds"][x[3]] = r["fail_kinds"].get(x[3], 0) + 1
        r["slow"] = sum(1 for x in w if x[1] - x[0] > SLOW)
        r["max_latency"] = max((x[1] - x[0] for x in w), default=None)
        aw = [x for x in acc if t0 <= x[0] <= t1 + 0.5]
        if balancer == "s3lb":
            r["lb_moved"] = sum(1 for t in moved if t0 <= t <= t1)
            r["lb_errors"] = sum(1 for x in aw if x[1] is None or x[1] >= 500)
            r["lb_retried"] = sum(1 for x in aw if x[2] and x[2] > 1)
            r["lb_status"] = {}
            for x in aw:
                if x[1] != 200:
                    r["lb_status"][str(x[1])] = r["lb_status"].get(str(x[1]), 0) + 1
        else:
            r["lb_errors"] = sum(1 for x in aw if x[1] >= 500)
            r["lb_status"] = {}
            for x in aw:
                if x[1] != 200 or x[2] != "----":
                    k = "%d %s on %s" % (x[1], x[2], x[4])
                    r["lb_status"][k] = r["lb_status"].get(k, 0) + 1
        res.append(r)
    outside = [x for x in rows if x[3] != "ok" and not any(a <= x[1] <= b for a, b in windows)]
    for r in res:
        r["disturbed"] = r.get("disturbed", "")
    return [r for r in res if not r["disturbed"]], rows, outside, [r for r in res if r["disturbed"]]


def cmd_report(a):
    out = []
    p = out.append
    meta = json.load(open(a.meta))
    p("## Failure detection: s3lb vs HAProxy %s (%s)" % (meta["haproxy_short"], meta["date"]))
    p("")
    p("- Machine: %s, %s CPUs, kernel %s; all traffic on loopback." % (
        meta["os"], meta["nproc"], meta["kernel"]))
    p("- Versions: `%s`, commit %s; `%s`; Ceph radosgw %s (three gateways, one memstore OSD)." % (
        meta["s3lb_version"], meta["s3lb_git"], meta["haproxy_v"], meta["ceph_v"]))
    p("- Command: `%s`" % meta["cmdline"])
    p("- Load: python3 + boto3 %s, %d threads, client retries off (`total_max_attempts: 1`), boto3's default "
      "timeouts (connect 60 s, read 60 s), alternating GET and HEAD of %d objects of %d bytes, "
      "keep-alive. Each trial: all nodes up, %s s of load (uniformly random), fail one radosgw "
      "(kill -9 or kill -STOP, rotating gw1, gw2, gw3), wait until the balancer marks it down, "
      "%s s later (uniformly random) restart it "
      "(`scripts/ceph-cluster rgw-start N`) or kill -CONT it, wait until the balancer has it up, "
      "%s s more load. A node is killed -9 again at least %s s after its previous kill."
      % (meta["boto3"], THREADS, NOBJ, OBJ_SIZE, meta["pre"], meta["hold"], meta["settle"],
         meta["min_gap"]))
    p("- Detection = the balancer's own log timestamp of the DOWN transition (s3lb error log, ms; "
      "HAProxy `Server be_rgw/rgwN is DOWN` log line, rfc5424 with us) minus the time the script "
      "sent the signal (the 20 ms polling of s3lb's /status or HAProxy's `show stat` sees the "
      "same transition a few tens of ms later: column `polled`). Back UP = the UP log line minus the first moment the restarted node "
      "answered `GET /` again (the script polls it every 20 ms; for kill -STOP that is the "
      "kill -CONT). Failed = client requests that ended with an error between the signal and "
      "the end of the trial; stalled = requests that took over %.0f s." % SLOW)
    p("")
    allres = {}
    for bal in meta["balancers"]:
        rd = os.path.join(a.run, bal)
        allres[bal] = analyse(rd, bal)
    p("| balancer | failure | detection median | min | max | failed requests (total; per trial) "
      "| stalled > 1 s (total) | back UP after the node serves again: median (min-max) |")
    p("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for bal in meta["balancers"]:
        res = allres[bal][0]
        for kind in ("kill -9", "kill -STOP"):
            rs = [r for r in res if r["kind"] == kind]
            if not rs:
                continue
            d = med([r["det"] for r in rs])
            u = med([r["up_after"] for r in rs])
            p("| %s | %s | %s s | %s s | %s s | %d; %s | %d | %s s (%s-%s) |" % (
                bal, kind, fmt(d[0]), fmt(d[1]), fmt(d[2]), sum(r["failed"] for r in rs),
                " ".join(str(r["failed"]) for r in rs), sum(r["slow"] for r in rs),
                fmt(u[0]), fmt(u[1]), fmt(u[2])))
    p("")
    for bal in meta["balancers"]:
        res, rows, outside, dist = allres[bal]
        for kind in ("kill -9", "kill -STOP"):
            rs = [r for r in res if r["kind"] == kind]
            if not rs:
                continue
            p("### %s, %s" % (bal, kind))
            p("")
            p("| trial | node | detection (log) | (polled) | reason | requests | failed | "
              "stalled > 1 s | max latency | node serving again after | back UP after that |")
            p("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            for r in rs:
                p("| %d | %s | %s s | %s s | %s | %d | %d | %d | %s s | %s s | %s s |" % (
                    r["trial"], r["node"], fmt(r["det"], 3), fmt(r["det_polled"], 3),
                    r["down_reason"].replace("|", "/")[:90], r["requests"], r["failed"], r["slow"],
                    fmt(r["max_latency"]), fmt(r["serve_after"]), fmt(r["up_after"])))
            kinds = {}
            for r in rs:
                for k, v in r["fail_kinds"].items():
                    kinds[k] = kinds.get(k, 0) + v
            if kinds:
                p("")
                p("Client errors: " + "; ".join("%d x %s" % (v, k) for k, v in
                                                  sorted(kinds.items(), key=lambda x: -x[1])))
            lbk = {}
            for r in rs:
                for k, v in r["lb_status"].items():
                    lbk[k] = lbk.get(k, 0) + v
            if bal == "s3lb":
                p("")
                p("s3lb logs in these trials: %d requests answered after a retry on another "
                  "node (access log, attempts > 1), %d in-flight requests taken off the node when "
                  "health marked it down (error log, `upstream node marked down by health`), %d "
                  "answered 5xx%s." % (
                      sum(r["lb_retried"] for r in rs), sum(r["lb_moved"] for r in rs),
                      sum(r["lb_errors"] for r in rs),
                      ("; statuses other than 200: " + ", ".join(
                          "%s x %d" % (k, v) for k, v in sorted(lbk.items()))) if lbk else ""))
            else:
                p("")
                p("HAProxy log in these trials: %s." % (
                    "; ".join("%d x %s" % (v, k) for k, v in sorted(lbk.items(), key=lambda x: -x[1]))
                    if lbk else "every request 200 with termination state ----"))
            ex = sum(max(0, r["extra_transitions"]) for r in rs)
            gaps = [r.get("gap_wait_s") for r in rs if r.get("gap_wait_s")]
            if ex or gaps:
                p("")
            if ex:
                p("Extra transitions of the failed node inside these trials: %d." % ex)
            if gaps:
                p("Waited for the kill -9 spacing before %d trials (up to %.0f s)." % (
                    len(gaps), max(gaps)))
            p("")
        if dist:
            p("%s: %d trials redone because something else touched the cluster during them "
              "(their figures are left out above): %s." % (bal, len(dist), "; ".join(
                  "trial %d %s: %s (%d client requests failed in it)" % (
                      r["trial"], r["kind"], r["disturbed"], r["failed"]) for r in dist)))
            p("")
        if outside:
            p("%s: %d failed requests outside the trial windows: %s" % (
                bal, len(outside), "; ".join("%.3f %s %s" % (x[1], x[2], x[3]) for x in outside[:5])))
            p("")
        la = [r["loadavg"] for r in res if r.get("loadavg") is not None]
        dur = (rows[-1][1] - rows[0][0]) if rows else 0
        p("%s: %d requests in all (%.0f/s), %d failed; 1-minute load average at the trials' "
          "start %.1f-%.1f." % (bal, len(rows), len(rows) / dur if dur else 0,
                              sum(1 for x in rows if x[3] != "ok"), min(la, default=0),
                              max(la, default=0)))
        p("")
    p("### Settings")
    p("")
    p("s3lb: no `health` section, so the defaults apply; the effective pool settings from "
      "`s3lb check`:")
    p("")
    p("```yaml")
    p(open(os.path.join(a.run, "s3lb-effective-pool.yaml")).read().rstrip())
    p("```")
    p("")
    p("HAProxy (`bench/peers/haproxy-health.cfg` with ports filled in): `check` with no "
      "inter/fall/rise, so inter 2s (fastinter and downinter follow inter), fall 3, rise 2, no "
      "`timeout check` (so a check may take up to inter), `retries 3` and no `option redispatch` "
      "(HAProxy's defaults):")
    p("")
    p("```")
    p(open(os.path.join(a.run, "haproxy.cfg")).read().rstrip())
    p("```")
    text = "\n".join(out) + "\n"
    with open(a.output, "w") as f:
        f.write(text)
    with open(a.output.replace(".md", ".json"), "w") as f:
        json.dump({b: {"trials": allres[b][0], "disturbed": allres[b][3]} for b in allres}, f,
                  indent=1, default=str)
    sys.stdout.write(text)


def main():
    ap = argparse.ArgumentParser()
    sp = ap.add_subparsers(dest="cmd", required=True)
    s = sp.add_parser("setup")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--bucket", required=True)
    s.add_argument("--manifest", required=True)
    s = sp.add_parser("load")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--bucket", required=True)
    s.add_argument("--manifest", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--ready", required=True)
    s = sp.add_parser("trials")
    s.add_argument("--balancer", choices=["s3lb", "haproxy"], required=True)
    s.add_argument("--admin")
    s.add_argument("--sock")
    s.add_argument("--events", required=True)
    s.add_argument("--trials", type=int, default=10)
    s.add_argument("--cluster", required=True)
    s.add_argument("--ceph-dir", required=True)
    s.add_argument("--pre", type=float, default=1.0)
    s.add_argument("--hold", type=float, default=1.0)
    s.add_argument("--spread", type=float, default=2.0)
    s.add_argument("--settle", type=float, default=3.0)
    s.add_argument("--limit", type=float, default=60.0)
    s.add_argument("--min-gap", type=float, default=65.0)
    s.add_argument("--redo", type=int, default=3)
    s = sp.add_parser("report")
    s.add_argument("--run", required=True)
    s.add_argument("--meta", required=True)
    s.add_argument("--output", required=True)
    a = ap.parse_args()
    {"setup": cmd_setup, "load": cmd_load, "trials": cmd_trials, "report": cmd_report}[a.cmd](a)


if __name__ == "__main__":
    main()
