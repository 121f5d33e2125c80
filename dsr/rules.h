/*
 * IPVS tables as text in ipvsadm's rule format (what `ipvsadm -Sn` prints and `ipvsadm -R` reads),
 * so s3lb-ipvs can be fed the same file as ipvsadm and its output diffed against ipvsadm's.
 *
 *   -A -t 192.0.2.10:80 -s mh -b mh-fallback,mh-port
 *   -a -t 192.0.2.10:80 -r 10.0.0.11:80 -g -w 1
 *   -A -t [2001:db8::10]:443 -s wrr -p 300
 *   -A -f 7 -6 -s rr -p 10 -M 64
 *   -a -f 7 -6 -r [2001:db8::11]:0 -g -w 2 -x 100 -y 10
 *
 * Understood: -A/-a; -t ADDR:PORT, -u ADDR:PORT, -f MARK [-6]; -s SCHED (default wlc); -p [SECS]
 * (default 300); -M MASK (IPv4 dotted or prefix length); -b FLAGS (sh-/mh-fallback, sh-/mh-port,
 * flag-1..3); -o; -r ADDR[:PORT] (default: the service's port); -g/-m/-i; -w W (default 1);
 * -x U; -y L. Lines starting with '#' and blank lines are skipped. Pure text, no netlink.
 */
#ifndef S3LB_DSR_RULES_H
#define S3LB_DSR_RULES_H

#include <stddef.h>
#include <stdio.h>

#include "dsr/types.h"

/* Parses text into *out (free with dsr_table_free). On error returns -EINVAL and writes
 * "line N: ..." into err. */
__attribute__((warn_unused_result)) int dsr_rules_parse(const char *text, dsr_table_t *out,
                                                        char *err, size_t errlen);

/* Writes t as rules, services and destinations sorted by key, in ipvsadm -Sn's spelling;
 * thresholds (which ipvsadm -S leaves out) are written when set. */
void dsr_rules_write(const dsr_table_t *t, FILE *out);

#endif
