# Shared by test_handoff_agent.sh and test_handoff_gateway.sh (sourced, after lib.sh): network
# namespaces (client, director with the VIP, node with the VIP on lo as for DR, one bridge), the
# node's files and S3 server (python3 http.server), the agent's start and stop, the agent started
# with $T/key. The caller sets p (namespace prefix), NET, VIP, NODE_IP and T, and defines
# handoff_steering (the director's routing and nft set-up, run in between).
[ "$(id -u)" = 0 ] || skip "needs root (network namespaces, nftables, TCP_REPAIR)"
need_cmd ip "iproute2"
need_cmd nft "nftables"
need_cmd curl "curl"
need_cmd python3 "python3"
need_cmd jq "jq"
need_cmd sysctl "procps"
NODE_BIN=$S3LB_BUILD/dsr/s3lb-node
[ -x "$NODE_BIN" ] || fail "no $NODE_BIN (build first)"

# handoff_route_mark MARK: the director routes packets marked MARK to the node, before the local
# table would take them (a DR forward)
handoff_route_mark() {
	ip -n "$p-dir" rule add pref 10 fwmark "$1" lookup 77
	ip -n "$p-dir" rule del pref 0
	ip -n "$p-dir" rule add pref 100 lookup local
	ip -n "$p-dir" route add default via "$NODE_IP" dev eth0 table 77
}
cleanup_ns() {
	local n
	for n in cli dir node sw; do ip netns del "$p-$n" 2>/dev/null || true; done
}
at_exit cleanup_ns
ip netns add "$p-sw" 2>/dev/null || skip "cannot create network namespaces here"
for n in cli dir node; do ip netns add "$p-$n"; done
ip -n "$p-sw" link add br0 type bridge || skip "no bridge support in this kernel"
ip -n "$p-sw" link set br0 up
for n in cli dir node; do
	ip -n "$p-sw" link add "v$n" type veth peer name eth0 netns "$p-$n" || skip "no veth support"
	ip -n "$p-sw" link set "v$n" master br0 up
	ip -n "$p-$n" link set eth0 up
	ip -n "$p-$n" link set lo up
done
nsx() {
	local n=$1
	shift
	ip netns exec "$p-$n" "$@"
}
ip -n "$p-cli" addr add "$NET.1/24" dev eth0
ip -n "$p-dir" addr add "$NET.2/24" dev eth0
ip -n "$p-dir" addr add "$VIP/32" dev eth0
ip -n "$p-node" addr add "$NODE_IP/24" dev eth0
ip -n "$p-node" addr add "$VIP/32" dev lo
# the node as a DR real server: never answers ARP for the VIP, never announces it
nsx node sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
	net.ipv4.conf.eth0.arp_ignore=1 net.ipv4.conf.eth0.arp_announce=2 \
	net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
# the director forwards steered packets out of the interface they came in on
nsx dir sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 \
	net.ipv4.conf.eth0.send_redirects=0 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.eth0.rp_filter=0
handoff_steering
pass "namespaces: client $NET.1, director $NET.2 (VIP $VIP), node $NODE_IP (VIP on lo)"

# ---- the node: files, its S3 server, the agent ----
mkdir -p "$T/www"
make_file "$T/www/small" 1000
make_file "$T/www/big" 6M
make_file "$T/www/mid" 3M
cat >"$T/srv.py" <<'EOF'
import http.server, os, sys
os.chdir(sys.argv[1])
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), H).serve_forever()
EOF
# background programs: `ip netns exec` execs them, so $! is theirs
ip netns exec "$p-node" python3 "$T/srv.py" "$T/www" >"$T/srv.log" 2>&1 &
srv_pid=$!
at_exit _integ_stop_pid "$srv_pid"
(umask 077 && head -c 32 /dev/urandom | base64 >"$T/key" && head -c 32 /dev/urandom | base64 >"$T/key2")

agent_pid=""
start_agent() {
	ip netns exec "$p-node" "$NODE_BIN" agent --listen "$NODE_IP:9902" --key-file "$1" --s3 127.0.0.1:8000 \
		--vip "$VIP" --admin 127.0.0.1:9903 --log-level debug "${@:2}" >>"$T/agent.log" 2>&1 &
	agent_pid=$!
	local i
	for ((i = 0; i < 100; i++)); do
		nsx node bash -c "exec 3<>/dev/tcp/127.0.0.1/9903" 2>/dev/null && return 0
		kill -0 "$agent_pid" 2>/dev/null || { cat "$T/agent.log" >&2; fail "the agent exited"; }
		sleep 0.05
	done
	fail "the agent did not listen"
}
# stops the agent (SIGTERM): it must exit 0, and an ASan build must have nothing to say
stop_agent() {
	local rc=0
	_integ_stop_pid "$agent_pid"
	wait "$agent_pid" 2>/dev/null || rc=$?
	agent_pid=""
	if grep -q 'Sanitizer' "$T/agent.log"; then
		grep -A 12 'Sanitizer' "$T/agent.log" | head -n 30 >&2
		fail "the agent's sanitizer report above"
	fi
	[ "$rc" = 0 ] || fail "the agent exited with status $rc after SIGTERM"
}
stop_agent_at_exit() { [ -z "$agent_pid" ] || kill "$agent_pid"; }
at_exit stop_agent_at_exit
start_agent "$T/key"
for ((i = 0; i < 100; i++)); do
	nsx node bash -c "exec 3<>/dev/tcp/127.0.0.1/8000" 2>/dev/null && break
	sleep 0.05
done
