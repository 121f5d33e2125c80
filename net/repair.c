/*
 * TCP_REPAIR dump and restore. The kernel's rules this follows (HANDOFF.md, measured here):
 * TCP_REPAIR=1 before bind sets force-reuse (many restored sockets may bind VIP:port);
 * TCP_QUEUE_SEQ only while CLOSED; connect() in repair mode sends no SYN and makes the socket
 * ESTABLISHED; TCP_REPAIR_OPTIONS only once ESTABLISHED; TCP_REPAIR_WINDOW after the receive
 * queue is refilled (the kernel checks rcv_wup against rcv_nxt).
 */
#include "net/repair.h"

#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* Records the failed step and returns -errno (errno as the failed call left it). */
__attribute__((format(printf, 3, 4))) static int fail(char *msg, size_t msglen, const char *fmt,
                                                      ...)
{
	int err = errno ? errno : EINVAL;
	if (msg && msglen) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < msglen)
			snprintf(msg + n, msglen - (size_t)n, ": %s", strerror(err));
	}
	return -err;
}

static int setint(int fd, int opt, int val)
{
	return setsockopt(fd, IPPROTO_TCP, opt, &val, sizeof(val));
}

static int getint(int fd, int opt, int *val)
{
	socklen_t len = sizeof(*val);
	return getsockopt(fd, IPPROTO_TCP, opt, val, &len);
}

static void addr_out(const struct sockaddr_storage *ss, uint8_t *addr, uint16_t *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		memcpy(addr, &a->sin_addr, 4);
		*port = ntohs(a->sin_port);
	} else {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		memcpy(addr, &a->sin6_addr, 16);
		*port = ntohs(a->sin6_port);
	}
}

static socklen_t addr_in(int family, const uint8_t *addr, uint16_t port,
                         struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		memcpy(&a->sin_addr, addr, 4);
		a->sin_port = htons(port);
		return sizeof(*a);
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
	a->sin6_family = AF_INET6;
	memcpy(&a->sin6_addr, addr, 16);
	a->sin6_port = htons(port);
	return sizeof(*a);
}

/* Peeks a whole queue (TCP_REPAIR_QUEUE already selects it) into a new buffer. */
static int peek_queue(int fd, uint32_t len, uint8_t **out, const char *name, char *msg,
                      size_t msglen)
{
	*out = NULL;
	if (!len)
		return 0;
	uint8_t *buf = malloc(len);
	if (!buf) {
		errno = ENOMEM;
		return fail(msg, msglen, "%s queue: %u bytes", name, len);
	}
	ssize_t n = recv(fd, buf, len, MSG_PEEK | MSG_DONTWAIT);
	if (n != (ssize_t)len) {
		if (n >= 0)
			errno = EIO;
		int rc =
		    fail(msg, msglen, "recv(MSG_PEEK) %s queue: %zd of %u bytes", name, n, len);
		free(buf);
		return rc;
	}
	*out = buf;
	return 0;
}

static const char *state_name(unsigned s)
{
	static const char *const names[] = {"?",          "ESTABLISHED", "SYN_SENT",  "SYN_RECV",
	                                    "FIN_WAIT1",  "FIN_WAIT2",   "TIME_WAIT", "CLOSE",
	                                    "CLOSE_WAIT", "LAST_ACK",    "LISTEN",    "CLOSING"};
	return s < sizeof(names) / sizeof(names[0]) ? names[s] : "?";
}

static int not_established(unsigned state, char *msg, size_t msglen)
{
	errno = ENOTCONN;
	return fail(msg, msglen, "TCP_INFO: state %u (%s), not ESTABLISHED", state,
	            state_name(state));
}

