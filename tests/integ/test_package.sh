#!/bin/bash
# The Debian package on a fresh Debian 12 root:
#  - scripts/package builds s3lb_<version>_<arch>.deb; lintian reports no error (its warnings
#    are listed);
#  - a debootstrap minbase bookworm root (tests/integ/debroot.sh, with the apt sources
#    an operator adds: trixie pinned at 100, for libyyjson0) gets the .deb through apt, so that
#    Depends resolve from the mirror;
#  - in that root: the s3lb user exists, `s3lb check -c /etc/s3lb/s3lb.yaml` passes as that
#    user, `systemd-analyze verify` is clean on both units, `s3lb --version`, the man pages
#    render (man-db installed beside the package), the configs are conffiles;
#  - the packaged s3lb, run in the root as the s3lb user under a NOTIFY_SOCKET this test listens
#    on, says READY=1 only after its listener is bound and its node (a slow HTTP server here)
#    has answered the first probe; RELOADING=1 then READY=1 on SIGHUP; STOPPING=1 on SIGTERM,
#    then exits 0;
#  - the root booted with systemd-nspawn (systemd as PID 1): `systemctl start` returns after the
#    first probe, the service runs as s3lb with CAP_NET_BIND_SERVICE only and its seccomp filter,
#    serves a GET, refuses a reload of a broken config and keeps serving, reloads a good one,
#    and `systemctl stop` lets a request in flight finish; the journal shows nothing denied.
# Needs root, Debian 12, debootstrap, dpkg-buildpackage, lintian, pandoc, systemd-nspawn
# (scripts/install-deps) and the Debian mirror of /etc/apt/sources.list*; SKIPPED otherwise.
set -euo pipefail
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"

# shellcheck source=tests/integ/debroot.sh
. "$(dirname "$0")/debroot.sh"
debroot_need
for c in dpkg-buildpackage lintian pandoc python3; do
	command -v "$c" >/dev/null || skip "no $c (scripts/install-deps installs it)"
done

work=$S3LB_BUILD/pkg-test
root=$work/root

# ---- the package -------------------------------------------------------------------------------

deb=$("$S3LB_SRC/scripts/package" "$work/deb")
pass "scripts/package: $(basename "$deb") ($(size_of "$deb") bytes)"
dpkg-deb -c "$deb" | awk '{print "     " $1 " " $6}' | grep -v '/$'
lintian "$deb" 2>&1 | grep -v 'running with root privileges' >"$INTEG_TMP/lintian.out" || true
if grep -q '^E:' "$INTEG_TMP/lintian.out"; then
	cat "$INTEG_TMP/lintian.out"
	fail "lintian reports errors"
fi
# an upgrade must not stop the units first (dh_installsystemd's preinst stop, with --no-start)
if dpkg-deb -I "$deb" preinst 2>/dev/null | grep -q 'deb-systemd-invoke stop'; then
	fail "the package stops its units before an upgrade (preinst)"
fi
pass "maintainer scripts: no stop before an upgrade; $(dpkg-deb -I "$deb" postinst | grep -c 'deb-systemd-invoke') unit action(s) after it"
pass "lintian: no error, $(grep -c '^W:' "$INTEG_TMP/lintian.out" || true) warning(s)"
sed 's/^/     /' "$INTEG_TMP/lintian.out"

# ---- a fresh Debian 12 root --------------------------------------------------------------------

debroot_new "$root" "$S3LB_BUILD/debroot/archives"
pass "fresh root from the cached base"

cp "$deb" "$root/tmp/"
# man-db too: systemd-analyze verify opens the units' Documentation= man pages
if ! in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	"/tmp/$(basename "$deb")" man-db >"$INTEG_TMP/install.log" 2>&1; then
	cat "$INTEG_TMP/install.log" >&2
	fail "apt-get install of the .deb in the fresh root"
fi
pass "apt-get install ./$(basename "$deb") man-db: $(grep -oE '[0-9]+ newly installed' "$INTEG_TMP/install.log")"

# ---- what the package put there ----------------------------------------------------------------

assert_match 's3lb:x:[0-9]+:[0-9]+:[^:]*:/nonexistent:/usr/sbin/nologin' \
	"$(in_root getent passwd s3lb)" "the s3lb system user exists"
in_root setpriv --reuid=s3lb --regid=s3lb --clear-groups \
	s3lb check -c /etc/s3lb/s3lb.yaml >"$INTEG_TMP/check.out" 2>&1 ||
	{ cat "$INTEG_TMP/check.out" >&2; fail "s3lb check -c /etc/s3lb/s3lb.yaml"; }
