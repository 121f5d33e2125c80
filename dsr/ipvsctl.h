/*
 * s3lb-ipvs: a small diagnostic and test tool over the dsr/ library (dsr/ipvs_main.c is only the
 * call to dsr_ipvs_main). It shows the IPVS table of the current network namespace and brings it
 * to a wanted table written in ipvsadm's rule format (dsr/rules.h) with the same reconciler the
 * director uses, so the kernel work of s3lb can be tried and timed without the daemon:
 *
 *   s3lb-ipvs info                  IPVS version and connection table size
 *   s3lb-ipvs list                  services and destinations with weights and counters
 *   s3lb-ipvs save                  the table as rules (ipvsadm -Sn's spelling)
 *   s3lb-ipvs reconcile [--state FILE] [--dry-run] [--quiet] [RULES|-]
 *                                   plan (and apply) the changes from the kernel's table to RULES;
 *                                   ownership as in dsr/owner.h (default /run/s3lb/ipvs-owned)
 */
#ifndef S3LB_DSR_IPVSCTL_H
#define S3LB_DSR_IPVSCTL_H

#include <stdio.h>

/* Exit status: 0 done, 1 failed, 2 usage error. */
int dsr_ipvs_main(int argc, char **argv, FILE *out, FILE *errout);

#endif
