#!/bin/bash
# dsr/ against a real IPVS (Debian's kernel in the VM): s3lb-ipvs drives the same client and
# reconciler the director uses. Services and destinations added through the client are dumped back
# identical to what ipvsadm lists; weights are edited, a node goes to weight 0 and stays, a node the
# config drops is deleted; foreign services and destinations are left alone; the kernel's errors come
# back as clear messages; and 1000 destinations are reconciled, then changed, timed next to
# `ipvsadm -R` restoring the same table in the same VM.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

vm_enter --timeout 600 -- "$@"
# ---- in the guest from here on -------------------------------------------------------------------

ipvs=$S3LB_BUILD/dsr/s3lb-ipvs
[ -x "$ipvs" ] || fail "$ipvs not built (cmake --build $S3LB_BUILD)"
need_cmd ipvsadm ipvsadm
modprobe -a ip_vs ip_vs_rr ip_vs_wrr ip_vs_wlc ip_vs_lc ip_vs_sh ip_vs_mh
state=$VM_TMP/ipvs-owned

# ms: wall-clock milliseconds since the epoch
ms() { echo $(($(date +%s%N) / 1000000)); }
# same_table NS FILE: the namespace's table, as ipvsadm and as s3lb-ipvs save it, equals FILE
same_table() {
	local a b c
	a=$(ns "$1" ipvsadm -Sn | sort)
	b=$(ns "$1" "$ipvs" save | sort)
	c=$(sort "$2")
	[ "$a" = "$b" ] || fail "s3lb-ipvs save differs from ipvsadm -Sn:"$'\n'"$(diff <(echo "$a") <(echo "$b"))"
	[ "$a" = "$c" ] || fail "the kernel's table differs from $2:"$'\n'"$(diff <(echo "$c") <(echo "$a"))"
}
# rec NS RULES [ARGS]: reconcile, output in $out
rec() {
	local n=$1 f=$2
	shift 2
	out=$(ns "$n" "$ipvs" reconcile --state "$state" "$@" "$f" 2>&1) || fail "reconcile $f: $out"
}
has_line() { grep -qxF -- "$1" <<<"$out" || fail "missing \"$1\" in:"$'\n'"$out"; }

ns_add d
info=$(ns d "$ipvs" info)
[[ $info == "IPVS 1.2."* ]] || fail "info: $info"
pass "s3lb-ipvs info: $info"

# ---- add, dump back, compare with ipvsadm ----
cat >"$VM_TMP/r1" <<'EOF'
-A -t 192.0.2.10:80 -s mh -b mh-fallback,mh-port
-a -t 192.0.2.10:80 -r 10.0.0.11:80 -g -w 1
-a -t 192.0.2.10:80 -r 10.0.0.12:80 -g -w 2
-A -t [2001:db8::10]:443 -s wrr -p 300
-a -t [2001:db8::10]:443 -r [2001:db8::11]:443 -g -w 1
-A -f 7 -s rr
-a -f 7 -r 10.0.0.11:0 -g -w 1
-A -f 8 -6 -s sh -p 10 -M 64 -b sh-port
EOF
rec d "$VM_TMP/r1"
has_line "reconcile: 8 steps: 8 done, 0 already, 0 failed in ${out##* failed in }"
has_line "+ add service TCP 192.0.2.10:80 sched mh flags 0x18 timeout 0"
has_line "+ add dest [2001:db8::11]:443 to TCP [2001:db8::10]:443 weight 1"
same_table d "$VM_TMP/r1"
ns d ipvsadm -Ln | grep -q '^TCP  192.0.2.10:80 mh (mh-fallback,mh-port)' || fail "ipvsadm -Ln: $(ns d ipvsadm -Ln)"
pass "4 services (IPv4, IPv6, fwmark v4/v6), 4 DR destinations added; ipvsadm -Sn = s3lb-ipvs save = the rules"
for l in $(seq 2 7); do note "$(ns d "$ipvs" list | sed -n "${l}p")"; done