int net_repair_dump(int fd, net_repair_state_t *st, char *msg, size_t msglen)
{
	memset(st, 0, sizeof(*st));
	errno = 0;
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	memset(&ti, 0, sizeof(ti));
	if (setint(fd, TCP_REPAIR, 1) < 0) {
		/* the kernel repairs only ESTABLISHED and CLOSED sockets (EPERM otherwise): say why
		 */
		int err = errno;
		if (err == EPERM && getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) == 0 &&
		    ti.tcpi_state != TCP_ESTABLISHED)
			return not_established(ti.tcpi_state, msg, msglen);
		errno = err;
		return fail(msg, msglen, "TCP_REPAIR=1");
	}

	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return fail(msg, msglen, "getsockname");
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) {
		errno = EAFNOSUPPORT;
		return fail(msg, msglen, "getsockname: family %d", ss.ss_family);
	}
	st->family = ss.ss_family;
	addr_out(&ss, st->local_addr, &st->local_port);
	sl = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return fail(msg, msglen, "getpeername");
	addr_out(&ss, st->peer_addr, &st->peer_port);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0)
		return fail(msg, msglen, "TCP_INFO");
	st->tcp_state = ti.tcpi_state;
	if (ti.tcpi_state != TCP_ESTABLISHED)
		return not_established(ti.tcpi_state, msg, msglen);
	st->options = ti.tcpi_options &
	              (NET_REPAIR_OPT_TIMESTAMPS | NET_REPAIR_OPT_SACK | NET_REPAIR_OPT_WSCALE);
	if (st->options & NET_REPAIR_OPT_WSCALE) {
		st->snd_wscale = ti.tcpi_snd_wscale;
		st->rcv_wscale = ti.tcpi_rcv_wscale;
	}

	int inq, outq, unsent, v;
	if (ioctl(fd, SIOCOUTQ, &outq) < 0)
		return fail(msg, msglen, "SIOCOUTQ");
	if (ioctl(fd, SIOCOUTQNSD, &unsent) < 0)
		return fail(msg, msglen, "SIOCOUTQNSD");
	if (ioctl(fd, SIOCINQ, &inq) < 0)
		return fail(msg, msglen, "SIOCINQ");
	if (inq < 0 || outq < 0 || unsent < 0 || unsent > outq ||
	    (uint32_t)inq > NET_REPAIR_MAX_QUEUE || (uint32_t)outq > NET_REPAIR_MAX_QUEUE) {
		errno = EOVERFLOW;
		return fail(msg, msglen, "queues: in %d, out %d, unsent %d", inq, outq, unsent);
	}
	if (getint(fd, TCP_MAXSEG, &v) < 0)
		return fail(msg, msglen, "TCP_MAXSEG");
	st->mss = (uint16_t)v;
	if (st->options & NET_REPAIR_OPT_TIMESTAMPS) {
		if (getint(fd, TCP_TIMESTAMP, &v) < 0)
			return fail(msg, msglen, "TCP_TIMESTAMP");
		st->timestamp = (uint32_t)v;
	}
	struct tcp_repair_window w;
	socklen_t wl = sizeof(w);
	if (getsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, &wl) < 0)
		return fail(msg, msglen, "TCP_REPAIR_WINDOW");
	st->snd_wl1 = w.snd_wl1;
	st->snd_wnd = w.snd_wnd;
	st->max_window = w.max_window;
	st->rcv_wnd = w.rcv_wnd;
	st->rcv_wup = w.rcv_wup;

	int rc;
	if (setint(fd, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0)
		return fail(msg, msglen, "TCP_REPAIR_QUEUE=RECV");
	if (getint(fd, TCP_QUEUE_SEQ, &v) < 0)
		return fail(msg, msglen, "TCP_QUEUE_SEQ (recv)");
	st->rcv_seq = (uint32_t)v;
	if ((rc = peek_queue(fd, (uint32_t)inq, &st->rcvq, "receive", msg, msglen)) < 0)
		goto fail;
	st->rcvq_len = (uint32_t)inq;
	if (setint(fd, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0) {
		rc = fail(msg, msglen, "TCP_REPAIR_QUEUE=SEND");
		goto fail;
	}
	if (getint(fd, TCP_QUEUE_SEQ, &v) < 0) {
		rc = fail(msg, msglen, "TCP_QUEUE_SEQ (send)");
		goto fail;
	}
	st->snd_seq = (uint32_t)v;
	if ((rc = peek_queue(fd, (uint32_t)outq, &st->sndq, "send", msg, msglen)) < 0)
		goto fail;
	st->sndq_len = (uint32_t)outq;
	st->sndq_unsent = (uint32_t)unsent;
	if (setint(fd, TCP_REPAIR_QUEUE, TCP_NO_QUEUE) < 0) {
		rc = fail(msg, msglen, "TCP_REPAIR_QUEUE=NO_QUEUE");
		goto fail;
	}
	return 0;
fail:
	net_repair_state_free(st);
	return rc;
}

/* Writes a queue in repair mode (TCP_REPAIR_QUEUE selects it): the kernel takes it as received
 * (receive queue) or as sent and not yet acknowledged (send queue). */
static int fill_queue(int fd, const uint8_t *p, uint32_t len, int flags, const char *name,
                      char *msg, size_t msglen)
{
	uint32_t done = 0;
	while (done < len) {
		/* chunks: the receive side allocates one skb per call */
		size_t chunk = len - done > 65536 ? 65536 : len - done;
		ssize_t n = send(fd, p + done, chunk, flags);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return fail(msg, msglen, "send %s queue at byte %u of %u", name, done, len);
		}
		done += (uint32_t)n;
	}
	return 0;
}

