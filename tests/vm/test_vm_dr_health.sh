#!/bin/bash
# DR and health, restarts and reloads (issue 4, "Testing in a real kernel", checks 3 and 4), with
# the topology of test_vm_dr_read.sh (s3lb + IPVS on the director, s3rver on two nodes):
# - drain: rate-limited downloads through the VIP are in flight on both nodes; `s3lb drain n2` sets
#   node2's IPVS weight to 0 at once, the download on node2 completes with the right md5, new
#   connections go to node1 only; undrain restores the weight;
# - stop: node2's s3rver is killed: weight 0 within the health detection time, new GETs all succeed
#   on node1; s3rver started again: weight 1 again;
# - s3lb restarted (SIGTERM, run again) and reloaded (SIGHUP) while a DR download is in flight: the
#   download completes with the right md5, the IPVS table is the same throughout, and a foreign
#   service added with ipvsadm before s3lb started is untouched, also after s3lb stops;
# - restart with node1 drained and node2 down: /proc/net/ip_vs sampled every 10 ms never shows a
#   weight above 0 (no weight rises before health has judged the node; the drain is kept).
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

dr_need_s3rver
vm_enter --timeout 600 --mem 3072 -- "$@"
# ---- in the guest from here on -------------------------------------------------------------------

DR_BOTO3=0 # curl only: python and boto3 take long to start in the guest; test_vm_dr_read.sh uses them
dr_setup 1k=1024 20m=$((20 << 20))
curls=()
trap 'kill $S3RVER1 $S3RVER2 ${S3LB_PID:-} ${CLI_PID:-} "${curls[@]}" 2>/dev/null || true' EXIT
pass "topology, s3lb-node setup, s3rver on both nodes, objects uploaded to each node"

# a foreign IPVS service (as ipvsadm, keepalived, kube-proxy would add), before s3lb starts
ns director ipvsadm -A -t 10.99.0.200:9000 -s wlc -p 60
ns director ipvsadm -a -t 10.99.0.200:9000 -r 10.99.0.2:9000 -g -w 3
ns director ipvsadm -a -t 10.99.0.200:9000 -r 10.99.0.3:9000 -g -w 0
foreign() { ns director ipvsadm -Sn | grep -F 10.99.0.200:9000; }
foreign0=$(foreign)
dr_s3lb_start
pass "s3lb started, IPVS programmed in ${S3LB_START_MS} ms"
ns director ipvsadm -Ln | while read -r l; do note "$l"; done
[ "$(foreign)" = "$foreign0" ] || fail "s3lb's start changed the foreign service:"$'\n'"$(foreign)"$'\n'"was:"$'\n'"$foreign0"

# settled_conns DEST: the counter once it has not changed for 2.5 s (IPVS folds it every 2 s)
settled_conns() {
	local a b
	a=$(conns "$1")
	while :; do
		sleep 2.5
		b=$(conns "$1")
		[ "$a" = "$b" ] && break
		a=$b
	done
	echo "$a"
}
# get_small N: N GETs of 1k through the VIP (curl, a new connection each), all must succeed
get_small() {
	local i
	for ((i = 0; i < $1; i++)); do
		reply=$(ns client curl -sS --max-time 10 "http://$DR_VIP:8000/bkt/1k" 2>&1 | md5sum | cut -d' ' -f1)
		[ "$reply" = "${OBJ_MD5[1k]}" ] || fail "GET 1k through the VIP: md5 $reply, want ${OBJ_MD5[1k]}"
	done
}
# slow_get PORT RATE: a rate-limited curl download of 20m through the VIP from client port PORT;
# its PID is appended to curls, output in $VM_TMP/dl-PORT
slow_get() {
	nsenter --net=/run/netns/client -- curl -s -S --local-port "$1" --limit-rate "$2" \
		-o "$VM_TMP/dl-$1" -w '%{http_code} %{size_download}\n' "http://$DR_VIP:8000/bkt/20m" \
		>"$VM_TMP/dl-$1.out" 2>&1 &
	curls+=($!)
}
# conn_dest PORT: the real server IPVS gave the client's connection from PORT
conn_dest() { ns director ipvsadm -Lnc | awk -v p=":$1" '$4 ~ p"$" { print $6 }' | head -n 1; }
# check_dl PORT: the download finished (curl exited 0), 200, the right size and md5
check_dl() {
	local md5
	md5=$(md5sum <"$VM_TMP/dl-$1" | cut -d' ' -f1)
	[ "$(cat "$VM_TMP/dl-$1.out")" = "200 ${OBJ_SIZE[20m]}" ] && [ "$md5" = "${OBJ_MD5[20m]}" ] ||
		fail "download from port $1: curl says $(cat "$VM_TMP/dl-$1.out"), md5 $md5 (want 200 ${OBJ_SIZE[20m]} ${OBJ_MD5[20m]})"
}

