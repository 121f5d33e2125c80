/*
 * net/repair on loopback: a live connection is dumped in repair mode, carried through the
 * handoff record, closed silently and rebuilt on a new socket; the conversation must go on in
 * both directions with every byte. Needs CAP_NET_ADMIN (TCP_REPAIR): without it, exit 77.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "handoff/record.h"
#include "net/repair.h"

#define REQ_LEN 3000
#define NEW_LEN 70000

static bool skipped;
static net_repair_state_t *dumped[2];

static int free_dumped(void **state)
{
	for (int i = 0; i < 2; i++)
		if (dumped[i])
			net_repair_state_free(dumped[i]);
	dumped[0] = dumped[1] = NULL;
	return 0;
}

static uint8_t pat(uint32_t i, uint8_t seed)
{
	return (uint8_t)(i * 131 + seed + (i >> 8));
}

static socklen_t loop_addr(int family, struct sockaddr_storage *ss, uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons(port);
		return sizeof(*a);
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	a->sin6_family = AF_INET6;
	a->sin6_addr = in6addr_loopback;
	a->sin6_port = htons(port);
	return sizeof(*a);
}

/* A listener on the loopback address of family; -1 if the host has none (no ::1). */
static int listen_on(int family)
{
	int l = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		return -1;
	struct sockaddr_storage ss;
	socklen_t sl = loop_addr(family, &ss, 0);
	if (bind(l, (struct sockaddr *)&ss, sl) < 0 || listen(l, 4) < 0) {
		close(l);
		return -1;
	}
	return l;
}

/* client <-> server over l; the client's receive buffer small so the server's replies back up */
static void connect_pair(int l, int family, int *client, int *server)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	assert_int_equal(getsockname(l, (struct sockaddr *)&ss, &sl), 0);
	int c = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c >= 0);
	int small = 4096;
	assert_int_equal(setsockopt(c, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	assert_int_equal(connect(c, (struct sockaddr *)&ss, sl), 0);
	int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(s >= 0);
	*client = c;
	*server = s;
}

static int inq(int fd)
{
	int n = -1;
	assert_int_equal(ioctl(fd, SIOCINQ, &n), 0);
	return n;
}

/* Reads exactly n bytes within 5 s and checks them against the pattern from offset off. */
static void read_pattern(int fd, uint32_t n, uint32_t off, uint8_t seed)
{
	uint8_t *buf = malloc(n ? n : 1);
	uint32_t got = 0;
	while (got < n) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, 5000);
		if (pr <= 0)
			fail_msg("read: %u of %u bytes, then nothing for 5 s", got, n);
		ssize_t r = recv(fd, buf + got, n - got, MSG_DONTWAIT);
		if (r < 0 && errno == EAGAIN)
			continue;
		if (r <= 0)
			fail_msg("read: %u of %u bytes, then %s", got, n,
			         r ? strerror(errno) : "EOF");
		got += (uint32_t)r;
	}
	for (uint32_t i = 0; i < n; i++)
		if (buf[i] != pat(off + i, seed))
			fail_msg("byte %u differs", off + i);
	free(buf);
}

/* Writes n pattern bytes; with the peer reading later, non-blocking: returns what went in. */
static uint32_t write_pattern(int fd, uint32_t n, uint8_t seed, bool until_full)
{
	uint8_t chunk[4096];
	uint32_t done = 0;
	while (done < n) {
		uint32_t k = n - done > sizeof(chunk) ? sizeof(chunk) : n - done;
		for (uint32_t i = 0; i < k; i++)
			chunk[i] = pat(done + i, seed);
		ssize_t w = send(fd, chunk, k, MSG_NOSIGNAL | (until_full ? MSG_DONTWAIT : 0));
		if (w < 0 && until_full && errno == EAGAIN)
			break;
		assert_true(w > 0);
		done += (uint32_t)w;
	}
	return done;
}

static void wait_inq(int fd, int n)
{
	for (int i = 0; i < 500 && inq(fd) < n; i++)
		usleep(1000);
	assert_int_equal(inq(fd), n);
}

static void get_info(int fd, struct tcp_info *ti)
{
	socklen_t tl = sizeof(*ti);
	memset(ti, 0, sizeof(*ti));
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, ti, &tl), 0);
}