/* A new socket's buffer (tcp_wmem/tcp_rmem's default) may be smaller than the queue it must
 * take: then writing the queue would block. Raise it (the FORCE variant: above wmem_max/rmem_max,
 * CAP_NET_ADMIN) only then, since a set size turns the kernel's autotuning off for the socket. */
static int room_for(int fd, int opt, int force_opt, uint32_t len, char *msg, size_t msglen)
{
	int cur;
	socklen_t cl = sizeof(cur);
	if (getsockopt(fd, SOL_SOCKET, opt, &cur, &cl) < 0)
		return fail(msg, msglen, "getsockopt %s",
		            opt == SO_SNDBUF ? "SO_SNDBUF" : "SO_RCVBUF");
	/* the kernel reports twice the payload it takes (overhead): ask for the same margin */
	if (len == 0 || (uint64_t)len * 2 <= (uint64_t)cur)
		return 0;
	int want = (int)((uint64_t)len * 2 > INT32_MAX ? INT32_MAX : (uint64_t)len * 2);
	if (setsockopt(fd, SOL_SOCKET, force_opt, &want, sizeof(want)) < 0)
		return fail(msg, msglen, "%s=%d for a queue of %u bytes",
		            opt == SO_SNDBUF ? "SO_SNDBUFFORCE" : "SO_RCVBUFFORCE", want, len);
	return 0;
}