pass "s3lb check -c /etc/s3lb/s3lb.yaml passes (as the s3lb user)"
verify=$(in_root systemd-analyze verify /lib/systemd/system/s3lb.service \
	/lib/systemd/system/s3lb-node-setup.service /lib/systemd/system/s3lb-node-agent.service 2>&1) ||
	fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify is not clean: $verify"
pass "systemd-analyze verify: s3lb.service, s3lb-node-setup.service, s3lb-node-agent.service clean"
assert_eq "s3lb $(sed -n 's/^#define S3LB_VERSION "\(.*\)"$/\1/p' "$S3LB_SRC/core/version.h")" \
	"$(in_root s3lb --version)" "s3lb --version"
for m in 8/s3lb 8/s3lb-node 5/s3lb.yaml 8/s3lb-ipvs 1/s3lb-bench; do
	in_root env MANWIDTH=80 man "${m%/*}" "${m#*/}" 2>/dev/null | grep -q '^NAME' ||
		fail "man ${m%/*} ${m#*/} does not render in the root"
done
pass "man pages s3lb(8), s3lb-node(8), s3lb.yaml(5), s3lb-ipvs(8), s3lb-bench(1) render"
# shellcheck disable=SC2016 # dpkg-query's own format
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' s3lb)
for f in /etc/s3lb/s3lb.yaml /etc/default/s3lb-node /etc/default/s3lb-node-agent; do
	grep -q " $f " <<<"$conffiles" || fail "$f is not a conffile: $conffiles"
done
pass "conffiles: /etc/s3lb/s3lb.yaml, /etc/default/s3lb-node, /etc/default/s3lb-node-agent"

# ---- the packaged s3lb and systemd's notify protocol ------------------------------------------

node_port=$(free_port 18000)
fe_port=$(free_port 18100)
admin_port=$(free_port 18200)
cat >"$root/tmp/notify.yaml" <<EOF
admin: { listen: 127.0.0.1:$admin_port }
pools:
  - name: p
    health: { kind: http, interval: 5s, timeout: 3s, rise: 1, fall: 1 }
    nodes: [{ name: n1, addr: 127.0.0.1:$node_port }]
frontends:
  - { name: s3, listen: [127.0.0.1:$fe_port], routes: [{ pool: p }] }
EOF
# the node answers the first probe after 1 s: READY=1 must not come before that
python3 - "$root" "$node_port" "$fe_port" >"$INTEG_TMP/notify.out" 2>&1 <<'PY' ||
import os, signal, socket, subprocess, sys, threading, time
root, node_port, fe_port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
probed = []

def node():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", node_port))
    srv.listen(8)
    while True:
        c, _ = srv.accept()
        c.recv(4096)
        time.sleep(1.0)
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        c.close()
        probed.append(time.monotonic())

threading.Thread(target=node, daemon=True).start()
path = os.path.join(root, "run/s3lb-test-notify")
if os.path.exists(path):
    os.unlink(path)
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(path)
os.chmod(path, 0o666)
sock.settimeout(15)
t0 = time.monotonic()
p = subprocess.Popen(["chroot", root, "/usr/bin/env", "-i", "NOTIFY_SOCKET=/run/s3lb-test-notify",
                      "setpriv", "--reuid=s3lb", "--regid=s3lb", "--clear-groups",
                      "/usr/sbin/s3lb", "run", "-c", "/tmp/notify.yaml"])

def expect(word):
    msg = sock.recv(4096).decode()
    print("notify: %r at %.2fs" % (msg, time.monotonic() - t0))
    if word not in msg.split("\n"):
        sys.exit("expected %s, got %r" % (word, msg))

try:
    expect("READY=1")
    if not probed:
        sys.exit("READY=1 before the node had answered its first probe")
    socket.create_connection(("127.0.0.1", fe_port), timeout=2).close()
    print("the frontend listener accepts at READY=1")
    p.send_signal(signal.SIGHUP)
    expect("RELOADING=1")
    expect("READY=1")
    p.send_signal(signal.SIGTERM)
    expect("STOPPING=1")
    rc = p.wait(timeout=40)
    if rc != 0:
        sys.exit("s3lb exited with %d after SIGTERM" % rc)
    print("exit 0 after SIGTERM")
finally:
    if p.poll() is None:
        p.kill()
    os.unlink(path)
PY
	{ cat "$INTEG_TMP/notify.out" >&2; fail "the notify protocol"; }
sed 's/^/     /' "$INTEG_TMP/notify.out"
pass "sd_notify: READY=1 after the listener and the first probe, RELOADING=1/READY=1 on SIGHUP, STOPPING=1 on SIGTERM"

# ---- under systemd: the units as an operator runs them -----------------------------------------
# systemd-nspawn boots the root (its own systemd as PID 1; the host's network namespace, so the
# node and the client here reach the packaged s3lb on loopback): systemctl start returns only
# after the first probe, the service runs as the s3lb user with only CAP_NET_BIND_SERVICE under
# its seccomp filter, and none of the hardening directives breaks a proxied GET, a reload (a bad
# config refused, the running one kept), or a stop that drains a request in flight.

