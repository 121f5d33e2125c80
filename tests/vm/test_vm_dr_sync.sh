#!/bin/bash
# IPVS connection synchronisation between two directors, started and stopped by s3lb (issue 13
# part 1, the kernel part; dsr/sync.h), on the DR topology of lib.sh's dr_net plus a standby
# director (director2, 10.99.0.4) on the same bridge, each running s3lb with the same `dr:` and
# `dr_sync: { interface: eth0, sync_id: 7, role: auto }`, keepalived's part played by hand (the
# VRRP state files, the VIP moved with `ip addr`):
# - director's state file says MASTER, director2 has none: `ipvsadm -L --daemon` shows the master
#   daemon on director and the backup daemon on director2, as s3lb started them;
# - a slow DR download through director: its connection entry appears in director2's
#   `ipvsadm -Lnc` (synced), with the same real server;
# - failover: the state files swap (BACKUP / MASTER), the VIP moves to director2 and the client's
#   ARP entry follows: the daemons swap within seconds, and the download completes through
#   director2 with the right md5 (director2 forwards it by the synced entry);
# - s3lb stopped on both (SIGTERM): the daemons keep running (they are the kernel's).
# The nodes serve with python3's http.server: this test is about the directors, not S3.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

vm_enter --timeout 600 -- "$@"
# ---- in the guest from here on -------------------------------------------------------------------

need_cmd python3 python3
need_cmd curl curl
need_cmd jq jq
dr_net
modprobe ip_vs_sh 2>/dev/null || true
ns_add director2
ip link add eth0 netns director2 type veth peer name br0-director2
ip link set br0-director2 master br0 up
ip -n director2 link set eth0 up
ip -n director2 addr add 10.99.0.4/24 dev eth0
# a small receive buffer, so that curl's rate limit paces the TCP transfer itself (with the default
# the node sends the whole file into the client's buffer in the first seconds)
ns_sysctl client net.ipv4.tcp_rmem="4096 16384 32768"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

# the nodes: one 8 MiB file each (the same bytes), over HTTP on 0.0.0.0:8000 (so also on the VIP)
mkdir -p "$VM_TMP/www"
head -c $((8 << 20)) /dev/urandom >"$VM_TMP/www/8m"
md5=$(md5sum <"$VM_TMP/www/8m" | cut -d' ' -f1)
for n in node1 node2; do
	nsenter --net=/run/netns/$n -- python3 -m http.server 8000 --bind 0.0.0.0 \
		--directory "$VM_TMP/www" >"$VM_TMP/http-$n.log" 2>&1 &
	pids+=($!)
done
wait_http client "http://$N1/8m" || fail "http.server on node1 not ready: $(cat "$VM_TMP/http-node1.log")"
wait_http client "http://$N2/8m" || fail "http.server on node2 not ready: $(cat "$VM_TMP/http-node2.log")"

