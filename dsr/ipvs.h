/*
 * IPVS client over generic netlink (family "IPVS", linux/ip_vs.h), on libnl-3. The only file that
 * speaks netlink to IPVS is dsr/ipvs.c; everything else sees these plain structs.
 *
 * Synchronous: each call sends one request and reads its reply (ack, error or dump) before it
 * returns. Run it off the gateway's loop (the director runs it on its own thread). A handle is
 * not thread-safe: one dsr_ipvs_t per thread. The handle works in the network namespace of the
 * thread that opened it (IPVS tables are per namespace).
 *
 * Errors: every call returns 0 or a negative errno (the kernel's, e.g. -EEXIST, -ESRCH, -ENOENT;
 * -ENOMEM; -EPROTO for a reply that does not parse; -ENOPROTOOPT when the kernel has no IPVS).
 * After a failure dsr_ipvs_last_error() tells what was being done and why, in one line, e.g.
 * "add destination 10.0.0.11:80 to TCP 192.0.2.10:80: destination already exists".
 */
#ifndef S3LB_DSR_IPVS_H
#define S3LB_DSR_IPVS_H

#include <stddef.h>
#include <stdint.h>

#include "dsr/types.h"

typedef struct dsr_info_s {
	uint32_t version; /* 0x010201 is 1.2.1 */
	uint32_t conn_tab_size;
} dsr_info_t;

typedef struct dsr_ipvs_s dsr_ipvs_t;

/* The operations, for messages and dsr_ipvs_strerror. */
typedef enum {
	DSR_OP_INFO,
	DSR_OP_SVC_DUMP,
	DSR_OP_SVC_ADD,
	DSR_OP_SVC_EDIT,
	DSR_OP_SVC_DEL,
	DSR_OP_DEST_DUMP,
	DSR_OP_DEST_ADD,
	DSR_OP_DEST_EDIT,
	DSR_OP_DEST_DEL,
	DSR_OP_DAEMON_START,
	DSR_OP_DAEMON_STOP,
	DSR_OP_DAEMON_DUMP,
} dsr_op_t;

/*
 * Connects to generic netlink and resolves the IPVS family. On failure returns a negative errno
 * and writes why into err (-ENOPROTOOPT: "the kernel has no IPVS (modprobe ip_vs?)").
 */
__attribute__((warn_unused_result)) int dsr_ipvs_open(dsr_ipvs_t **out, char *err, size_t errlen);
void dsr_ipvs_close(dsr_ipvs_t *h);

/* The message of the last failed call on h ("" when none failed). Valid until the next call. */
const char *dsr_ipvs_last_error(const dsr_ipvs_t *h);

__attribute__((warn_unused_result)) int dsr_ipvs_info(dsr_ipvs_t *h, dsr_info_t *info);

/* Dumps all services (*svcs malloc'ed, free() it), or the destinations of one service. */
__attribute__((warn_unused_result)) int dsr_ipvs_services(dsr_ipvs_t *h, dsr_svc_t **svcs,
                                                          size_t *n);
__attribute__((warn_unused_result)) int dsr_ipvs_dests(dsr_ipvs_t *h, const dsr_svc_key_t *key,
                                                       dsr_dest_t **dests, size_t *n);
/* Both: the whole table of this namespace. Free with dsr_table_free. */
__attribute__((warn_unused_result)) int dsr_ipvs_dump(dsr_ipvs_t *h, dsr_table_t *out);

/* Services: add and edit send the full entry (scheduler, flags, timeout, netmask). */
__attribute__((warn_unused_result)) int dsr_ipvs_svc_add(dsr_ipvs_t *h, const dsr_svc_t *svc);
__attribute__((warn_unused_result)) int dsr_ipvs_svc_edit(dsr_ipvs_t *h, const dsr_svc_t *svc);
__attribute__((warn_unused_result)) int dsr_ipvs_svc_del(dsr_ipvs_t *h, const dsr_svc_key_t *key);

/* Destinations of the service named by key. */
__attribute__((warn_unused_result)) int dsr_ipvs_dest_add(dsr_ipvs_t *h, const dsr_svc_key_t *key,
                                                          const dsr_dest_t *dest);
__attribute__((warn_unused_result)) int dsr_ipvs_dest_edit(dsr_ipvs_t *h, const dsr_svc_key_t *key,
                                                           const dsr_dest_t *dest);
__attribute__((warn_unused_result)) int dsr_ipvs_dest_del(dsr_ipvs_t *h, const dsr_svc_key_t *key,
                                                          const dsr_dest_t *dest);

/*
 * The kernel's connection synchronisation daemons (what `ipvsadm --start-daemon` starts): a
 * master multicasts the state of this director's IPVS connections on an interface, a backup
 * listens and creates the entries it hears of, so that a standby director knows every DR
 * connection when the VIP moves to it. At most one of each per network namespace; both may run
 * at once. The daemon is the kernel's: it runs on, unchanged, when s3lb stops.
 */
/* dsr_daemon_t: dsr/types.h */

/* Starts a daemon (d->state says which): -EEXIST when one of that state runs already. */
__attribute__((warn_unused_result)) int dsr_ipvs_daemon_start(dsr_ipvs_t *h, const dsr_daemon_t *d);
/* Stops the daemon of that state: -ESRCH when none runs. */
__attribute__((warn_unused_result)) int dsr_ipvs_daemon_stop(dsr_ipvs_t *h, uint32_t state);
/* The daemons running, at most two (out[0..*n-1]; the kernel fills every optional field). */
__attribute__((warn_unused_result)) int dsr_ipvs_daemons(dsr_ipvs_t *h, dsr_daemon_t out[2],
                                                         size_t *n);

/* What err (negative errno) means for op, e.g. (DSR_OP_SVC_DEL, -ESRCH): "no such virtual
 * service". Never NULL; falls back to strerror's text. */
const char *dsr_ipvs_strerror(dsr_op_t op, int err);

#endif
