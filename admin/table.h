/*
 * The table `s3lb status` prints by default: the /status document (admin/status.c) for people.
 * A pure function of the document, so that a test can feed one and check the text exactly.
 */
#ifndef S3LB_ADMIN_TABLE_H
#define S3LB_ADMIN_TABLE_H

#include <stddef.h>
#include <stdio.h>

/*
 * Writes json[0, len), a /status document, to out as text: a summary line, the pools with their
 * one-minute rates, the nodes (state, reason and age of the last transition, weight,
 * outstanding requests, rates) and, when IPVS is in use, each DR destination's weight and
 * connections. Ages are read against the document's own time_ms. Control characters in names
 * and messages are shown as '?'. Returns 0, or -1 with err when json is not such a document.
 */
int adm_status_table(const char *json, size_t len, FILE *out, char *err, size_t errlen);

#endif
