#!/bin/bash
# Two directors with keepalived (VRRP only) and the IPVS connection sync daemon that s3lb starts
# and stops itself (issue 13 part 1 and its test 1; dsr/sync.h, docs/operations.md "Two
# directors"), on the DR topology of lib.sh's dr_net plus a standby director (director2,
# 10.99.0.4) on the same bridge. Both run s3lb with the same `dr:` and `dr_sync: { interface:
# eth0, sync_id: 7, role: auto }`, and keepalived (Debian's) with the VIP, nopreempt, and the
# notify script of docs/operations.md writing the VRRP state file:
# - director holds the VIP (MASTER): `ipvsadm -L --daemon` and `s3lb status` show the master
#   daemon there and the backup daemon on director2, as s3lb started them;
# - a slow DR download through director: its connection entry appears in director2's
#   `ipvsadm -Lnc` (synced), with the same real server;
# - unplanned failover: kill -9 of director's s3lb and its interface down: director2 takes the VIP
#   within keepalived's advert interval x 3, s3lb there switches to the master daemon, and the
#   download completes through director2 with the right md5;
# - director back as the standby (backup daemon); a second download through director2, synced;
# - planned switchover: SIGTERM to s3lb and keepalived on director2: director takes the VIP, and
#   the second download completes through it with the right md5;
# - the daemons keep running when s3lb stops (they are the kernel's).
# The nodes serve with python3's http.server: this test is about the directors, not S3.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

vm_enter --timeout 600 -- "$@"
# ---- in the guest from here on -------------------------------------------------------------------

need_cmd python3 python3
need_cmd curl curl
need_cmd jq jq
need_cmd keepalived keepalived
dr_net
ip -n director addr del $DR_VIP/32 dev eth0 # keepalived holds the VIP
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

# the nodes: one 6 MiB file each (the same bytes), over HTTP on 0.0.0.0:8000 (so also on the VIP)
SIZE=$((6 << 20))
mkdir -p "$VM_TMP/www"
head -c $SIZE /dev/urandom >"$VM_TMP/www/obj"
md5=$(md5sum <"$VM_TMP/www/obj" | cut -d' ' -f1)
for n in node1 node2; do
	nsenter --net=/run/netns/$n -- python3 -m http.server 8000 --bind 0.0.0.0 \
		--directory "$VM_TMP/www" >"$VM_TMP/http-$n.log" 2>&1 &
	pids+=($!)
done
wait_http client "http://$N1/obj" || fail "http.server on node1 not ready: $(cat "$VM_TMP/http-node1.log")"
wait_http client "http://$N2/obj" || fail "http.server on node2 not ready: $(cat "$VM_TMP/http-node2.log")"

