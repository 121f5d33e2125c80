#!/bin/bash
# Two tiers, L4 -> L7 (issue 13, test 2): an L4 s3lb (a `dr:` service in IPVS DR mode whose pool
# is two gateway s3lbs, health-checked on their /healthz) in front of two gateway s3lbs (proxies
# with timeouts.shutdown_delay) in front of one s3rver node. A 4-thread boto3 load (PUT, GET with
# the body checked, LIST; keep-alive connections, no client retries) runs through the L4 VIP while
# gateway 1 gets SIGTERM: its healthz answers 503 at once, the L4 tier takes its weight to 0,
# kept-alive clients are told Connection: close and reconnect (to gateway 2), requests in flight
# finish, gateway 1 exits 0. Zero requests may fail. Figures: requests before/during/after the
# drain, the time from SIGTERM to weight 0 and to gateway 1's exit.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

dr_need_s3rver
vm_enter --timeout 600 --mem 3072 -- "$@"
# ---- in the guest from here on -------------------------------------------------------------------

need_cmd ipvsadm ipvsadm
need_cmd node nodejs
need_cmd curl curl
[ -f "$DR_S3RVER" ] || skip "s3rver not installed at $DR_S3RVER (dr_need_s3rver on the host)"
/usr/bin/python3 -c 'import boto3' 2>/dev/null || skip "python3-boto3 not installed"
for b in "$S3LB_BIN" "$S3LB_BUILD/dsr/s3lb-node"; do
	[ -x "$b" ] || fail "$b not built (cmake --build $S3LB_BUILD)"
done
modprobe -a ip_vs ip_vs_wlc

VIP=10.99.0.100
NODE=10.99.0.2:8000
GW1=10.99.0.4:8000
GW2=10.99.0.5:8000
ns_add client l4 gw1 gw2 node1
ns_bridge br0 client l4 gw1 gw2 node1
ip -n client addr add 10.99.0.10/24 dev eth0
ip -n l4 addr add 10.99.0.1/24 dev eth0
ip -n l4 addr add $VIP/32 dev eth0
ip -n node1 addr add 10.99.0.2/24 dev eth0
ip -n gw1 addr add 10.99.0.4/24 dev eth0
ip -n gw2 addr add 10.99.0.5/24 dev eth0
# the gateways are the L4 tier's real servers: the VIP on lo, ARP kept quiet
for g in gw1 gw2; do
	ns "$g" "$S3LB_BUILD/dsr/s3lb-node" setup --vip $VIP >"$VM_TMP/setup-$g.log" 2>&1 ||
		fail "s3lb-node setup on $g: $(cat "$VM_TMP/setup-$g.log")"
done
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
s3rver_start node1 "$VM_TMP/data1" "$VM_TMP/s3rver1.log" 8000
pids+=("$S3RVER_PID")

for g in gw1 gw2; do
	cat >"$VM_TMP/$g.yaml" <<EOF
admin: { listen: 127.0.0.1:9901 }
log: { level: info, access: $VM_TMP/$g.access, error: $VM_TMP/$g.log }
timeouts: { shutdown_delay: 3s, shutdown_grace: 30s }
pools:
  - name: nodes
    health: { kind: tcp }
    nodes: [{ name: n1, addr: $NODE }]
frontends:
  - name: s3
    listen: [0.0.0.0:8000]
    healthz: /healthz
    routes: [{ pool: nodes }]
EOF
	"$S3LB_BIN" check -c "$VM_TMP/$g.yaml" >"$VM_TMP/check-$g.log" 2>&1 || fail "s3lb check ($g): $(cat "$VM_TMP/check-$g.log")"
done
# the L4 tier: probes every 500 ms, down after 2 failures (1 s) < the gateways' 3 s delay
cat >"$VM_TMP/l4.yaml" <<EOF
admin: { listen: 127.0.0.1:9901 }
log: { level: info, access: off, error: $VM_TMP/l4.log }
dr_state: $VM_TMP/ipvs-owned
pools:
  - name: gateways
    health: { kind: http, interval: 500ms, timeout: 400ms, rise: 2, fall: 2, http: { path: /healthz } }
    nodes:
      - { name: gw1, addr: $GW1 }
      - { name: gw2, addr: $GW2 }
