#!/bin/bash
# The DR round tool (bench/dr-round --quick, issue 5) end to end: it boots the VM itself, runs the
# GET matrix through the DR VIP and through s3lb's proxy path, and writes its report and the
# s3lb-bench JSON files to a directory on the host (through --share). Here, on the host, we check
# what it wrote: no request failed; every cell has GETs that ended inside the windows on both
# paths; for 1 MiB and 64 MiB objects the director's interface transmits < 5% of the body bytes on
# the DR path and >= 100% on the proxy path.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

[ "${S3LB_VM:-}" = 1 ] && fail "runs on the host (bench/dr-round starts the VM)"
need_cmd jq jq
out=$(mktemp -d "$S3LB_BUILD/test-vm-bench-dr.XXXXXX") # kept when the test fails
rc=0
"$S3LB_SRC/bench/dr-round" --quick --out "$out" --timeout 420 >"$out/console.log" 2>&1 || rc=$?
grep -E '^(ok|FAIL|SKIPPED)' "$out/console.log" | sed 's/^/     dr-round: /' || true
[ $rc = 77 ] && skip "$(grep -m1 '^SKIPPED' "$out/console.log" || echo "bench/dr-round skipped")"
[ $rc = 0 ] || fail "bench/dr-round --quick: exit status $rc: $(tail -n 30 "$out/console.log")"
[ -s "$out/report.md" ] || fail "no report.md in $out"
pass "bench/dr-round --quick: exit status 0, report written ($(grep -c '^| [0-9]' "$out/report.md") rows)"

cells=("$out"/*-c*.json)
[ ${#cells[@]} -ge 5 ] || fail "want >= 5 cells (4KiB, 1MiB at conc 1, 16; 64MiB at 1), got ${#cells[@]}"
for f in "${cells[@]}"; do
	cell=$(basename "$f" .json)
	# errors of every phase of both targets, and the report's own verdict
	[ "$(jq '.errors' "$f")" = 0 ] && [ "$(jq '.passed' "$f")" = true ] ||
		fail "$cell: errors: $(grep -A1 errors "$out/$cell.txt" | head -n 6) (in $out)"
	for path in proxy dr; do
		n=$(jq --arg p "$path" '.targets[] | select(.name == $p) | .ops.total.ops' "$f")
		[ "${n:-0}" -gt 0 ] || fail "$cell: no GET ended inside the windows on the $path path (in $out)"
	done
	size=$(jq -r '.workload.size' "$f")
	case $size in 1MiB | 64MiB) ;; *) continue ;; esac
	# shellcheck disable=SC2016 # jq's
	read -r dtx dbody ptx pbody < <(jq -r '[(.targets[] | select(.name == "dr") | .net[0] | .tx_bytes, .body_bytes),
		(.targets[] | select(.name == "proxy") | .net[0] | .tx_bytes, .body_bytes)] | @tsv' "$f")
	[ "$dbody" -gt 0 ] && [ "$pbody" -gt 0 ] || fail "$cell: no body bytes counted ($dbody, $pbody)"
	[ $((dtx * 20)) -lt "$dbody" ] || fail "$cell: DR path: the director sent $dtx bytes for $dbody body bytes (want < 5%)"
	[ "$ptx" -ge "$pbody" ] || fail "$cell: proxy path: the director sent $ptx bytes for $pbody body bytes (want >= 100%)"
	pass "$cell: director tx per body byte: DR $(awk -v a="$dtx" -v b="$dbody" 'BEGIN { printf "%.4f", a / b }'), proxy $(awk -v a="$ptx" -v b="$pbody" 'BEGIN { printf "%.4f", a / b }')"
done
pass "${#cells[@]} cells: zero errors, GETs on both paths in every cell"
grep '^|' "$out/report.md" | sed 's/^/     /'
rm -rf "$out"
