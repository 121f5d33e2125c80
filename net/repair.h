/*
 * Moving an ESTABLISHED TCP connection between sockets (and hosts) with TCP_REPAIR: dump a
 * socket's state into a plain struct, rebuild it on a new socket. The order of the steps is the
 * one ../shared/HANDOFF.md established on this kernel; the wire form of the state is
 * handoff/record.h. Blocking calls on plain descriptors, no loop: the caller runs them where it
 * may block for a few microseconds (both queues are copied in and out of the kernel).
 *
 * Every function returns 0 or a negative errno and, on failure, writes to msg (msglen bytes) a
 * line naming the step that failed, e.g. "TCP_REPAIR_OPTIONS (window scale 7/7): Invalid argument".
 */
#ifndef S3LB_NET_REPAIR_H
#define S3LB_NET_REPAIR_H

#include <stddef.h>
#include <stdint.h>

/* tcpi_options bits carried over (the values of TCPI_OPT_*) */
#define NET_REPAIR_OPT_TIMESTAMPS 1
#define NET_REPAIR_OPT_SACK       2
#define NET_REPAIR_OPT_WSCALE     4

/* Upper bound of each queue the dump accepts (the kernel's buffers are smaller by default). */
#define NET_REPAIR_MAX_QUEUE (16u << 20)

typedef struct net_repair_state_s {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t tcp_state; /* TCP_ESTABLISHED (1): restore refuses anything else */
	uint8_t local_addr[16], peer_addr[16]; /* 4 bytes used for AF_INET; network order */
	uint16_t local_port, peer_port;        /* host order */
	uint32_t snd_seq; /* write_seq: the sequence number after the last byte of the send queue */
	uint32_t rcv_seq; /* rcv_nxt: after the last byte received (the end of the receive queue) */
	/* TCP_REPAIR_WINDOW */
	uint32_t snd_wl1, snd_wnd, max_window, rcv_wnd, rcv_wup;
	uint8_t options; /* NET_REPAIR_OPT_* */
	uint8_t snd_wscale, rcv_wscale;
	uint16_t mss;       /* mss_clamp (TCP_MAXSEG in repair mode) */
	uint32_t timestamp; /* TCP_TIMESTAMP as read: clock + tsoffset, the low bit the usec flag */
	/* The queues, owned by the struct (malloc; net_repair_state_free). rcvq: bytes received and
	 * not read by the application; sndq: bytes written and not acknowledged, the last
	 * sndq_unsent of them never transmitted. */
	uint8_t *rcvq, *sndq;
	uint32_t rcvq_len, sndq_len, sndq_unsent;
} net_repair_state_t;

/* Puts fd in repair mode (it stops transmitting) and dumps it. fd must be ESTABLISHED (else
 * -ENOTCONN); it stays in repair mode whatever the result: the caller closes it with
 * net_repair_abort_close or takes it back with net_repair_leave. */
__attribute__((warn_unused_result)) int net_repair_dump(int fd, net_repair_state_t *st, char *msg,
                                                        size_t msglen);

/* Builds the connection of st on a new socket, left in repair mode, in *fd_out. Needs
 * CAP_NET_ADMIN. A queue larger than the new socket's buffer raises that buffer (SO_*BUFFORCE),
 * which fixes its size: the kernel stops autotuning it. The 4-tuple must
 * be free on this host (the dumped socket closed in repair mode first: else connect fails with
 * -EADDRNOTAVAIL). On failure nothing is left open. */
__attribute__((warn_unused_result)) int net_repair_restore(const net_repair_state_t *st,
                                                           int *fd_out, char *msg, size_t msglen);

/* Leaves repair mode (TCP_REPAIR=0: the kernel sends a window probe) and, when st is given,
 * queues the st->sndq_unsent bytes the old socket never transmitted, as ordinary data, without
 * blocking (the restore made room for them; -EAGAIN if not). */
__attribute__((warn_unused_result)) int net_repair_leave(int fd, const net_repair_state_t *st,
                                                         char *msg, size_t msglen);

/* Puts back in front of st's receive queue the last n bytes the owner read from the socket and did
 * not consume (a request the director parsed in user space but hands over): the restored socket
 * reads them first, then the rest. They must be exactly the bytes that preceded the queue in the
 * stream; rcv_seq is unchanged (the restore starts the queue n bytes earlier). 0, or -E2BIG
 * beyond NET_REPAIR_MAX_QUEUE, -ENOMEM; on failure st is unchanged. */
__attribute__((warn_unused_result)) int net_repair_unread(net_repair_state_t *st, const void *buf,
                                                          size_t n);

/* Closes fd while in repair mode: no FIN, no RST; the connection is forgotten here. */
void net_repair_abort_close(int fd);

/* Frees the queues; the struct may be reused. */
void net_repair_state_free(net_repair_state_t *st);

#endif
