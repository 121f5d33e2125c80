#!/bin/bash
# s3lb-node on storage nodes in network namespaces (Debian's kernel in the VM): check reports what a
# fresh node lacks, setup fixes it (VIP on lo as /32 or /128, arp_ignore/arp_announce on all and on
# the node's interface, found by itself), setup again changes nothing, teardown removes the VIP only.
# Then DR end to end with our tools alone: two nodes set up by s3lb-node, the director programmed by
# s3lb-ipvs reconcile, a client GETs through the VIP: right bytes, both nodes serve, the director's
# interface sends almost none of them; a node at weight 0 gets no new connection.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

vm_enter --timeout 600 -- "$@"
# ---- in the guest from here on -------------------------------------------------------------------

node_bin=$S3LB_BUILD/dsr/s3lb-node
ipvs=$S3LB_BUILD/dsr/s3lb-ipvs
for b in "$node_bin" "$ipvs"; do [ -x "$b" ] || fail "$b not built (cmake --build $S3LB_BUILD)"; done
need_cmd ipvsadm ipvsadm
modprobe -a ip_vs ip_vs_rr
vip=10.98.0.100

# client, director and two nodes on one bridge in the guest's root namespace
ns_add client director node1 node2
ip link add br0 type bridge
ip link set br0 up
for n in client director node1 node2; do
	ip link add eth0 netns "$n" type veth peer name "br-$n"
	ip link set "br-$n" master br0 up
	ip -n "$n" link set eth0 up
done
ip -n client addr add 10.98.0.10/24 dev eth0
ip -n director addr add 10.98.0.1/24 dev eth0
ip -n director addr add $vip/32 dev eth0
ip -n node1 addr add 10.98.0.2/24 dev eth0
ip -n node2 addr add 10.98.0.3/24 dev eth0

sysctl_of() { ns "$1" cat "/proc/sys/net/ipv4/conf/$2/$3"; }

# ---- check on a fresh node: everything missing, exit 1 ----
if out=$(ns node1 "$node_bin" check --vip $vip 2>&1); then fail "check passed on a fresh node: $out"; fi
for want in "MISSING vip $vip/32 on lo" "MISSING net.ipv4.conf.all.arp_ignore is 0, want 1" \
	"MISSING net.ipv4.conf.eth0.arp_announce is 0, want 2" "check: 5 items missing"; do
	grep -qF "$want" <<<"$out" || fail "check lacks \"$want\":"$'\n'"$out"
done
pass "check on a fresh node: 5 items missing, exit 1"

# ---- setup, setup again, check ----
for n in node1 node2; do
	out=$(ns "$n" "$node_bin" setup --vip $vip 2>&1) || fail "setup on $n: $out"
done
grep -qF "vip $vip/32 on lo: added" <<<"$out" || fail "setup: $out"
grep -qF "net.ipv4.conf.eth0.arp_ignore = 1 (was 0)" <<<"$out" || fail "setup: $out"
for n in node1 node2; do
	for k in all eth0; do
		[ "$(sysctl_of "$n" $k arp_ignore)" = 1 ] || fail "$n: $k.arp_ignore"
		[ "$(sysctl_of "$n" $k arp_announce)" = 2 ] || fail "$n: $k.arp_announce"
	done
	ns "$n" ip -o addr show dev lo | grep -q "inet $vip/32" || fail "$n: no $vip/32 on lo"
done
[ "$(sysctl_of director all arp_ignore)" = 0 ] || fail "setup on a node changed the director's sysctls"
out=$(ns node1 "$node_bin" setup --vip $vip 2>&1) || fail "setup again: $out"
grep -qF "vip $vip/32 on lo: already present" <<<"$out" || fail "setup again: $out"
grep -qF "(was" <<<"$out" && fail "setup again changed something: $out"
out=$(ns node1 "$node_bin" check --vip $vip 2>&1) || fail "check after setup: $out"
grep -qF "check: ready for DR on $vip" <<<"$out" || fail "check: $out"
pass "setup: VIP on lo, arp sysctls on all and eth0 (found by itself); again: no change; check: ready"

