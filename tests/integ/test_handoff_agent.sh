#!/bin/bash
# The handoff's node side end to end on the host kernel: `s3lb-node agent` takes client
# connections over from a director and serves them from the node's S3 server, the node
# answering the client directly from the VIP. Network namespaces made here: a client, a director
# (the VIP; tests/tools/ho_director, the director half in its plainest form) and a node (the VIP
# on lo as for DR, a python3 HTTP server as its "S3 server", the agent), on one bridge in a
# fourth namespace. Steering as a DR forward does it, without IPVS: nft marks the handed-off
# 4-tuple and `ip rule fwmark` routes marked packets to the node.
# Checks: the client gets the node's bytes exactly, small and multi-MiB, two requests on one
# kept-alive connection, both served by the node (agent counters, CLOSED reports); the
# director's interface sends far less than the bodies; the director falls back to serving
# itself (the client still succeeds) when the agent is stopped, has the wrong key, or is too slow
# for the READY deadline. Needs root (namespaces, nftables, TCP_REPAIR); else SKIPPED.
set -euo pipefail
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

DIRECTOR=$S3LB_BUILD/tests/ho_director
[ -x "$DIRECTOR" ] || fail "no $DIRECTOR (build with tests)"

p=hoa$$
NET=10.213.0
VIP=$NET.100
NODE_IP=$NET.3
T=$INTEG_TMP
handoff_steering() {
	# marked packets are routed to the node before the local table would take them (DR forward)
	handoff_route_mark 0x77
	nsx dir nft -f - <<EOF || skip "nftables unusable here"
	table inet hoatest {
		set frozen { type ipv4_addr . inet_service; }
		set steered { type ipv4_addr . inet_service; }
		chain pre {
			type filter hook prerouting priority raw; policy accept;
			ip daddr $VIP tcp dport 80 ip saddr . tcp sport @frozen drop
			ip daddr $VIP tcp dport 80 ip saddr . tcp sport @steered meta mark set 0x77 notrack
		}
	}
EOF
}
# shellcheck source=tests/integ/handoff_ns.sh
. "$(dirname "$0")/handoff_ns.sh"
ip netns exec "$p-dir" "$DIRECTOR" --listen "$VIP:80" --agent "$NODE_IP:9902" --s3 "$NODE_IP:8000" \
	--key-file "$T/key" --table hoatest --ready-ms 200 >"$T/director.log" 2>&1 &
dir_pid=$!
at_exit _integ_stop_pid "$dir_pid"
for ((i = 0; i < 100; i++)); do
	grep -q '^listening' "$T/director.log" && break
	sleep 0.05
done
pass "node S3 server, agent and director up"