# cfg NAME ADDR PRIORITY: s3lb's config (frontend on ADDR:8080), keepalived's config and the notify
# script (as in docs/operations.md, with the state file in $VM_TMP/NAME/) for namespace NAME
cfg() {
	local d=$VM_TMP/$1
	mkdir -p "$d"
	cat >"$d/s3lb.yaml" <<YAML
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
YAML
	"$S3LB_BIN" check -c "$d/s3lb.yaml" >"$d/check.log" 2>&1 || fail "s3lb check ($1): $(cat "$d/check.log")"
	cat >"$d/notify" <<NOTIFY
#!/bin/sh
printf '%s %s %s %s\n' "\$1" "\$2" "\$3" "\$4" >$d/vrrp-state.tmp &&
	mv $d/vrrp-state.tmp $d/vrrp-state
NOTIFY
	chmod 755 "$d/notify"
	cat >"$d/keepalived.conf" <<KEEPALIVED
global_defs {
    router_id $1
}
vrrp_instance S3LB {
    state BACKUP
    nopreempt
    interface eth0
    virtual_router_id 51
    priority $3
    advert_int 1
    virtual_ipaddress {
        $DR_VIP/32 dev eth0
    }
    notify $d/notify
}
KEEPALIVED
}
declare -A S3LB_PIDS K_PIDS
# s3lb_start NAME / keepalived_start NAME: in namespace NAME; PIDs in S3LB_PIDS / K_PIDS
s3lb_start() {
	nsenter --net=/run/netns/"$1" -- "$S3LB_BIN" run -c "$VM_TMP/$1/s3lb.yaml" >>"$VM_TMP/$1/s3lb.out" 2>&1 &
	pids+=($!)
	S3LB_PIDS[$1]=$!
}
keepalived_start() {
	nsenter --net=/run/netns/"$1" -- keepalived -n -l -D -G -P -f "$VM_TMP/$1/keepalived.conf" \
		-p "$VM_TMP/$1/keepalived.pid" -r "$VM_TMP/$1/vrrp.pid" >>"$VM_TMP/$1/keepalived.log" 2>&1 &
	pids+=($!)
	K_PIDS[$1]=$!
}
# stop PID: SIGTERM and wait; fails on a non-zero exit
stop() {
	kill -TERM "$1"
	wait "$1" || fail "process $1 exited with status $? on SIGTERM"
}
# daemons NS: `ipvsadm -L --daemon` in NS, one line
daemons() { ns "$1" ipvsadm -L --daemon | tr '\n' ' ' | sed 's/ *$//'; }
# wait_until MAXMS CMD...: until CMD succeeds (0.2 s apart); elapsed ms in $waited
wait_until() {
	local t0 max=$1
	shift
	t0=$(ms_now)
	while :; do
		waited=$(($(ms_now) - t0))
		"$@" && return 0
		[ "$waited" -ge "$max" ] && return 1
		sleep 0.2
	done
}
daemons_are() { [[ $(daemons "$1") =~ $2 ]]; }
has_vip() { ip -n "$1" -br addr show dev eth0 | grep -qF " $DR_VIP/32"; }
vrrp_is() { grep -qw "$2" "$VM_TMP/$1/vrrp-state" 2>/dev/null; }
# sync_status NS: /status's ipvs.sync as "VRRP STATE IFACE SYNC_ID ERROR"
sync_status() { ns "$1" "$S3LB_BIN" status --json -a 127.0.0.1:9901 | jq -r '.ipvs.sync | "\(.vrrp) \(.daemons[0].state) \(.daemons[0].interface) \(.daemons[0].sync_id) \(.error)"'; }
status_is() { [ "$(sync_status "$1")" = "$2" ]; }
# download PORT: a slow download through the VIP (6 MiB at 200 KiB/s: about 30 s) from client port
# PORT; its PID in $curl_pid, output in $VM_TMP/dl-PORT
download() {
	nsenter --net=/run/netns/client -- curl -s -S --local-port "$1" --limit-rate 200k \
		-o "$VM_TMP/dl-$1" -w '%{http_code} %{size_download}\n' "http://$DR_VIP:8000/obj" >"$VM_TMP/dl-$1.out" 2>&1 &
	curl_pid=$!
	pids+=("$curl_pid")
}
# progress PORT: samples the size of download PORT's file every 20 ms until its curl ends: a line
# "MS SIZE" at each change, in $VM_TMP/prog-PORT (the bytes reach the client from the node; a
# failover stops them while the client's ACKs have no director to pass)
progress() {
	/usr/bin/python3 - "$VM_TMP/dl-$1" "$curl_pid" >"$VM_TMP/prog-$1" 2>/dev/null <<'PY' &
import os, sys, time
path, pid, last = sys.argv[1], int(sys.argv[2]), -1
while True:
    try:
        n = os.stat(path).st_size
    except OSError:
        n = 0
    if n != last:
        print("%d %d" % (time.time() * 1000, n), flush=True)
        last = n
    try:
        os.kill(pid, 0)
    except OSError:
        break
    time.sleep(0.02)
PY
	pids+=($!)
}
sampled() { [ "$(wc -l <"$VM_TMP/prog-$1" 2>/dev/null || echo 0)" -ge 2 ]; }
# stall PORT T0: "GAP BEFORE": the longest time (ms) between two new bytes at the client after T0
# (the last byte before the failover to the first after it), and before T0 (the pacing alone)
stall() {
	awk -v t0="$2" 'NR > 1 { g = $1 - prev; if ($1 > t0) { if (g > a) a = g } else if (g > b) b = g }
		{ prev = $1 } END { printf "%d %d\n", a, b }' "$VM_TMP/prog-$1"
}
# entry NS PORT: "STATE REALSERVER" of the client's connection from PORT in NS's IPVS
entry() { ns "$1" ipvsadm -Lnc | awk -v p=":$2" -v v="$DR_VIP:8000" '$4 ~ p"$" && $5 == v { print $3, $6 }' | head -n 1; }
# synced PORT ACTIVE STANDBY: the connection is in both tables, with the same real server
synced() {
	local a b
	a=$(entry "$2" "$1") b=$(entry "$3" "$1")
	[ -n "$a" ] && [ -n "$b" ] && [ "${a#* }" = "${b#* }" ] && synced_as="$2 $a, $3 $b"
}
# finished PORT THROUGH RX0: the download completed (200, size, md5), with the client's packets
# after the failover reaching THROUGH (its eth0 received more than 10 kB since RX0)
finished() {
	local got rx
	wait "$curl_pid" || fail "curl from port $1: status $?: $(cat "$VM_TMP/dl-$1.out")"
	got=$(md5sum <"$VM_TMP/dl-$1" | cut -d' ' -f1)
	[ "$(cat "$VM_TMP/dl-$1.out")" = "200 $SIZE" ] && [ "$got" = "$md5" ] ||
		fail "download from port $1: $(cat "$VM_TMP/dl-$1.out"), md5 $got (want 200 $SIZE $md5)"
	rx=$(($(ns_rx_bytes "$2" eth0) - $3))
	[ "$rx" -gt 10000 ] || fail "$2 received only $rx bytes after the failover: the client's packets did not go through it"
	finished_rx=$rx
}

