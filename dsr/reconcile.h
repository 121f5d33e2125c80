/*
 * The reconciler: brings the kernel's IPVS table to the wanted state with the fewest changes, and
 * never flushes, so established DR connections survive s3lb starting, restarting and reloading.
 *
 *   want (config x health)  --+
 *   have (dsr_ipvs_dump)   ---+--> dsr_plan_make (pure) --> plan --> dsr_plan_apply --> kernel
 *   owned (dsr/owner.h)    ---+                                         |
 *                                                                       +--> owned (saved)
 *
 * A plan is ordered: add services, edit services, add destinations, edit destinations, delete
 * destinations, delete services (each phase sorted by key), so capacity is added before any is
 * removed and no step depends on a later one.
 *
 * Rules (keepalived's ipvswrapper does the same; STYLE.md "Health and IPVS"):
 *   - Every service in want is managed: created if missing, edited when its scheduler, flags,
 *     persistence timeout or netmask differ. Its destinations are created or edited (weight,
 *     thresholds, forwarding method) to match. Down or draining nodes come in want with weight 0;
 *     a node without a health verdict yet (dest.keep_weight) keeps the kernel's weight while it
 *     is below the wanted one, and is added with weight 0.
 *   - Destinations are always DR (dest.fwd in want is ignored), and DR cannot change ports: a
 *     destination's port must equal its service's (0 in want means "the service's port");
 *     firewall-mark services keep the destination port as given.
 *   - A kernel service or destination missing from want is deleted only when owned (s3lb created
 *     it, dsr/owner.h); anything else is left alone. A deleted service takes its destinations
 *     with it, so the plan deletes no destination of a service it deletes.
 *   - Apply treats add+EEXIST and delete+ENOENT/ESRCH as done, carries on past a failed step
 *     (skipping the destinations of a service whose add failed) and reports every step.
 *
 * Threads: dsr_plan_make is pure and runs anywhere; apply and dsr_reconcile run on the thread that
 * owns the dsr_ipvs_t and the dsr_owned_t, and block on netlink.
 */
#ifndef S3LB_DSR_RECONCILE_H
#define S3LB_DSR_RECONCILE_H

#include <stddef.h>

#include "dsr/ipvs.h"
#include "dsr/owner.h"

typedef enum {
	DSR_STEP_SVC_ADD,
	DSR_STEP_SVC_EDIT,
	DSR_STEP_DEST_ADD,
	DSR_STEP_DEST_EDIT,
	DSR_STEP_DEST_DEL,
	DSR_STEP_SVC_DEL,
} dsr_step_kind_t;

typedef struct dsr_step_s {
	dsr_step_kind_t kind;
	dsr_svc_t svc;   /* the wanted service (SVC_DEL: the kernel's); DEST_*: svc.key names it */
	dsr_dest_t dest; /* DEST_*: the wanted destination (DEST_DEL: the kernel's) */
} dsr_step_t;

typedef struct dsr_plan_s {
	dsr_step_t *steps;
	size_t n;
} dsr_plan_t;

/*
 * Computes the plan. want is validated first (family, protocol, duplicate services or
 * destinations, DR ports, thresholds); on a bad want returns -EINVAL with a message naming the
 * service/destination in err and an empty plan. Free the plan with dsr_plan_free.
 */
__attribute__((warn_unused_result)) int dsr_plan_make(const dsr_table_t *want,
                                                      const dsr_table_t *have,
                                                      const dsr_owned_t *owned, dsr_plan_t *plan,
                                                      char *err, size_t errlen);
void dsr_plan_free(dsr_plan_t *plan);

/* One line per step, for logs and tests: "add service TCP 192.0.2.10:80 sched mh flags 0x8
 * timeout 0", "edit dest 10.0.0.11:80 of TCP 192.0.2.10:80 weight 0", "delete service ...". */
void dsr_step_format(const dsr_step_t *step, char *buf, size_t len);

typedef struct dsr_apply_result_s {
	size_t done;     /* steps the kernel carried out */
	size_t already;  /* add+EEXIST, delete+ENOENT/ESRCH */
	size_t failed;   /* including skipped destinations of a service that could not be added */
	int first_rc;    /* 0, or the first failure's negative errno */
	char first[384]; /* the first failure's message */
	size_t planned;  /* dsr_reconcile: steps in the plan */
} dsr_apply_result_t;

/* Called after each step with its result (0, or negative errno) and a message when it failed
 * (NULL otherwise). Runs on the applying thread. */
typedef void (*dsr_step_cb)(void *ud, const dsr_step_t *step, int rc, const char *msg);

/*
 * Applies plan through h. Records adds in owned and saves it before sending them (write-ahead),
 * then records the outcome and saves again. Returns 0 when no step failed, else the first
 * failure's negative errno (details in res). A failure to save owned stops before any add.
 */
__attribute__((warn_unused_result)) int dsr_plan_apply(dsr_ipvs_t *h, const dsr_plan_t *plan,
                                                       dsr_owned_t *owned, dsr_step_cb cb, void *ud,
                                                       dsr_apply_result_t *res);

/* The whole cycle: dump, prune owned (dsr_owned_prune), plan, apply. */
__attribute__((warn_unused_result)) int dsr_reconcile(dsr_ipvs_t *h, const dsr_table_t *want,
                                                      dsr_owned_t *owned, dsr_step_cb cb, void *ud,
                                                      dsr_apply_result_t *res);

#endif
