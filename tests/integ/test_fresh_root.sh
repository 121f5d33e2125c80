#!/bin/bash
# What a new machine gets from the README's set-up: in a fresh Debian 12 root (debootstrap
# minbase, tests/integ/debroot.sh) with this source tree in /src,
#  - scripts/install-deps runs (as root, as CI and the Quick start run it);
#  - every entry of tests/needs (the programs, python modules and files the suite uses) is then
#    present: a missing install step shows here, not as a skipped test elsewhere;
#  - the tree builds there (scripts/build release) and the unit tests pass, none skipped.
# The root reuses the host's downloaded packages (/var/cache/apt/archives bind-mounted), so a run
# on a machine that has run install-deps downloads little. Needs root, Debian 12, debootstrap and
# the Debian mirror (and npm's registry for the JavaScript SDK); SKIPPED otherwise.
set -euo pipefail
# shellcheck source=tests/integ/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integ/debroot.sh
. "$(dirname "$0")/debroot.sh"
debroot_need
command -v git >/dev/null || skip "no git"

# The root lives outside the source tree: it holds the host's /proc, /dev and /sys while it runs
# beside the other tests, and a test that walks the tree (test_cli greps it) must not walk those.
root=$(mktemp -d /var/tmp/s3lb-fresh-root.XXXXXX)
at_exit rm -rf --one-file-system "$root" # runs after debroot_umount (added later, runs first)
debroot_new "$root" /var/cache/apt/archives
debroot_bind /sys sys
mkdir -p "$DEBROOT/src"
# the tree as it is (tracked files and untracked ones git does not ignore; no build output)
git -C "$S3LB_SRC" ls-files -z -co --exclude-standard |
	(cd "$S3LB_SRC" && tar --null -T - --ignore-failed-read -cf -) | tar -C "$DEBROOT/src" -xf -
# the machine's own CA certificates (a TLS-intercepting egress proxy, say) are part of the machine,
# not of the suite: the root gets them as an image built for this network would; ca-certificates'
# postinst (install-deps installs it) adds them to the root's store
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
	mkdir -p "$DEBROOT/usr/local/share/ca-certificates"
	cp /usr/local/share/ca-certificates/*.crt "$DEBROOT/usr/local/share/ca-certificates/"
fi
pass "fresh Debian 12 root with the source tree in /src ($(find "$DEBROOT/src" -type f | wc -l) files)"

t0=$SECONDS
if ! in_root bash /src/scripts/install-deps >"$INTEG_TMP/install-deps.out" 2>&1; then
	cat "$INTEG_TMP/install-deps.out" >&2
	fail "scripts/install-deps in the fresh root"
fi
sed 's/^/     /' "$INTEG_TMP/install-deps.out"
pass "scripts/install-deps: $(in_root dpkg-query -W -f='${Status}\n' | grep -c 'install ok installed') packages installed, $((SECONDS - t0)) s"

missing=() n=0
while read -r kind name pkg what; do
	case $kind in
	'' | '#'*) continue ;;
	cmd) in_root sh -c 'command -v "$1"' _ "$name" >/dev/null || missing+=("$name ($pkg: $what)") ;;
	py) in_root python3 -c "import $name" 2>/dev/null || missing+=("python3 module $name ($pkg: $what)") ;;
	file) compgen -G "$DEBROOT$name" >/dev/null || missing+=("$name ($pkg: $what)") ;;
	*) fail "tests/needs: unknown kind '$kind' for $name" ;;
	esac
	n=$((n + 1))
done <"$S3LB_SRC/tests/needs"
[ "$n" -gt 40 ] || fail "tests/needs: only $n entries read"
[ ${#missing[@]} = 0 ] || fail "after install-deps the fresh root lacks: $(printf '%s; ' "${missing[@]}")"
pass "every one of the $n entries of tests/needs is present after install-deps"

t0=$SECONDS
if ! in_root bash -c 'cd /src && scripts/build release' >"$INTEG_TMP/build.out" 2>&1; then
	tail -n 40 "$INTEG_TMP/build.out" >&2
	fail "scripts/build release in the fresh root"
fi
pass "scripts/build release in the fresh root: $((SECONDS - t0)) s"

t0=$SECONDS
if ! in_root bash -c 'cd /src/build && ctest -L unit --output-on-failure' >"$INTEG_TMP/unit.out" 2>&1; then
	grep -E 'Failed|\*\*\*|Error' "$INTEG_TMP/unit.out" | tail -n 40 >&2
	fail "unit tests in the fresh root"
fi
grep -q '(Skipped)' "$INTEG_TMP/unit.out" &&
	fail "unit tests skipped in the fresh root: $(grep '(Skipped)' "$INTEG_TMP/unit.out")"
pass "unit tests in the fresh root: $(grep -oE '[0-9]+ tests passed, 0 tests failed out of [0-9]+|100% tests passed.*' "$INTEG_TMP/unit.out" | head -1), none skipped, $((SECONDS - t0)) s"