MASTER='^master sync daemon \(mcast=eth0, syncid=7[,)]'
BACKUP='^backup sync daemon \(mcast=eth0, syncid=7[,)]'
cfg director 10.99.0.1 150
cfg director2 10.99.0.4 100
[ -z "$(daemons director)" ] && [ -z "$(daemons director2)" ] || fail "sync daemons before s3lb: $(daemons director) / $(daemons director2)"
s3lb_start director
s3lb_start director2
keepalived_start director
wait_until 15000 has_vip director || fail "keepalived on director did not take the VIP: $(tail -n 20 "$VM_TMP/director/keepalived.log")"
keepalived_start director2
wait_until 10000 vrrp_is director2 BACKUP || fail "keepalived on director2 not BACKUP: $(cat "$VM_TMP/director2/vrrp-state" 2>&1) $(tail -n 20 "$VM_TMP/director2/keepalived.log")"
vrrp_is director MASTER || fail "director's state file: $(cat "$VM_TMP/director/vrrp-state")"
wait_until 20000 daemons_are director "$MASTER" || fail "director: no master daemon after $waited ms: $(daemons director); $(tail -n 5 "$VM_TMP/director/s3lb.log")"
wait_until 20000 daemons_are director2 "$BACKUP" || fail "director2: no backup daemon after $waited ms: $(daemons director2); $(tail -n 5 "$VM_TMP/director2/s3lb.log")"
wait_weight director $N2 1 20000 || fail "director: IPVS not programmed: $(ns director ipvsadm -Ln)"
wait_weight director2 $N2 1 20000 || fail "director2: IPVS not programmed: $(ns director2 ipvsadm -Ln)"
grep -q 'ipvs sync: start master sync daemon on eth0, sync id 7' "$VM_TMP/director/s3lb.log" || fail "director's log: $(grep 'ipvs sync' "$VM_TMP/director/s3lb.log")"
wait_until 5000 status_is director "MASTER master eth0 7 " || fail "s3lb status on director: '$(sync_status director)'"
wait_until 5000 status_is director2 "BACKUP backup eth0 7 " || fail "s3lb status on director2: '$(sync_status director2)'"
pass "keepalived: VIP on director (MASTER), director2 BACKUP; s3lb started the sync daemons: director $(daemons director); director2 $(daemons director2)"

