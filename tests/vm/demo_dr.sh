#!/bin/bash
# `scripts/demo dr`: direct server return shown end to end in the project's VM (Debian's kernel,
# real IPVS). A client, a director running s3lb and two storage nodes (s3lb-node setup, s3rver as
# the S3 server) in network namespaces on one bridge (tests/vm/lib.sh, dr_setup). The aws CLI GETs
# the same objects through s3lb's proxy frontend and through the DR VIP; the table shows how many
# bytes the director's interface transmitted for each. Exits 1 when a body is wrong or the DR path
# made the director send 1% or more of the bytes served (so ctest can run it too: vm.demo_dr).
#
# usage: tests/vm/demo_dr.sh   (on the host; boots the VM, runs itself in the guest)
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

dr_need_s3rver
vm_enter --timeout 780 --mem 3072 -- "$@"
# ---- in the guest from here on -------------------------------------------------------------------

need_cmd aws awscli
objs=(1m=$((1 << 20)) 20m=$((20 << 20)) 50m=$((50 << 20)))
DR_BOTO3=0 dr_setup "${objs[@]}"
trap 'kill $S3RVER1 $S3RVER2 ${S3LB_PID:-} 2>/dev/null || true' EXIT
pass "topology: client 10.99.0.10, director 10.99.0.1 (VIP $DR_VIP), nodes ${N1%:*} and ${N2%:*} with s3rver; objects of 1, 20 and 50 MiB on both nodes"
dr_s3lb_start
pass "s3lb started: proxy frontend http://$DR_PROXY, DR service $DR_VIP:8000 (IPVS, rr over both nodes)"
ns director ipvsadm -Ln | while read -r l; do note "$l"; done

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=$VM_TMP/aws-config AWS_PAGER= HOME=$VM_TMP
printf '[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n' >"$AWS_CONFIG_FILE"

# gets LABEL ENDPOINT: aws s3 cp of every object to stdout, md5 checked; the director's eth0 tx and
# rx bytes during those GETs, the bytes served and the seconds they took in ROW_<field>
gets() {
	local label=$1 ep=$2 kv name sum tx0 rx0 t0
	tx0=$(ns_tx_bytes director eth0) rx0=$(ns_rx_bytes director eth0) t0=$(ms_now)
	ROW_served=0
	for kv in "${objs[@]}"; do
		name=${kv%%=*}
		sum=$(ns client aws --endpoint-url "$ep" s3 cp "s3://bkt/$name" - 2>"$VM_TMP/aws.err" | md5sum | cut -d' ' -f1)
		[ "$sum" = "${OBJ_MD5[$name]}" ] ||
			fail "$label: aws s3 cp s3://bkt/$name from $ep: md5 $sum, want ${OBJ_MD5[$name]}: $(tail -n 5 "$VM_TMP/aws.err")"
		ROW_served=$((ROW_served + OBJ_SIZE[$name]))
	done
	ROW_ms=$(($(ms_now) - t0))
	ROW_tx=$(($(ns_tx_bytes director eth0) - tx0)) ROW_rx=$(($(ns_rx_bytes director eth0) - rx0))
	pass "$label: 3 GETs (1, 20, 50 MiB) with aws s3 cp from $ep, every md5 right"
}

gets proxy "http://$DR_PROXY"
px=("$ROW_served" "$ROW_tx" "$ROW_rx" "$ROW_ms")
gets "direct return" "http://$DR_VIP:8000"
dr=("$ROW_served" "$ROW_tx" "$ROW_rx" "$ROW_ms")

pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f%%", 100 * a / b }'; }
row() { printf '%-15s %13s %13s %10s %13s %10s %8s\n' "$@"; }
echo
row path 'bytes served' 'director tx' 'tx/served' 'director rx' 'rx/served' 'ms'
row proxy "${px[0]}" "${px[1]}" "$(pct "${px[1]}" "${px[0]}")" "${px[2]}" "$(pct "${px[2]}" "${px[0]}")" "${px[3]}"
row 'direct return' "${dr[0]}" "${dr[1]}" "$(pct "${dr[1]}" "${dr[0]}")" "${dr[2]}" "$(pct "${dr[2]}" "${dr[0]}")" "${dr[3]}"
echo
echo "     The proxy path sends every body byte out of the director; with direct return the nodes"
echo "     answer the client from the VIP and the director only forwards the client's packets."
echo "     (The ms column is TCG emulation: no KVM here; it says nothing about real speed.)"
echo
[ "${px[1]}" -ge "${px[0]}" ] || fail "proxy path: the director sent ${px[1]} bytes for ${px[0]} served (want >= 100%)"
[ $((dr[1] * 100)) -lt "${dr[0]}" ] || fail "direct return: the director sent ${dr[1]} bytes for ${dr[0]} served (want < 1%)"
pass "director tx: $(pct "${px[1]}" "${px[0]}") of the bytes served on the proxy path, $(pct "${dr[1]}" "${dr[0]}") with direct return"

ns director "$S3LB_BIN" status --json -a 127.0.0.1:9901 >"$VM_TMP/status.json" 2>&1 || fail "s3lb status: $(cat "$VM_TMP/status.json")"
jq -r '.ipvs.services[] | .service as $s | .dests[] | "\($s) -> \(.dest) (\(.node)): \(.health), weight \(.weight), active \(.active), inactive \(.inactive)"' \
	"$VM_TMP/status.json" | while read -r l; do note "s3lb status: $l"; done
dr_s3lb_stop
[ "$S3LB_RC" = 0 ] || fail "s3lb exited with status $S3LB_RC after SIGTERM: $(tail -n 20 "$VM_TMP/s3lb.log")"
pass "s3lb stopped (SIGTERM, status 0); the VM shuts down and nothing stays behind on the host"
