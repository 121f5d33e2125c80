/*
 * Storage-node setup for direct server return, behind `s3lb-node setup|teardown|check`.
 *
 * A DR node must accept packets addressed to the VIP (the director only rewrites the MAC), so
 * the VIP goes on a device that never answers ARP for it, loopback, as a /32 (/128); and the node
 * must neither answer ARP for the VIP on its real interfaces nor use the VIP as the source of its
 * own ARP requests, or it steals the VIP from the director:
 *   net.ipv4.conf.{all,IF}.arp_ignore=1    answer ARP only for addresses on the interface asked
 *   net.ipv4.conf.{all,IF}.arp_announce=2  ARP requests use the best address of the outgoing
 *                                          interface as source, never the VIP on lo
 * (The kernel uses the larger of `all` and the interface's value; both are set so a later change
 * to either does not undo DR.) IPv6 has no ARP: neighbour solicitations are answered only for
 * addresses on the receiving interface, so a /128 on lo is enough; the sysctls are set anyway,
 * they do no harm and a node usually serves an IPv4 VIP too.
 *
 * Everything is idempotent: an address or value already in place is success. Teardown removes the
 * VIP only; the sysctls stay (other VIPs may rely on them) and teardown says so.
 * Runs in the calling process's network namespace; needs CAP_NET_ADMIN to change anything.
 */
#ifndef S3LB_DSR_NODESETUP_H
#define S3LB_DSR_NODESETUP_H

#include <stddef.h>
#include <stdio.h>

#include "dsr/types.h"

typedef struct dsr_node_opts_s {
	dsr_ip_t vip;
	const char *dev;           /* where the VIP goes; NULL: "lo" */
	const char *const *ifaces; /* outward interfaces; NULL: every non-loopback one that is up */
	size_t nifaces;
	const char *sysctl_root; /* NULL: "/proc/sys" (tests point it at a directory) */
} dsr_node_opts_t;

/*
 * Each writes one line per item to out ("vip 192.0.2.10/32 on lo: added", "net.ipv4.conf.all.
 * arp_ignore = 1 (was 0)"). setup and teardown return 0 or a negative errno with a message in
 * err; check returns the number of missing items (0: ready), or a negative errno.
 */
__attribute__((warn_unused_result)) int dsr_node_setup(const dsr_node_opts_t *o, FILE *out,
                                                       char *err, size_t errlen);
__attribute__((warn_unused_result)) int dsr_node_teardown(const dsr_node_opts_t *o, FILE *out,
                                                          char *err, size_t errlen);
__attribute__((warn_unused_result)) int dsr_node_check(const dsr_node_opts_t *o, FILE *out,
                                                       char *err, size_t errlen);

/* The s3lb-node command line (dsr/node_main.c is only this call). Exit status: 0 done/ready,
 * 1 failed or something missing, 2 usage error. */
int dsr_node_main(int argc, char **argv, FILE *out, FILE *errout);

#endif
