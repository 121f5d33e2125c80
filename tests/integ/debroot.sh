# shellcheck shell=bash
# A fresh Debian 12 root for the tests that check what a new machine gets (test_package.sh: the
# .deb; test_fresh_root.sh: scripts/install-deps and the unit tests). Source it after lib.sh.
#
#   debroot_need                 SKIPPED unless root on Debian 12 with debootstrap and chroot
#   debroot_new DIR ARCHIVES     DIR becomes a fresh root from the cached base; ARCHIVES (a host
#                                directory) is bind-mounted as its /var/cache/apt/archives, so
#                                packages already downloaded are not downloaded again
#   in_root CMD...               CMD in the root with an empty environment (PATH, LANG only)
#   debroot_bind HOSTDIR PATH    HOSTDIR mounted at PATH inside the root (unmounted at exit)
#
# The base (debootstrap minbase bookworm from the host's Debian mirror, the apt sources an operator
# adds: trixie pinned at 100, and the package lists) is cached in $S3LB_BUILD/debroot/; its file
# name carries the recipe: change the recipe, change the name.

debroot_need() {
	[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, chroot)"
	case "$(cat /etc/debian_version 2>/dev/null)" in
	12.* | bookworm*) ;;
	*) skip "needs Debian 12 (this is $(cat /etc/debian_version 2>/dev/null || echo 'not Debian'))" ;;
	esac
	local c
	for c in debootstrap chroot mountpoint; do
		command -v "$c" >/dev/null || skip "no $c (scripts/install-deps installs it)"
	done
}

DEBROOT_MIRROR=$(grep -hoE '^(deb|URIs:) *[^ ]+' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
	/etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $NF}' | grep -E '^https?://' |
	grep -E '/debian/?$' | head -1 || true)
DEBROOT_MIRROR=${DEBROOT_MIRROR:-http://deb.debian.org/debian}
_debroot_mounts=()

in_root() { chroot "$DEBROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

debroot_bind() {
	mkdir -p "$DEBROOT/$2"
	mount --bind "$1" "$DEBROOT/$2"
	_debroot_mounts+=("$2")
}

# Unmounts what debroot_new and debroot_bind mounted, last first. The root has the host's /dev
# and proc mounted while the test runs: it is never removed before they are gone (rm stays on one
# file system anyway).
debroot_umount() {
	local i m
	[ -n "${DEBROOT:-}" ] || return 0
	for ((i = ${#_debroot_mounts[@]} - 1; i >= 0; i--)); do
		m=$DEBROOT/${_debroot_mounts[i]}
		if mountpoint -q "$m"; then umount "$m" || umount -l "$m"; fi
	done
	_debroot_mounts=()
	return 0
}

_debroot_clear() {
	debroot_umount
	if grep -q " $DEBROOT/" /proc/mounts; then
		fail "still mounted under $DEBROOT: $(grep " $DEBROOT/" /proc/mounts | cut -d' ' -f2)"
	fi
	rm -rf --one-file-system "$DEBROOT"
	mkdir -p "$DEBROOT"
}

debroot_new() {
	local cache=$S3LB_BUILD/debroot base
	DEBROOT=$1
	mkdir -p "$cache/archives/partial" "$2/partial"
	base=$cache/bookworm-minbase-v1.tar
	# one builder of the base at a time (scripts/test runs test_fresh_root beside test_package)
	exec {_debroot_lock}>"$cache/.lock"
	flock "$_debroot_lock"
	if [ ! -f "$base" ]; then
		_debroot_clear
		if ! debootstrap --variant=minbase --cache-dir="$cache/archives" bookworm "$DEBROOT" "$DEBROOT_MIRROR" \
			>"$INTEG_TMP/debootstrap.log" 2>&1; then
			if grep -qiE "couldn't download|failed getting release|unable to connect|could not resolve" \
				"$INTEG_TMP/debootstrap.log"; then
				skip "the Debian mirror $DEBROOT_MIRROR is not reachable: $(grep -iE -m1 "download|release|connect|resolve" "$INTEG_TMP/debootstrap.log")"
			fi
			tail -n 20 "$INTEG_TMP/debootstrap.log" >&2
			fail "debootstrap failed"
		fi
		echo "deb $DEBROOT_MIRROR bookworm main" >"$DEBROOT/etc/apt/sources.list"
		echo "deb $DEBROOT_MIRROR trixie main" >"$DEBROOT/etc/apt/sources.list.d/trixie.list"
		printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' >"$DEBROOT/etc/apt/preferences.d/trixie"
		in_root apt-get update >"$INTEG_TMP/apt-update.log" 2>&1 ||
			{ cat "$INTEG_TMP/apt-update.log" >&2; fail "apt-get update in the new root"; }
		tar -C "$DEBROOT" -cf "$base.tmp" . && mv "$base.tmp" "$base"
		pass "debootstrap minbase bookworm from $DEBROOT_MIRROR (cached: $base)"
	fi
	flock -u "$_debroot_lock"
	_debroot_clear
	tar -C "$DEBROOT" -xf "$base"
	at_exit debroot_umount
	mount -t proc proc "$DEBROOT/proc"
	_debroot_mounts+=(proc)
	debroot_bind /dev dev
	debroot_bind "$2" var/cache/apt/archives
	# the host's resolver (the root reaches the Debian mirror and npm's registry, nothing else)
	cp -L /etc/resolv.conf "$DEBROOT/etc/resolv.conf" 2>/dev/null || true
	printf '#!/bin/sh\nexit 101\n' >"$DEBROOT/usr/sbin/policy-rc.d" && chmod +x "$DEBROOT/usr/sbin/policy-rc.d"
}
