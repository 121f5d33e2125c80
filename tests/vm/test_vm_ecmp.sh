#!/bin/bash
# Active-active directors by ECMP (issue 13, test 3): two directors each run s3lb with the same
# config (a `dr:` service, scheduler mh, `announce: { table: 100 }`) and BIRD, which learns s3lb's
# route for the VIP from table 100 and announces it over BGP to a router's BIRD; the router holds
# the VIP as one route with two equal-cost next hops (fib_multipath_hash_policy=1). Two nodes
# serve the same object (python3's http.server, the VIP on lo by s3lb-node setup); a client with
# four source addresses and a small receive window runs 100 slow curl downloads through the VIP
# while the router's path to the VIP is flipped between the directors every 0.5 s (a policy rule
# over BIRD's route), so each connection's packets keep crossing between directors. IPVS on the
# director that sees a flow mid-way creates an entry (net.ipv4.vs.sloppy_tcp=1) and mh, with the
# same node table, picks the same node: every download completes with the right body, and every
# flow both directors saw went to the same node on both. Then: director 1's pool made unhealthy
# (its nodes unreachable from it) -> its route is withdrawn from the router and comes back with
# health; s3lb on director 1 SIGTERM -> withdrawn at once, new connections all go to director 2.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

vm_enter --timeout 600 --mem 2048 -- "$@"
# ---- in the guest from here on -------------------------------------------------------------------

need_cmd ipvsadm ipvsadm
need_cmd curl curl
need_cmd bird bird2
need_cmd birdc bird2
need_cmd python3 python3
for b in "$S3LB_BIN" "$S3LB_BUILD/dsr/s3lb-node"; do
	[ -x "$b" ] || fail "$b not built (cmake --build $S3LB_BUILD)"
done
modprobe -a ip_vs ip_vs_mh

VIP=10.99.9.100
D1=10.99.0.1 D2=10.99.0.2 RT=10.99.0.254
N1=10.99.0.11 N2=10.99.0.12
CLIENTS=(10.98.0.10 10.98.0.11 10.98.0.12 10.98.0.13)
SIZE=$((384 << 10))

# ---- the network: client -- router -- br0 (d1, d2, n1, n2) ----
ns_add client router d1 d2 n1 n2
ns_bridge br0 router d1 d2 n1 n2
ns_link client eth0 - router eth1 10.98.0.1/24
for a in "${CLIENTS[@]}"; do ip -n client addr add "$a/24" dev eth0; done
ip -n client route add default via 10.98.0.1
ip -n router addr add $RT/24 dev eth0
ip -n d1 addr add $D1/24 dev eth0
ip -n d2 addr add $D2/24 dev eth0
ip -n n1 addr add $N1/24 dev eth0
ip -n n2 addr add $N2/24 dev eth0
for n in d1 d2; do
	ip -n "$n" addr add $VIP/32 dev lo # IPVS takes the VIP's packets as local ones
	ip -n "$n" route add default via $RT
	# mid-flow packets of a connection the other director started: a new entry (mh: same node)
	ns_sysctl "$n" net.ipv4.vs.sloppy_tcp=1
done
for n in n1 n2; do
	ip -n "$n" route add default via $RT # answers go straight to the client (DR)
	ns "$n" "$S3LB_BUILD/dsr/s3lb-node" setup --vip $VIP >"$VM_TMP/setup-$n.log" 2>&1 ||
		fail "s3lb-node setup on $n: $(cat "$VM_TMP/setup-$n.log")"
done
ns_sysctl router net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
# a small receive window: each download lasts as long as curl's rate limit, packet by packet
ns_sysctl client "net.ipv4.tcp_rmem=4096 16384 32768"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

