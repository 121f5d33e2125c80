#!/bin/bash
# The handoff end to end with the real gateway as director (issue 12): s3lb in a director
# namespace (the VIP) hands a large GET's client connection to the node's `s3lb-node agent`,
# which answers from the VIP; the steering is s3lb's own nft table (handoff/steer) with the
# node's mark routed to the node by `ip rule fwmark`, as a DR forward. Namespaces as in
# test_handoff_agent.sh (client, director, node, a bridge).
# Checks: GETs at and above min_size handed off (agent counters, director tx far below the
# bodies, bodies byte-exact), a small GET and a PUT proxied, a kept-alive connection's GET
# handed off and its next request served by the node, the fallbacks with the client still
# served (agent stopped, wrong key, agent SIGSTOPped past the READY deadline), the access log's
# handoff field and the decision counters. Needs root (namespaces, nftables, TCP_REPAIR); else
# SKIPPED.
set -euo pipefail
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

[ -x "$S3LB_BIN" ] || fail "no $S3LB_BIN (build first)"

p=hog$$
NET=10.214.0
VIP=$NET.100
NODE_IP=$NET.3
T=$INTEG_TMP
# marked packets are routed to the node before the local table would take them (DR forward);
# s3lb marks a handed-off flow with its node's mark, derived: pool 1, node 1 -> 0x534c0101, in
# its own nft table (made at the first handoff)
handoff_steering() {
	handoff_route_mark 0x534c0101
	nsx dir nft list ruleset >/dev/null || skip "nftables unusable here"
}
# shellcheck source=tests/integ/handoff_ns.sh
. "$(dirname "$0")/handoff_ns.sh"

# objects are /bucket/key: bucket b
mkdir -p "$T/www/b"
for f in small mid big; do ln "$T/www/$f" "$T/www/b/$f"; done

# ---- the director: s3lb ----
cat >"$T/s3lb.yaml" <<EOF
admin: { listen: 127.0.0.1:9901 }
log: { level: info, access: $T/access.log, error: $T/s3lb.log }
drain_state: $T/drained
pools:
  - name: p
    health: { kind: none, passive: { failures: 0 } }
    handoff: { key_file: $T/key, ready_timeout: 200ms }
    nodes:
      - { name: n1, addr: $NODE_IP:8000 }
frontends:
  - name: s3
    listen: [$VIP:80]
    routes:
      - { pool: p, handoff: { min_size: 1MiB } }
workers: 1
EOF
ip netns exec "$p-dir" "$S3LB_BIN" run -c "$T/s3lb.yaml" >"$T/s3lb.out" 2>&1 &
lb_pid=$!
stop_lb() {
	[ -z "$lb_pid" ] || {
		kill "$lb_pid" 2>/dev/null || true
		wait "$lb_pid" 2>/dev/null || true
	}
	lb_pid=""
}
at_exit stop_lb
for ((i = 0; i < 100; i++)); do
	nsx dir bash -c "exec 3<>/dev/tcp/$VIP/80" 2>/dev/null && break
	sleep 0.05
done

