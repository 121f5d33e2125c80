#!/bin/bash
# The s3 probe catches a node that answers HTTP but cannot serve data: with the Ceph OSD stopped
# (kill -STOP), radosgw still answers the http probe (GET /), while the s3 probe (a signed HEAD of
# a canary object) fails; pools probed with s3 mark the nodes down, pools probed with http do not.
# After kill -CONT the s3-probed nodes come back.
set -euo pipefail
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_ceph
cluster_up
ceph_dir=${S3LB_CEPH_DIR:-$S3LB_BUILD/integ-ceph}
canary=$(unique_bucket canary)
export S3LB_EXTRA_POOLS="  - name: deep
    health:
      kind: s3
      timeout: 500ms
      s3: { bucket: $canary, key: health/canary, access_key: $S3LB_ACCESS_KEY, secret_key: $S3LB_SECRET_KEY }
    nodes:
      - { name: rgw1, addr: 127.0.0.11:8000 }
      - { name: rgw2, addr: 127.0.0.12:8000 }
      - { name: rgw3, addr: 127.0.0.13:8000 }"
s3lb_up
T=$INTEG_TMP
admin=${S3LB_ADMIN#http://}
at_exit aws_s3 s3 rb --force "s3://$canary"
must aws_s3 s3 mb "s3://$canary" >/dev/null
printf 'canary\n' >"$T/canary"
must aws_s3 s3 cp "$T/canary" "s3://$canary/health/canary" --only-show-errors

# states POOL: "rgw1=up rgw2=up rgw3=up"
states() {
	"$S3LB_BIN" status --json -a "$admin" | python3 -c '
import json, sys
for p in json.load(sys.stdin)["pools"]:
    if p["name"] == sys.argv[1]:
        print(" ".join("%s=%s" % (n["name"], n["state"]) for n in p["nodes"]))' "$1"
}
wait_pool() { # POOL STATE LIMIT_S
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(states "$1")" = "rgw1=$2 rgw2=$2 rgw3=$2" ] && return 0
		sleep 0.1
	done
	fail "pool $1 not all $2 after $3 s: $(states "$1")"
}

wait_pool deep up 10
wait_pool ceph up 10
pass "canary in place: every node up in both pools"

osd=$(awk '$1 == "osd.0" { print $2 }' "$ceph_dir/pids")
grep -q ceph-osd "/proc/$osd/cmdline" || fail "osd.0 pid $osd is not a ceph-osd"
kill -STOP "$osd"
at_exit kill -CONT "$osd"
wait_pool deep down 10
pass "OSD stopped: the s3 probe marks every node of pool deep down ($(states deep))"
[ "$(states ceph)" = "rgw1=up rgw2=up rgw3=up" ] ||
	fail "the http probe should not see the OSD: pool ceph is $(states ceph)"
pass "the http probe still passes on the same nodes: pool ceph is $(states ceph)"
grep -q 'node deep/rgw1 .* is down: s3 probe' "$T/error.log" || fail "no s3 probe transition logged"
kill -CONT "$osd"
wait_pool deep up 15
pass "OSD resumed: pool deep back up ($(states deep))"
