#!/bin/bash
# DR reads end to end (issue 4, "Testing in a real kernel", checks 1 and 2): s3lb programs IPVS in
# the director's namespace from its dr: section; two storage nodes set up by s3lb-node run s3rver (a
# real S3 server) on 0.0.0.0:8000; a boto3 client GETs objects of 1 KiB, 1 MiB, 20 MiB and 50 MiB
# through the DR VIP (each on a new connection, twice, so both nodes serve every size) with the
# right size and md5, then once each through s3lb's proxy path. The director's interface
# transmits < 1% of the response bytes on the DR path, >= 100% on the proxy path.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

dr_need_s3rver
vm_enter --timeout 600 --mem 3072 -- "$@"
# ---- in the guest from here on -------------------------------------------------------------------

objs=(1k=1024 1m=$((1 << 20)) 20m=$((20 << 20)) 50m=$((50 << 20)))
dr_setup "${objs[@]}"
trap 'kill $S3RVER1 $S3RVER2 ${S3LB_PID:-} ${CLI_PID:-} 2>/dev/null || true' EXIT
pass "topology, s3lb-node setup on both nodes, s3rver on both, 4 objects on both nodes"
dr_s3lb_start
pass "s3lb started, IPVS programmed in ${S3LB_START_MS} ms: $(ns director ipvsadm -Ln | awk '$1 == "->" && $3 == "Route"' | wc -l) destinations"
ns director ipvsadm -Ln | while read -r l; do note "$l"; done

# get_all ENDPOINT NAME...: GET each object (a new connection each); total bytes in $served, ms in $took
get_all() {
	local ep=$1 name r
	shift
	served=0 took=0
	for name; do
		cli get "$ep" "$name"
		read -ra r <<<"$reply"
		[ "${r[0]}" = ok ] && [ "${r[1]}" = "${OBJ_SIZE[$name]}" ] && [ "${r[2]}" = "${OBJ_MD5[$name]}" ] ||
			fail "GET $name through $ep: $reply, want size ${OBJ_SIZE[$name]} md5 ${OBJ_MD5[$name]}"
		served=$((served + r[1]))
		took=$((took + r[3]))
		times+=("$ep $name ${r[3]} ms")
	done
}
times=()

# ---- check 1 and 2, DR path ----
c1=$(conns $N1) c2=$(conns $N2)
tx0=$(ns_tx_bytes director eth0)
rx0=$(ns_rx_bytes director eth0)
# rr alternates the nodes per connection: the second round in reverse order gives every object
# to the other node
get_all "http://$DR_VIP:8000" 1k 1m 20m 50m 50m 20m 1m 1k
tx1=$(ns_tx_bytes director eth0)
rx1=$(ns_rx_bytes director eth0)
dr_served=$served dr_ms=$took dr_tx=$((tx1 - tx0)) dr_rx=$((rx1 - rx0))
wait_conns $N1 $((c1 + 4))
wait_conns $N2 $((c2 + 4))
d1=$(($(conns $N1) - c1)) d2=$(($(conns $N2) - c2))
pass "DR: 8 GETs (1 KiB, 1 MiB, 20 MiB, 50 MiB, then the other way round) through the VIP $DR_VIP:8000 with boto3: sizes and md5 ok; node1 took $d1 connections, node2 $d2 (rr, the second round reversed: each object from both)"
st=$(dr_status)
jq -c '.ipvs.services[] | {service, dests: [.dests[] | {dest, node, health, weight, active, inactive}]}' <<<"$st" | while read -r l; do note "status: $l"; done
[ "$(jq -r '.ipvs.enabled' <<<"$st")" = true ] || fail "status: ipvs not enabled: $st"

# ---- proxy path: the same GETs through s3lb's frontend ----
tx0=$(ns_tx_bytes director eth0)
rx0=$(ns_rx_bytes director eth0)
get_all "http://$DR_PROXY" 1k 1m 20m 50m
tx1=$(ns_tx_bytes director eth0)
rx1=$(ns_rx_bytes director eth0)
px_served=$served px_ms=$took px_tx=$((tx1 - tx0)) px_rx=$((rx1 - rx0))
pass "proxy: 4 GETs (1 KiB to 50 MiB) through s3lb's frontend $DR_PROXY: sizes and md5 ok"

# ---- the byte-counter table ----
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f%%", 100 * a / b }'; }
note ""
note "$(printf '%-10s %12s %14s %9s %14s %9s %8s' path 'bytes served' 'director tx' 'tx/served' 'director rx' 'rx/served' 'GETs ms')"
note "$(printf '%-10s %12s %14s %9s %14s %9s %8s' DR "$dr_served" "$dr_tx" "$(ratio "$dr_tx" "$dr_served")" "$dr_rx" "$(ratio "$dr_rx" "$dr_served")" "$dr_ms")"
note "$(printf '%-10s %12s %14s %9s %14s %9s %8s' proxy "$px_served" "$px_tx" "$(ratio "$px_tx" "$px_served")" "$px_rx" "$(ratio "$px_rx" "$px_served")" "$px_ms")"
note ""
for t in "${times[@]}"; do note "$t"; done
[ $((dr_tx * 100)) -lt "$dr_served" ] || fail "DR path: the director transmitted $dr_tx bytes for $dr_served served (want < 1%)"
[ "$px_tx" -ge "$px_served" ] || fail "proxy path: the director transmitted $px_tx bytes for $px_served served (want >= 100%)"
pass "direct return: director tx $(ratio "$dr_tx" "$dr_served") of the bytes on the DR path, $(ratio "$px_tx" "$px_served") on the proxy path"

{ grep -iE 'error|fail|warn' "$VM_TMP/s3lb.log" || true; } | while read -r l; do note "s3lb.log: $l"; done
dr_s3lb_stop
[ "$S3LB_RC" = 0 ] || fail "s3lb exited with status $S3LB_RC after SIGTERM: $(tail -n 20 "$VM_TMP/s3lb.log")"
[ "$(ipvs_weight director $N1)" = 1 ] || fail "s3lb's exit changed IPVS: $(ns director ipvsadm -Ln)"
pass "s3lb stopped (SIGTERM, status 0); the DR service stays in IPVS"
