/*
 * The service manager's view of s3lb (systemd, Type=notify): the one adapter to libsystemd.
 * When s3lb was not started by systemd (NOTIFY_SOCKET unset) every call is a no-op.
 */
#ifndef S3LB_CORE_NOTIFY_H
#define S3LB_CORE_NOTIFY_H

typedef enum lb_notify_e {
	LB_NOTIFY_READY,     /* serving: `systemctl start` returns, a reload is over */
	LB_NOTIFY_RELOADING, /* a reload began (SIGHUP); READY follows when it is over */
	LB_NOTIFY_STOPPING,  /* SIGTERM: draining, then exit */
} lb_notify_t;

/*
 * Sends state with a one-line status (shown by `systemctl status`; NULL: none). Any thread; a
 * datagram on a local socket, so it does not wait on anything. Returns 1 when sent, 0 when
 * there is no service manager to tell, or a negative errno.
 */
int lb_notify(lb_notify_t state, const char *status);

#endif
