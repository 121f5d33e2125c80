#!/bin/bash
# Faults with the real Ceph cluster behind s3lb:
#  - one radosgw stopped while s3lb runs: connections to it are refused, every request (GET and
#    PUT, from awscli) is served by the others, and the access log shows the retries;
#  - a radosgw killed mid-download: the client sees an aborted transfer, never a short 200;
#  - the killed node back: served again.
set -euo pipefail
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_ceph
need_cmd /usr/bin/aws awscli
cluster_up
export S3LB_EXTRA_POOLS='  - name: only3
    nodes:
      - { name: rgw3, addr: 127.0.0.13:8000 }'
export S3LB_EXTRA_ROUTES='      - { bucket: "fault3-*", pool: only3 }'
s3lb_up

T=$INTEG_TMP
ceph_dir=${S3LB_CEPH_DIR:-$S3LB_BUILD/integ-ceph}
cc() { "$S3LB_SRC/scripts/ceph-cluster" "$@" "$ceph_dir" >/dev/null; }
at_exit "$S3LB_SRC/scripts/ceph-cluster" rgw-start 2 "$ceph_dir"
at_exit "$S3LB_SRC/scripts/ceph-cluster" rgw-start 3 "$ceph_dir"

bucket=$(unique_bucket faults)
at_exit aws_s3 s3 rb --force "s3://$bucket"
must aws_s3 s3 mb "s3://$bucket" >/dev/null
make_file "$T/obj.bin" 300K

# ---- one node stopped: requests go to the others -------------------------------------------------
cc rgw-stop 2
if curl -s -o /dev/null "http://127.0.0.12:8000/"; then
	fail "rgw2 still answers after rgw-stop"
fi
for i in $(seq 1 12); do
	must aws_s3 s3 cp "$T/obj.bin" "s3://$bucket/k$i" --only-show-errors
done
for i in $(seq 1 12); do
	must aws_s3 s3 cp "s3://$bucket/k$i" "$T/back.bin" --only-show-errors
	assert_same_file "$T/obj.bin" "$T/back.bin" "GET k$i with rgw2 stopped"
done
pass "rgw2 stopped: 12 PUTs and 12 GETs through s3lb all succeeded, bodies identical"
sleep 0.2
retried=$(grep -c '"attempts":2' "$T/access.log" || true)
failed=$(grep -cE '"status":5[0-9][0-9]' "$T/access.log" || true)
[ "$failed" = 0 ] || fail "$failed requests answered 5xx with rgw2 stopped"
# rgw2 was avoided either by a retry (a request picked it before health marked it down) or by
# health (marked down before any request picked it): one of the two must show in the logs
if [ "$retried" -gt 0 ]; then
	grep -q 'upstream connection refused, node: rgw2' "$T/error.log" ||
		fail "requests were retried but the error log does not name rgw2: $(tail -3 "$T/error.log")"
	pass "access log: $retried requests retried on another node, none answered 5xx"
else
	grep -q 'node ceph/rgw2 .* is down' "$T/error.log" ||
		fail "no retry and no health transition for rgw2: $(tail -3 "$T/error.log")"
	pass "health marked rgw2 down before any request picked it; none answered 5xx"
fi
cc rgw-start 2

# ---- a node killed mid-response: the client sees an aborted transfer -----------------------------
big=fault3-$(date +%s)-$$
at_exit aws_s3 s3 rb --force "s3://$big"
must aws_s3 s3 mb "s3://$big" >/dev/null
make_file "$T/big.bin" 60M
must aws_s3 s3 cp "$T/big.bin" "s3://$big/big.bin" --only-show-errors
url=$(aws_s3 s3 presign "s3://$big/big.bin")
rc=0
curl -s --limit-rate 4M -o "$T/partial.bin" -w '%{http_code}' "$url" >"$T/code" 2>/dev/null &
cpid=$!
sleep 1.5
"$S3LB_SRC/scripts/ceph-cluster" rgw-kill 3 "$ceph_dir" >/dev/null
wait "$cpid" || rc=$?
got=$(size_of "$T/partial.bin")
[ "$rc" != 0 ] || fail "curl exited 0 after the node was killed mid-response ($got of 62914560 bytes)"
[ "$got" -lt 62914560 ] || fail "the whole body arrived although the node was killed"
pass "rgw3 killed mid-download: curl failed (exit $rc) after $got bytes: aborted, not a short 200"
grep -q '"node":"rgw3"' "$T/access.log" || fail "access log has no line for the aborted download"

# ---- the node back: served again -----------------------------------------------------------------
cc rgw-start 3
must aws_s3 s3 cp "s3://$big/big.bin" "$T/again.bin" --only-show-errors
assert_same_file "$T/big.bin" "$T/again.bin" "GET after rgw3 restarted"
pass "rgw3 restarted: the same object downloads whole and identical"