# ---- the nodes: the same object on both ----
mkdir -p "$VM_TMP/www"
head -c $SIZE /dev/urandom >"$VM_TMP/www/obj"
MD5=$(md5sum <"$VM_TMP/www/obj" | cut -d' ' -f1)
head -c 4096 /dev/urandom >"$VM_TMP/www/small"
MD5_SMALL=$(md5sum <"$VM_TMP/www/small" | cut -d' ' -f1)
# python3's http.server with a listen backlog of 256 (its default, 5, drops SYNs under 100
# connections, and then the directors' health probes time out: nodes flap, the directors
# disagree, and mh_fallback sends a flow to different nodes)
for n in n1 n2; do
	nsenter --net="/run/netns/$n" -- python3 -c '
import functools, http.server as h, sys
h.ThreadingHTTPServer.request_queue_size = 256
handler = functools.partial(h.SimpleHTTPRequestHandler, directory=sys.argv[1])
h.ThreadingHTTPServer(("0.0.0.0", 8000), handler).serve_forever()' "$VM_TMP/www" >"$VM_TMP/http-$n.log" 2>&1 &
	pids+=($!)
done

# ---- BIRD: each director learns table 100 and announces it; the router merges the paths ----
bird_conf() { # NAME ROUTER-ID: the common timers, short for the test
	cat <<EOF
log "$VM_TMP/bird-$1.log" all;
router id $2;
protocol device { }
EOF
}
bgp_timers='connect delay time 1; connect retry time 2; error wait time 1, 4; hold time 6; keepalive time 2;'
for n in d1 d2; do
	ip=$D1
	[ $n = d2 ] && ip=$D2
	{
		bird_conf $n $ip
		cat <<EOF
protocol kernel s3lb {
	kernel table 100;
	learn;                  # the routes s3lb puts there (proto 83)
	ipv4 { import all; export none; };
}
protocol bgp uplink {
	local $ip as 65001;
	neighbor $RT as 65000;
	$bgp_timers
	ipv4 { import none; export where proto = "s3lb"; };
}
EOF
	} >"$VM_TMP/bird-$n.conf"
done
{
	bird_conf router $RT
	cat <<EOF
protocol kernel {
	merge paths yes;        # equal BGP routes from both directors: one route, two next hops
	ipv4 { import none; export all; };
}
EOF
	for d in 1 2; do
		ip=$D1
		[ $d = 2 ] && ip=$D2
		cat <<EOF
protocol bgp d$d {
	local $RT as 65000;
	neighbor $ip as 65001;
	$bgp_timers
	ipv4 { import all; export none; };
}
EOF
	done
} >"$VM_TMP/bird-router.conf"
for n in router d1 d2; do
	bird -p -c "$VM_TMP/bird-$n.conf" || fail "bird -p: $VM_TMP/bird-$n.conf"
	nsenter --net="/run/netns/$n" -- bird -f -c "$VM_TMP/bird-$n.conf" -s "$VM_TMP/bird-$n.ctl" \
		-P "$VM_TMP/bird-$n.pid" >"$VM_TMP/bird-$n.out" 2>&1 &
	pids+=($!)
done

# ---- s3lb on both directors, one config but for its files ----
for n in d1 d2; do
	cat >"$VM_TMP/$n.yaml" <<EOF
admin: { listen: 127.0.0.1:9901 }
log: { level: info, access: off, error: $VM_TMP/$n.log }
dr_state: $VM_TMP/$n-ipvs-owned
drain_state: $VM_TMP/$n-drained
timeouts: { shutdown_delay: 2s }
pools:
  - name: nodes
    health: { kind: tcp, interval: 1s, timeout: 900ms, rise: 1, fall: 3 }
    nodes:
      - { name: n1, addr: $N1:8000 }
      - { name: n2, addr: $N2:8000 }
dr:
  - { vip: $VIP:8000, pool: nodes, scheduler: mh, mh_port: true, announce: { table: 100 } }
EOF
	"$S3LB_BIN" check -c "$VM_TMP/$n.yaml" >"$VM_TMP/check-$n.log" 2>&1 || fail "s3lb check ($n): $(cat "$VM_TMP/check-$n.log")"