counters() { nsx node curl -sS --max-time 5 http://127.0.0.1:9903/; }
tx_bytes() { nsx dir cat /sys/class/net/eth0/statistics/tx_bytes; }
# wait_log FILE REGEX COUNT: until FILE has COUNT lines matching REGEX (10 s)
wait_log() {
	local i
	for ((i = 0; i < 200; i++)); do
		[ "$(grep -cE -- "$2" "$1" || true)" -ge "$3" ] && return 0
		sleep 0.05
	done
	fail "$1: fewer than $3 lines match /$2/: $(tail -n 5 "$1")"
}
client() { nsx cli curl -sS --max-time 30 "$@"; }

# ---- 1. a handoff: two requests on one kept-alive connection, small then 6 MiB ----
tx0=$(tx_bytes)
out=$(client -o "$T/got-small" "http://$VIP/small" -o "$T/got-big" "http://$VIP/big" \
	-w '%{http_code} %{num_connects}\n')
tx1=$(tx_bytes)
assert_eq "200 1
200 0" "$out" "two GETs on one connection (status, new connections)"
assert_same_file "$T/www/small" "$T/got-small" "small body from the node"
assert_same_file "$T/www/big" "$T/got-big" "6 MiB body from the node"
wait_log "$T/director.log" 'handoff ok' 1
wait_log "$T/director.log" 'closed 0 requests 2 ' 1
line=$(grep 'closed 0 requests 2 ' "$T/director.log" | head -n 1)
assert_match ".* \[200 [0-9]+ 1[0-9]{3} [0-9]+\] \[200 [0-9]+ 629[0-9]{4} [0-9]+\]" "$line" \
	"CLOSED reports both requests (status, bytes in, bytes out, usec)"
c=$(counters)
assert_eq "1 2" "$(jq -r '"\(.taken) \(.requests)"' <<<"$c")" "agent: 1 connection taken, 2 requests"
[ "$(jq -r .bytes_spliced <<<"$c")" -gt 6000000 ] || fail "the 6 MiB body was not spliced: $c"
pass "the 6 MiB body went by splice ($(jq -r .bytes_spliced <<<"$c") bytes)"
body=$((6 * 1024 * 1024 + 1000))
dtx=$((tx1 - tx0))
note "director eth0 tx: $dtx bytes while $body body bytes were served"
((dtx * 100 < body)) || fail "director tx $dtx is not below 1% of $body"
pass "director tx below 1% of the bodies ($dtx of $body bytes)"

# ---- 2. more connections, each with two requests (3 MiB and 1000 B) ----
tx0=$(tx_bytes)
for ((k = 0; k < 10; k++)); do
	out=$(client -o "$T/got-mid" "http://$VIP/mid" -o "$T/got-small" "http://$VIP/small" \
		-w '%{http_code} ')
	[ "$out" = "200 200 " ] || fail "connection $k: $out"
	cmp -s "$T/www/mid" "$T/got-mid" || fail "connection $k: 3 MiB body differs"
	cmp -s "$T/www/small" "$T/got-small" || fail "connection $k: small body differs"
done
tx1=$(tx_bytes)
wait_log "$T/director.log" 'handoff ok' 11
wait_log "$T/director.log" 'closed 0 requests 2 ' 11
body=$((10 * (3 * 1024 * 1024 + 1000)))
dtx=$((tx1 - tx0))
assert_eq "11 22" "$(counters | jq -r '"\(.taken) \(.requests)"')" "agent: 11 taken, 22 requests"
note "director eth0 tx: $dtx bytes while $body body bytes were served (10 connections)"
((dtx * 100 < body)) || fail "director tx $dtx is not below 1% of $body"
pass "10 more connections handed off, every body exact, director tx $dtx of $body bytes"

# ---- 3. HEAD then GET on one handed-off connection (the response to HEAD has no body), and
# five connections at once ----
out=$(client -I "http://$VIP/big" -o /dev/null -w '%{http_code} %{num_connects} ' \
	--next -sS --max-time 30 -o "$T/got-big" "http://$VIP/big" -w '%{http_code} %{num_connects}')
assert_eq "200 1 200 0" "$out" "HEAD then GET on one connection"
assert_same_file "$T/www/big" "$T/got-big" "6 MiB body after a HEAD"
wait_log "$T/director.log" 'closed 0 requests 2 \[200 [0-9]+ [0-9]+ [0-9]+\] \[200 [0-9]+ 629[0-9]{4} ' 1
pids=()
for ((k = 0; k < 5; k++)); do
	client -o "$T/par-$k-a" "http://$VIP/mid" -o "$T/par-$k-b" "http://$VIP/big" &
	pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid" || fail "a parallel client failed"; done
for ((k = 0; k < 5; k++)); do
	cmp -s "$T/www/mid" "$T/par-$k-a" || fail "parallel client $k: 3 MiB body differs"
	cmp -s "$T/www/big" "$T/par-$k-b" || fail "parallel client $k: 6 MiB body differs"
done
wait_log "$T/director.log" 'handoff ok' 17
wait_log "$T/director.log" 'closed 0 requests 2 ' 17
assert_eq "17 0" "$(counters | jq -r '"\(.taken) \(.active)"')" "agent: 17 taken, none left active"
pass "five connections at once, handed off, every body exact"

# ---- 4. fallbacks: the client still succeeds, the director serves ----
fallback_case() {
	local what=$1 reason=$2 n tx0 tx1
	n=$(grep -c 'fallback' "$T/director.log" || true)
	tx0=$(tx_bytes)
	out=$(client -o "$T/got-small" "http://$VIP/small" -o "$T/got-mid" "http://$VIP/mid" \
		-w '%{http_code} ')
	tx1=$(tx_bytes)
	assert_eq "200 200 " "$out" "$what: the client succeeds"
	cmp -s "$T/www/mid" "$T/got-mid" || fail "$what: body differs"
	wait_log "$T/director.log" 'fallback' $((n + 1))
	line=$(grep 'fallback' "$T/director.log" | tail -n 1)
	assert_match ".*fallback $reason.*" "$line" "$what: the director fell back ($reason)"
	# the same counter sees the bodies when the director serves them
	(((tx1 - tx0) > 3 * 1024 * 1024)) || fail "$what: director tx only $((tx1 - tx0)) bytes"
	note "$what: director eth0 tx $((tx1 - tx0)) bytes for $((3 * 1024 * 1024 + 1000)) body bytes"
}
stop_agent
fallback_case "agent stopped" "agent connect: Connection refused"

start_agent "$T/key2"
fallback_case "wrong key" "channel closed by the agent"
wait_log "$T/agent.log" "handoff channel with $NET.2:[0-9]+: record refused: MAC mismatch" 1
assert_eq 1 "$(counters | jq -r .channel.bad_mac)" "agent counts the bad MAC"
stop_agent

start_agent "$T/key"
kill -STOP "$agent_pid"
fallback_case "agent slow" "READY timeout"
kill -CONT "$agent_pid"
sleep 0.5
c=$(counters)
assert_eq "0 1 0" "$(jq -r '"\(.taken) \(.aborted) \(.pending)"' <<<"$c")" \
	"the slow agent dropped what it restored (taken, aborted, pending)"

# after the fallbacks, a handoff works again
out=$(client -o "$T/got-big" "http://$VIP/big" -w '%{http_code}')
assert_eq 200 "$out" "handoff after the fallbacks"
assert_same_file "$T/www/big" "$T/got-big" "6 MiB body"
wait_log "$T/director.log" 'handoff ok' 18
stop_agent

# ---- 5. hand-back: the agent gives the connection back after each response, the director
# restores it and hands the next request off again (each request its own decision) ----
start_agent "$T/key" --handback
n0=$(grep -c 'handed back' "$T/director.log" || true)
tx0=$(tx_bytes)
out=$(client -o "$T/got-small" "http://$VIP/small" -o "$T/got-big" "http://$VIP/big" \
	-o "$T/got-mid" "http://$VIP/mid" -w '%{http_code} %{num_connects} ')
tx1=$(tx_bytes)
assert_eq "200 1 200 0 200 0 " "$out" "three GETs on one connection, handed back after each"
assert_same_file "$T/www/small" "$T/got-small" "small body"
assert_same_file "$T/www/big" "$T/got-big" "6 MiB body"
assert_same_file "$T/www/mid" "$T/got-mid" "3 MiB body"
# between the requests the connection went back twice; after the last response the client may
# close first (the agent then refuses its own hand-back and serves the close)
wait_log "$T/director.log" 'handed back' $((n0 + 2))
port=$(grep 'handed back' "$T/director.log" | tail -n 1 | cut -d' ' -f2)
wait_log "$T/director.log" "^conn $port closed " 3
assert_eq 3 "$(grep -c "^conn $port handoff ok" "$T/director.log")" \
	"the one client connection ($port) was handed off three times"
hb=$(grep -cE "^conn $port closed 7 requests 1 \[200 " "$T/director.log")
[[ $hb == [23] ]] || fail "CLOSED with reason handback: $hb, expected 2 or 3"
pass "$hb CLOSED with reason handback, one request each"
# after the last response the agent waits for the client's acknowledgements before it asks; a
# client that closes meanwhile is served its close (no ask), one that closes after the ask gets
# the agent's own refusal (handback_failed)
read -r n_hb n_hbf < <(counters | jq -r '"\(.handbacks) \(.handback_failed)"')
assert_eq "$hb" "$n_hb" "agent: hand-backs counted"
((n_hb + n_hbf <= 3)) || fail "agent: $n_hb hand-backs and $n_hbf refused by itself, more than the 3 responses"
pass "agent: $n_hb hand-backs, $n_hbf refused by itself after the last response (the client had closed)"
body=$((6 * 1024 * 1024 + 3 * 1024 * 1024 + 1000))
note "hand-back: director eth0 tx $((tx1 - tx0)) bytes while $body body bytes were served"
(((tx1 - tx0) * 100 < body)) || fail "director tx $((tx1 - tx0)) is not below 1% of $body"
pass "hand-back and hand-off again on one connection, director tx $((tx1 - tx0)) of $body bytes"
stop_agent

# nothing went wrong quietly at the director's side
if grep -E 'failed|without CLOSED|without a final state' "$T/director.log"; then
	fail "the director logged the failures above"
fi
pass "no failure in the director's log"
