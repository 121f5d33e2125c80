/*
 * A test-only director for tests/integ/test_handoff_agent.sh: the director's half of the handoff
 * in its plainest form (blocking calls, one forked child per connection), steering with the nft
 * sets the test made. Per connection: peek the request head, freeze the flow (nft set `frozen`),
 * dump it (net/repair), send STATE to the agent, wait for READY (--ready-ms), steer (the 4-tuple
 * from `frozen` to `steered` in one nft transaction: the test routes marked packets to the
 * node), send GO, close in repair mode; then wait for CLOSED and print its reports. On any
 * failure before GO it falls back: repair mode off, unfreeze, and it proxies the connection to
 * the node's S3 server itself. One line per event on stdout:
 *   conn C:P handoff ok
 *   conn C:P fallback REASON
 *   conn C:P closed REASON requests N [STATUS IN OUT USEC]...
 * Not part of s3lb: the gateway will do this on its loop with handoff/channel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/parse.h"
#include "handoff/record.h"
#include "net/repair.h"

static lb_addr_t listen_addr, agent_addr, s3_addr;
static const char *table = "hoatest";
static int ready_ms = 200;
static ho_key_t key;
static char who[64];

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char line[2048];
	int n = snprintf(line, sizeof(line), "conn %s ", who);
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(1, line, (size_t)n) < 0)
		_exit(1);
}

static uint64_t now_us(int clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* nft commands in one transaction */
static int nft(const char *cmds)
{
	FILE *p = popen("nft -f -", "w");
	if (!p)
		return -1;
	fputs(cmds, p);
	return pclose(p) == 0 ? 0 : -1;
}