/* The state through the wire record and back, as the agent would receive it. */
static void through_record(const net_repair_state_t *st, net_repair_state_t *out)
{
	ho_key_t key = {.len = 32};
	memset(key.bytes, 0x5a, key.len);
	ho_msg_t m = {.type = HO_STATE, .nonce = 1, .conn_id = 99, .st = *st}, d;
	uint8_t *buf;
	size_t len, used;
	assert_int_equal(ho_record_encode(&key, &m, &buf, &len), 0);
	ho_replay_t rw = {0};
	assert_int_equal(ho_record_decode(&key, &rw, buf, len, &d, &used), 0);
	assert_int_equal(used, len);
	free(buf);
	*out = d.st;
}

static void migrate(int family)
{
	char msg[256] = "";
	int l = listen_on(family);
	if (l < 0) {
		print_message("SKIPPED: no %s loopback address here (%s)\n",
		              family == AF_INET6 ? "::1" : "127.0.0.1", strerror(errno));
		skipped = true;
		skip();
	}
	int c, s;
	connect_pair(l, family, &c, &s);

	/* the client's request, unread by the server; the server's reply, unread by the client and
	 * more than its window: part of it waits in the server's send queue */
	assert_int_equal(write_pattern(c, REQ_LEN, 1, false), REQ_LEN);
	wait_inq(s, REQ_LEN);
	uint32_t reply = write_pattern(s, 4u << 20, 2, true);
	/* Let the connection go quiet (the client's delayed ACK out, its window closed): nothing
	 * here freezes the client's packets as the director's nft drop does, and a client segment
	 * that arrives while no socket holds the 4-tuple is answered with RST by this host. */
	usleep(250000);

	struct tcp_info before;
	get_info(s, &before);
	net_repair_state_t st, st2;
	int rc = net_repair_dump(s, &st, msg, sizeof(msg));
	if (rc < 0)
		fail_msg("dump: %s", msg);
	/* the queues outlive a failed assertion (cmocka longjmps): freed by the teardown */
	dumped[0] = &st;
	dumped[1] = &st2;
	assert_int_equal(st.family, family);
	assert_int_equal(st.tcp_state, TCP_ESTABLISHED);
	assert_int_equal(st.rcvq_len, REQ_LEN);
	for (uint32_t i = 0; i < REQ_LEN; i++)
		assert_int_equal(st.rcvq[i], pat(i, 1));
	/* every reply byte is at the client or in the dumped send queue (sent and unacknowledged
	 * bytes may be in both), and the queue holds the reply's tail */
	uint32_t at_client = (uint32_t)inq(c);
	assert_true(st.sndq_len > 0 && st.sndq_len <= reply);
	assert_true(reply - st.sndq_len <= at_client && at_client <= reply - st.sndq_unsent);
	for (uint32_t i = 0; i < st.sndq_len; i++)
		assert_int_equal(st.sndq[i], pat(reply - st.sndq_len + i, 2));
	assert_int_equal(st.options, before.tcpi_options & 7);
	assert_true(st.options & NET_REPAIR_OPT_WSCALE);
	assert_true(st.options & NET_REPAIR_OPT_TIMESTAMPS);
	assert_true(st.rcv_wscale > 0); /* a scale that a lost option would turn into 0 */
	assert_int_equal(st.snd_wscale, before.tcpi_snd_wscale);
	assert_int_equal(st.rcv_wscale, before.tcpi_rcv_wscale);
	print_message("dumped: rcvq %u, sndq %u (unsent %u), wscale %u/%u, mss %u, ts %u, "
	              "snd_wnd %u, rcv_wnd %u\n",
	              st.rcvq_len, st.sndq_len, st.sndq_unsent, st.snd_wscale, st.rcv_wscale,
	              st.mss, st.timestamp, st.snd_wnd, st.rcv_wnd);
	memset(&st2, 0, sizeof(st2));
	through_record(&st, &st2);

	/* same host: while the dumped socket exists, its 4-tuple is taken */
	int fd2;
	rc = net_repair_restore(&st2, &fd2, msg, sizeof(msg));
	assert_int_equal(rc, -EADDRNOTAVAIL);
	assert_int_equal(fd2, -1);
	assert_non_null(strstr(msg, "connect"));

	/* close silently and restore at once (the gap is the restore's few microseconds) */
	net_repair_abort_close(s);
	rc = net_repair_restore(&st2, &fd2, msg, sizeof(msg));
	if (rc < 0)
		fail_msg("restore: %s", msg);
	/* no FIN, no RST reached the client */
	struct pollfd p = {.fd = c, .events = POLLRDHUP};
	if (poll(&p, 1, 50) != 0)
		fail_msg("client revents %#x after the silent close", p.revents);
	struct tcp_info after;
	get_info(fd2, &after);
	assert_int_equal(after.tcpi_state, TCP_ESTABLISHED);
	assert_int_equal(after.tcpi_options & 7, st.options);
	assert_int_equal(after.tcpi_snd_wscale, st.snd_wscale);
	assert_int_equal(after.tcpi_rcv_wscale, st.rcv_wscale);
	/* the timestamp clock goes on from the dumped value (ms, or us with the low bit) */
	int ts;
	socklen_t tl = sizeof(ts);
	assert_int_equal(getsockopt(fd2, IPPROTO_TCP, TCP_TIMESTAMP, &ts, &tl), 0);
	uint32_t elapsed = (uint32_t)ts - st2.timestamp;
	assert_true(elapsed < ((st2.timestamp & 1) ? 5000000u : 5000u));
	int mss;
	socklen_t ml = sizeof(mss);
	assert_int_equal(getsockopt(fd2, IPPROTO_TCP, TCP_MAXSEG, &mss, &ml), 0);
	assert_int_equal(mss, st2.mss);

	rc = net_repair_leave(fd2, &st2, msg, sizeof(msg));
	if (rc < 0)
		fail_msg("leave: %s", msg);
	get_info(fd2, &after);
	assert_int_equal(after.tcpi_snd_wscale, before.tcpi_snd_wscale);
	assert_int_equal(after.tcpi_rcv_wscale, before.tcpi_rcv_wscale);
	assert_int_equal(after.tcpi_options & 7, before.tcpi_options & 7);

	/* the unread request comes out of the restored socket */
	read_pattern(fd2, REQ_LEN, 0, 1);
	/* the client gets the whole reply, then new bytes, then new bytes the other way */
	read_pattern(c, reply, 0, 2);
	assert_int_equal(write_pattern(fd2, NEW_LEN, 3, false), NEW_LEN);
	read_pattern(c, NEW_LEN, 0, 3);
	assert_int_equal(write_pattern(c, NEW_LEN, 4, false), NEW_LEN);
	read_pattern(fd2, NEW_LEN, 0, 4);
	/* and it ends like any connection: FIN, EOF at the client */
	close(fd2);
	uint8_t b;
	p = (struct pollfd){.fd = c, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(recv(c, &b, 1, 0), 0);

	free_dumped(NULL);
	close(c);
	close(l);
}

/* The director read the head of the request into user space (it parses before it decides): those
 * bytes go back in front of the dumped queue, and the restored socket reads the whole request. */
static void test_migrate_read_bytes_put_back(void **state)
{
	enum { HEAD = 700 };
	char msg[256] = "";
	uint8_t head[HEAD];
	(void)state;
	int l = listen_on(AF_INET);
	if (l < 0) {
		print_message("SKIPPED: no 127.0.0.1 here (%s)\n", strerror(errno));
		skipped = true;
		skip();
	}
	int c, s, fd2;
	connect_pair(l, AF_INET, &c, &s);
	assert_int_equal(write_pattern(c, REQ_LEN, 1, false), REQ_LEN);
	wait_inq(s, REQ_LEN);
	assert_int_equal(recv(s, head, HEAD, 0), HEAD);
	usleep(50000); /* the client's segments acknowledged */

	net_repair_state_t st, st2;
	memset(&st2, 0, sizeof(st2));
	dumped[0] = &st;
	dumped[1] = &st2;
	if (net_repair_dump(s, &st, msg, sizeof(msg)) < 0)
		fail_msg("dump: %s", msg);
	assert_int_equal(st.rcvq_len, REQ_LEN - HEAD);
	uint32_t seq = st.rcv_seq;
	assert_int_equal(net_repair_unread(&st, head, HEAD), 0);
	assert_int_equal(st.rcvq_len, REQ_LEN);
	assert_int_equal(st.rcv_seq, seq);
	for (uint32_t i = 0; i < REQ_LEN; i++)
		assert_int_equal(st.rcvq[i], pat(i, 1));
	assert_int_equal(net_repair_unread(&st, head, NET_REPAIR_MAX_QUEUE), -E2BIG);
	assert_int_equal(st.rcvq_len, REQ_LEN);
	through_record(&st, &st2);

	net_repair_abort_close(s);
	if (net_repair_restore(&st2, &fd2, msg, sizeof(msg)) < 0)
		fail_msg("restore: %s", msg);
	if (net_repair_leave(fd2, &st2, msg, sizeof(msg)) < 0)
		fail_msg("leave: %s", msg);
	read_pattern(fd2, REQ_LEN, 0, 1); /* the head again, then the rest */
	assert_int_equal(write_pattern(fd2, NEW_LEN, 3, false), NEW_LEN);
	read_pattern(c, NEW_LEN, 0, 3);
	assert_int_equal(write_pattern(c, NEW_LEN, 4, false), NEW_LEN);
	read_pattern(fd2, NEW_LEN, 0, 4);
	close(fd2);
	free_dumped(NULL);
	close(c);
	close(l);
}

static void test_migrate_ipv4(void **state)
{
	migrate(AF_INET);
}

static void test_migrate_ipv6(void **state)
{
	migrate(AF_INET6);
}

static void test_not_established_refused(void **state)
{
	char msg[256];
	net_repair_state_t st;
	/* a listening socket */
	int l = listen_on(AF_INET);
	assert_true(l >= 0);
	assert_int_equal(net_repair_dump(l, &st, msg, sizeof(msg)), -ENOTCONN);
	assert_non_null(strstr(msg, "state 10 (LISTEN), not ESTABLISHED"));
	assert_null(st.rcvq);
	/* a connection the peer has half-closed (CLOSE_WAIT) */
	int c, s;
	connect_pair(l, AF_INET, &c, &s);
	assert_int_equal(shutdown(c, SHUT_WR), 0);
	struct tcp_info ti;
	for (int i = 0; i < 500; i++) {
		get_info(s, &ti);
		if (ti.tcpi_state == TCP_CLOSE_WAIT)
			break;
		usleep(1000);
	}
	assert_int_equal(ti.tcpi_state, TCP_CLOSE_WAIT);
	assert_int_equal(net_repair_dump(s, &st, msg, sizeof(msg)), -ENOTCONN);
	assert_non_null(strstr(msg, "TCP_INFO: state 8 (CLOSE_WAIT), not ESTABLISHED"));
	net_repair_abort_close(s);

	/* a record that says CLOSE_WAIT is not restored */
	connect_pair(l, AF_INET, &c, &s);
	assert_int_equal(net_repair_dump(s, &st, msg, sizeof(msg)), 0);
	net_repair_abort_close(s);
	st.tcp_state = TCP_CLOSE_WAIT;
	int fd = 12345;
	assert_int_equal(net_repair_restore(&st, &fd, msg, sizeof(msg)), -ENOTCONN);
	assert_int_equal(fd, -1);
	assert_string_equal(msg, "state 8 (CLOSE_WAIT) is not ESTABLISHED: nothing to restore: "
	                         "Transport endpoint is not connected");
	net_repair_state_free(&st);
	close(c);
	close(l);
}

int main(void)
{
	int probe = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	if (probe < 0 || setsockopt(probe, IPPROTO_TCP, TCP_REPAIR, &one, sizeof(one)) < 0) {
		printf("SKIPPED: TCP_REPAIR refused (%s): needs CAP_NET_ADMIN\n", strerror(errno));
		return 77;
	}
	close(probe);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_migrate_ipv4, free_dumped),
	    cmocka_unit_test_teardown(test_migrate_ipv6, free_dumped),
	    cmocka_unit_test(test_not_established_refused),
	    cmocka_unit_test_teardown(test_migrate_read_bytes_put_back, free_dumped),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	return rc ? rc : skipped ? 77 : 0; /* a skipped test never counts as passed */
}