dr:
  - { vip: $VIP:8000, pool: gateways, scheduler: wlc }
EOF
"$S3LB_BIN" check -c "$VM_TMP/l4.yaml" >"$VM_TMP/check-l4.log" 2>&1 || fail "s3lb check (l4): $(cat "$VM_TMP/check-l4.log")"

wait_http client "http://$NODE/" || fail "s3rver not ready: $(tail -n 20 "$VM_TMP/s3rver1.log")"
nsenter --net=/run/netns/gw1 -- "$S3LB_BIN" run -c "$VM_TMP/gw1.yaml" >"$VM_TMP/gw1.out" 2>&1 &
GW1_PID=$!
pids+=("$GW1_PID")
nsenter --net=/run/netns/gw2 -- "$S3LB_BIN" run -c "$VM_TMP/gw2.yaml" >"$VM_TMP/gw2.out" 2>&1 &
pids+=($!)
wait_http client "http://$GW1/healthz" || fail "gateway 1 not answering: $(tail -n 20 "$VM_TMP/gw1.out")"
wait_http client "http://$GW2/healthz" || fail "gateway 2 not answering: $(tail -n 20 "$VM_TMP/gw2.out")"
nsenter --net=/run/netns/l4 -- "$S3LB_BIN" run -c "$VM_TMP/l4.yaml" >"$VM_TMP/l4.out" 2>&1 &
pids+=($!)
wait_weight l4 "$GW1" 1 30000 || fail "gw1 weight $(ipvs_weight l4 "$GW1") in the L4 tier: $(tail -n 20 "$VM_TMP/l4.log")"
wait_weight l4 "$GW2" 1 30000 || fail "gw2 weight $(ipvs_weight l4 "$GW2") in the L4 tier"
pass "topology: client -> L4 s3lb (IPVS DR, VIP $VIP) -> gateways gw1, gw2 (s3lb) -> s3rver; both gateways weight 1"

# the load: 4 threads of boto3, each PUT k, GET k (body checked), LIST every 5th (of fixed/, three
# objects put before); one line per request: "T_MS ok|err OP DETAIL"; runs until $VM_TMP/stop exists
cat >"$VM_TMP/load.py" <<'PYEOF'
import hashlib, os, sys, threading, time, boto3
from botocore.config import Config
vip, out, stop = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4",
             retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=30,
             max_pool_connections=2)
lock = threading.Lock()
log = open(out, "w", buffering=1)
def rec(ok, op, detail=""):
    with lock:
        log.write("%d %s %s %s\n" % (time.time() * 1000, "ok" if ok else "err", op, detail))
def worker(t):
    c = boto3.client("s3", endpoint_url="http://%s:8000" % vip, aws_access_key_id="S3RVER",
                     aws_secret_access_key="S3RVER", region_name="us-east-1", config=cfg)
    i = 0
    while not os.path.exists(stop):
        key = "t%d/o%d" % (t, i)
        body = os.urandom(4096 + 97 * (i % 50))
        for op in ("put", "get", "list"):
            if op == "list" and i % 5:
                continue
            try:
                if op == "put":
                    c.put_object(Bucket="bkt", Key=key, Body=body)
                elif op == "get":
                    got = c.get_object(Bucket="bkt", Key=key)["Body"].read()
                    if got != body:
                        raise RuntimeError("body differs: %d bytes, want %d" % (len(got), len(body)))
                else:
                    # a prefix nobody writes: s3rver (not s3lb) answers 500 to a LIST that
                    # meets an object being written (seen here)
                    r = c.list_objects_v2(Bucket="bkt", Prefix="fixed/")
                    if r.get("KeyCount") != 3:
                        raise RuntimeError("LIST fixed/: %r keys, want 3" % r.get("KeyCount"))
                rec(True, op)
            except Exception as e:
                rec(False, op, repr(e).replace("\n", " "))
        i += 1
print("ready", flush=True)
ts = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
for x in ts:
    x.start()
for x in ts:
    x.join()
PYEOF
echo fixed >"$VM_TMP/fixed"
for k in 1 2 3; do
	ns client curl -sS -f -T "$VM_TMP/fixed" "http://$NODE/bkt/fixed/o$k" -o /dev/null || fail "PUT fixed/o$k to s3rver"
