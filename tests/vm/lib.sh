# shellcheck shell=bash
# Shared harness for the VM tests: every tests/vm/test_vm_*.sh is one ctest test (label vm) that
# re-runs itself inside a throw-away VM booting Debian's own kernel (tests/vm/run). Typically:
#
#   set -euo pipefail
#   . "$(dirname "$0")/lib.sh"
#   vm_enter --timeout 600 -- "$@"     # host: prepare + boot + run this script in the guest, exit
#   # ... from here on we are root in the guest: IPVS, veth, namespaces, sysctls are all ours
#   need_cmd ipvsadm ipvsadm
#   ns_add client director node1
#   ns director ipvsadm -Ln
#
# Environment: S3LB_SRC, S3LB_BIN, S3LB_BUILD (ctest sets them; every S3LB_* reaches the guest),
# S3LB_VM_CACHE (tests/vm/prepare), S3LB_VM=1 inside the guest.
# In the guest the host's files are read-only and /tmp, /run are fresh tmpfs: write under $VM_TMP.
# A failing command or assertion prints what went wrong and exits 1; exit 77 means SKIPPED.

S3LB_SRC=${S3LB_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
S3LB_BUILD=${S3LB_BUILD:-$S3LB_SRC/build}
S3LB_BIN=${S3LB_BIN:-$S3LB_BUILD/s3lb}
S3LB_VM_NAME=${S3LB_VM_NAME:-$(basename "$0")}
export S3LB_SRC S3LB_BUILD S3LB_BIN S3LB_VM_NAME
_vm_t0=$SECONDS

# ---- reporting (the same format as tests/integ/lib.sh) -------------------------------------------

pass() { printf 'ok   %3ds %s\n' "$((SECONDS - _vm_t0))" "$*"; }
note() { printf '     %s\n' "$*"; }
fail() {
	printf 'FAIL %s: %s\n' "$S3LB_VM_NAME" "$*" >&2
	exit 1
}
skip() {
	printf 'SKIPPED: %s\n' "$*"
	exit 77
}
_vm_err() {
	local rc=$? line=$1 cmd=$2
	printf 'FAIL %s: line %s: exit status %s: %s\n' "$S3LB_VM_NAME" "$line" "$rc" "$cmd" >&2
	exit 1
}
set -o errtrace
trap '_vm_err "$LINENO" "$BASH_COMMAND"' ERR

# need_cmd CMD PACKAGE: skip the test when CMD is missing (inside the guest: missing on the host).
# CMD must be declared in tests/needs (see tests/integ/lib.sh's need_cmd): an undeclared one fails.
need_cmd() {
	grep -qE "^cmd +$1 " "$S3LB_SRC/tests/needs" ||
		fail "need_cmd $1: not declared in tests/needs (add it there and to scripts/install-deps)"
	command -v "$1" >/dev/null 2>&1 || skip "$1 not found (Debian package $2)"
}

# ---- entering the VM -----------------------------------------------------------------------------

# vm_enter [tests/vm/run options] -- "$@": on the host, prepare the VM (cached; SKIPPED when that is
# impossible), then run this same script with the same arguments in the guest and exit with its
# status. In the guest (S3LB_VM=1) it returns at once. Default --timeout 600 (ctest's is 900).
vm_enter() {
	local opts=() err
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		opts+=("$1")
		shift
	done
	[ "${1:-}" = -- ] && shift
	if [ "${S3LB_VM:-}" = 1 ]; then
		VM_TMP=$(mktemp -d /tmp/s3lb-vm.XXXXXX)
		export VM_TMP
		return 0
	fi
	err=$(mktemp)
	if ! S3LB_VM_CACHE=$("$S3LB_SRC/tests/vm/prepare" 2>"$err"); then
		cat "$err" >&2
		rm -f "$err"
		skip "cannot prepare the VM (tests/vm/prepare failed: see above)"
	fi
	rm -f "$err"
	export S3LB_VM_CACHE S3LB_VM_PREPARED=1
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found (qemu-system-x86)"
	trap - ERR
	cd "$S3LB_SRC" || exit 1 # ctest runs tests in the build directory, which may be where the guest cannot see
	# exec: a signal for the test (ctest's timeout) reaches tests/vm/run, which stops QEMU
	exec "$S3LB_SRC/tests/vm/run" --timeout 600 "${opts[@]}" -- "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$@"
}

# ---- network namespaces (in the guest) -------------------------------------------------------------
# `ip netns add` names them under /run/netns (a fresh tmpfs in the guest); `ns` enters one with
# nsenter, which is cheaper than `ip netns exec` under TCG (that one also remounts /sys). Note: /sys
# stays the root namespace's: read interface counters with ns_tx_bytes or `ip -s link`.

# ns_add NAME...: new network namespaces with lo up
ns_add() {
	local n
	for n in "$@"; do
		ip netns add "$n"
		ip -n "$n" link set lo up
	done
}

# ns NAME CMD...: run CMD in namespace NAME
ns() {
	local n=$1
	shift
	nsenter --net="/run/netns/$n" -- "$@"
}

# ns_link NS1 IF1 ADDR1 NS2 IF2 ADDR2: a veth pair between two namespaces, addresses in CIDR form
# (ADDR may be "-" for none), both ends up
ns_link() {
	ip link add "$2" netns "$1" type veth peer name "$5" netns "$4"
	[ "$3" = - ] || ip -n "$1" addr add "$3" dev "$2"
	[ "$6" = - ] || ip -n "$4" addr add "$6" dev "$5"
	ip -n "$1" link set "$2" up
	ip -n "$4" link set "$5" up
}

# ns_sysctl NS KEY=VALUE...: sysctls of namespace NS (net.* ones are per namespace), in one process
ns_sysctl() {
	local n=$1
	shift
	# shellcheck disable=SC2016 # expanded by that bash
	ns "$n" bash -c 'for kv; do k=${kv%%=*}; echo "${kv#*=}" >"/proc/sys/${k//.//}" || exit; done' _ "$@"
}

# ns_rx_bytes NS IF / ns_tx_bytes NS IF: interface byte counters as seen inside NS
# (/proc/net/dev follows the reader's namespace; a large count touches the colon: "eth0:123456789")
ns_rx_bytes() { ns "$1" sed -n "s/^ *$2: *//p" /proc/net/dev | awk '{ print $1 }'; }
ns_tx_bytes() { ns "$1" sed -n "s/^ *$2: *//p" /proc/net/dev | awk '{ print $9 }'; }

# ---- DR end to end (test_vm_dr_*.sh) ---------------------------------------------------------------
# A client, a director (s3lb + IPVS) and two storage nodes (s3lb-node setup + s3rver, a real S3
# server from npm) in network namespaces on one bridge; see tests/vm/test_vm_dr_read.sh.

# s3rver lives in the VM cache (outside the source tree), installed on the host by dr_need_s3rver
DR_S3RVER=${S3LB_S3RVER:-${S3LB_VM_CACHE:-$S3LB_SRC/build-vm-cache}/npm/node_modules/s3rver/bin/s3rver.js}

# dr_need_s3rver: on the host, before vm_enter: npm install s3rver into the cache once (the guest
# has no network); SKIPPED when that is impossible. No-op in the guest.
dr_need_s3rver() {
	[ "${S3LB_VM:-}" = 1 ] && return 0
	[ -f "$DR_S3RVER" ] && return 0
	command -v npm >/dev/null 2>&1 || skip "npm not found (Debian package npm): needed to install s3rver"
	local dir=${DR_S3RVER%/node_modules/*}
	mkdir -p "$dir"
	npm install --no-audit --no-fund --prefix "$dir" s3rver@3.7.1 >"$dir/npm.log" 2>&1 ||
		skip "npm install s3rver failed: $(tail -n 5 "$dir/npm.log")"
}

# ns_bridge BR NS...: a bridge BR in the root namespace, and in each NS an eth0 (veth) plugged into it
ns_bridge() {
	local br=$1 n
	shift
	ip link add "$br" type bridge
	ip link set "$br" up
	for n in "$@"; do
		ip link add eth0 netns "$n" type veth peer name "$br-$n"
		ip link set "$br-$n" master "$br" up
		ip -n "$n" link set eth0 up
	done
}

# ms: wall-clock milliseconds
ms_now() { echo $(($(date +%s%N) / 1000000)); }

# s3rver_start NS DIR LOG PORT: s3rver on 0.0.0.0:PORT in NS (bucket "bkt"), data in DIR; its PID
# in $S3RVER_PID (node itself, not a wrapper: nsenter execs it)
s3rver_start() {
	mkdir -p "$2"
	nsenter --net="/run/netns/$1" -- node "$DR_S3RVER" -d "$2" -a 0.0.0.0 -p "$4" \
		--configure-bucket bkt >>"$3" 2>&1 &
	S3RVER_PID=$!
}

# wait_http NS URL [TRIES]: until curl in NS gets any HTTP answer from URL (0.25 s apart)
wait_http() {
	local i
	for ((i = 0; i < ${3:-160}; i++)); do
		ns "$1" curl -s -o /dev/null --max-time 2 "$2" && return 0
		sleep 0.25
	done
	return 1
}

# cli_start NS: one long-lived boto3 client process in NS (python3 starts slowly in the guest),
# driven by cli CMD...; each request on a new TCP connection (so IPVS schedules each one). Commands:
#   put ENDPOINT KEY FILE   -> "ok ETAG"
#   get ENDPOINT KEY        -> "ok SIZE MD5 MILLISECONDS"
# any failure -> "err MESSAGE". The reply line is in $reply.
cli_start() {
	cat >"$VM_TMP/cli.py" <<'PYEOF'
import hashlib, sys, time, boto3
from botocore.config import Config
cfg = Config(s3={"addressing_style": "path"}, signature_version="s3v4",
             retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=60)
clients = {}
def client(ep):
    if ep not in clients:
        clients[ep] = boto3.client("s3", endpoint_url=ep, aws_access_key_id="S3RVER",
                                   aws_secret_access_key="S3RVER", region_name="us-east-1", config=cfg)
    return clients[ep]
print("ready", flush=True)
for line in sys.stdin:
    a = line.split()
    if not a:
        continue
    try:
        c = client(a[1])
        if a[0] == "put":
            with open(a[3], "rb") as f:
                r = c.put_object(Bucket="bkt", Key=a[2], Body=f)
            out = "ok " + r["ETag"].strip('"')
        elif a[0] == "get":
            t = time.monotonic()
            body = c.get_object(Bucket="bkt", Key=a[2])["Body"]
            h, n = hashlib.md5(), 0
            while True:
                b = body.read(1 << 20)
                if not b:
                    break
                h.update(b)
                n += len(b)
            out = "ok %d %s %d" % (n, h.hexdigest(), (time.monotonic() - t) * 1000)
        else:
            out = "err unknown command " + a[0]
    except Exception as e:
        out = "err " + repr(e).replace("\n", " ")
    finally:
        try:
            c._endpoint.http_session.close()  # the next request opens a new connection
        except Exception:
            pass
    print(out, flush=True)
PYEOF
	coproc CLI { nsenter --net="/run/netns/$1" -- /usr/bin/python3 -u "$VM_TMP/cli.py" 2>"$VM_TMP/cli.err"; }
	IFS= read -r -t 120 reply <&"${CLI[0]}" || fail "boto3 client did not start: $(cat "$VM_TMP/cli.err")"
	[ "$reply" = ready ] || fail "boto3 client: $reply $(cat "$VM_TMP/cli.err")"
}
cli() {
	echo "$*" >&"${CLI[1]}"
	IFS= read -r -t 300 reply <&"${CLI[0]}" || fail "boto3 client: no reply to \"$*\": $(tail -n 20 "$VM_TMP/cli.err")"
}

# ipvs_weight NS DEST: DEST's weight in NS's IPVS table (empty when not there)
ipvs_weight() { ns "$1" ipvsadm -Ln | awk -v d="$2" '$1 == "->" && $2 == d { print $4 }'; }

# wait_weight NS DEST WEIGHT MAXMS: poll until DEST has WEIGHT; elapsed milliseconds in $waited;
# returns 1 after MAXMS (and keeps polling no longer)
wait_weight() {
	local t0 w
	t0=$(ms_now)
	while :; do
		w=$(ipvs_weight "$1" "$2")
		waited=$(($(ms_now) - t0))
		[ "$w" = "$3" ] && return 0
		[ "$waited" -gt "$4" ] && return 1
		sleep 0.1
	done
}

# conns DEST: a real server's scheduled connections in the director namespace's IPVS table
# (IPVS folds its counters every 2 s)
conns() { ns director "$S3LB_BUILD/dsr/s3lb-ipvs" list | awk -v d="$1" '$2 == d { for (i = 1; i < NF; i++) if ($i == "conns") print $(i + 1) }'; }
# wait_conns DEST MIN: until DEST has counted at least MIN connections (15 s at most)
wait_conns() {
	local c
	for _ in $(seq 30); do
		c=$(conns "$1")
		[ "${c:-0}" -ge "$2" ] && return 0
		sleep 0.5
	done
	fail "$1: $c connections counted, want >= $2: $(ns director "$S3LB_BUILD/dsr/s3lb-ipvs" list)"
}

# dr_net: the DR topology without a server on the nodes, on 10.99.0.0/24: namespaces client
# 10.99.0.10, director 10.99.0.1 with the VIP 10.99.0.100 on eth0, node1 10.99.0.2 and node2
# 10.99.0.3 (s3lb-node setup --vip), all on the bridge br0. Globals: DR_VIP DR_PROXY N1 N2
# DR_NODE_BIN DR_IPVS_BIN (the nodes' servers listen on 0.0.0.0:8000 so that they answer on the VIP)
# shellcheck disable=SC2034 # the globals are the callers'
dr_net() {
	local b n
	DR_NODE_BIN=$S3LB_BUILD/dsr/s3lb-node
	DR_IPVS_BIN=$S3LB_BUILD/dsr/s3lb-ipvs
	for b in "$S3LB_BIN" "$DR_NODE_BIN" "$DR_IPVS_BIN"; do
		[ -x "$b" ] || fail "$b not built (cmake --build $S3LB_BUILD)"
	done
	need_cmd ipvsadm ipvsadm
	modprobe -a ip_vs ip_vs_rr ip_vs_wlc
	DR_VIP=10.99.0.100
	DR_PROXY=10.99.0.1:8080
	N1=10.99.0.2:8000
	N2=10.99.0.3:8000
	ns_add client director node1 node2
	ns_bridge br0 client director node1 node2
	ip -n client addr add 10.99.0.10/24 dev eth0
	ip -n director addr add 10.99.0.1/24 dev eth0
	ip -n director addr add $DR_VIP/32 dev eth0
	ip -n node1 addr add 10.99.0.2/24 dev eth0
	ip -n node2 addr add 10.99.0.3/24 dev eth0
	for n in node1 node2; do
		ns "$n" "$DR_NODE_BIN" setup --vip $DR_VIP >"$VM_TMP/setup-$n.log" 2>&1 ||
			fail "s3lb-node setup on $n: $(cat "$VM_TMP/setup-$n.log")"
	done
}

# dr_setup NAME=BYTES...: the whole DR topology in the guest (dr_net), with s3rver (a real S3
# server from npm) on 0.0.0.0:8000 on both nodes (bucket "bkt"), and s3lb's configuration
# (dr_config).
# Objects NAME of BYTES random bytes are written to $VM_TMP/obj/NAME (md5 in OBJ_MD5[NAME]) and
# uploaded to bucket bkt on node1, then copied to node2 (s3rver does not replicate). Starts the boto3
# client (cli) in client unless DR_BOTO3=0 (then curl uploads). Does not start s3lb: dr_s3lb_start. Set DR_BEFORE_S3LB to a command to
# run before s3lb starts. Globals: DR_VIP DR_PROXY N1 N2 S3RVER1 S3RVER2 S3LB_PID DR_CFG
# shellcheck disable=SC2034 # the globals are the test files'
dr_setup() {
	local kv name bytes
	need_cmd node nodejs
	need_cmd curl curl
	need_cmd jq jq
	[ -f "$DR_S3RVER" ] || skip "s3rver not installed at $DR_S3RVER (dr_need_s3rver on the host)"
	/usr/bin/python3 -c 'import boto3' 2>/dev/null || skip "python3-boto3 not installed"
	dr_net

	s3rver_start node1 "$VM_TMP/data1" "$VM_TMP/s3rver1.log" 8000
	S3RVER1=$S3RVER_PID
	s3rver_start node2 "$VM_TMP/data2" "$VM_TMP/s3rver2.log" 8000
	S3RVER2=$S3RVER_PID
	if [ "${DR_BOTO3:-1}" = 1 ]; then
		cli_start client # meanwhile: python and boto3 start while node starts s3rver
		note "setup: boto3 client ready after $((SECONDS - _vm_t0)) s"
	fi
	mkdir -p "$VM_TMP/obj"
	declare -gA OBJ_MD5 OBJ_SIZE
	for kv in "$@"; do
		name=${kv%%=*} bytes=${kv#*=}
		head -c "$bytes" /dev/urandom >"$VM_TMP/obj/$name"
		OBJ_MD5[$name]=$(md5sum <"$VM_TMP/obj/$name" | cut -d' ' -f1)
		OBJ_SIZE[$name]=$bytes
	done
	wait_http client "http://$N1/" || fail "s3rver on node1 not ready: $(tail -n 20 "$VM_TMP/s3rver1.log")"
	wait_http client "http://$N2/" || fail "s3rver on node2 not ready: $(tail -n 20 "$VM_TMP/s3rver2.log")"
	note "setup: s3rver ready on both nodes after $((SECONDS - _vm_t0)) s"
	# PUT through node1's S3 API; node2 gets a copy of the files s3rver stored (s3rver reads them
	# from its directory on every request): PUTting tens of MiB through s3rver twice costs minutes
	# under TCG. Check 1's GETs then read every object from both nodes.
	for kv in "$@"; do
		name=${kv%%=*}
		if [ "${DR_BOTO3:-1}" = 1 ]; then
			cli put "http://$N1" "$name" "$VM_TMP/obj/$name"
		else # s3rver takes anonymous requests
			reply="ok $(ns client curl -sS -T "$VM_TMP/obj/$name" -D - -o /dev/null "http://$N1/bkt/$name" |
				sed -n 's/^ETag: *"\([0-9a-f]*\)".*/\1/ip')"
		fi
		[ "$reply" = "ok ${OBJ_MD5[$name]}" ] || fail "PUT $name to $N1: $reply (want the ETag ${OBJ_MD5[$name]})"
	done
	cp -a "$VM_TMP/data1/bkt/." "$VM_TMP/data2/bkt/"
	name=${1%%=*}
	[ "$(ns client curl -sS "http://$N2/bkt/$name" | md5sum | cut -d' ' -f1)" = "${OBJ_MD5[$name]}" ] ||
		fail "GET $name from node2 after the copy: wrong md5"
	note "setup: objects on both nodes after $((SECONDS - _vm_t0)) s"

	dr_config
}

# dr_config: s3lb's configuration for dr_net's topology in $DR_CFG, checked with `s3lb check`:
# admin 127.0.0.1:9901 (in the director's namespace; its token in $VM_TMP/admin.token, so that
# `s3lb drain NODE -c "$DR_CFG"` works), proxy frontend $DR_PROXY, dr: VIP:8000 rr
# over pool "nodes" (n1 = $N1, n2 = $N2, tcp health checks), error log $VM_TMP/s3lb.log.
# shellcheck disable=SC2034 # DR_CFG is the callers'
dr_config() {
	DR_CFG=$VM_TMP/s3lb.yaml
	(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$VM_TMP/admin.token")
	cat >"$DR_CFG" <<EOF
admin: { listen: 127.0.0.1:9901, token_file: $VM_TMP/admin.token }
log: { level: info, access: off, error: $VM_TMP/s3lb.log }
dr_state: $VM_TMP/ipvs-owned
drain_state: $VM_TMP/drained
pools:
  - name: nodes
    balance: round-robin
    # tcp: a connect, answered by the node's kernel. s3rver (node.js under TCG) often takes more
    # than the http probe's 500 ms to answer GET / while it streams a large object, and then the
    # nodes flap down and up during the downloads.
    health: { kind: tcp }
    nodes:
      - { name: n1, addr: $N1 }
      - { name: n2, addr: $N2 }
frontends:
  - name: s3
    listen: [$DR_PROXY]
    routes:
      - { pool: nodes }
dr:
  - { vip: $DR_VIP:8000, pool: nodes, scheduler: rr }
EOF
	"$S3LB_BIN" check -c "$DR_CFG" >"$VM_TMP/check.log" 2>&1 || fail "s3lb check: $(cat "$VM_TMP/check.log")"
}

# dr_s3lb_start: s3lb run in the director namespace; waits until /status answers and IPVS has the
# VIP's service with both nodes at weight 1. PID in $S3LB_PID.
# shellcheck disable=SC2034 # S3LB_START_MS is the test files'
dr_s3lb_start() {
	local i t0
	t0=$(ms_now)
	nsenter --net=/run/netns/director -- "$S3LB_BIN" run -c "$DR_CFG" >>"$VM_TMP/s3lb.out" 2>&1 &
	S3LB_PID=$!
	for ((i = 0; i < 200; i++)); do
		kill -0 "$S3LB_PID" 2>/dev/null || fail "s3lb exited: $(tail -n 20 "$VM_TMP/s3lb.out" "$VM_TMP/s3lb.log" 2>&1)"
		if [ "$(ipvs_weight director "$N1")" = 1 ] && [ "$(ipvs_weight director "$N2")" = 1 ] &&
			dr_status >/dev/null 2>&1; then
			S3LB_START_MS=$(($(ms_now) - t0))
			return 0
		fi
		sleep 0.2
	done
	fail "s3lb did not program IPVS in 40 s: $(ns director ipvsadm -Ln) $(tail -n 20 "$VM_TMP/s3lb.log")"
}

# dr_s3lb_stop: SIGTERM, wait for the exit (its status in $S3LB_RC)
# shellcheck disable=SC2034 # S3LB_RC is the test files'
dr_s3lb_stop() {
	kill -TERM "$S3LB_PID"
	S3LB_RC=0
	wait "$S3LB_PID" || S3LB_RC=$?
}

# dr_status: s3lb status JSON (from the director's namespace)
dr_status() { ns director "$S3LB_BIN" status --json -a 127.0.0.1:9901; }