counters() { nsx node curl -sS --max-time 5 http://127.0.0.1:9903/; }
tx_bytes() { nsx dir cat /sys/class/net/eth0/statistics/tx_bytes; }
metric() { nsx dir curl -sS --max-time 5 http://127.0.0.1:9901/metrics | awk -v m="$1" '$1 == m { print $2 }'; }
decisions() { metric "s3lb_handoff_decisions_total{pool=\"p\",reason=\"$1\"}"; }
fallbacks() { metric 's3lb_handoff_fallbacks_total{pool="p"}'; }
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
wait_log "$T/s3lb.log" "handoff agent p/n1 .*channel up" 1
pass "node S3 server, agent and s3lb (the director) up, the agent's channel up"

# ---- 1. sizes: HEADs teach the cache; a small GET is proxied ----
out=$(client -I -o /dev/null -w '%{http_code} ' "http://$VIP/b/big" --next -sS -I -o /dev/null \
	-w '%{http_code} ' "http://$VIP/b/mid" --next -sS -o "$T/got-small" -w '%{http_code}' \
	"http://$VIP/b/small")
assert_eq "200 200 200" "$out" "HEAD big, HEAD mid, GET small"
assert_same_file "$T/www/small" "$T/got-small" "small body (proxied)"
assert_eq "0 0" "$(counters | jq -r '"\(.taken) \(.requests)"')" "agent: nothing taken yet"
out=$(client -o "$T/got-small" -w '%{http_code}' "http://$VIP/b/small")
assert_eq 200 "$out" "GET small again"
assert_eq "1 0" "$(decisions small) $(counters | jq -r .taken)" "known small: proxied as small"
pass "HEADs of unknown objects and the small GETs proxied ($(decisions unknown_size) unknown_size, $(decisions small) small)"

# ---- 2. a handoff: a 6 MiB GET then a small one on the same kept-alive connection ----
tx0=$(tx_bytes)
out=$(client -o "$T/got-big" "http://$VIP/b/big" -o "$T/got-small" "http://$VIP/b/small" \
	-w '%{http_code} %{num_connects}\n')
tx1=$(tx_bytes)
assert_eq "200 1
200 0" "$out" "two GETs on one connection (status, new connections)"
assert_same_file "$T/www/big" "$T/got-big" "6 MiB body from the node"
assert_same_file "$T/www/small" "$T/got-small" "the next request's body, from the node"
c=$(counters)
assert_eq "1 2" "$(jq -r '"\(.taken) \(.requests)"' <<<"$c")" "agent: 1 connection taken, 2 requests"
body=$((6 * 1024 * 1024 + 1000))
dtx=$((tx1 - tx0))
note "director eth0 tx: $dtx bytes while $body body bytes were served"
((dtx * 100 < body)) || fail "director tx $dtx is not below 1% of $body"
pass "handed off: director tx $dtx of $body body bytes"
wait_log "$T/access.log" '"handoff":"ok"' 2
line=$(grep '"handoff":"ok"' "$T/access.log" | head -n 1)
assert_match '.*"method":"GET".*"key":"big".*"status":200.*"bytes_out":629[0-9]{4},.*"node":"n1".*"handoff":"ok".*' \
	"$line" "access log: the handed-off GET with the node's report"
assert_eq 1 "$(decisions ok)" "s3lb_handoff_decisions_total{reason=ok}"

# ---- 3. ten more connections (3 MiB each) ----
tx0=$(tx_bytes)
for ((k = 0; k < 10; k++)); do
	out=$(client -o "$T/got-mid" -w '%{http_code}' "http://$VIP/b/mid")
	[ "$out" = 200 ] || fail "connection $k: $out"
	cmp -s "$T/www/mid" "$T/got-mid" || fail "connection $k: 3 MiB body differs"
done
tx1=$(tx_bytes)
body=$((10 * 3 * 1024 * 1024))
dtx=$((tx1 - tx0))
assert_eq 11 "$(counters | jq -r .taken)" "agent: 11 taken"
note "director eth0 tx: $dtx bytes while $body body bytes were served (10 connections)"
((dtx * 100 < body)) || fail "director tx $dtx is not below 1% of $body"
pass "10 more connections handed off, director tx $dtx of $body bytes"

# ---- 4. a PUT is proxied (python's server answers 501 to PUT: the same through s3lb) ----
out=$(client -o /dev/null -w '%{http_code}' -X PUT --data-binary @"$T/www/small" "http://$VIP/b/put")
assert_eq 501 "$out" "PUT proxied (the node's own answer)"
assert_eq 11 "$(counters | jq -r .taken)" "agent: the PUT was not handed off"

# ---- 5. fallbacks: the client still gets its bytes, s3lb serves ----
fallback_case() {
	local what=$1 tx0 tx1
	tx0=$(tx_bytes)
	out=$(client -o "$T/got-mid" -w '%{http_code}' "http://$VIP/b/mid")
	tx1=$(tx_bytes)
	assert_eq 200 "$out" "$what: the client succeeds"
	cmp -s "$T/www/mid" "$T/got-mid" || fail "$what: body differs"
	(((tx1 - tx0) > 3 * 1024 * 1024)) || fail "$what: director tx only $((tx1 - tx0)) bytes"
	note "$what: director eth0 tx $((tx1 - tx0)) bytes for $((3 * 1024 * 1024)) body bytes"
}
stop_agent
wait_log "$T/s3lb.log" "handoff agent p/n1 .*channel ended" 1
fallback_case "agent stopped"
[ "$(decisions agent_down)" -ge 1 ] || fail "no agent_down decision"
pass "agent stopped: proxied as agent_down ($(decisions agent_down))"

start_agent "$T/key2"
wait_log "$T/s3lb.log" "handoff agent p/n1 .*channel up" 2
fb0=$(fallbacks)
fallback_case "wrong key"
wait_log "$T/agent.log" "record refused: MAC mismatch" 1
assert_eq $((fb0 + 1)) "$(fallbacks)" "wrong key: counted as a fallback"
wait_log "$T/s3lb.log" "handoff fell back to proxying: channel to the agent ended" 1
pass "wrong key: fell back, the client served"
stop_agent

start_agent "$T/key"
wait_log "$T/s3lb.log" "handoff agent p/n1 .*channel up" 3
kill -STOP "$agent_pid"
fallback_case "agent slow"
kill -CONT "$agent_pid"
wait_log "$T/s3lb.log" "handoff fell back to proxying: no READY within 200 ms" 1
sleep 0.5
c=$(counters)
assert_eq "0 1 0" "$(jq -r '"\(.taken) \(.aborted) \(.pending)"' <<<"$c")" \
	"the slow agent dropped what it restored (taken, aborted, pending)"

# after the fallbacks, a handoff works again
tx0=$(tx_bytes)
out=$(client -o "$T/got-big" "http://$VIP/b/big" -w '%{http_code}')
tx1=$(tx_bytes)
assert_eq 200 "$out" "handoff after the fallbacks"
assert_same_file "$T/www/big" "$T/got-big" "6 MiB body"
assert_eq 1 "$(counters | jq -r .taken)" "agent: taken"
note "after the fallbacks: director eth0 tx $((tx1 - tx0)) bytes for a 6 MiB body"
note "decisions: ok $(decisions ok), small $(decisions small), unknown_size $(decisions unknown_size), operation $(decisions operation), agent_down $(decisions agent_down); fallbacks $(fallbacks)"
stop_agent
stop_lb
if grep -q 'Sanitizer' "$T/s3lb.out"; then
	grep -A 20 'Sanitizer' "$T/s3lb.out" | head -n 40 >&2
	fail "s3lb's sanitizer report above"
fi
pass "s3lb stopped, no sanitizer report"