# ---- unplanned failover: s3lb killed, the interface gone ----
download 43001
wait_until 20000 synced 43001 director director2 || fail "the download's connection was not synced to director2 in 20 s: $(cat "$VM_TMP/dl-43001.out"); director $(ns director ipvsadm -Lnc); director2 $(ns director2 ipvsadm -Lnc)"
pass "the first download's connection synced to director2 in $waited ms: $synced_as"
kill -0 "$curl_pid" 2>/dev/null || fail "the download ended before the failover: $(cat "$VM_TMP/dl-43001.out")"
progress 43001
# a baseline first: two seconds of bytes arriving (python starts slowly under TCG)
wait_until 20000 sampled 43001 || fail "no progress samples of download 43001"
sleep 2
t_fail=$(ms_now)
kill -KILL "${S3LB_PIDS[director]}"
wait "${S3LB_PIDS[director]}" 2>/dev/null || true
ip -n director link set eth0 down
rx0=$(ns_rx_bytes director2 eth0)
wait_until 10000 has_vip director2 || fail "director2 did not take the VIP in $waited ms: $(tail -n 20 "$VM_TMP/director2/keepalived.log")"
takeover=$waited
wait_until 10000 daemons_are director2 "$MASTER" || fail "director2: no master daemon $waited ms after taking the VIP: $(daemons director2)"
[[ $(daemons director2) != *backup* ]] || fail "director2 still runs the backup daemon: $(daemons director2)"
pass "s3lb on director killed (-9), its eth0 down: director2 took the VIP in $takeover ms (advert interval 1 s), its s3lb switched to the master daemon $waited ms later"
finished 43001 director2 "$rx0"
read -r gap base < <(stall 43001 "$t_fail")
pass "the first download completed through director2 with the right md5 (director2 received $finished_rx bytes of the client's packets after the failover; no byte reached the client for $gap ms across it, at most $base ms between bytes before)"

# ---- director back, as the standby ----
stop "${K_PIDS[director]}"
if has_vip director; then ip -n director addr del $DR_VIP/32 dev eth0; fi
ip -n director link set eth0 up
s3lb_start director
keepalived_start director
wait_until 15000 vrrp_is director BACKUP || fail "keepalived on director not BACKUP after its return: $(cat "$VM_TMP/director/vrrp-state") $(tail -n 20 "$VM_TMP/director/keepalived.log")"
has_vip director2 || fail "director took the VIP back (nopreempt)"
wait_until 20000 daemons_are director "$BACKUP" || fail "director: no backup daemon after its return ($waited ms): $(daemons director)"
[[ $(daemons director) != *master* ]] || fail "director still runs the master daemon the killed s3lb left: $(daemons director)"
pass "director back as the standby: $(daemons director)"

# ---- planned switchover: SIGTERM on the active director ----
download 43002
wait_until 20000 synced 43002 director2 director || fail "the second download's connection was not synced to director in 20 s: $(cat "$VM_TMP/dl-43002.out"); director2 $(ns director2 ipvsadm -Lnc); director $(ns director ipvsadm -Lnc)"
pass "the second download's connection synced to director in $waited ms: $synced_as"
kill -0 "$curl_pid" 2>/dev/null || fail "the download ended before the switchover: $(cat "$VM_TMP/dl-43002.out")"
progress 43002
# a baseline first: two seconds of bytes arriving (python starts slowly under TCG)
wait_until 20000 sampled 43002 || fail "no progress samples of download 43002"
sleep 2
t_fail=$(ms_now)
rx0=$(ns_rx_bytes director eth0)
stop "${S3LB_PIDS[director2]}"
stop "${K_PIDS[director2]}"
wait_until 10000 has_vip director || fail "director did not take the VIP in $waited ms: $(tail -n 20 "$VM_TMP/director/keepalived.log")"
takeover=$waited
wait_until 10000 daemons_are director "$MASTER" || fail "director: no master daemon $waited ms after taking the VIP: $(daemons director)"
pass "SIGTERM to s3lb and keepalived on director2: director took the VIP in $takeover ms, its s3lb switched to the master daemon $waited ms later"
finished 43002 director "$rx0"
read -r gap base < <(stall 43002 "$t_fail")
pass "the second download completed through director with the right md5 (director received $finished_rx bytes of the client's packets after the switchover; no byte reached the client for $gap ms across it, at most $base ms between bytes before)"

# ---- s3lb stops: the kernel's daemons run on ----
stop "${S3LB_PIDS[director]}"
daemons_are director "$MASTER" && daemons_are director2 "$MASTER" || fail "daemons after s3lb stopped: director $(daemons director); director2 $(daemons director2)"
pass "s3lb stopped: the daemons run on (director: master; director2: master, as its s3lb left it)"
stop "${K_PIDS[director]}"
{ grep -hiE 'ipvs sync|error|warn' "$VM_TMP"/director*/s3lb.log || true; } | while read -r l; do note "s3lb.log: $l"; done
