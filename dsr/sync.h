/*
 * The kernel's IPVS connection sync daemons as `dr_sync:` wants them, and keepalived's VRRP
 * state, which decides between master and backup in role auto:
 *
 *   role     VRRP state (role auto only)              runs
 *   master   -                                        master daemon, no backup
 *   backup   -                                        backup daemon, no master
 *   auto     MASTER                                   master daemon, no backup
 *   auto     BACKUP, FAULT, STOP, no file, unknown    backup daemon, no master
 *
 * Backup for everything but MASTER: a backup only listens, so a director that is not sure it
 * holds the VIP learns the active one's connections and sends nothing; it is ready when the VIP
 * comes to it. keepalived (VRRP only: s3lb owns health and IPVS) tells its state through a
 * notify script that writes it into the state file (docs/operations.md); s3lb reads that file
 * every second.
 *
 * A transition stops first, then starts (backup -> master: stop the backup daemon, start the
 * master), and a daemon whose settings differ from the config's (interface, sync id, group,
 * port, ttl) is stopped and started again. Daemons are touched only when `dr_sync:` is set;
 * they are the kernel's and run on when s3lb stops (like the IPVS table, which s3lb never
 * flushes), so a restart of s3lb does not interrupt the synchronisation.
 *
 * Pure except dsr_vrrp_read (reads a file) and dsr_sync_apply (netlink); both run on the dsr
 * thread (dsr/director.c).
 */
#ifndef S3LB_DSR_SYNC_H
#define S3LB_DSR_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "dsr/ipvs.h"

typedef enum {
	DSR_VRRP_NONE = 0, /* no state file (keepalived has not told yet) or no state in it */
	DSR_VRRP_MASTER,
	DSR_VRRP_BACKUP,
	DSR_VRRP_FAULT,
	DSR_VRRP_STOP,
} dsr_vrrp_t;

/* "none", "MASTER", "BACKUP", "FAULT", "STOP" */
const char *dsr_vrrp_name(dsr_vrrp_t v);

/*
 * The state in the text of a state file: the last line that names one of MASTER, BACKUP, FAULT,
 * STOP (in any case) as a word, so both a bare "MASTER" and keepalived's notify line
 * `INSTANCE "VI_1" MASTER 100` work. DSR_VRRP_NONE when no line does.
 */
dsr_vrrp_t dsr_vrrp_parse(const char *text, size_t len);

/* Reads path (the first 4 KiB) and parses it. A missing file is DSR_VRRP_NONE and returns 0;
 * another error returns a negative errno with a message in err (and *out = DSR_VRRP_NONE). */
int dsr_vrrp_read(const char *path, dsr_vrrp_t *out, char *err, size_t errlen);

/* What the director needs of `dr_sync:`. */
typedef struct dsr_sync_conf_s {
	bool enabled;        /* `dr_sync:` is set; else the daemons are left alone */
	lb_sync_role_t role; /* auto, master, backup */
	dsr_daemon_t daemon; /* interface, sync id and the optional settings; state unused */
	char state_file[256];
} dsr_sync_conf_t;

/* From cfg->dr_sync. Returns 0, or -EINVAL with err (an unparsable group: `s3lb check`
 * refuses it first). */
int dsr_sync_conf_from(const lb_config_t *cfg, dsr_sync_conf_t *out, char *err, size_t errlen);

/* The daemons that should run: a mask of DSR_SYNC_MASTER and DSR_SYNC_BACKUP (the table above). */
unsigned dsr_sync_wanted(lb_sync_role_t role, dsr_vrrp_t vrrp);

typedef struct dsr_sync_step_s {
	bool start;     /* else stop */
	dsr_daemon_t d; /* start: the full daemon; stop: d.state */
} dsr_sync_step_t;

#define DSR_SYNC_MAX_STEPS 4

/*
 * The steps from have (the kernel's daemons, dsr_ipvs_daemons) to the daemons in the mask
 * wanted, each started with conf's settings: stops (master before backup), then starts.
 * Returns the number of steps written to out (0: nothing to do).
 */
size_t dsr_sync_plan(const dsr_daemon_t *conf, unsigned wanted, const dsr_daemon_t *have,
                     size_t nhave, dsr_sync_step_t out[DSR_SYNC_MAX_STEPS]);

/* "stop backup sync daemon", "start master sync daemon on eth1, sync id 7" */
void dsr_sync_step_format(const dsr_sync_step_t *s, char *buf, size_t len);

/*
 * Carries out the steps through h, on past a failure; a start answered EEXIST or a stop answered
 * ESRCH is done (someone else got there first; the next plan sees what runs). Calls cb after
 * each step (rc 0 or negative errno, msg NULL or why). Returns 0 or the first failure's errno.
 */
int dsr_sync_apply(dsr_ipvs_t *h, const dsr_sync_step_t *steps, size_t n,
                   void (*cb)(void *ud, const dsr_sync_step_t *s, int rc, const char *msg),
                   void *ud);

#endif
