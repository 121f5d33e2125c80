#!/bin/bash
# s3cmd through s3lb to Ceph RGW (SigV4, path style): mb, 15 MB multipart put (5 MB chunks), get with
# checksum, ls, info, del, rb.
# shellcheck disable=SC2119 # s3lb_up takes optional extra config lines
set -euo pipefail
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_ceph
need_cmd s3cmd s3cmd
cluster_up
s3lb_up

T=$INTEG_TMP
bucket=$(unique_bucket s3cmd)
cat >"$T/s3cfg" <<EOF
[default]
access_key = $S3LB_ACCESS_KEY
secret_key = $S3LB_SECRET_KEY
host_base = $S3LB_HOST:$S3LB_PORT
host_bucket = $S3LB_HOST:$S3LB_PORT
use_https = False
signature_v2 = False
bucket_location = us-east-1
multipart_chunk_size_mb = 5
enable_multipart = True
check_ssl_certificate = False
progress_meter = False
EOF
s3c() { s3cmd --no-progress -c "$T/s3cfg" "$@"; }
at_exit s3c rb --recursive --force "s3://$bucket"

must s3c mb "s3://$bucket" >/dev/null
out=$(must s3c ls)
assert_match "(.*[[:space:]])?s3://$bucket([[:space:]].*)?" "$(tr '\n' ' ' <<<"$out")" "mb: bucket listed by s3cmd ls"

# 15 MB -> three 5 MB parts.
make_file "$T/big.bin" 15M
printf 'small file for s3cmd\n' >"$T/small.txt"
must s3c put "$T/big.bin" "s3://$bucket/dir/big.bin" >/dev/null
assert_match '"[0-9a-f]{32}-3"' "$(must s3_etag "$bucket" dir/big.bin)" \
	"put 15 MB as a 3-part multipart upload (ETag -3)"
must s3c put "$T/small.txt" "s3://$bucket/small.txt" >/dev/null
pass "put small file"

must s3c get --force "s3://$bucket/dir/big.bin" "$T/big.got" >/dev/null
assert_same_file "$T/big.bin" "$T/big.got" "get 15 MB"
must s3c get --force "s3://$bucket/small.txt" "$T/small.got" >/dev/null
assert_same_file "$T/small.txt" "$T/small.got" "get small file"

# ls: exact object list with sizes.
out=$(must s3c ls --recursive "s3://$bucket")
got=$(awk '{ print $3, $4 }' <<<"$out" | sort)
want=$(printf '%s s3://%s/dir/big.bin\n%s s3://%s/small.txt\n' "$(size_of "$T/big.bin")" "$bucket" \
	"$(size_of "$T/small.txt")" "$bucket" | sort)
assert_eq "$want" "$got" "ls --recursive: keys and sizes"
out=$(must s3c ls "s3://$bucket")
assert_match ".*DIR[[:space:]]+s3://$bucket/dir/.*" "$(tr '\n' ' ' <<<"$out")" "ls: dir/ shown as a common prefix"

# info: the multipart ETag and the MD5 s3cmd stored in metadata.
out=$(must s3c info "s3://$bucket/dir/big.bin")
assert_match '.*MD5 sum:[[:space:]]+'"$(md5sum <"$T/big.bin" | cut -d' ' -f1)"'.*' "$(tr '\n' ' ' <<<"$out")" \
	"info: MD5 sum of the multipart object"

# del, then the object is gone.
must s3c del "s3://$bucket/dir/big.bin" >/dev/null
must s3c del "s3://$bucket/small.txt" >/dev/null
out=$(must s3c ls --recursive "s3://$bucket")
assert_eq "" "$out" "del: bucket empty afterwards"
must_fail '404|Not Found|NoSuchKey' s3c info "s3://$bucket/small.txt"
pass "info after del fails with 404"

must s3c rb "s3://$bucket" >/dev/null
out=$(must s3c ls)
if grep -q "s3://$bucket\$" <<<"$out"; then
	fail "rb: bucket $bucket still listed"
fi
pass "rb: bucket removed"
