/*
 * Which IPVS services and destinations s3lb itself created.
 *
 * IPVS has no owner field, and the reconciler must never touch what an operator (ipvsadm,
 * keepalived, kube-proxy) put there. So s3lb records what it creates in a small state file,
 * by default /run/s3lb/ipvs-owned, one entry per line:
 *
 *     service TCP 192.0.2.10:80
 *     dest TCP 192.0.2.10:80 10.0.0.11:80
 *
 * Why a file under /run: /run is a tmpfs, so the file lives exactly as long as the kernel's IPVS
 * table does (both vanish at reboot), and it survives s3lb restarts and reloads, which is when it
 * is needed. The rules (dsr/reconcile.c applies them):
 *   - Whatever the config names is managed (created if missing, edited to match), whoever created
 *     it. Only entries in this file are ever deleted, and only when the config no longer names
 * them. A service or destination s3lb found already there (adopted) is edited but never deleted.
 *   - Write-ahead: an entry is recorded and the file saved before the add is sent, so a crash
 *     between the two leaves an entry for something absent, never something present and unrecorded.
 *     An add answered EEXIST means someone else created it first: the entry is dropped (not ours).
 *   - Entries for things absent from the kernel are pruned at every reconcile (dsr_owned_prune),
 *     so a service deleted by hand and later re-created by an operator is not taken for ours.
 * IPVS tables are per network namespace: one file per s3lb instance and namespace.
 *
 * Not thread-safe; used by the thread that runs the reconciler.
 */
#ifndef S3LB_DSR_OWNER_H
#define S3LB_DSR_OWNER_H

#include <stdbool.h>
#include <stddef.h>

#include "dsr/types.h"

#define DSR_OWNED_PATH "/run/s3lb/ipvs-owned"

typedef struct dsr_owned_s dsr_owned_t;

/* An empty set that saves to path (NULL: kept in memory only, for tests). */
dsr_owned_t *dsr_owned_new(const char *path);
/*
 * Loads path; a missing file is an empty set. Returns 0, or a negative errno with a message
 * "FILE:LINE: ..." in err (a line that does not parse is an error: the file is ours alone).
 */
__attribute__((warn_unused_result)) int dsr_owned_load(const char *path, dsr_owned_t **out,
                                                       char *err, size_t errlen);
/* Writes the file atomically (temporary file, fsync, rename; creates the directory) when it
 * changed since the last load or save. Returns 0 or a negative errno with a message in err. */
__attribute__((warn_unused_result)) int dsr_owned_save(dsr_owned_t *o, char *err, size_t errlen);
void dsr_owned_free(dsr_owned_t *o);

bool dsr_owned_svc(const dsr_owned_t *o, const dsr_svc_key_t *key);
bool dsr_owned_dest(const dsr_owned_t *o, const dsr_svc_key_t *key, const dsr_dest_t *dest);
void dsr_owned_set_svc(dsr_owned_t *o, const dsr_svc_key_t *key, bool own);
void dsr_owned_set_dest(dsr_owned_t *o, const dsr_svc_key_t *key, const dsr_dest_t *dest, bool own);
/* Forgets the service and every destination recorded under it (after the service is deleted). */
void dsr_owned_drop_svc(dsr_owned_t *o, const dsr_svc_key_t *key);
/* Forgets every entry whose service or destination is not in the kernel table have. */
void dsr_owned_prune(dsr_owned_t *o, const dsr_table_t *have);
size_t dsr_owned_count(const dsr_owned_t *o);

#endif