rec d "$VM_TMP/r1"
has_line "reconcile: 0 steps: 0 done, 0 already, 0 failed in ${out##* failed in }"
pass "reconcile again: nothing to do"

# ---- foreign entries: a service and a destination in our service, added by ipvsadm ----
ns d ipvsadm -A -t 198.51.100.1:80 -s rr
ns d ipvsadm -a -t 198.51.100.1:80 -r 10.9.0.1:80 -g -w 1
ns d ipvsadm -a -t 192.0.2.10:80 -r 10.0.0.99:80 -g -w 1
cp "$VM_TMP/r1" "$VM_TMP/r1+foreign"
printf '%s\n' "-A -t 198.51.100.1:80 -s rr" "-a -t 198.51.100.1:80 -r 10.9.0.1:80 -g -w 1" \
	"-a -t 192.0.2.10:80 -r 10.0.0.99:80 -g -w 1" >>"$VM_TMP/r1+foreign"
rec d "$VM_TMP/r1"
has_line "reconcile: 0 steps: 0 done, 0 already, 0 failed in ${out##* failed in }"
same_table d "$VM_TMP/r1+foreign"
pass "a foreign service and a foreign destination in our service: untouched"

# ---- edit: weights, a node down (weight 0), a node added, a scheduler changed, a service dropped ----
cat >"$VM_TMP/r2" <<'EOF'
-A -t 192.0.2.10:80 -s mh -b mh-fallback,mh-port
-a -t 192.0.2.10:80 -r 10.0.0.11:80 -g -w 5
-a -t 192.0.2.10:80 -r 10.0.0.12:80 -g -w 0
-a -t 192.0.2.10:80 -r 10.0.0.13:80 -g -w 1
-A -t [2001:db8::10]:443 -s wlc -p 300
-a -t [2001:db8::10]:443 -r [2001:db8::11]:443 -g -w 1
-A -f 7 -s rr
-a -f 7 -r 10.0.0.11:0 -g -w 1
EOF
rec d "$VM_TMP/r2"
want_steps="+ edit service TCP [2001:db8::10]:443 sched wlc flags 0x1 timeout 300
+ add dest 10.0.0.13:80 to TCP 192.0.2.10:80 weight 1
+ edit dest 10.0.0.11:80 of TCP 192.0.2.10:80 weight 5
+ edit dest 10.0.0.12:80 of TCP 192.0.2.10:80 weight 0
+ delete service FWM 8 IPv6"
[ "$(grep '^+' <<<"$out")" = "$want_steps" ] || fail "steps:"$'\n'"$out"$'\n'"want:"$'\n'"$want_steps"
cp "$VM_TMP/r2" "$VM_TMP/r2+foreign"
tail -n 3 "$VM_TMP/r1+foreign" >>"$VM_TMP/r2+foreign"
same_table d "$VM_TMP/r2+foreign"
pass "weights edited, a node at weight 0 kept, a node added, a scheduler changed, a dropped service deleted (5 steps)"

# ---- the config drops a node: deleted; the foreign one stays ----
grep -v 10.0.0.12 "$VM_TMP/r2" >"$VM_TMP/r3"
rec d "$VM_TMP/r3"
[ "$(grep '^+' <<<"$out")" = "+ delete dest 10.0.0.12:80 from TCP 192.0.2.10:80" ] || fail "steps: $out"
ns d ipvsadm -Sn | grep -q -- '-r 10.0.0.99:80' || fail "the foreign destination went away"
pass "a node the config drops is deleted; the foreign destination beside it stays"

# ---- errors come back as the kernel's, in words ----
printf '%s\n' "-A -t 192.0.2.50:80 -s nosuch" "-a -t 192.0.2.50:80 -r 10.0.0.11:80 -g" >"$VM_TMP/bad"
if out=$(ns d "$ipvs" reconcile --state "$state" "$VM_TMP/bad" 2>&1); then fail "reconcile with scheduler nosuch succeeded: $out"; fi
grep -qF "add service TCP 192.0.2.50:80: scheduler not available in this kernel" <<<"$out" || fail "message: $out"
grep -qF "skipped: service TCP 192.0.2.50:80 could not be added" <<<"$out" || fail "message: $out"
grep -q 192.0.2.50 "$state" && fail "a service that was never created is recorded as ours"
note "$(grep -F 'scheduler not' <<<"$out")"
pass "an unknown scheduler: a clear error, its destinations skipped, nothing recorded"