done
wait_http client "http://$N1:8000/obj" || fail "http.server on n1 not ready: $(cat "$VM_TMP/http-n1.log")"
wait_http client "http://$N2:8000/obj" || fail "http.server on n2 not ready: $(cat "$VM_TMP/http-n2.log")"
declare -A S3LB
s3lb_start() {
	nsenter --net="/run/netns/$1" -- "$S3LB_BIN" run -c "$VM_TMP/$1.yaml" >>"$VM_TMP/$1.out" 2>&1 &
	S3LB[$1]=$!
	pids+=($!)
}
s3lb_start d1
s3lb_start d2

# nexthops: the router's next hops for the VIP ("10.99.0.1 10.99.0.2", "" when it has no route)
nexthops() {
	ns router ip route show $VIP | grep -oE 'via [0-9.]+' | awk '{ print $2 }' | sort | tr '\n' ' ' | sed 's/ $//'
}
# wait_nexthops WANT MAXMS: until nexthops is WANT; milliseconds in $waited
wait_nexthops() {
	local t0
	t0=$(ms_now)
	while :; do
		waited=$(($(ms_now) - t0))
		[ "$(nexthops)" = "$1" ] && return 0
		[ "$waited" -gt "$2" ] && return 1
		sleep 0.1
	done
}
wait_nexthops "$D1 $D2" 60000 || fail "the router has no two next hops for $VIP: '$(nexthops)'; router: $(birdc -s "$VM_TMP/bird-router.ctl" show protocols 2>&1); d1 table 100: $(ip -n d1 route show table 100); $(tail -n 5 "$VM_TMP/d1.log")"
pass "BGP up: the router has $VIP via $D1 and $D2 (equal cost) $waited ms after s3lb started"
ns router ip route show $VIP | while read -r l; do note "router: $l"; done
note "d1: $(ip -n d1 route show table 100)"
grep -h 'announce:' "$VM_TMP/d1.log" "$VM_TMP/d2.log" | while read -r l; do note "s3lb: $l"; done
for n in d1 d2; do
	[ "$(ns $n ipvsadm -Ln | awk '$1 == "->" && $3 == "Route" && $4 == 1' | wc -l)" = 2 ] ||
		fail "$n: IPVS has not both nodes at weight 1: $(ns $n ipvsadm -Ln)"
done