static int nft_elem(const char *op1, const char *set1, const char *op2, const char *set2,
                    const char *elem)
{
	char cmd[512];
	int n =
	    snprintf(cmd, sizeof(cmd), "%s element inet %s %s { %s }\n", op1, table, set1, elem);
	if (op2)
		snprintf(cmd + n, sizeof(cmd) - (size_t)n, "%s element inet %s %s { %s }\n", op2,
		         table, set2, elem);
	return nft(cmd);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int send_msg(int fd, ho_msg_t *m)
{
	static uint64_t last;
	uint64_t n = now_us(CLOCK_REALTIME);
	m->nonce = last = n > last ? n : last + 1;
	uint8_t *buf;
	size_t len;
	if (ho_record_encode(&key, m, &buf, &len) < 0)
		return -1;
	int rc = write_all(fd, buf, len);
	free(buf);
	return rc;
}

/* reads one record within ms (-1: no limit); 0, or a negative error (-ETIMEDOUT, -EPIPE at EOF,
 * an HO_E* code) */
static int recv_msg(int fd, ho_replay_t *rw, ho_msg_t *m, int ms)
{
	static uint8_t *buf;
	static size_t len, cap;
	uint64_t end = now_us(CLOCK_MONOTONIC) + (uint64_t)ms * 1000u;
	for (;;) {
		size_t used;
		int rc = ho_record_decode(&key, rw, buf ? buf : (const uint8_t *)"", len, m, &used);
		if (rc == 0) {
			memmove(buf, buf + used, len - used);
			len -= used;
			return 0;
		}
		if (rc != HO_ETRUNC)
			return rc;
		int wait = -1;
		if (ms >= 0) {
			uint64_t now = now_us(CLOCK_MONOTONIC);
			if (now >= end)
				return -ETIMEDOUT;
			wait = (int)((end - now + 999) / 1000);
		}
		struct pollfd p = {fd, POLLIN, 0};
		int pr = poll(&p, 1, wait);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr == 0)
			return -ETIMEDOUT;
		if (cap - len < 65536) {
			cap = cap ? cap * 2 : 131072;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		ssize_t r = recv(fd, buf + len, cap - len, 0);
		if (r <= 0)
			return r == 0 ? -EPIPE : -errno;
		len += (size_t)r;
	}
}

static int connect_agent(void)
{
	int fd = socket(agent_addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&agent_addr.ss, agent_addr.len) < 0 &&
	    errno != EINPROGRESS) {
		int e = errno;
		close(fd);
		return -e;
	}
	struct pollfd p = {fd, POLLOUT, 0};
	int err = 0;
	socklen_t el = sizeof(err);
	if (poll(&p, 1, ready_ms) != 1)
		err = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
		err = errno;
	if (err) {
		close(fd);
		return -err;
	}
	int fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* the director serves the connection itself: a byte relay to the node's S3 server */
static void proxy(int cfd)
{
	int sfd = socket(s3_addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sfd < 0 || connect(sfd, (struct sockaddr *)&s3_addr.ss, s3_addr.len) < 0) {
		say("proxy connect: %s", strerror(errno));
		return;
	}
	struct pollfd p[2] = {{cfd, POLLIN, 0}, {sfd, POLLIN, 0}};
	int to[2] = {sfd, cfd};
	bool open[2] = {true, true};
	static char buf[65536];
	while (open[0] || open[1]) {
		if (poll(p, 2, 30000) <= 0)
			break;
		for (int i = 0; i < 2; i++) {
			if (!open[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = recv(p[i].fd, buf, sizeof(buf), 0);
			if (n <= 0) {
				open[i] = false;
				p[i].fd = -1;
				shutdown(to[i], SHUT_WR);
				continue;
			}
			if (write_all(to[i], (uint8_t *)buf, (size_t)n) < 0)
				open[0] = open[1] = false;
		}
	}
	close(sfd);
}

static void fallback(int cfd, const char *elem, const char *why)
{
	char msg[256];
	/* repair mode off: the socket carries on where it was (its queues untouched) */
	if (net_repair_leave(cfd, NULL, msg, sizeof(msg)) < 0)
		say("repair off: %s", msg);
	if (nft_elem("delete", "frozen", NULL, NULL, elem) < 0)
		say("unfreeze failed");
	say("fallback %s", why);
	proxy(cfd);
	close(cfd);
}

static void serve(int cfd)
{
	struct sockaddr_in peer;
	socklen_t pl = sizeof(peer);
	getpeername(cfd, (struct sockaddr *)&peer, &pl);
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
	snprintf(who, sizeof(who), "%s:%u", ip, ntohs(peer.sin_port));
	char elem[96];
	snprintf(elem, sizeof(elem), "%s . %u", ip, ntohs(peer.sin_port));

	/* the request head, peeked: it stays in the receive queue and migrates with it */
	char head[16384];
	for (;;) {
		struct pollfd p = {cfd, POLLIN, 0};
		if (poll(&p, 1, 5000) != 1) {
			say("no request");
			close(cfd);
			return;
		}
		ssize_t n = recv(cfd, head, sizeof(head) - 1, MSG_PEEK);
		if (n <= 0) {
			close(cfd);
			return;
		}
		head[n] = 0;
		if (strstr(head, "\r\n\r\n"))
			break;
		usleep(1000);
	}
	if (nft_elem("add", "frozen", NULL, NULL, elem) < 0) {
		say("fallback freeze failed");
		proxy(cfd);
		close(cfd);
		return;
	}
	net_repair_state_t st;
	char msg[256];
	if (net_repair_dump(cfd, &st, msg, sizeof(msg)) < 0) {
		snprintf(head, sizeof(head), "dump: %s", msg);
		fallback(cfd, elem, head);
		return;
	}
	uint64_t id = now_us(CLOCK_REALTIME);
	int afd = connect_agent();
	if (afd < 0) {
		net_repair_state_free(&st);
		snprintf(head, sizeof(head), "agent connect: %s", strerror(-afd));
		fallback(cfd, elem, head);
		return;
	}
	ho_msg_t m = {.type = HO_STATE, .conn_id = id, .st = st};
	int rc = send_msg(afd, &m);
	net_repair_state_free(&st);
	ho_replay_t rw = {0};
	ho_msg_t r;
	if (rc == 0)
		rc = recv_msg(afd, &rw, &r, ready_ms);
	if (rc < 0 || r.type != HO_READY || r.conn_id != id) {
		if (rc == 0 && r.type == HO_REFUSE)
			snprintf(head, sizeof(head), "refused reason %u", r.reason);
		else if (rc == -ETIMEDOUT)
			snprintf(head, sizeof(head), "READY timeout (%d ms)", ready_ms);
		else if (rc == -EPIPE || rc == -ECONNRESET)
			snprintf(head, sizeof(head), "channel closed by the agent");
		else
			snprintf(head, sizeof(head), "channel: %s",
			         rc < 0 ? ho_strerror(rc) : "unexpected message");
		if (rc == 0)
			ho_msg_free(&r);
		close(afd); /* the agent drops what it restored */
		fallback(cfd, elem, head);
		return;
	}
	/* steer: frozen -> steered in one transaction, then GO, then let go silently */
	if (nft_elem("add", "steered", "delete", "frozen", elem) < 0) {
		ho_msg_t f = {.type = HO_REFUSE, .conn_id = id, .reason = 1};
		(void)send_msg(afd, &f);
		close(afd);
		fallback(cfd, elem, "steer failed");
		return;
	}
	ho_msg_t go = {.type = HO_GO, .conn_id = id};
	if (send_msg(afd, &go) < 0)
		say("GO not sent");
	net_repair_abort_close(cfd);
	say("handoff ok");
	/* the connection is the node's now: wait for its end, or for the agent to hand it back
	 * (HANDBACK: freeze, GO; the final HANDBACK: restore here, unfreeze, serve the next
	 * request, which may be handed off again) */
	net_repair_state_t back = {0};
	bool frozen = false, have_back = false;
	for (;;) {
		rc = recv_msg(afd, &rw, &r, -1);
		if (rc < 0) {
			say("channel ended without CLOSED: %s", ho_strerror(rc));
			break;
		}
		if (r.type == HO_HANDBACK && !frozen) {
			ho_msg_free(&r);
			if (nft_elem("add", "frozen", "delete", "steered", elem) < 0) {
				ho_msg_t f = {.type = HO_REFUSE, .conn_id = id, .reason = 1};
				(void)send_msg(afd, &f);
				continue;
			}
			frozen = true;
			ho_msg_t g = {.type = HO_GO, .conn_id = id};
			(void)send_msg(afd, &g);
			continue;
		}
		if (r.type == HO_REFUSE && frozen) {
			/* the agent could not hand back after all: steer back to it */
			ho_msg_free(&r);
			if (nft_elem("add", "steered", "delete", "frozen", elem) < 0)
				say("re-steer failed");
			frozen = false;
			say("hand-back refused by the agent");
			continue;
		}
		if (r.type == HO_HANDBACK) {
			net_repair_state_free(&back);
			back = r.st; /* the final state */
			r.st.rcvq = r.st.sndq = NULL;
			have_back = true;
			ho_msg_free(&r);
			continue;
		}
		if (r.type == HO_CLOSED) {
			char line[1800];
			int n = snprintf(line, sizeof(line), "closed %u requests %u", r.reason,
			                 r.nreports);
			for (uint32_t i = 0; i < r.nreports && n < (int)sizeof(line) - 80; i++)
				n += snprintf(line + n, sizeof(line) - (size_t)n,
				              " [%u %llu %llu %llu]", r.reports[i].status,
				              (unsigned long long)r.reports[i].bytes_in,
				              (unsigned long long)r.reports[i].bytes_out,
				              (unsigned long long)r.reports[i].usec);
			say("%s", line);
			ho_msg_free(&r);
			break;
		}
		ho_msg_free(&r);
	}
	close(afd);
	if (have_back) {
		int fd;
		rc = net_repair_restore(&back, &fd, msg, sizeof(msg));
		if (nft_elem("delete", "frozen", NULL, NULL, elem) < 0)
			say("unfreeze failed");
		if (rc < 0) {
			say("hand-back restore failed: %s", msg);
			net_repair_state_free(&back);
			return;
		}
		if (net_repair_leave(fd, &back, msg, sizeof(msg)) < 0)
			say("hand-back: repair off: %s", msg);
		net_repair_state_free(&back);
		say("handed back");
		serve(fd); /* the next request gets its own decision */
		return;
	}
	if (frozen) {
		say("hand-back without a final state");
		(void)nft_elem("delete", "frozen", NULL, NULL, elem);
		return;
	}
	sleep(2); /* the last FIN/ACK still comes this way */
	if (nft_elem("delete", "steered", NULL, NULL, elem) < 0)
		say("unsteer failed");
}

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	stopping = 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
	                                     {"agent", required_argument, NULL, 'a'},
	                                     {"s3", required_argument, NULL, 's'},
	                                     {"key-file", required_argument, NULL, 'k'},
	                                     {"table", required_argument, NULL, 't'},
	                                     {"ready-ms", required_argument, NULL, 'r'},
	                                     {NULL, 0, NULL, 0}};
	const char *why, *key_file = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		lb_addr_t *a = c == 'l' ? &listen_addr : c == 'a' ? &agent_addr : &s3_addr;
		switch (c) {
		case 'l':
		case 'a':
		case 's':
			if (lb_parse_addr(optarg, a, &why) < 0) {
				fprintf(stderr, "ho_director: %s: %s\n", optarg, why);
				return 2;
			}
			break;
		case 'k':
			key_file = optarg;
			break;
		case 't':
			table = optarg;
			break;
		case 'r':
			ready_ms = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	char err[256];
	if (!key_file || ho_key_load(key_file, &key, err, sizeof(err)) < 0) {
		fprintf(stderr, "ho_director: %s\n", key_file ? err : "--key-file needed");
		return 2;
	}
	struct sigaction sa = {.sa_handler = SIG_DFL, .sa_flags = SA_NOCLDWAIT};
	sigaction(SIGCHLD, &sa, NULL);
	/* SIGTERM: stop the children too and wait for them (none is left to init) */
	setpgid(0, 0);
	struct sigaction st = {.sa_handler = on_term}; /* no SA_RESTART: accept returns */
	sigaction(SIGTERM, &st, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IONBF, 0);
	int l = socket(listen_addr.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&listen_addr.ss, listen_addr.len) < 0 || listen(l, 64) < 0) {
		fprintf(stderr, "ho_director: listen %s: %s\n", listen_addr.text, strerror(errno));
		return 1;
	}
	printf("listening %s\n", listen_addr.text);
	while (!stopping) {
		int cfd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		pid_t pid = fork();
		if (pid == 0) {
			signal(SIGTERM, SIG_DFL);
			prctl(PR_SET_PDEATHSIG, SIGTERM); /* the test stops the parent only */
			signal(SIGCHLD, SIG_DFL);         /* pclose waits for nft */
			close(l);
			serve(cfd);
			_exit(0);
		}
		close(cfd);
	}
	signal(SIGTERM, SIG_IGN);
	kill(0, SIGTERM);
	while (wait(NULL) >= 0 || errno == EINTR)
		; /* SA_NOCLDWAIT: returns ECHILD once every child is gone */
	return 0;
}