# ---- check 3a: drain with downloads in flight ----
slow_get 41001 700k # 30 s
sleep 0.3
slow_get 41002 700k
t0=$(ms_now)
while [ $(($(ms_now) - t0)) -lt 15000 ]; do
	d1=$(conn_dest 41001) d2=$(conn_dest 41002)
	[ -n "$d1" ] && [ -n "$d2" ] && break
	sleep 0.2
done
note "in flight: client port 41001 -> $d1, 41002 -> $d2"
[ "$d1" = $N2 ] || [ "$d2" = $N2 ] || fail "no in-flight download on node2 (rr): 41001 -> $d1, 41002 -> $d2: $(cat "$VM_TMP"/dl-*.out) $(ns director ipvsadm -Lnc)"
t0=$(ms_now)
ns director "$S3LB_BIN" drain n2 -c "$DR_CFG" >"$VM_TMP/drain.out" 2>&1 || fail "s3lb drain n2: $(cat "$VM_TMP/drain.out")"
# a drain changes the weight at once (s3lb reconciles on every health change); the limit allows for
# the polling itself: each ipvsadm start costs 0.3-1 s in a loaded guest
wait_weight director $N2 0 3000 || fail "node2 drained: IPVS weight still $(ipvs_weight director $N2) after $waited ms"
drain_ms=$waited
for c in "${curls[@]}"; do kill -0 "$c" 2>/dev/null || fail "a slow download ended before the drain took effect: $(cat "$VM_TMP"/dl-*.out)"; done
st=$(dr_status)
[ "$(jq -r '.pools[].nodes[] | select(.name == "n2") | .state' <<<"$st")" = draining ] || fail "status: n2 not draining: $st"
[ "$(jq -r '.ipvs.services[].dests[] | select(.node == "n2") | .weight' <<<"$st")" = 0 ] || fail "status: n2's IPVS weight not 0: $st"
pass "s3lb drain n2: node2's IPVS weight 0 after $drain_ms ms (status: draining, weight 0)"
c1=$(settled_conns $N1) c2=$(settled_conns $N2)
get_small 4
sleep 2.5
n1=$(settled_conns $N1) n2=$(settled_conns $N2)
[ "$n2" = "$c2" ] && [ "$n1" -ge $((c1 + 4)) ] || fail "while node2 drains: node1 got $((n1 - c1)) new connections, node2 $((n2 - c2)) (want 4, 0)"
pass "4 new GETs while node2 drains: all to node1"
for c in "${curls[@]}"; do wait "$c" || fail "curl $c: status $?: $(cat "$VM_TMP"/dl-*.out)"; done
curls=()
check_dl 41001
check_dl 41002
pass "the in-flight downloads (20 MiB at 700 KiB/s, one on each node) completed with the right md5, $(($(ms_now) - t0)) ms after the drain"
ns director "$S3LB_BIN" undrain n2 -c "$DR_CFG" >"$VM_TMP/drain.out" 2>&1 || fail "s3lb undrain n2: $(cat "$VM_TMP/drain.out")"
wait_weight director $N2 1 5000 || fail "node2 undrained: IPVS weight still $(ipvs_weight director $N2) after $waited ms"
pass "s3lb undrain n2: weight 1 again after $waited ms"

