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
need_cmd() {
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