need_cmd systemd-nspawn "systemd-nspawn (a booted root for the units)"
if ! in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	systemd-sysv dbus >"$INTEG_TMP/install-systemd.log" 2>&1; then
	cat "$INTEG_TMP/install-systemd.log" >&2
	fail "apt-get install systemd-sysv dbus in the root"
fi
sd_node_port=$(free_port 18300)
sd_fe_port=$(free_port 18400)
sd_admin_port=$(free_port 18500)
cp "$root/etc/s3lb/s3lb.yaml" "$INTEG_TMP/s3lb.yaml.packaged"
write_sd_config() { # $1: the node's health interval
	cat >"$root/etc/s3lb/s3lb.yaml" <<YAML
admin: { listen: 127.0.0.1:$sd_admin_port }
timeouts: { shutdown_grace: 20s }
pools:
  - name: p
    health: { kind: http, interval: $1, timeout: 3s, rise: 1, fall: 1 }
    nodes: [{ name: n1, addr: 127.0.0.1:$sd_node_port }]
frontends:
  - { name: s3, listen: [127.0.0.1:$sd_fe_port], routes: [{ pool: p }] }
YAML
}
write_sd_config 5s

# the node: its first probe is answered after 1.5 s; GET /b/slow after 3 s
python3 - "$sd_node_port" >"$INTEG_TMP/sd-node.out" 2>&1 <<'PY' &
import socket, sys, threading, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen(64)
first = [True]
def serve(c):
    f = c.makefile("rb")
    while True:
        line = f.readline()
        if not line:
            break
        while f.readline() not in (b"\r\n", b"\n", b""):
            pass
        path = line.split()[1].decode()
        if path.startswith("/b/"):
            if path == "/b/slow":
                time.sleep(3)
            body = ("object " + path + "\n").encode()
        else:
            if first[0]:
                first[0] = False
                time.sleep(1.5)
            body = b""
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    c.close()
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
sd_node_pid=$!
at_exit kill "$sd_node_pid"

# nspawn mounts the root's /dev, /proc and /sys itself: the chroot's mounts go first
debroot_umount
machine=s3lb-pkg-$$
systemd-nspawn -D "$root" -b --register=no --keep-unit -M "$machine" \
	>"$INTEG_TMP/nspawn.log" 2>&1 </dev/null &
nspawn_pid=$!
# powers the container off (SIGTERM to nspawn), KILL after 20 s; the root is unmounted after it
stop_container() {
	local i
	kill -TERM "$nspawn_pid" 2>/dev/null || return 0
	for ((i = 0; i < 200; i++)); do
		kill -0 "$nspawn_pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$nspawn_pid" 2>/dev/null || true
}
at_exit stop_container
leader=
for ((i = 0; i < 100; i++)); do
	leader=$(pgrep -P "$nspawn_pid" 2>/dev/null | head -1 || true)
	[ -n "$leader" ] && [ "$(cat "/proc/$leader/comm" 2>/dev/null)" = systemd ] && break
	leader=
	sleep 0.1
done
[ -n "$leader" ] || { cat "$INTEG_TMP/nspawn.log" >&2; fail "systemd-nspawn -b: no systemd in the root"; }
# systemctl needs the manager's socket, which appears a moment after PID 1 starts
for ((i = 0; i < 300; i++)); do
	[ -S "/proc/$leader/root/run/systemd/private" ] && break
	sleep 0.1
done
in_ct() { nsenter -t "$leader" -a /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }
state=$(timeout 120 nsenter -t "$leader" -a /usr/bin/systemctl is-system-running --wait 2>"$INTEG_TMP/state.err" || true)
case "$state" in
running | degraded) ;;
*) cat "$INTEG_TMP/nspawn.log" "$INTEG_TMP/state.err" >&2; fail "the booted root is '$state'" ;;
esac
pass "systemd-nspawn -b: the root boots ($state, systemd $(in_ct systemctl --version | awk 'NR==1{print $2}'))"
assert_eq "disabled inactive" "$(in_ct systemctl is-enabled s3lb.service || true) $(in_ct systemctl is-active s3lb.service || true)" \
	"s3lb.service after install"

t0=$(date +%s%N)
in_ct systemctl start s3lb.service || { in_ct journalctl -u s3lb --no-pager >&2; fail "systemctl start s3lb"; }
start_ms=$((($(date +%s%N) - t0) / 1000000))
tcp_answers 127.0.0.1 "$sd_fe_port" || fail "systemctl start returned before the listener was bound"
((start_ms >= 1400)) || fail "systemctl start returned after $start_ms ms, before the first probe (1.5 s) was answered"
pass "systemctl start s3lb: returned after $start_ms ms (the node answers the first probe after 1.5 s); the listener accepts"

