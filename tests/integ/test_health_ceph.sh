#!/bin/bash
# health/ against the real Ceph cluster, with the default probe settings (http GET /, interval 1s,
# timeout 500ms, rise 2, fall 2), under a steady GET/HEAD load from boto3 (no client retries):
#  - kill -9 of one radosgw: zero failed GET/HEAD, DOWN within interval x fall + timeout,
#    back UP within interval x rise after the restart, and requests return to it;
#  - kill -STOP of one radosgw: the same (its in-flight GETs move to other nodes when it is
#    marked down), and UP again after kill -CONT;
#  - PUTs in flight at the kill either succeed and read back identical, or fail: never a success
#    for an object that does not read back;
#  - drain under load: zero failed requests, no request reaches the drained node after the drain
#    answer.
set -euo pipefail
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_ceph
cluster_up
s3lb_up
T=$INTEG_TMP
ceph_dir=${S3LB_CEPH_DIR:-$S3LB_BUILD/integ-ceph}
admin=${S3LB_ADMIN#http://}
at_exit "$S3LB_SRC/scripts/ceph-cluster" rgw-start 2 "$ceph_dir"
at_exit "$S3LB_SRC/scripts/ceph-cluster" rgw-start 3 "$ceph_dir"
bucket=$(unique_bucket health)
at_exit aws_s3 s3 rb --force "s3://$bucket"
must aws_s3 s3 mb "s3://$bucket" >/dev/null

# state NODE: the node's state in /status
state() {
	"$S3LB_BIN" status --json -a "$admin" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["pools"]:
    for n in p["nodes"]:
        if n["name"] == sys.argv[1]:
            print(n["state"])' "$1"
}

# wait_state NODE STATE LIMIT: seconds until NODE is in STATE (fails after LIMIT)
wait_state() {
	local t0 now
	t0=$(date +%s.%N)
	while :; do
		[ "$(state "$1")" = "$2" ] && break
		now=$(date +%s.%N)
		awk -v a="$t0" -v b="$now" -v l="$3" 'BEGIN { exit !(b - a > l) }' &&
			fail "$1 not $2 after $3 s"
		sleep 0.05
	done
	awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'
}

# since T0 NODE WORD: seconds from T0 (epoch, fractional) to the first error-log line after T0
# saying "node ceph/NODE (...) is WORD" (s3lb's own clock, not this script's polling)
since() {
	python3 - "$T/error.log" "$1" "$2" "$3" <<'EOF'
import sys
from datetime import datetime, timezone
log, t0, node, word = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
for line in open(log):
    if "node ceph/%s " % node in line and (") is %s:" % word) in line:
        t = datetime.strptime(line[:24], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
        if t >= t0:
            print("%.2f" % (t - t0))
            sys.exit(0)
print("999")
EOF
}

# ---- a steady load: GET and HEAD of 30 objects, and PUTs with a record of what succeeded --------
cat >"$T/load.py" <<'EOF'
import hashlib, os, random, sys, threading, time
import boto3, botocore.config
ep, bucket, out, stop = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
# total_max_attempts 1: no client retry at all (max_attempts counts retries only)
cfg = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"},
                             connect_timeout=5, read_timeout=30, s3={"addressing_style": "path"},
                             max_pool_connections=16)
s3 = boto3.client("s3", endpoint_url=ep, config=cfg)
bodies = {}
for i in range(30):
    b = os.urandom(65536)
    s3.put_object(Bucket=bucket, Key="obj%d" % i, Body=b)
    bodies["obj%d" % i] = hashlib.md5(b).hexdigest()
lock = threading.Lock()
stats = {"ok": 0, "failed": 0, "put_ok": 0, "put_failed": 0}
failures = []
puts = []
def reader():
    while not os.path.exists(stop):
        k = "obj%d" % random.randrange(30)
        try:
            if random.random() < 0.5:
                r = s3.get_object(Bucket=bucket, Key=k)
                ok = hashlib.md5(r["Body"].read()).hexdigest() == bodies[k]
            else:
                ok = s3.head_object(Bucket=bucket, Key=k)["ContentLength"] == 65536
        except Exception as e:
            ok = False
            failures.append("%.3f %s %r" % (time.time(), k, e))
        with lock:
            stats["ok" if ok else "failed"] += 1
def writer():
    i = 0
    while not os.path.exists(stop):
        k = "put%d" % i
        b = os.urandom(1 << 20)
        try:
            s3.put_object(Bucket=bucket, Key=k, Body=b)
            puts.append((k, hashlib.md5(b).hexdigest()))
            stats["put_ok"] += 1
        except Exception as e:
            stats["put_failed"] += 1
        i += 1
th = [threading.Thread(target=reader) for _ in range(4)] + [threading.Thread(target=writer)]
open(out + ".ready", "w").close()
for t in th: t.start()
for t in th: t.join()
bad = 0
for k, h in puts:   # every PUT that succeeded must read back identical
    if hashlib.md5(s3.get_object(Bucket=bucket, Key=k)["Body"].read()).hexdigest() != h:
        bad += 1
with open(out, "w") as f:
    f.write("%d %d %d %d %d\n" % (stats["ok"], stats["failed"], stats["put_ok"],
                                  stats["put_failed"], bad))
    f.write("\n".join(failures[:20]) + "\n")
EOF
/usr/bin/python3 "$T/load.py" "$S3LB_ENDPOINT" "$bucket" "$T/load.out" "$T/stop" 2>"$T/load.err" &
load_pid=$!
at_exit kill "$load_pid"
for _ in $(seq 300); do [ -f "$T/load.out.ready" ] && break; sleep 0.1; done
[ -f "$T/load.out.ready" ] || fail "load generator did not start: $(tail -3 "$T/load.err")"
sleep 2

# ---- kill -9 ---------------------------------------------------------------------------------
t0=$(date +%s.%N)
"$S3LB_SRC/scripts/ceph-cluster" rgw-kill 2 "$ceph_dir" >/dev/null
wait_state rgw2 down 10 >/dev/null
down9=$(since "$t0" rgw2 down)
awk -v d="$down9" 'BEGIN { exit !(d <= 2.5 + 0.3) }' || fail "kill -9: DOWN after $down9 s (> 2.5 s)"
pass "kill -9 rgw2: marked down after $down9 s (limit interval x fall + timeout = 2.5 s)"
sleep 1
t0=$(date +%s.%N)
"$S3LB_SRC/scripts/ceph-cluster" rgw-start 2 "$ceph_dir" >/dev/null
wait_state rgw2 up 10 >/dev/null
up9=$(since "$t0" rgw2 up)
awk -v d="$up9" 'BEGIN { exit !(d <= 2.0 + 0.5) }' || fail "restart: UP after $up9 s (> 2 s)"
pass "rgw2 restarted: up again after $up9 s (limit interval x rise = 2 s, +0.5 s for the restart)"
sleep 1.5
back=$(python3 - "$T/access.log" "$(date +%s.%N)" <<'EOF'
import json, sys
from datetime import datetime, timezone
n = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    t = datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
    if r["node"] == "rgw2" and r["status"] < 500 and float(sys.argv[2]) - 1.4 < t:
        n += 1
print(n)
EOF
)
[ "$back" -gt 0 ] || fail "no request went to rgw2 in the 1.4 s after it came back up"
pass "requests return to rgw2: $back served by it in the 1.4 s after it came back"

# ---- kill -STOP ------------------------------------------------------------------------------
rgw3=$(awk '$1 == "rgw.gw3" { print $2 }' "$ceph_dir/pids")
grep -q radosgw "/proc/$rgw3/cmdline" || fail "rgw.gw3 pid $rgw3 is not a radosgw"
t0=$(date +%s.%N)
kill -STOP "$rgw3"
at_exit kill -CONT "$rgw3"
wait_state rgw3 down 10 >/dev/null
downs=$(since "$t0" rgw3 down)
awk -v d="$downs" 'BEGIN { exit !(d <= 2.5 + 0.3) }' || fail "kill -STOP: DOWN after $downs s"
pass "kill -STOP rgw3: marked down after $downs s (limit 2.5 s)"
sleep 1
t0=$(date +%s.%N)
kill -CONT "$rgw3"
wait_state rgw3 up 10 >/dev/null
ups=$(since "$t0" rgw3 up)
pass "kill -CONT rgw3: up again after $ups s"

# ---- drain under load ------------------------------------------------------------------------
sleep 1
must "$S3LB_BIN" drain rgw1 -c "$S3LB_CONFIG" >/dev/null
drained_at=$(date +%s.%N)
sleep 3
must "$S3LB_BIN" undrain rgw1 -c "$S3LB_CONFIG" >/dev/null
sleep 1
touch "$T/stop"
wait "$load_pid" || fail "load generator failed: $(tail -5 "$T/load.err")"
read -r ok failed put_ok put_failed bad <"$T/load.out"
note "load: $ok GET/HEAD ok, $failed failed; $put_ok PUTs ok, $put_failed failed, $bad read back wrong"
[ "$failed" = 0 ] || fail "$failed GET/HEAD failed: $(sed -n 2,6p "$T/load.out")"
[ "$ok" -gt 100 ] || fail "too few requests ($ok) for the test to mean anything"
pass "zero failed GET/HEAD out of $ok through kill -9, kill -STOP, restarts and a drain"
[ "$bad" = 0 ] || fail "$bad PUTs reported success but read back different"
pass "every successful PUT ($put_ok) reads back identical ($put_failed failed with an error)"

# no request started on rgw1 between the drain answer and the undrain
late=$(python3 - "$T/access.log" "$drained_at" <<'EOF'
import json, sys
drained = float(sys.argv[2])
from datetime import datetime, timezone
late = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    end = datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
    start = end - r["duration_ms"] / 1000
    if r["node"] == "rgw1" and drained + 0.01 < start < drained + 2.9:
        late += 1
print(late)
EOF
)
[ "$late" = 0 ] || fail "$late requests started on rgw1 while it was drained"
pass "drain: no request started on rgw1 while it was drained"
printf 'figures: detect_kill9=%s up_after_restart=%s detect_stop=%s up_after_cont=%s\n' \
	"$down9" "$up9" "$downs" "$ups"
