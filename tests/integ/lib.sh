# shellcheck shell=bash
# Shared harness for the integration tests: source it from a test_*.sh script (which runs under
# `set -euo pipefail`), then typically:
#
#   need_ceph; need_cmd /usr/bin/aws awscli
#   cluster_up          # the one-host Ceph cluster (scripts/ceph-cluster), shared by all test files
#   s3lb_up             # s3lb in front of its three radosgw, on a free port; stopped at exit
#   aws_s3 s3api create-bucket --bucket "$bucket"
#
# Environment (ctest sets the first three):
#   S3LB_SRC        repository root
#   S3LB_BIN        the s3lb binary
#   S3LB_BUILD      build directory; the shared cluster lives in $S3LB_BUILD/integ-ceph
#   S3LB_CEPH_DIR   use this cluster directory instead (e.g. a running demo: <repo>/run/ceph)
#   S3LB_DIRECT=1   do not start s3lb; talk to radosgw gw1 (http://127.0.0.11:8000) directly
#   S3LB_ENDPOINT   do not start s3lb; test this endpoint (http://HOST:PORT)
#   S3LB_KEEP_TMP=1 keep the test's temp dir (it is always kept when the test fails)
#
# After s3lb_up: S3LB_ENDPOINT (http://HOST:PORT), S3LB_HOST and S3LB_PORT (where to connect),
# S3LB_ADMIN and S3LB_CONFIG (`s3lb drain NODE -c "$S3LB_CONFIG"` finds the listener and token),
# S3LB_DOMAIN (s3.local: virtual-hosted requests use Host: BUCKET.s3.local:PORT), S3LB_PID (the
# s3lb process, when s3lb_up started one), S3LB_ACCESS_KEY,
# S3LB_SECRET_KEY, and AWS_* variables for awscli/boto3 are exported.
# A failing command or assertion prints what went wrong and exits 1; exit 77 means SKIPPED.

