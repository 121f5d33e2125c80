#!/bin/bash
# s3lb-bench through s3lb to Ceph RGW:
#  - a 5-second mixed workload (warp's 45% GET / 30% HEAD / 15% PUT / 10% DELETE) with every GET
#    body verified must end with zero errors (read from its --json report), and clean up after
#    itself (the bucket it created is gone);
#  - the other request forms once: virtual-hosted and presigned, LIST, multipart, Range GETs;
#  - verification works end to end: an object overwritten behind the bench's back is reported as
#    "verify" errors and the exit status is 1.
# shellcheck disable=SC2119 # s3lb_up takes optional extra config lines
set -euo pipefail
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_ceph
need_cmd /usr/bin/aws awscli
need_cmd jq jq
BENCH=${S3LB_BENCH:-$S3LB_BUILD/bench/s3lb-bench}
[ -x "$BENCH" ] || fail "s3lb-bench not found: $BENCH (build it, or set S3LB_BENCH)"
cluster_up
s3lb_up

T=$INTEG_TMP

# bench NAME ARGS...: runs s3lb-bench against s3lb with the demo credentials; its output goes to
# $T/NAME.out and its JSON report to $T/NAME.json; the exit status is kept in $T/NAME.rc.
bench() {
	local name=$1 rc=0
	shift
	"$BENCH" -e "$S3LB_ENDPOINT" --access-key "$S3LB_ACCESS_KEY" --secret-key "$S3LB_SECRET_KEY" \
		--json "$T/$name.json" "$@" >"$T/$name.out" 2>&1 || rc=$?
	echo "$rc" >"$T/$name.rc"
}

# json NAME FILTER: a value from a run's JSON report.
json() { jq -r "$2" "$T/$1.json"; }

show() {
	sed 's/^/     /' "$T/$1.out" | grep -v '^\s*\[' || true
}

# 1. The mixed workload.
bucket=$(unique_bucket bench)
at_exit aws_s3 s3 rb "s3://$bucket" --force
bench mixed --bucket "$bucket" -w mixed --mix get=45,head=30,put=15,delete=10 \
	-s 1KiB..256KiB -n 200 -c 16 -d 5s --warmup 1s
show mixed
assert_eq 0 "$(cat "$T/mixed.rc")" "mixed: exit status"
assert_eq 0 "$(json mixed .errors)" "mixed: errors (measured, warm-up, prepare, cleanup)"
assert_eq true "$(json mixed .passed)" "mixed: passed"
for op in get head put delete; do
	n=$(json mixed ".targets[0].ops.$op.ops")
	assert_match '[1-9][0-9]*' "$n" "mixed: $op operations ran"
done
assert_match '[1-9][0-9]*' "$(json mixed '.targets[0].ops.get.bytes')" "mixed: GET bytes were counted"
assert_eq 200 "$(json mixed '.targets[0].prepared')" "mixed: 200 objects prepared"
p99=$(json mixed '.targets[0].ops.total.latency_ms.p99')
assert_match '[0-9.]+(e[-+]?[0-9]+)?' "$p99" "mixed: p99 latency reported ($p99 ms)"
if aws_s3 s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
	fail "mixed: the bucket $bucket is still there after the run"
fi
pass "mixed: the bucket the bench created is gone"
grep -q "\"$bucket\",\"key\":\"s3lb-bench/o00000" "$T/access.log" ||
	fail "mixed: no object request of the bench in s3lb's access log"
pass "mixed: requests went through s3lb (access log)"

# 2. Virtual-hosted and presigned; list, multipart and Range GETs (short, small).
bucket=$(unique_bucket bench-forms)
at_exit aws_s3 s3 rb "s3://$bucket" --force
bench forms --bucket "$bucket" --virtual-host "$S3LB_DOMAIN" --presign -w mixed \
	--mix get=6,list=1,multipart=1 -s 5MiB..9MiB --part-size 5MiB --range 100KiB -n 4 -c 2 \
	-d 3s --warmup 0s
show forms
assert_eq 0 "$(cat "$T/forms.rc")" "forms: exit status"
assert_eq 0 "$(json forms .errors)" "forms: errors"
assert_eq virtual-hosted "$(json forms .workload.addressing)" "forms: virtual-hosted addressing"
assert_eq presigned "$(json forms .workload.auth)" "forms: presigned URLs"
assert_match '[1-9][0-9]*' "$(json forms '.targets[0].ops.get.ops')" "forms: Range GETs ran"
assert_match '[1-9][0-9]*' "$(json forms '.targets[0].ops.list.ops')" "forms: LIST ran"
mp=$(json forms '.targets[0].ops.multipart.ops // 0')
assert_match '[0-9]+' "$mp" "forms: multipart uploads ($mp in the window)"
grep -q "\"host\":\"$bucket.$S3LB_DOMAIN" "$T/access.log" 2>/dev/null ||
	grep -q "\"bucket\":\"$bucket\"" "$T/access.log" ||
	fail "forms: no request for $bucket in s3lb's access log"
pass "forms: virtual-hosted requests routed to the bucket"
# Operations in flight at the end finish before the cleanup: no upload is left open, so the
# bucket can be deleted (RGW refuses a bucket with open multipart uploads).
if aws_s3 s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
	fail "forms: the bucket $bucket is still there after the run"
fi
pass "forms: cleanup removed the bucket (no multipart upload left open)"

# 3. Verification: three objects kept, one overwritten with other bytes of the same size.
bucket=$(unique_bucket bench-verify)
at_exit aws_s3 s3 rb "s3://$bucket" --force
bench keep --bucket "$bucket" -w get -n 3 -c 1 -d 1s --warmup 0s --keep
assert_eq 0 "$(cat "$T/keep.rc")" "verify: the objects were written and read back"
make_file "$T/other.bin" 4096
must aws_s3 s3 cp --only-show-errors "$T/other.bin" "s3://$bucket/s3lb-bench/o00000001"
bench verify --bucket "$bucket" -w get -n 3 -c 2 -d 2s --warmup 0s --no-prepare --keep
show verify
assert_eq 1 "$(cat "$T/verify.rc")" "verify: exit status 1 with errors"
v=$(json verify '.targets[0].ops.get.errors_by_kind.verify // 0')
assert_match '[1-9][0-9]*' "$v" "verify: $v GETs of the overwritten object reported as verify errors"
assert_match '.*s3lb-bench/o00000001: wrong content at offset [0-9]+.*' \
	"$(json verify '.targets[0].ops.get.first_error')" "verify: the first error names the object"
grep -q 'errors, get: verify x' "$T/verify.out" || fail "verify: the table does not show the errors"
pass "verify: the text report shows the errors by kind"