# ---- check 3b: node2's S3 server stops, starts again ----
kill -TERM "$S3RVER2"
wait "$S3RVER2" || true
# health detection: interval 1s (+-10%), then fall 2 at fast_interval 250ms; the rest is polling
wait_weight director $N2 0 3000 || fail "node2's s3rver stopped: IPVS weight still $(ipvs_weight director $N2) after $waited ms: $(dr_status | jq -c '.pools[].nodes[] | {name, state}')"
stop_ms=$waited
st=$(dr_status)
pass "node2's s3rver killed: IPVS weight 0 after $stop_ms ms (health: $(jq -r '.ipvs.services[].dests[] | select(.node == "n2") | .health' <<<"$st"))"
c1=$(settled_conns $N1) c2=$(settled_conns $N2)
get_small 4
n1=$(settled_conns $N1) n2=$(settled_conns $N2)
[ "$n2" = "$c2" ] && [ "$n1" -ge $((c1 + 4)) ] || fail "node2 down: node1 got $((n1 - c1)) new connections, node2 $((n2 - c2)) (want 4, 0)"
pass "4 new GETs with node2 down: all succeeded, all on node1"
s3rver_start node2 "$VM_TMP/data2" "$VM_TMP/s3rver2.log" 8000
S3RVER2=$S3RVER_PID
wait_http director "http://$N2/" || fail "s3rver on node2 did not come back: $(tail -n 20 "$VM_TMP/s3rver2.log")"
wait_weight director $N2 1 5000 || fail "node2's s3rver back: IPVS weight still $(ipvs_weight director $N2) after $waited ms"
up_ms=$waited
c2=$(settled_conns $N2)
get_small 2
n2=$(settled_conns $N2)
[ "$n2" -ge $((c2 + 1)) ] || fail "node2 back: it got no new connection"
pass "node2's s3rver started again: weight 1 after $up_ms ms from its first answer; it serves new connections again"

# ---- check 4: restart and reload with a DR download in flight; the foreign service ----
table0=$(ns director ipvsadm -Sn)
slow_get 42001 300k # 70 s: restart + reload take 10-20 s, over 35 s on a loaded host
t0=$(ms_now)
while [ $(($(ms_now) - t0)) -lt 15000 ]; do
	d=$(conn_dest 42001)
	[ -n "$d" ] && break
	sleep 0.2
done
[ -n "$d" ] || fail "the download from client port 42001 is not in IPVS's connection table: $(cat "$VM_TMP/dl-42001.out") $(ns director ipvsadm -Lnc)"
note "in flight: client port 42001 -> $d (20 MiB at 300 KiB/s)"
sleep 1
t0=$(ms_now)
dr_s3lb_stop
[ "$S3LB_RC" = 0 ] || fail "s3lb exited with status $S3LB_RC on SIGTERM: $(tail -n 20 "$VM_TMP/s3lb.log")"
stop_ms=$(($(ms_now) - t0))
[ "$(ns director ipvsadm -Sn)" = "$table0" ] || fail "s3lb's exit changed IPVS:"$'\n'"$(diff <(echo "$table0") <(ns director ipvsadm -Sn))"
dr_s3lb_start
sleep 2.5 # at least one periodic reconcile
[ "$(ns director ipvsadm -Sn)" = "$table0" ] || fail "s3lb's restart changed IPVS:"$'\n'"$(diff <(echo "$table0") <(ns director ipvsadm -Sn))"
kill -0 "${curls[0]}" 2>/dev/null || fail "the download ended during the restart: $(cat "$VM_TMP/dl-42001.out")"
pass "s3lb restarted (SIGTERM: exit 0 in $stop_ms ms; up again in $S3LB_START_MS ms) with a download in flight: IPVS table unchanged"
reloads0=$(dr_status | jq -r .reloads)
kill -HUP "$S3LB_PID"
for _ in $(seq 50); do
	[ "$(dr_status | jq -r .reloads)" != "$reloads0" ] && break
	sleep 0.2
done
[ "$(dr_status | jq -r .reloads)" != "$reloads0" ] || fail "SIGHUP: no reload in /status"
sleep 2.5
[ "$(ns director ipvsadm -Sn)" = "$table0" ] || fail "s3lb's reload changed IPVS:"$'\n'"$(diff <(echo "$table0") <(ns director ipvsadm -Sn))"
kill -0 "${curls[0]}" 2>/dev/null || fail "the download ended during the reload: $(cat "$VM_TMP/dl-42001.out")"
pass "s3lb reloaded (SIGHUP, reloads $reloads0 -> $(dr_status | jq -r .reloads)) with the download in flight: IPVS table unchanged"
wait "${curls[0]}" || fail "curl: status $?: $(cat "$VM_TMP/dl-42001.out")"
curls=()
check_dl 42001
pass "the download in flight across the restart and the reload completed with the right md5 ($(($(ms_now) - t0)) ms after the SIGTERM)"
[ "$(foreign)" = "$foreign0" ] || fail "the foreign service changed:"$'\n'"$(foreign)"$'\n'"was:"$'\n'"$foreign0"
dr_s3lb_stop
[ "$S3LB_RC" = 0 ] || fail "s3lb exited with status $S3LB_RC on SIGTERM"
[ "$(foreign)" = "$foreign0" ] || fail "the foreign service changed after s3lb stopped:"$'\n'"$(foreign)"
[ "$(ns director ipvsadm -Sn)" = "$table0" ] || fail "s3lb's exit changed IPVS"
pass "the foreign service 10.99.0.200:9000 (wlc, persistent, 2 destinations) identical after start, restart, reload and stop"