# ---- 100 downloads while the path flips between the directors ----
mkdir -p "$VM_TMP/c"
# outrsts NS: TCP resets NS has sent (a packet for a connection it does not have)
outrsts() { ns "$1" awk '$1 == "Tcp:" && !h { for (i = 1; i <= NF; i++) c[$i] = i; h = 1; next } $1 == "Tcp:" { print $c["OutRsts"] }' /proc/net/snmp; }
declare -A RST0
for n in client d1 d2 n1 n2; do RST0[$n]=$(outrsts $n); done
ns router ip route add $VIP via $D1 table 50
ns router ip rule add to $VIP lookup 50 pref 100
(
	while [ ! -e "$VM_TMP/c/stop" ]; do
		sleep 0.5
		ns router ip route replace $VIP via $D2 table 50
		sleep 0.5
		ns router ip route replace $VIP via $D1 table 50
	done
) &
flipper=$!
pids+=("$flipper")
# one curl per client address, 25 transfers each in parallel (starting 100 processes under TCG
# takes longer than a download)
t0=$(ms_now)
cpids=()
for k in "${!CLIENTS[@]}"; do
	args=()
	for ((j = k; j < 100; j += ${#CLIENTS[@]})); do
		args+=(-o "$VM_TMP/c/$j.body" "http://$VIP:8000/obj?n=$j")
	done
	(
		trap - ERR
		ns client curl -sS --no-progress-meter --parallel --parallel-immediate --parallel-max 25 --max-time 120 \
			--limit-rate 48k --interface "${CLIENTS[$k]}" \
			-w '%{url} %{exitcode} %{http_code} %{size_download} %{local_ip}:%{local_port}\n' \
			"${args[@]}" >"$VM_TMP/c/w.$k" 2>"$VM_TMP/c/err.$k"
	) &
	cpids+=($!)
done
bad=0
for p in "${cpids[@]}"; do
	wait "$p" || bad=$((bad + 1))
done
took=$(($(ms_now) - t0))
touch "$VM_TMP/c/stop"
wait "$flipper" || true
# both directors' entries, snapshot now (a moved flow is in both tables)
for n in d1 d2; do
	ns $n ipvsadm -Lnc | awk -v v="$VIP:8000" '$5 == v { print $4, $6 }' | sort >"$VM_TMP/conns-$n"
done
ns router ip rule del to $VIP lookup 50 pref 100
ns router ip route flush table 50
# the flows both directors saw, and the node each sent them to
both=$(join "$VM_TMP/conns-d1" "$VM_TMP/conns-d2" | wc -l)
same=$(join "$VM_TMP/conns-d1" "$VM_TMP/conns-d2" | awk '$2 == $3' | wc -l)
n1=$(cat "$VM_TMP/conns-d1" "$VM_TMP/conns-d2" | awk -v n="$N1:8000" '$2 == n { print $1 }' | sort -u | wc -l)
n2=$(cat "$VM_TMP/conns-d1" "$VM_TMP/conns-d2" | awk -v n="$N2:8000" '$2 == n { print $1 }' | sort -u | wc -l)
# one pass (a process per download costs seconds under TCG): curl's line for each download, and
# the md5 of each body
cat "$VM_TMP"/c/w.* >"$VM_TMP/c/w"
(cd "$VM_TMP/c" && md5sum ./*.body) >"$VM_TMP/c/md5"
awk -v size=$SIZE -v md5="$MD5" '
	FILENAME ~ /md5$/ { f = $2; sub(/^\.\//, "", f); sub(/\.body$/, "", f); sum[f] = $1; next }
	{ n = $1; sub(/.*n=/, "", n); got[n] = $0; good[n] = $2 == 0 && $3 == 200 && $4 == size }
	END {
		for (i = 0; i < 100; i++)
			if (good[i] && sum[i] == md5) ok++
			else print "download " i ": " (i in got ? got[i] : "no curl line") " md5 " sum[i]
		print "ok " ok + 0
	}' "$VM_TMP/c/md5" "$VM_TMP/c/w" >"$VM_TMP/c/verdict"
ok=$(sed -n 's/^ok //p' "$VM_TMP/c/verdict")
{ grep -v '^ok ' "$VM_TMP/c/verdict" || true; } | head -n 10 | while read -r l; do note "$l"; done
cat "$VM_TMP"/c/err.* | sort | uniq -c | head -n 5 | while read -r l; do note "curl: $l"; done
{ grep -hE 'node .* is (up|down)' "$VM_TMP/d1.log" "$VM_TMP/d2.log" || true; } | while read -r l; do note "health: $l"; done
rsts=""
for n in client d1 d2 n1 n2; do rsts="$rsts $n $(($(outrsts $n) - RST0[$n]))"; done
note "TCP resets sent during the downloads:$rsts"
join "$VM_TMP/conns-d1" "$VM_TMP/conns-d2" | awk '$2 != $3' | head -n 5 | while read -r l; do note "different nodes: $l"; done
note "100 downloads done in $took ms; flows seen by d1: $(wc -l <"$VM_TMP/conns-d1"), by d2: $(wc -l <"$VM_TMP/conns-d2"), by both: $both; to n1: $n1, to n2: $n2"
[ "$ok" = 100 ] && [ "$bad" = 0 ] || fail "$ok of 100 downloads complete with the right body ($bad curl processes failed)"
[ "$both" -ge 50 ] || fail "only $both of 100 flows crossed between the directors (want >= 50)"
[ "$same" = "$both" ] || fail "$((both - same)) flows went to different nodes on the two directors: $(join "$VM_TMP/conns-d1" "$VM_TMP/conns-d2" | awk '$2 != $3' | head -n 5)"
[ "$n1" -gt 0 ] && [ "$n2" -gt 0 ] || fail "one node served every flow (n1 $n1, n2 $n2)"
pass "100 downloads of $((SIZE >> 10)) KiB from ${#CLIENTS[@]} client addresses, the path flipped between the directors every 0.5 s: all 100 bodies right; $both flows crossed, each to the same node on both directors"

# ---- director 1's pool unhealthy: withdrawn, then back ----
wait_nexthops "$D1 $D2" 5000 || fail "the router's route after the flips: '$(nexthops)'"
ns d1 ip route add blackhole $N1/32
ns d1 ip route add blackhole $N2/32
wait_nexthops "$D2" 10000 || fail "d1's pool is down but the router still has '$(nexthops)': $(ip -n d1 route show table 100); $(tail -n 5 "$VM_TMP/d1.log")"
pass "d1's nodes unreachable from d1: its route withdrawn, the router has $VIP via $D2 only, $waited ms after"
ns d1 ip route del blackhole $N1/32
ns d1 ip route del blackhole $N2/32
wait_nexthops "$D1 $D2" 10000 || fail "d1's pool is up again but the router has '$(nexthops)'"
pass "d1's nodes reachable again: announced again, the router has both next hops $waited ms after"

# ---- SIGTERM on director 1: withdrawn at once, new connections through director 2 ----
kill -TERM "${S3LB[d1]}"
wait_nexthops "$D2" 5000 || fail "s3lb on d1 got SIGTERM but the router still has '$(nexthops)'"
pass "SIGTERM to s3lb on d1: the router has $VIP via $D2 only, $waited ms after"
rc=0
wait "${S3LB[d1]}" || rc=$?
[ "$rc" = 0 ] || fail "s3lb on d1 exited with $rc: $(tail -n 20 "$VM_TMP/d1.log")"
[ -z "$(ip -n d1 route show table 100)" ] || fail "d1's table 100 after s3lb's exit: $(ip -n d1 route show table 100)"
[ "$(ns d1 ipvsadm -Ln | awk '$1 == "->" && $3 == "Route"' | wc -l)" = 2 ] || fail "s3lb's exit changed IPVS on d1: $(ns d1 ipvsadm -Ln)"
sleep 2.5 # IPVS folds its counters every 2 s
c1=$(ns d1 ipvsadm -Ln --stats -t $VIP:8000 | awk '$1 == "TCP" { print $3 }')
c2=$(ns d2 ipvsadm -Ln --stats -t $VIP:8000 | awk '$1 == "TCP" { print $3 }')
for i in $(seq 0 19); do
	a=${CLIENTS[$((i % ${#CLIENTS[@]}))]}
	[ "$(ns client curl -sS --max-time 30 --interface "$a" "http://$VIP:8000/small" | md5sum | cut -d' ' -f1)" = "$MD5_SMALL" ] ||
		fail "download $i after d1's SIGTERM: wrong body"
done
sleep 2.5
c1b=$(ns d1 ipvsadm -Ln --stats -t $VIP:8000 | awk '$1 == "TCP" { print $3 }')
c2b=$(ns d2 ipvsadm -Ln --stats -t $VIP:8000 | awk '$1 == "TCP" { print $3 }')
[ "$c1b" = "$c1" ] || fail "d1 took $((c1b - c1)) new connections after its route was withdrawn"
[ $((c2b - c2)) -ge 20 ] || fail "d2 took $((c2b - c2)) of the 20 new connections"
pass "20 new downloads (4 KiB) after d1's SIGTERM: bodies right, d1 took $((c1b - c1)) connections, d2 $((c2b - c2)); d1's table 100 is empty, its IPVS service stays"
grep -h 'announce:' "$VM_TMP/d1.log" | while read -r l; do note "d1: $l"; done
{ grep -hiE 'error|warn' "$VM_TMP/d1.log" "$VM_TMP/d2.log" || true; } | while read -r l; do note "s3lb.log: $l"; done
kill -TERM "${S3LB[d2]}"
wait "${S3LB[d2]}" || true