done
rm -f "$VM_TMP/stop"
nsenter --net=/run/netns/client -- /usr/bin/python3 -u "$VM_TMP/load.py" $VIP "$VM_TMP/load.log" \
	"$VM_TMP/stop" >"$VM_TMP/load.out" 2>&1 &
LOAD_PID=$!
pids+=("$LOAD_PID")
# until both gateways have served some of it
for ((i = 0; i < 600; i++)); do
	[ -s "$VM_TMP/gw1.access" ] && [ -s "$VM_TMP/gw2.access" ] &&
		[ "$(grep -c ' ok ' "$VM_TMP/load.log" 2>/dev/null || true)" -ge 40 ] && break
	kill -0 "$LOAD_PID" 2>/dev/null || fail "the load exited: $(tail -n 20 "$VM_TMP/load.out")"
	sleep 0.2
done
[ -s "$VM_TMP/gw1.access" ] && [ -s "$VM_TMP/gw2.access" ] ||
	fail "the load did not reach both gateways in 120 s ($(wc -l <"$VM_TMP/gw1.access") / $(wc -l <"$VM_TMP/gw2.access") requests)"
pass "the load runs through the VIP on both gateways ($(wc -l <"$VM_TMP/gw1.access") / $(wc -l <"$VM_TMP/gw2.access") requests so far)"

# ---- gateway 1 drains under the load --------------------------------------------------------------
t_term=$(ms_now)
kill -TERM "$GW1_PID"
code=$(ns client curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$GW1/healthz" || true)
assert_503=$code
wait_weight l4 "$GW1" 0 10000 || fail "the L4 tier did not take gw1's weight to 0 within 10 s"
t_w0=$(($(ms_now) - t_term))
gw1_rc=0
wait "$GW1_PID" || gw1_rc=$?
t_exit=$(($(ms_now) - t_term))
[ "$gw1_rc" = 0 ] || fail "gateway 1 exited with $gw1_rc after SIGTERM: $(tail -n 20 "$VM_TMP/gw1.log")"
[ "$assert_503" = 503 ] || fail "gateway 1's healthz right after SIGTERM: $assert_503, want 503"
pass "SIGTERM on gw1: healthz 503 at once, L4 weight 0 after $t_w0 ms, gw1 exited 0 after $t_exit ms"
gw2_before=$(wc -l <"$VM_TMP/gw2.access")
for ((i = 0; i < 300; i++)); do
	[ "$(wc -l <"$VM_TMP/gw2.access")" -ge $((gw2_before + 40)) ] && break
	sleep 0.2
done
touch "$VM_TMP/stop"
wait "$LOAD_PID" || fail "the load exited with an error: $(tail -n 20 "$VM_TMP/load.out")"
t_end=$(($(ms_now) - t_term))

total=$(wc -l <"$VM_TMP/load.log")
errs=$(grep -c ' err ' "$VM_TMP/load.log" || true)
during=$(awk -v a="$t_term" -v b=$((t_term + t_exit)) '$1 >= a && $1 <= b' "$VM_TMP/load.log" | wc -l)
after=$(awk -v b=$((t_term + t_exit)) '$1 > b' "$VM_TMP/load.log" | wc -l)
note "requests: $total in all, $during between SIGTERM and gw1's exit, $after after it; failed: $errs"
note "gateway access logs: gw1 $(wc -l <"$VM_TMP/gw1.access"), gw2 $(wc -l <"$VM_TMP/gw2.access")"
if [ "$errs" != 0 ]; then
	grep ' err ' "$VM_TMP/load.log" | head -n 10 >&2
	note "SIGTERM at $t_term; 5xx in the gateways' access logs:"
	grep -h '"status":5' "$VM_TMP/gw1.access" "$VM_TMP/gw2.access" | head -n 10 >&2 || true
	tail -n 20 "$VM_TMP/s3rver1.log" >&2
	fail "$errs of $total requests failed during the gateway drain"
fi
[ "$during" -gt 0 ] && [ "$after" -gt 0 ] || fail "no requests during ($during) or after ($after) the drain"
pass "zero failed requests of $total (4 boto3 threads; $during during the drain, $after after), every GET's body checked"
ns l4 ipvsadm -Ln | while read -r l; do note "$l"; done
