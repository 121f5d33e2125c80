#!/bin/bash
# The VM harness itself, in Debian's own kernel under QEMU: modprobe ip_vs, namespaces joined by a
# veth pair ping each other, an IPVS DR service added in one namespace is listed there and not in
# another (IPVS tables are per namespace), and a real GET through a DR VIP returns its bytes from
# the real server straight to the client: the director's interface sends almost none of them.
set -euo pipefail
# shellcheck source=tests/vm/lib.sh
. "$(dirname "$0")/lib.sh"

vm_enter --timeout 600 -- "$@"
# ---- in the guest from here on -------------------------------------------------------------------

note "guest kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print int($2 / 1024) " MiB" }' /proc/meminfo)"

modprobe ip_vs
[ -e /proc/net/ip_vs ] || fail "/proc/net/ip_vs missing after modprobe ip_vs"
pass "modprobe ip_vs: $(head -n1 /proc/net/ip_vs)"

# Two namespaces, one veth pair, a ping across.
ns_add a b
ns_link a va 10.99.0.1/24 b vb 10.99.0.2/24
ns a ping -c 1 -W 5 10.99.0.2 >/dev/null || fail "ping a -> b across the veth pair"
ns b ping -c 1 -W 5 10.99.0.1 >/dev/null || fail "ping b -> a across the veth pair"
pass "two namespaces, a veth pair, ping both ways"

need_cmd ipvsadm ipvsadm
ns a ipvsadm -A -t 10.99.0.100:80 -s rr
ns a ipvsadm -a -t 10.99.0.100:80 -r 10.99.0.2:80 -g -w 1
listing=$(ns a ipvsadm -Ln)
grep -q '^TCP  10.99.0.100:80 rr' <<<"$listing" || fail "service not listed: $listing"
grep -Eq -- '-> 10.99.0.2:80 +Route +1 ' <<<"$listing" || fail "DR destination not listed: $listing"
ns b ipvsadm -Ln | grep -q 10.99.0.100 && fail "namespace b sees namespace a's IPVS service"
ipvsadm -Ln | grep -q 10.99.0.100 && fail "the root namespace sees namespace a's IPVS service"
pass "DR virtual service in namespace a, listed there only"
note "$(ns a ipvsadm -Ln | sed -n '4,$p' | tr -s ' ' | paste -sd ';')"

# DR for real: client, director and real server on one bridge (in the guest's root namespace).
# The director holds the VIP on its interface; the node holds it on lo and must not answer ARP
# for it (arp_ignore/arp_announce on all and on its interface). ip_forward stays 0.
vip=10.98.0.100
ns_add client director node
ip link add br0 type bridge
ip link set br0 up
for n in client director node; do
	ip link add eth0 netns "$n" type veth peer name "br-$n"
	ip link set "br-$n" master br0 up
	ip -n "$n" link set eth0 up
done
ip -n client addr add 10.98.0.10/24 dev eth0
ip -n director addr add 10.98.0.1/24 dev eth0
ip -n director addr add $vip/32 dev eth0
ip -n node addr add 10.98.0.2/24 dev eth0
ip -n node addr add $vip/32 dev lo
ns_sysctl node net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
	net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2
[ "$(ns director cat /proc/sys/net/ipv4/ip_forward)" = 0 ] || fail "ip_forward is on in the director"

ns director ipvsadm -A -t $vip:80 -s rr
ns director ipvsadm -a -t $vip:80 -r 10.98.0.2:80 -g -w 1

www=$VM_TMP/www
mkdir -p "$www"
head -c $((4 << 20)) /dev/urandom >"$www/blob"
want=$(md5sum <"$www/blob" | cut -d' ' -f1)
ns node busybox httpd -f -p 80 -h "$www" &
httpd=$!
trap 'kill $httpd 2>/dev/null || true' EXIT
tries=0
for _ in $(seq 50); do
	tries=$((tries + 1))
	ns client busybox wget -q -O /dev/null "http://10.98.0.2/blob" 2>/dev/null && break
	sleep 0.2
done
pass "direct GET from the node works (no IPVS; $tries tries)"

tx0=$(ns_tx_bytes director eth0)
got=$(ns client busybox wget -q -O - "http://$vip/blob" | md5sum | cut -d' ' -f1)
tx1=$(ns_tx_bytes director eth0)
[ "$got" = "$want" ] || fail "GET through the DR VIP: md5 $got, want $want"
# IPVS folds its per-CPU counters into what it reports every 2 s (the estimator timer): poll.
for _ in $(seq 30); do
	stats=$(ns director ipvsadm -Ln --stats --exact -t $vip:80)
	read -r conns inpkts outpkts _ < <(awk '$1 == "TCP" { print $3, $4, $5 }' <<<"$stats")
	[ "$conns" -ge 1 ] && break
	sleep 0.5
done
[ "$conns" -ge 1 ] || fail "IPVS counted no connection: $stats"
[ "$outpkts" = 0 ] || fail "IPVS saw outbound packets in DR mode: $stats"
sent=$((tx1 - tx0))
size=$(stat -c %s "$www/blob")
[ $((sent * 100)) -lt "$size" ] || fail "the director's eth0 sent $sent bytes for a $size-byte GET (want < 1%)"
pass "GET $((size >> 20)) MiB through the DR VIP: md5 ok; the director sent $sent bytes (IPVS: $conns conn, $inpkts pkts in, $outpkts out)"