main_pid=$(in_ct systemctl show -P MainPID s3lb.service)
[ "$main_pid" -gt 0 ] || fail "no MainPID"
st=$(in_ct cat "/proc/$main_pid/status")
s3lb_uid=$(in_root id -u s3lb)
assert_eq "$s3lb_uid $s3lb_uid $s3lb_uid $s3lb_uid" "$(awk '/^Uid:/{print $2, $3, $4, $5}' <<<"$st")" "the service's uids (s3lb)"
assert_eq 0000000000000400 "$(awk '/^CapEff:/{print $2}' <<<"$st")" "effective capabilities (CAP_NET_BIND_SERVICE only)"
assert_eq 0000000000000400 "$(awk '/^CapBnd:/{print $2}' <<<"$st")" "bounding set (CAP_NET_BIND_SERVICE only)"
assert_eq 1 "$(awk '/^NoNewPrivs:/{print $2}' <<<"$st")" "NoNewPrivs"
assert_eq 2 "$(awk '/^Seccomp:/{print $2}' <<<"$st")" "a seccomp filter is in force"
pass "the service runs as s3lb, CapEff=CapBnd=cap_net_bind_service, NoNewPrivs, seccomp filter"

body=$(curl -sS --max-time 5 "http://127.0.0.1:$sd_fe_port/b/one")
assert_eq "object /b/one" "$body" "GET through the service"
pass "a GET through the service: 200, the node's body"

# a config that does not load: reload refused, the same process serves on
cp "$root/etc/s3lb/s3lb.yaml" "$INTEG_TMP/s3lb.yaml.good"
printf 'pools: [ { name: p, nodes: [] }\n' >"$root/etc/s3lb/s3lb.yaml"
if in_ct systemctl reload s3lb.service 2>/dev/null; then fail "systemctl reload accepted a broken config"; fi
assert_eq active "$(in_ct systemctl is-active s3lb.service || true)" "s3lb after a refused reload"
assert_eq "$main_pid" "$(in_ct systemctl show -P MainPID s3lb.service)" "MainPID after a refused reload"
assert_eq "object /b/two" "$(curl -sS --max-time 5 "http://127.0.0.1:$sd_fe_port/b/two")" "GET after a refused reload"
pass "systemctl reload with a broken config: refused (s3lb check), the running s3lb serves on"
write_sd_config 4s
in_ct systemctl reload s3lb.service || { in_ct journalctl -u s3lb --no-pager >&2; fail "systemctl reload"; }
assert_eq "$main_pid" "$(in_ct systemctl show -P MainPID s3lb.service)" "MainPID after a reload"
assert_eq "object /b/three" "$(curl -sS --max-time 5 "http://127.0.0.1:$sd_fe_port/b/three")" "GET after a reload"
in_ct journalctl -u s3lb --no-pager -o cat | grep -q 'reloaded ' || fail "no 'reloaded' line in the journal"
pass "systemctl reload with a good config: same MainPID, serves"

# stop drains: a 3 s request in flight completes
curl -sS --max-time 15 -o "$INTEG_TMP/slow.body" -w '%{http_code}' "http://127.0.0.1:$sd_fe_port/b/slow" \
	>"$INTEG_TMP/slow.code" 2>"$INTEG_TMP/slow.err" &
slow_pid=$!
sleep 0.5
t0=$(date +%s%N)
in_ct systemctl stop s3lb.service
stop_ms=$((($(date +%s%N) - t0) / 1000000))
wait "$slow_pid" || fail "the request in flight during stop: $(cat "$INTEG_TMP/slow.err")"
assert_eq 200 "$(cat "$INTEG_TMP/slow.code")" "status of the request in flight during stop"
assert_eq "object /b/slow" "$(cat "$INTEG_TMP/slow.body")" "body of the request in flight during stop"
assert_eq inactive "$(in_ct systemctl is-active s3lb.service || true)" "s3lb after stop"
pass "systemctl stop: the request in flight completed (200) and the unit is inactive after $stop_ms ms"

in_ct journalctl -u s3lb --no-pager -o cat >"$INTEG_TMP/journal.txt"
if grep -qiE 'operation not permitted|EPERM|permission denied|read-only file system' "$INTEG_TMP/journal.txt"; then
	cat "$INTEG_TMP/journal.txt" >&2
	fail "the journal shows a denied operation under the unit's sandbox"
fi
pass "the journal ($(wc -l <"$INTEG_TMP/journal.txt") lines): no denied operation"
stop_container
cp "$INTEG_TMP/s3lb.yaml.packaged" "$root/etc/s3lb/s3lb.yaml"
