#!/bin/bash
# bench/harness end to end, in its --quick form (short rounds, fewer connections): it starts the
# static backend, reuses the test Ceph cluster, starts s3lb (the binary under test), HAProxy and
# nginx, runs every cell of the matrix through every target, s3lb-bench against wrk, and the
# memory rounds, then writes the report. Checked: the harness exits 0 (it fails on any error of
# any request, any failed memory round); every cell has figures for every target with zero errors
# and every proxy's CPU was seen; the memory rounds held every connection; the report has every
# section and the plots are PNG files. No figure is judged here: the report's goals are for the
# full run (docs/benchmarks.md).
set -euo pipefail
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_ceph
export PATH=$PATH:/usr/sbin
for c in nginx haproxy gnuplot wrk jq; do need_cmd "$c" "$c"; done
[ -x "$S3LB_BUILD/bench/s3lb-bench" ] || fail "s3lb-bench not built in $S3LB_BUILD"
cluster_up
[ "$(ulimit -Hn)" -ge 1200 ] || skip "the descriptor limit $(ulimit -Hn) is below the 1,200 the memory rounds need"

out=$INTEG_TMP/harness
rc=0
S3LB_CEPH_DIR=$S3LB_CEPH_DIR "$S3LB_SRC/bench/harness" --quick --conc "1 8" --idle 500 --slow 50 \
	--bin "$S3LB_BUILD" --out "$out" >"$INTEG_TMP/harness.out" 2>&1 || rc=$?
grep '^harness:' "$INTEG_TMP/harness.out" | sed 's/^/     /'
[ "$rc" -eq 0 ] || {
	tail -40 "$INTEG_TMP/harness.out" >&2
	fail "bench/harness exited with $rc"
}
pass "bench/harness --quick ran the whole matrix (exit 0)"

targets="direct s3lb haproxy haproxy_splice nginx"
for cell in get4k get1m get64m put1m mixed; do
	for c in 1 8; do
		j=$out/cells/$cell-c$c.json
		[ -s "$j" ] || fail "$cell c=$c: no JSON report"
		assert_eq true "$(jq -r .passed "$j")" "$cell c=$c: passed"
		assert_eq 0 "$(jq -r .errors "$j")" "$cell c=$c: errors"
		assert_eq "$targets" "$(jq -r '[.targets[].name] | join(" ")' "$j")" "$cell c=$c: targets"
		for t in $targets; do
			bytes=$(jq -r --arg t "$t" '.targets[] | select(.name == $t) | .ops.total.bytes' "$j")
			[ "$bytes" -gt 0 ] || fail "$cell c=$c: $t moved no bytes"
			[ "$t" = direct ] && continue
			cpu=$(jq -r --arg t "$t" '.targets[] | select(.name == $t) | .processes[] | select(.name == $t) | .cpu_s' "$j")
			awk -v v="$cpu" 'BEGIN { exit !(v > 0) }' || fail "$cell c=$c: no CPU seen for $t ($cpu)"
		done
	done
done
pass "5 cells x 2 concurrencies x 5 targets: every one moved bytes with 0 errors, every proxy's CPU seen"

for c in 16 64; do
	grep -q 'Requests/sec' "$out/cells/wrk-c$c-r1.txt" || fail "wrk c=$c: no result"
	assert_eq 0 "$(jq -r .errors "$out/cells/wrkpeer-c$c-r1.json")" "s3lb-bench beside wrk c=$c: errors"
done
pass "s3lb-bench against wrk at 16 and 64 connections"

for p in s3lb haproxy nginx; do
	assert_eq 500 "$(jq -r .still_open "$out/mem/$p-idle.json")" "$p: idle connections still open"
	assert_eq 0 "$(jq -r .cut_off "$out/mem/$p-slow.json")" "$p: slow readers cut off"
	got=$(jq -r .body_bytes_min "$out/mem/$p-slow.json")
	[ "$got" -gt 0 ] || fail "$p: a slow reader got no body byte"
	note "$p: RSS $(jq -r '.rss_peak_kib / 1024 | floor' "$out/mem/$p-idle.json") MiB with 500 idle," \
		"$(jq -r '.rss_peak_kib / 1024 | floor' "$out/mem/$p-slow.json") MiB with 50 slow readers"
done
pass "memory rounds: 500 idle connections held, 50 slow readers served, for each proxy"

for h in "## Goals" "## GET 4 KiB" "## GET 1 MiB" "## GET 64 MiB" "## PUT 1 MiB" "## mixed" \
	"## s3lb-bench against wrk" "## Memory" "## Plots"; do
	grep -q "^$h" "$out/report.md" || fail "report.md lacks '$h'"
done
for png in plot-get4k plot-get1m plot-get64m plot-put1m plot-mixed plot-cpu; do
	[ "$(head -c 8 "$out/$png.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] ||
		fail "$png.png is not a PNG"
done
pass "report.md has every section; 6 PNG plots"