# cfg NAME ADDR: the config of s3lb in namespace NAME (frontend on ADDR:8080), in $VM_TMP/NAME/
cfg() {
	local d=$VM_TMP/$1
	mkdir -p "$d"
	cat >"$d/s3lb.yaml" <<EOF
log: { level: info, access: off, error: $d/s3lb.log }
dr_state: $d/ipvs-owned
drain_state: $d/drained
pools:
  - name: nodes
    health: { kind: tcp }
    nodes:
      - { name: n1, addr: $N1 }
      - { name: n2, addr: $N2 }
frontends:
  - name: s3
    listen: [$2:8080]
    routes:
      - { pool: nodes }
dr:
  - { vip: $DR_VIP:8000, pool: nodes, scheduler: rr }
dr_sync: { interface: eth0, sync_id: 7, role: auto, state_file: $d/vrrp-state }
EOF
	"$S3LB_BIN" check -c "$d/s3lb.yaml" >"$d/check.log" 2>&1 || fail "s3lb check ($1): $(cat "$d/check.log")"
}
# start NAME: s3lb in namespace NAME; its PID in S3LB_PIDS[NAME]
declare -A S3LB_PIDS
start() {
	nsenter --net=/run/netns/"$1" -- "$S3LB_BIN" run -c "$VM_TMP/$1/s3lb.yaml" >>"$VM_TMP/$1/s3lb.out" 2>&1 &
	pids+=($!)
	S3LB_PIDS[$1]=$!
}
# daemons NS: `ipvsadm -L --daemon` in NS, one line
daemons() { ns "$1" ipvsadm -L --daemon | tr '\n' ' ' | sed 's/ *$//'; }
# wait_daemons NS PATTERN MAXMS: until daemons NS matches the extended regex PATTERN; $waited ms
wait_daemons() {
	local t0
	t0=$(ms_now)
	while :; do
		waited=$(($(ms_now) - t0))
		[[ $(daemons "$1") =~ $2 ]] && return 0
		[ "$waited" -ge "$3" ] && return 1
		sleep 0.2
	done
}
# state NAME WORD: keepalived's notify script: the state, written atomically
state() {
	echo "INSTANCE \"VI_1\" $2 100" >"$VM_TMP/$1/vrrp-state.tmp"
	mv "$VM_TMP/$1/vrrp-state.tmp" "$VM_TMP/$1/vrrp-state"
}

MASTER='^master sync daemon \(mcast=eth0, syncid=7[,)]'
BACKUP='^backup sync daemon \(mcast=eth0, syncid=7[,)]'
cfg director 10.99.0.1
cfg director2 10.99.0.4
state director MASTER # director2: no state file yet (keepalived has not told): backup
[ -z "$(daemons director)" ] && [ -z "$(daemons director2)" ] || fail "sync daemons before s3lb: $(daemons director) / $(daemons director2)"
start director
start director2
wait_daemons director "$MASTER" 20000 || fail "director: no master daemon after $waited ms: $(daemons director); $(tail -n 5 "$VM_TMP/director/s3lb.log")"
wait_daemons director2 "$BACKUP" 20000 || fail "director2: no backup daemon after $waited ms: $(daemons director2); $(tail -n 5 "$VM_TMP/director2/s3lb.log")"
wait_weight director $N2 1 20000 || fail "director: IPVS not programmed: $(ns director ipvsadm -Ln)"
wait_weight director2 $N2 1 20000 || fail "director2: IPVS not programmed: $(ns director2 ipvsadm -Ln)"
grep -q 'ipvs sync: start master sync daemon on eth0, sync id 7' "$VM_TMP/director/s3lb.log" || fail "director's log: $(grep 'ipvs sync' "$VM_TMP/director/s3lb.log")"
# sync_status NS: /status's ipvs.sync as "VRRP STATE IFACE SYNC_ID ERROR"
sync_status() { ns "$1" "$S3LB_BIN" status -a 127.0.0.1:9901 | jq -r '.ipvs.sync | "\(.vrrp) \(.daemons[0].state) \(.daemons[0].interface) \(.daemons[0].sync_id) \(.error)"'; }
st1=$(sync_status director) st2=$(sync_status director2)
[ "$st1" = "MASTER master eth0 7 " ] && [ "$st2" = "none backup eth0 7 " ] || fail "s3lb status: director '$st1', director2 '$st2'"
pass "s3lb started the sync daemons: director $(daemons director); director2 $(daemons director2)"

# a slow download through the VIP (8 MiB at 160 KiB/s: about 50 s), from client port 43001
nsenter --net=/run/netns/client -- curl -s -S --local-port 43001 --limit-rate 160k \
	-o "$VM_TMP/dl" -w '%{http_code} %{size_download}\n' "http://$DR_VIP:8000/8m" >"$VM_TMP/dl.out" 2>&1 &
curl_pid=$!
pids+=("$curl_pid")
entry() { ns "$1" ipvsadm -Lnc | awk '$4 ~ /:43001$/ && $5 == "'"$DR_VIP"':8000" { print $3, $6 }' | head -n 1; }
t0=$(ms_now)
while [ $(($(ms_now) - t0)) -lt 20000 ]; do
	e1=$(entry director) e2=$(entry director2)
	[ -n "$e1" ] && [ -n "$e2" ] && break
	sleep 0.3
