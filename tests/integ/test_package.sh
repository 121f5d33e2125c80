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
#    then exits 0.
# Needs root, Debian 12, debootstrap, dpkg-buildpackage, lintian, pandoc (scripts/install-deps)
# and the Debian mirror of /etc/apt/sources.list*; SKIPPED otherwise.
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
	/lib/systemd/system/s3lb-node-setup.service 2>&1) || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify is not clean: $verify"
pass "systemd-analyze verify: s3lb.service, s3lb-node-setup.service clean"
assert_eq "s3lb $(sed -n 's/^#define S3LB_VERSION "\(.*\)"$/\1/p' "$S3LB_SRC/core/version.h")" \
	"$(in_root s3lb --version)" "s3lb --version"
for m in 8/s3lb 8/s3lb-node 5/s3lb.yaml 8/s3lb-ipvs 1/s3lb-bench; do
	in_root env MANWIDTH=80 man "${m%/*}" "${m#*/}" 2>/dev/null | grep -q '^NAME' ||
		fail "man ${m%/*} ${m#*/} does not render in the root"
done
pass "man pages s3lb(8), s3lb-node(8), s3lb.yaml(5), s3lb-ipvs(8), s3lb-bench(1) render"
# shellcheck disable=SC2016 # dpkg-query's own format
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' s3lb)
for f in /etc/s3lb/s3lb.yaml /etc/default/s3lb-node; do
	grep -q " $f " <<<"$conffiles" || fail "$f is not a conffile: $conffiles"
done
pass "conffiles: /etc/s3lb/s3lb.yaml, /etc/default/s3lb-node"

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