S3LB_SRC=${S3LB_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
S3LB_BUILD=${S3LB_BUILD:-$S3LB_SRC/build}
S3LB_BIN=${S3LB_BIN:-$S3LB_BUILD/s3lb}
S3LB_DOMAIN=s3.local
S3LB_INTEG_NAME=${S3LB_INTEG_NAME:-$(basename "$0")}
AWS=/usr/bin/aws
export S3LB_SRC S3LB_BUILD S3LB_BIN S3LB_DOMAIN S3LB_INTEG_NAME

INTEG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/s3lb-integ.XXXXXX")
export INTEG_TMP
_integ_s3lb_pid=""
_integ_at_exit=()
_integ_t0=$SECONDS

# ---- reporting -----------------------------------------------------------------------------------

pass() { printf 'ok   %3ds %s\n' "$((SECONDS - _integ_t0))" "$*"; }
note() { printf '     %s\n' "$*"; }
fail() {
	printf 'FAIL %s: %s\n' "$S3LB_INTEG_NAME" "$*" >&2
	exit 1
}
skip() {
	printf 'SKIPPED: %s\n' "$*"
	exit 77
}

# Any command that fails outside a condition ends the test with exit 1 and says where.
_integ_err() {
	local rc=$? line=$1 cmd=$2
	printf 'FAIL %s: line %s: exit status %s: %s\n' "$S3LB_INTEG_NAME" "$line" "$rc" "$cmd" >&2
	exit 1
}
set -o errtrace
trap '_integ_err "$LINENO" "$BASH_COMMAND"' ERR

# at_exit CMD...: run CMD at exit (before s3lb is stopped), whatever the outcome; last added first.
at_exit() {
	local q
	printf -v q '%q ' "$@"
	_integ_at_exit+=("$q")
}

_integ_exit() {
	local rc=$? i
	trap - ERR
	set +e
	for ((i = ${#_integ_at_exit[@]} - 1; i >= 0; i--)); do
		eval "${_integ_at_exit[i]}" >/dev/null 2>&1
	done
	if [ -n "$_integ_s3lb_pid" ]; then
		if ! kill -0 "$_integ_s3lb_pid" 2>/dev/null; then
			printf 'FAIL %s: s3lb (pid %s) died during the test\n' "$S3LB_INTEG_NAME" "$_integ_s3lb_pid" >&2
			[ "$rc" = 0 ] && rc=1
		else
			_integ_stop_pid "$_integ_s3lb_pid"
		fi
		wait "$_integ_s3lb_pid" 2>/dev/null
	fi
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		_integ_show_log "$INTEG_TMP/s3lb.out"
		_integ_show_log "$INTEG_TMP/error.log"
		printf '%s: failed after %ss; files kept in %s\n' "$S3LB_INTEG_NAME" "$((SECONDS - _integ_t0))" "$INTEG_TMP" >&2
	elif [ "${S3LB_KEEP_TMP:-0}" = 1 ]; then
		printf '%s: files kept in %s\n' "$S3LB_INTEG_NAME" "$INTEG_TMP"
	else
		rm -rf -- "$INTEG_TMP"
	fi
	exit "$rc"
}
trap _integ_exit EXIT

_integ_show_log() {
	if [ -s "$1" ]; then
		printf -- '--- last lines of %s ---\n' "$1" >&2
		tail -n 30 "$1" >&2
	fi
}

# TERM, wait up to 10 s, then KILL; only the given PID (one we started).
_integ_stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	printf '%s: pid %s ignored SIGTERM for 10 s; killing it\n' "$S3LB_INTEG_NAME" "$pid" >&2
	kill -KILL "$pid" 2>/dev/null || true
}

# ---- assertions ----------------------------------------------------------------------------------

# assert_eq EXPECTED ACTUAL WHAT
assert_eq() {
	if [ "$1" != "$2" ]; then
		fail "$3: expected '$1', got '$2'"
	fi
	pass "$3"
}

# assert_match REGEX ACTUAL WHAT (extended regex, whole value)
assert_match() {
	if ! [[ $2 =~ ^($1)$ ]]; then
		fail "$3: '$2' does not match /$1/"
	fi
	pass "$3"
}

sha256_of() { sha256sum <"$1" | cut -d' ' -f1; }
size_of() { stat -c %s -- "$1"; }

# assert_same_file EXPECTED_FILE ACTUAL_FILE WHAT: same bytes (sha256), else says how they differ.
assert_same_file() {
	local want got
	[ -f "$2" ] || fail "$3: $2 does not exist"
	want=$(sha256_of "$1")
	got=$(sha256_of "$2")
	if [ "$want" != "$got" ]; then
		printf 'FAIL %s: %s: content differs\n  expected %s (%s bytes, sha256 %s)\n  got      %s (%s bytes, sha256 %s)\n' \
			"$S3LB_INTEG_NAME" "$3" "$1" "$(size_of "$1")" "$want" "$2" "$(size_of "$2")" "$got" >&2
		cmp -- "$1" "$2" 2>&1 | head -n 3 >&2 || true
		exit 1
	fi
	pass "$3 (sha256 ${got:0:16}..., $(size_of "$2") bytes)"
}

# must CMD...: run CMD; if it fails, print the command, its status and output, and fail.
# Its stdout is passed on; stderr is shown only on failure.
must() {
	local rc=0 err="$INTEG_TMP/must.err"
	"$@" 2>"$err" || rc=$?
	if [ "$rc" != 0 ]; then
		printf 'FAIL %s: command failed (exit %s): %s\n' "$S3LB_INTEG_NAME" "$rc" "$*" >&2
		_integ_show_log "$err"
		exit 1
	fi
}

# must_fail PATTERN CMD...: CMD must fail and its output must contain PATTERN (grep -E).
must_fail() {
	local pat=$1 rc=0 out="$INTEG_TMP/must_fail.out"
	shift
	"$@" >"$out" 2>&1 || rc=$?
	if [ "$rc" = 0 ]; then
		fail "expected failure matching /$pat/ but it succeeded: $*"
	fi
	if ! grep -qE -- "$pat" "$out"; then
		printf 'FAIL %s: %s failed (exit %s) but the output does not match /%s/:\n' \
			"$S3LB_INTEG_NAME" "$*" "$rc" "$pat" >&2
		cat "$out" >&2
		exit 1
	fi
}

# make_file PATH SIZE: random content of SIZE bytes (SIZE may use K/M suffixes as head -c does).
make_file() { head -c "$2" /dev/urandom >"$1"; }

# unique_bucket PREFIX: a fresh bucket name valid for S3 (lowercase, <= 63 chars).
unique_bucket() { printf '%s-%s-%s-%s' "$1" "$(date +%Y%m%d%H%M%S)" "$$" "$RANDOM"; }

# ---- prerequisites -------------------------------------------------------------------------------

need_ceph() {
	local b
	for b in radosgw ceph-mon ceph-osd; do
		command -v "$b" >/dev/null 2>&1 || skip "ceph not installed (radosgw/ceph-mon/ceph-osd missing)"
	done
	for b in monmaptool radosgw-admin ceph curl; do
		command -v "$b" >/dev/null 2>&1 || skip "$b not installed (needed to run the test cluster)"
	done
}

# need_cmd PROGRAM WHAT: skip when PROGRAM (a path or a name on PATH) is missing. PROGRAM must be
# declared in tests/needs (what scripts/install-deps installs and test_fresh_root checks): a test
# that needs an undeclared program fails, so that no skip can hide a missing install step.
need_cmd() {
	grep -qE "^cmd +${1##*/} " "$S3LB_SRC/tests/needs" ||
		fail "need_cmd ${1##*/}: not declared in tests/needs (add it there and to scripts/install-deps)"
	if [ -x "$1" ] || command -v "$1" >/dev/null 2>&1; then
		return 0
	fi
	skip "$2 not installed ($1 missing)"
}

# ---- the Ceph cluster ----------------------------------------------------------------------------

# cluster_up: start (or reuse) the shared cluster and export its settings.
cluster_up() {
	local out="$INTEG_TMP/cluster-start.log"
	S3LB_CEPH_DIR=${S3LB_CEPH_DIR:-$S3LB_BUILD/integ-ceph}
	export S3LB_CEPH_DIR
	if ! "$S3LB_SRC/scripts/ceph-cluster" start "$S3LB_CEPH_DIR" >"$out" 2>&1; then
		cat "$out" >&2
		fail "could not start the Ceph cluster in $S3LB_CEPH_DIR" \
			"(if another cluster serves 127.0.0.11-13:8000, point S3LB_CEPH_DIR at its directory)"
	fi
	sed 's/^/     /' "$out"
	# shellcheck source=/dev/null
	. "$S3LB_CEPH_DIR/env"
	S3LB_ACCESS_KEY=$S3LB_DEMO_ACCESS_KEY
	S3LB_SECRET_KEY=$S3LB_DEMO_SECRET_KEY
	export S3LB_ACCESS_KEY S3LB_SECRET_KEY
	_integ_aws_env
}

# awscli and boto3: fixed credentials, us-east-1, path style, nothing from ~/.aws.
_integ_aws_env() {
	printf '[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n' >"$INTEG_TMP/aws-config"
	export AWS_CONFIG_FILE="$INTEG_TMP/aws-config"
	export AWS_SHARED_CREDENTIALS_FILE=/dev/null
	export AWS_ACCESS_KEY_ID="$S3LB_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$S3LB_SECRET_KEY"
	export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_PAGER=""
	unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_SECURITY_TOKEN AWS_ENDPOINT_URL
}

# ---- s3lb ----------------------------------------------------------------------------------------

port_free() { [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }

# free_port FIRST: the first port >= FIRST nobody listens on (and we have not handed out).
_integ_ports_taken=" "
free_port() {
	local p=$1
	while ! port_free "$p" || [[ $_integ_ports_taken == *" $p "* ]]; do
		p=$((p + 1))
		((p < $1 + 500)) || fail "no free port in $1..$p"
	done
	_integ_ports_taken="$_integ_ports_taken$p "
	echo "$p"
}

tcp_answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# s3lb_config FILE PORT ADMIN_PORT [EXTRA_YAML...]: the test config; extra lines are appended.
# S3LB_EXTRA_POOLS (YAML lines) adds pools after "ceph"; S3LB_EXTRA_ROUTES adds routes before the
# default one. The admin token (for drain) is in FILE's directory, admin.token (mode 0600).
# Workers: S3LB_TEST_WORKERS, else 2 (every suite runs with connections on more than one loop).
s3lb_config() {
	local file=$1 port=$2 admin=$3 line
	shift 3
	(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$(dirname "$file")/admin.token")
	cat >"$file" <<EOF
admin: { listen: 127.0.0.1:$admin, token_file: $(dirname "$file")/admin.token }
log: { level: info, access: $INTEG_TMP/access.log, error: $INTEG_TMP/error.log }
workers: ${S3LB_TEST_WORKERS:-2}
drain_state: $INTEG_TMP/drained
pools:
  - name: ceph
    balance: round-robin
    nodes:
      - { name: rgw1, addr: 127.0.0.11:8000 }
      - { name: rgw2, addr: 127.0.0.12:8000 }
      - { name: rgw3, addr: 127.0.0.13:8000 }
${S3LB_EXTRA_POOLS:-}
frontends:
  - name: s3
    listen: [127.0.0.1:$port]
    domains: [$S3LB_DOMAIN]
    routes:
${S3LB_EXTRA_ROUTES:-}
      - { pool: ceph }
EOF
	for line in "$@"; do
		printf '%s\n' "$line" >>"$file"
	done
}

# s3lb_up [EXTRA_YAML...]: start s3lb (or, with S3LB_DIRECT=1 / S3LB_ENDPOINT, use that endpoint)
# and export S3LB_ENDPOINT, S3LB_HOST, S3LB_PORT.
s3lb_up() {
	local port admin i
	if [ -n "${S3LB_ENDPOINT:-}" ]; then
		S3LB_HOST=${S3LB_ENDPOINT#*://}
		S3LB_HOST=${S3LB_HOST%%/*}
		S3LB_PORT=${S3LB_HOST##*:}
		S3LB_HOST=${S3LB_HOST%:*}
		note "testing the given endpoint $S3LB_ENDPOINT"
	elif [ "${S3LB_DIRECT:-0}" = 1 ]; then
		S3LB_HOST=127.0.0.11
		S3LB_PORT=8000
		S3LB_ENDPOINT="http://$S3LB_HOST:$S3LB_PORT"
		note "S3LB_DIRECT=1: testing radosgw gw1 directly at $S3LB_ENDPOINT (no s3lb)"
	else
		[ -x "$S3LB_BIN" ] || fail "s3lb binary not found: S3LB_BIN=$S3LB_BIN (build it, or set S3LB_DIRECT=1)"
		port=$(free_port 18080)
		admin=$(free_port 19901)
		s3lb_config "$INTEG_TMP/s3lb.yaml" "$port" "$admin" "$@"
		"$S3LB_BIN" run -c "$INTEG_TMP/s3lb.yaml" </dev/null >"$INTEG_TMP/s3lb.out" 2>&1 &
		_integ_s3lb_pid=$!
		for ((i = 0; ; i++)); do
			tcp_answers 127.0.0.1 "$port" && break
			if ! kill -0 "$_integ_s3lb_pid" 2>/dev/null; then
				i=0
				wait "$_integ_s3lb_pid" 2>/dev/null || i=$?
				_integ_s3lb_pid=""
				_integ_show_log "$INTEG_TMP/s3lb.out"
				fail "s3lb exited (status $i) before listening on 127.0.0.1:$port; config $INTEG_TMP/s3lb.yaml"
			fi
			((i < 150)) || fail "s3lb did not listen on 127.0.0.1:$port within 15 s"
			sleep 0.1
		done
		S3LB_HOST=127.0.0.1
		S3LB_PORT=$port
		S3LB_ADMIN="http://127.0.0.1:$admin"
		S3LB_CONFIG=$INTEG_TMP/s3lb.yaml
		S3LB_ENDPOINT="http://$S3LB_HOST:$S3LB_PORT"
		S3LB_PID=$_integ_s3lb_pid
		export S3LB_ADMIN S3LB_CONFIG S3LB_PID
		note "s3lb (pid $_integ_s3lb_pid) on $S3LB_ENDPOINT, admin $S3LB_ADMIN, files in $INTEG_TMP"
	fi
	export S3LB_ENDPOINT S3LB_HOST S3LB_PORT
}

# ---- clients -------------------------------------------------------------------------------------

# s3_curl METHOD PATH [CURL_ARGS...]: a SigV4-signed request with curl to $S3LB_ENDPOINT/PATH
# (PATH percent-encoded, without the leading slash). Prints the body; -I etc. work as usual.
s3_curl() {
	local method=$1 path=$2
	shift 2
	curl -sS -X "$method" --aws-sigv4 aws:amz:us-east-1:s3 --user "$S3LB_ACCESS_KEY:$S3LB_SECRET_KEY" \
		-H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" "$S3LB_ENDPOINT/$path"
}

# s3_etag BUCKET KEY: the object's ETag (with quotes) from a signed HEAD.
s3_etag() {
	s3_curl HEAD "$1/$2" -I -f | tr -d '\r' | awk 'tolower($1) == "etag:" { print $2 }'
}

# aws_s3 ARGS...: Debian's awscli v2 against the endpoint under test (e.g. aws_s3 s3api list-buckets).
aws_s3() { "$AWS" --endpoint-url "$S3LB_ENDPOINT" --no-cli-pager "$@"; }