# IPv6: a /128 on lo
out=$(ns node1 "$node_bin" setup --vip 2001:db8::100 2>&1) || fail "setup v6: $out"
ns node1 ip -o addr show dev lo | grep -q "inet6 2001:db8::100/128" || fail "no 2001:db8::100/128 on lo"
out=$(ns node1 "$node_bin" teardown --vip 2001:db8::100 2>&1) || fail "teardown v6: $out"
ns node1 ip -o addr show dev lo | grep -q "2001:db8::100" && fail "2001:db8::100 still on lo"
pass "IPv6 VIP: /128 on lo, removed by teardown"

# ---- DR end to end ----
cat >"$VM_TMP/rules" <<EOF
-A -t $vip:80 -s rr
-a -t $vip:80 -r 10.98.0.2:80 -g -w 1
-a -t $vip:80 -r 10.98.0.3:80 -g -w 1
EOF
state=$VM_TMP/owned
out=$(ns director "$ipvs" reconcile --state "$state" "$VM_TMP/rules" 2>&1) || fail "reconcile: $out"

www=$VM_TMP/www
mkdir -p "$www"
head -c $((4 << 20)) /dev/urandom >"$www/blob"
want=$(md5sum <"$www/blob" | cut -d' ' -f1)
size=$(stat -c %s "$www/blob")
pids=()
for n in node1 node2; do
	ns "$n" busybox httpd -f -p 80 -h "$www" &
	pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
for ip in 10.98.0.2 10.98.0.3; do
	for _ in $(seq 50); do
		ns client busybox wget -q -O /dev/null "http://$ip/blob" 2>/dev/null && break
		sleep 0.2
	done
done

tx0=$(ns_tx_bytes director eth0)
for i in 1 2 3 4; do
	got=$(ns client busybox wget -q -O - "http://$vip/blob" | md5sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "GET $i through the VIP: md5 $got, want $want"
done
tx1=$(ns_tx_bytes director eth0)
wait_conns 10.98.0.2:80 2
wait_conns 10.98.0.3:80 2
sent=$((tx1 - tx0))
[ $((sent * 100)) -lt $((4 * size)) ] || fail "the director sent $sent bytes for 4 GETs of $size bytes (want < 1%)"
pass "4 GETs of 4 MiB through the DR VIP: md5 ok, both nodes served, the director sent $sent bytes ($((sent * 10000 / (4 * size)))/10000 of them)"
ns director "$ipvs" list | while read -r l; do note "$l"; done

# node2 down: weight 0, kept; new connections all go to node1
sed -i 's/10.98.0.3:80 -g -w 1/10.98.0.3:80 -g -w 0/' "$VM_TMP/rules"
out=$(ns director "$ipvs" reconcile --state "$state" "$VM_TMP/rules" 2>&1) || fail "reconcile: $out"
grep -qxF "+ edit dest 10.98.0.3:80 of TCP $vip:80 weight 0" <<<"$out" || fail "steps: $out"
c2=$(conns 10.98.0.3:80)
c1=$(conns 10.98.0.2:80)
for i in 1 2 3; do
	got=$(ns client busybox wget -q -O - "http://$vip/blob" | md5sum | cut -d' ' -f1)
	[ "$got" = "$want" ] || fail "GET $i with node2 at weight 0: md5 $got"
done
wait_conns 10.98.0.2:80 $((c1 + 3))
[ "$(conns 10.98.0.3:80)" = "$c2" ] || fail "node2 at weight 0 got new connections: $(ns director "$ipvs" list)"
pass "node2 at weight 0: still listed, the next 3 GETs all went to node1"

# ---- teardown: VIP gone, sysctls stay, check reports it ----
out=$(ns node2 "$node_bin" teardown --vip $vip 2>&1) || fail "teardown: $out"
grep -qF "vip $vip/32 on lo: removed" <<<"$out" || fail "teardown: $out"
grep -qF "left as they are" <<<"$out" || fail "teardown: $out"
[ "$(sysctl_of node2 all arp_ignore)" = 1 ] || fail "teardown reset arp_ignore"
if out=$(ns node2 "$node_bin" check --vip $vip 2>&1); then fail "check passed after teardown"; fi
grep -qF "check: 1 item missing" <<<"$out" || fail "check after teardown: $out"
pass "teardown: VIP removed, sysctls left (and said so); check: 1 item missing"