done
[ -n "$e1" ] || fail "the download is not in director's connection table: $(cat "$VM_TMP/dl.out") $(ns director ipvsadm -Lnc)"
[ -n "$e2" ] || fail "the download's connection was not synced to director2 in 20 s: director $(ns director ipvsadm -Lnc); director2 $(ns director2 ipvsadm -Lnc)"
[ "${e1#* }" = "${e2#* }" ] || fail "synced to another real server: director $e1, director2 $e2"
pass "the download's connection synced to director2 in $(($(ms_now) - t0)) ms: director $e1, director2 $e2"

# failover, as keepalived would do it: states swap, the VIP moves, the client learns its new MAC
kill -0 $curl_pid 2>/dev/null || fail "the download ended before the failover: $(cat "$VM_TMP/dl.out")"
t0=$(ms_now)
state director BACKUP
state director2 MASTER
ip -n director addr del $DR_VIP/32 dev eth0
ip -n director2 addr add $DR_VIP/32 dev eth0
mac2=$(ip -n director2 -br link show eth0 | awk '{ print $3 }')
ip -n client neigh replace $DR_VIP lladdr "$mac2" dev eth0 nud reachable
wait_daemons director2 "$MASTER" 10000 || fail "director2: no master daemon $waited ms after MASTER: $(daemons director2)"
wait_daemons director "$BACKUP" 10000 || fail "director: no backup daemon $waited ms after BACKUP: $(daemons director)"
[[ $(daemons director) != *master* ]] && [[ $(daemons director2) != *backup* ]] || fail "old daemons still running: director $(daemons director); director2 $(daemons director2)"
for _ in $(seq 20); do [ "$(sync_status director2)" = "MASTER master eth0 7 " ] && break; sleep 0.2; done
[ "$(sync_status director2)" = "MASTER master eth0 7 " ] || fail "s3lb status on director2 after the failover: $(sync_status director2)"
pass "failover: daemons swapped in $(($(ms_now) - t0)) ms: director $(daemons director); director2 $(daemons director2)"
rx0=$(ns_rx_bytes director2 eth0)
wait $curl_pid || fail "curl: status $?: $(cat "$VM_TMP/dl.out")"
got=$(md5sum <"$VM_TMP/dl" | cut -d' ' -f1)
[ "$(cat "$VM_TMP/dl.out")" = "200 $((8 << 20))" ] && [ "$got" = "$md5" ] || fail "download: $(cat "$VM_TMP/dl.out"), md5 $got (want 200 $((8 << 20)) $md5)"
rx=$(($(ns_rx_bytes director2 eth0) - rx0))
[ "$rx" -gt 10000 ] || fail "director2 received only $rx bytes after the failover: the client's ACKs did not go through it"
pass "the download completed through director2 with the right md5, $(($(ms_now) - t0)) ms after the failover (director2 received $rx bytes of the client's packets)"

# s3lb stops: the kernel's daemons run on
kill -TERM "${S3LB_PIDS[director]}" "${S3LB_PIDS[director2]}"
wait "${S3LB_PIDS[director]}" || fail "s3lb on director exited with $?"
wait "${S3LB_PIDS[director2]}" || fail "s3lb on director2 exited with $?"
[[ $(daemons director) =~ $BACKUP ]] && [[ $(daemons director2) =~ $MASTER ]] || fail "daemons after s3lb stopped: director $(daemons director); director2 $(daemons director2)"
pass "s3lb stopped on both directors: the daemons run on (director $(daemons director | cut -c1-20)..., director2 $(daemons director2 | cut -c1-20)...)"
{ grep -hiE 'ipvs sync|error|warn' "$VM_TMP"/director*/s3lb.log || true; } | while read -r l; do note "s3lb.log: $l"; done
