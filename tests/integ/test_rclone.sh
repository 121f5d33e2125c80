#!/bin/bash
# rclone (provider Ceph, path style) through s3lb to Ceph RGW: mkdir, copy a tree of mixed sizes
# (1 KB .. 20 MB, multipart above 5 MB), check (hashes and a full download), ls, delete, rmdir.
# rclone refuses S3 remotes while AWS_CA_BUNDLE is set, so it runs with `env -u AWS_CA_BUNDLE`.
# shellcheck disable=SC2119 # s3lb_up takes optional extra config lines
set -euo pipefail
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

need_ceph
need_cmd rclone rclone
cluster_up
s3lb_up

T=$INTEG_TMP
bucket=$(unique_bucket rclone)
cat >"$T/rclone.conf" <<EOF
[s3lb]
type = s3
provider = Ceph
access_key_id = $S3LB_ACCESS_KEY
secret_access_key = $S3LB_SECRET_KEY
endpoint = $S3LB_ENDPOINT
region = us-east-1
force_path_style = true
EOF
rcl() {
	env -u AWS_CA_BUNDLE -u RCLONE_CONFIG rclone --config "$T/rclone.conf" --retries 1 \
		--low-level-retries 1 --s3-upload-cutoff 5M --s3-chunk-size 5M "$@"
}
at_exit rcl purge "s3lb:$bucket"

# A tree of mixed sizes, names with spaces and unicode, one empty file.
src=$T/src
mkdir -p "$src/sub dir/deeper" "$src/ünï"
make_file "$src/1k.bin" 1K
make_file "$src/10k.bin" 10K
make_file "$src/sub dir/100k.bin" 100K
make_file "$src/sub dir/1m.bin" 1M
make_file "$src/sub dir/deeper/5m+1.bin" 5242881
make_file "$src/ünï/12m.bin" 12M
make_file "$src/20m.bin" 20M
: >"$src/empty.txt"
printf 'plain text\n' >"$src/ünï/naïve file.txt"

must rcl mkdir "s3lb:$bucket"
out=$(must rcl lsd s3lb:)
assert_match "(.*[[:space:]])?$bucket([[:space:]].*)?" "$(tr '\n' ' ' <<<"$out")" "mkdir: bucket listed by rclone lsd"

must rcl copy "$src" "s3lb:$bucket/data"
pass "copy the tree ($(find "$src" -type f | wc -l) files, $(du -sb "$src" | cut -f1) bytes)"
assert_match '"[0-9a-f]{32}-4"' "$(must s3_etag "$bucket" data/20m.bin)" "20 MB went multipart (4 x 5 MiB parts)"

# ls: every file with its size.
(cd "$src" && find . -type f -printf '%s %P\n' | sort) >"$T/ls.want"
must rcl ls "s3lb:$bucket/data" | sed 's/^ *//' | sort >"$T/ls.got"
if ! cmp -s "$T/ls.want" "$T/ls.got"; then
	diff "$T/ls.want" "$T/ls.got" >&2 || true
	fail "rclone ls differs from the source tree"
fi
pass "ls: names and sizes match the source tree"

# check: MD5s (ETag for single-part objects, rclone's stored md5 for multipart ones), then a full
# download comparison, then a copy back compared with md5sum.
must rcl check "$src" "s3lb:$bucket/data" 2>"$T/check.log"
pass "rclone check (hashes)"
must rcl check --download "$src" "s3lb:$bucket/data" 2>"$T/check-download.log"
pass "rclone check --download (content)"
must rcl copy "s3lb:$bucket/data" "$T/back"
(cd "$src" && find . -type f -print0 | sort -z | xargs -0 md5sum) >"$T/md5.want"
(cd "$T/back" && find . -type f -print0 | sort -z | xargs -0 md5sum) >"$T/md5.got"
if ! cmp -s "$T/md5.want" "$T/md5.got"; then
	diff "$T/md5.want" "$T/md5.got" >&2 || true
	fail "copied-back tree differs from the source (md5sum)"
fi
pass "copy back: md5sum of every file matches ($(wc -l <"$T/md5.got") files)"
rcl cat "s3lb:$bucket/data/20m.bin" --offset 1000 --count 1000 >"$T/range.got"
dd if="$src/20m.bin" of="$T/range.want" bs=1000 skip=1 count=1 status=none
assert_same_file "$T/range.want" "$T/range.got" "rclone cat --offset 1000 --count 1000 (Range GET)"

# delete, rmdir.
must rcl delete "s3lb:$bucket/data"
out=$(must rcl ls "s3lb:$bucket")
assert_eq "" "$out" "delete: nothing left in the bucket"
must rcl rmdir "s3lb:$bucket"
out=$(must rcl lsd s3lb:)
if grep -qE "[[:space:]]$bucket\$" <<<"$out"; then
	fail "rmdir: bucket $bucket still listed"
fi
pass "rmdir: bucket removed"