# ---- check 5: a restart with a node down and a node drained: no weight ever rises ----
# (issue 13: the new s3lb assumed every node up until its first probe, and forgot drains)
dr_s3lb_start
ns director "$S3LB_BIN" drain n1 -c "$DR_CFG" >"$VM_TMP/drain.out" 2>&1 || fail "s3lb drain n1: $(cat "$VM_TMP/drain.out")"
wait_weight director $N1 0 3000 || fail "node1 drained: IPVS weight still $(ipvs_weight director $N1)"
kill -TERM "$S3RVER2"
wait "$S3RVER2" || true
wait_weight director $N2 0 3000 || fail "node2's s3rver stopped: IPVS weight still $(ipvs_weight director $N2)"
# every 10 ms, the weights of the real servers of the VIP's port 8000 (0x1F40) in /proc/net/ip_vs;
# shell builtins only (a process per sample takes ~170 ms in the TCG guest)
cat >"$VM_TMP/sampler.sh" <<'SAMPLER'
exec 9<> <(:)
while :; do
	l=""
	while read -r a b c d e; do
		[ "$a" = "->" ] && [[ $b == *:1F40 ]] && l+="$b=$d "
	done </proc/net/ip_vs
	echo "$l"
	read -r -t 0.01 -u 9 || true
done
SAMPLER
nsenter --net=/run/netns/director -- bash "$VM_TMP/sampler.sh" >"$VM_TMP/weights" 2>&1 &
sampler=$!
sleep 0.5
dr_s3lb_stop
[ "$S3LB_RC" = 0 ] || fail "s3lb exited with status $S3LB_RC on SIGTERM"
t0=$(ms_now)
nsenter --net=/run/netns/director -- "$S3LB_BIN" run -c "$DR_CFG" >>"$VM_TMP/s3lb.out" 2>&1 &
S3LB_PID=$!
for _ in $(seq 100); do dr_status >/dev/null 2>&1 && break; sleep 0.2; done
sleep 3 # the first probes (interval 1 s, then fall 2 at 250 ms) and a periodic reconcile
kill "$sampler"
wait "$sampler" 2>/dev/null || true
samples=$(grep -c . "$VM_TMP/weights" || true)
risen=$(grep -vE '^(\S+=0 )*$' "$VM_TMP/weights" | head -n 3 || true)
[ "$samples" -ge 20 ] || fail "only $samples weight samples across the restart"
[ -z "$risen" ] || fail "a weight rose across the restart (node1 drained, node2 down): $risen"
st=$(dr_status)
[ "$(jq -r '.pools[].nodes[] | select(.name == "n1") | .state' <<<"$st")" = draining ] || fail "after the restart n1 is not draining: $(jq -c '.pools[].nodes[] | {name, state}' <<<"$st")"
took=$(($(ms_now) - t0))
pass "s3lb restarted with node1 drained and node2 down: $samples samples of /proc/net/ip_vs (one per $((took / samples)) ms) over $took ms, every weight 0 throughout; n1 still draining"
ns director "$S3LB_BIN" undrain n1 -c "$DR_CFG" >"$VM_TMP/drain.out" 2>&1 || fail "s3lb undrain n1: $(cat "$VM_TMP/drain.out")"
wait_weight director $N1 1 5000 || fail "node1 undrained after the restart: IPVS weight still $(ipvs_weight director $N1)"
pass "undrained after the restart: node1's weight 1 after $waited ms"
kill -TERM "$S3LB_PID"
wait "$S3LB_PID" || true

{ grep -iE 'error|fail|warn' "$VM_TMP/s3lb.log" || true; } | while read -r l; do note "s3lb.log: $l"; done