# ---- an empty config: everything of ours goes, foreign stays ----
: >"$VM_TMP/empty"
rec d "$VM_TMP/empty"
left=$(ns d ipvsadm -Sn)
[ "$left" = "-A -t 198.51.100.1:80 -s rr
-a -t 198.51.100.1:80 -r 10.9.0.1:80 -g -w 1" ] || fail "left after an empty config: $left"
grep -qv '^#' "$state" && fail "state file not empty: $(cat "$state")"
pass "an empty config removes what s3lb created, only that"

# ---- 1000 destinations: apply, no-op, change; ipvsadm -R for comparison ----
gen() { # gen WEIGHT FIRST: 4 services x 250 destinations, hosts FIRST..FIRST+249
	local s h
	for s in 0 1 2 3; do
		echo "-A -t 192.0.2.$((100 + s)):80 -s wrr"
		for h in $(seq "$2" $(($2 + 249))); do
			echo "-a -t 192.0.2.$((100 + s)):80 -r 10.$((1 + s)).$((h / 250)).$((h % 250 + 1)):80 -g -w $1"
		done
	done
}
gen 1 0 >"$VM_TMP/big1"
gen 2 25 >"$VM_TMP/big2" # 225 kept per service with a new weight, 25 gone, 25 new
[ "$(grep -c '^-a' "$VM_TMP/big1")" = 1000 ] || fail "generator"
ns_add s1 s2
state=$VM_TMP/big-owned

# timed VAR CMD...: run CMD, wall milliseconds into VAR
t_apply=0 t_noop=0 t_change=0 t_restore=0 t_flush=0 t_restore2=0
timed() {
	local v=$1 t
	shift
	t=$(ms)
	"$@"
	printf -v "$v" '%s' $(($(ms) - t))
}
timed t_apply rec s1 "$VM_TMP/big1" --quiet
apply_line=$out
has_line "reconcile: 1004 steps: 1004 done, 0 already, 0 failed in ${out##* failed in }"
same_table s1 "$VM_TMP/big1"
timed t_noop rec s1 "$VM_TMP/big1" --quiet
noop_line=$out
timed t_change rec s1 "$VM_TMP/big2" --quiet
change_line=$out
has_line "reconcile: 1100 steps: 1100 done, 0 already, 0 failed in ${out##* failed in }"
same_table s1 "$VM_TMP/big2"

timed t_restore ns s2 ipvsadm -R <"$VM_TMP/big1"
same_table s2 "$VM_TMP/big1"
timed t_flush ns s2 ipvsadm -C
timed t_restore2 ns s2 ipvsadm -R <"$VM_TMP/big2"
same_table s2 "$VM_TMP/big2"
pass "1000 destinations (4 services x 250) reconciled, then changed; the same tables through ipvsadm -R"
build="$ipvs, release build"
ldd "$ipvs" | grep -q libasan && build="$ipvs, ASan build: several times slower under TCG"
note "TIMING under QEMU TCG; $build"
note "TIMING s3lb-ipvs reconcile, empty -> 1000 dests (1004 steps): ${t_apply} ms wall; ${apply_line##*failed in } inside"
note "TIMING s3lb-ipvs reconcile, 1000 dests, nothing to do (dump + diff): ${t_noop} ms wall; ${noop_line##*failed in } inside"
note "TIMING s3lb-ipvs reconcile, 900 weights + 100 deleted + 100 added (1100 steps): ${t_change} ms wall; ${change_line##*failed in } inside"
note "TIMING ipvsadm -R, empty -> 1000 dests: ${t_restore} ms wall"
note "TIMING ipvsadm -C + ipvsadm -R of the changed table (a flush: drops every connection): $((t_flush + t_restore2)) ms wall"