int net_repair_restore(const net_repair_state_t *st, int *fd_out, char *msg, size_t msglen)
{
	*fd_out = -1;
	errno = 0;
	if (st->tcp_state != TCP_ESTABLISHED) {
		errno = ENOTCONN;
		return fail(msg, msglen, "state %u (%s) is not ESTABLISHED: nothing to restore",
		            st->tcp_state, state_name(st->tcp_state));
	}
	if ((st->family != AF_INET && st->family != AF_INET6) || st->sndq_unsent > st->sndq_len ||
	    (st->rcvq_len && !st->rcvq) || (st->sndq_len && !st->sndq)) {
		errno = EINVAL;
		return fail(msg, msglen, "state record inconsistent (family %d, send queue %u/%u)",
		            st->family, st->sndq_unsent, st->sndq_len);
	}
	int rc, fd = socket(st->family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0)
		return fail(msg, msglen, "socket");
	if (setint(fd, TCP_REPAIR, 1) < 0) {
		rc = fail(msg, msglen, "TCP_REPAIR=1");
		goto fail;
	}
	struct sockaddr_storage ss;
	socklen_t sl = addr_in(st->family, st->local_addr, st->local_port, &ss);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		rc = fail(msg, msglen, "bind (local port %u)", st->local_port);
		goto fail;
	}
	/* the queues start where the unread / unacknowledged bytes start */
	if (setint(fd, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0 ||
	    setint(fd, TCP_QUEUE_SEQ, (int)(st->rcv_seq - st->rcvq_len)) < 0) {
		rc = fail(msg, msglen, "TCP_QUEUE_SEQ (recv)");
		goto fail;
	}
	if (setint(fd, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0 ||
	    setint(fd, TCP_QUEUE_SEQ, (int)(st->snd_seq - st->sndq_len)) < 0) {
		rc = fail(msg, msglen, "TCP_QUEUE_SEQ (send)");
		goto fail;
	}
	sl = addr_in(st->family, st->peer_addr, st->peer_port, &ss);
	if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
		rc = fail(msg, msglen, "connect (repair: no SYN) to peer port %u", st->peer_port);
		goto fail;
	}

	struct tcp_repair_opt opts[4];
	int n = 0;
	if (st->options & NET_REPAIR_OPT_SACK)
		opts[n++] = (struct tcp_repair_opt){TCPOPT_SACK_PERMITTED, 0};
	if (st->options & NET_REPAIR_OPT_WSCALE)
		opts[n++] = (struct tcp_repair_opt){
		    TCPOPT_WINDOW, (uint32_t)st->snd_wscale | (uint32_t)st->rcv_wscale << 16};
	if (st->options & NET_REPAIR_OPT_TIMESTAMPS)
		opts[n++] = (struct tcp_repair_opt){TCPOPT_TIMESTAMP, 0};
	if (st->mss)
		opts[n++] = (struct tcp_repair_opt){TCPOPT_MAXSEG, st->mss};
	if (n && setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_OPTIONS, opts,
	                    (socklen_t)(n * sizeof(opts[0]))) < 0) {
		rc = fail(msg, msglen, "TCP_REPAIR_OPTIONS (options %#x, wscale %u/%u, mss %u)",
		          st->options, st->snd_wscale, st->rcv_wscale, st->mss);
		goto fail;
	}
	if ((st->options & NET_REPAIR_OPT_TIMESTAMPS) &&
	    setint(fd, TCP_TIMESTAMP, (int)st->timestamp) < 0) {
		rc = fail(msg, msglen, "TCP_TIMESTAMP (%u)", st->timestamp);
		goto fail;
	}

	if ((rc = room_for(fd, SO_RCVBUF, SO_RCVBUFFORCE, st->rcvq_len, msg, msglen)) < 0 ||
	    (rc = room_for(fd, SO_SNDBUF, SO_SNDBUFFORCE, st->sndq_len, msg, msglen)) < 0)
		goto fail;
	if (setint(fd, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE) < 0) {
		rc = fail(msg, msglen, "TCP_REPAIR_QUEUE=RECV");
		goto fail;
	}
	if ((rc = fill_queue(fd, st->rcvq, st->rcvq_len, 0, "receive", msg, msglen)) < 0)
		goto fail;
	if (setint(fd, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE) < 0) {
		rc = fail(msg, msglen, "TCP_REPAIR_QUEUE=SEND");
		goto fail;
	}
	/* only what the old socket transmitted: the unsent tail goes out after repair mode */
	if ((rc = fill_queue(fd, st->sndq, st->sndq_len - st->sndq_unsent, 0, "send", msg,
	                     msglen)) < 0)
		goto fail;

	struct tcp_repair_window w = {.snd_wl1 = st->snd_wl1,
	                              .snd_wnd = st->snd_wnd,
	                              .max_window = st->max_window,
	                              .rcv_wnd = st->rcv_wnd,
	                              .rcv_wup = st->rcv_wup};
	if (setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w)) < 0) {
		rc = fail(msg, msglen, "TCP_REPAIR_WINDOW (snd_wnd %u, rcv_wnd %u)", w.snd_wnd,
		          w.rcv_wnd);
		goto fail;
	}
	if (setint(fd, TCP_REPAIR_QUEUE, TCP_NO_QUEUE) < 0) {
		rc = fail(msg, msglen, "TCP_REPAIR_QUEUE=NO_QUEUE");
		goto fail;
	}
	*fd_out = fd;
	return 0;
fail:
	net_repair_abort_close(fd);
	return rc;
}

int net_repair_leave(int fd, const net_repair_state_t *st, char *msg, size_t msglen)
{
	errno = 0;
	if (setint(fd, TCP_REPAIR, 0) < 0)
		return fail(msg, msglen, "TCP_REPAIR=0");
	if (!st || !st->sndq_unsent)
		return 0;
	errno = 0;
	return fill_queue(fd, st->sndq + (st->sndq_len - st->sndq_unsent), st->sndq_unsent,
	                  MSG_DONTWAIT | MSG_NOSIGNAL, "unsent tail of the send", msg, msglen);
}

void net_repair_abort_close(int fd)
{
	/* close() of a socket in repair mode disconnects it silently; make sure it is in it */
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &one, sizeof(one));
	close(fd);
}

int net_repair_unread(net_repair_state_t *st, const void *buf, size_t n)
{
	uint8_t *q;
	if (n == 0)
		return 0;
	if (n > NET_REPAIR_MAX_QUEUE || st->rcvq_len > NET_REPAIR_MAX_QUEUE - n)
		return -E2BIG;
	if (!(q = malloc(st->rcvq_len + n)))
		return -ENOMEM;
	memcpy(q, buf, n);
	if (st->rcvq_len)
		memcpy(q + n, st->rcvq, st->rcvq_len);
	free(st->rcvq);
	st->rcvq = q;
	st->rcvq_len += (uint32_t)n;
	return 0;
}

void net_repair_state_free(net_repair_state_t *st)
{
	free(st->rcvq);
	free(st->sndq);
	st->rcvq = st->sndq = NULL;
	st->rcvq_len = st->sndq_len = st->sndq_unsent = 0;
}
