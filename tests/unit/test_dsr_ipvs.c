/*
 * Unit tests for dsr/ipvs.c: every request the client builds, checked attribute by attribute and
 * once byte for byte; replies parsed from bytes captured from a real kernel (Debian 6.1, in the
 * VM: tests/vm) and from messages built here, including malformed ones and truncations at every
 * length against a guard page; the errno table; the extended-ack reader.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/unit/support/guard.h"

/* Included to reach the statics (build_request, parse_reply, extack_text, describe). */
#include "dsr/ipvs.c"

#define NELEM(a)  (sizeof(a) / sizeof((a)[0]))
#define FAMILY_ID 0x20 /* what the kernel gave IPVS in the capture below */

/* ---- bytes captured from the kernel (tests/vm, IPVS 1.2.1 on 6.1.0-amd64): the address and
 * ports below, real counters from three TCP connection attempts through the service ---- */

/* GET_INFO reply: version 1.2.1, connection table 4096 */
static const uint8_t cap_info[] = {
    0x24, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0xa0, 0xc4, 0x07, 0x6b,
    0x9a, 0x00, 0xc0, 0xa5, 0x0e, 0x01, 0x00, 0x00, 0x08, 0x00, 0x01, 0x00,
    0x01, 0x02, 0x01, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00, 0x10, 0x00, 0x00,
};

/* service dump entry: TCP [2001:db8::10]:443 wrr, persistent 300 s, no traffic */
static const uint8_t cap_svc_v6[] = {
    0x40, 0x01, 0x00, 0x00, 0x20, 0x00, 0x02, 0x00, 0xa0, 0xc4, 0x07, 0x6b, 0x9a, 0x00, 0x80, 0xb8,
    0x01, 0x01, 0x00, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x06, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00,
    0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x14, 0x00, 0x03, 0x00, 0x20, 0x01, 0x0d, 0xb8,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x06, 0x00, 0x04, 0x00,
    0x01, 0xbb, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00, 0x77, 0x72, 0x72, 0x00, 0x0c, 0x00, 0x07, 0x00,
    0x03, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x08, 0x00, 0x08, 0x00, 0x2c, 0x01, 0x00, 0x00,
    0x08, 0x00, 0x09, 0x00, 0x80, 0x00, 0x00, 0x00, 0x5c, 0x00, 0x0a, 0x00, 0x08, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x08, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0a, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x7c, 0x00, 0x0c, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x04, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x08, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* service dump entry: TCP 192.0.2.10:80 mh, mh-fallback; 3 conns, 5 packets, 300 bytes in */
static const uint8_t cap_svc_v4[] = {
    0x40, 0x01, 0x00, 0x00, 0x20, 0x00, 0x02, 0x00, 0xa0, 0xc4, 0x07, 0x6b, 0x9a, 0x00, 0x80, 0xb8,
    0x01, 0x01, 0x00, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
    0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, 0x14, 0x00, 0x03, 0x00, 0xc0, 0x00, 0x02, 0x0a,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x04, 0x00,
    0x00, 0x50, 0x00, 0x00, 0x07, 0x00, 0x06, 0x00, 0x6d, 0x68, 0x00, 0x00, 0x0c, 0x00, 0x07, 0x00,
    0x0a, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0x5c, 0x00, 0x0a, 0x00, 0x08, 0x00, 0x01, 0x00,
    0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0x05, 0x00, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x04, 0x00, 0x2c, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x08, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x09, 0x00, 0x1c, 0x00, 0x00, 0x00, 0x08, 0x00, 0x0a, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x7c, 0x00, 0x0c, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x02, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x04, 0x00,
    0x2c, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x08, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x09, 0x00, 0x1c, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* service dump entry: FWM 7 IPv4 rr */
static const uint8_t cap_svc_fwm[] = {
    0x24, 0x01, 0x00, 0x00, 0x20, 0x00, 0x02, 0x00, 0xa0, 0xc4, 0x07, 0x6b, 0x9a, 0x00, 0x80, 0xb8,
    0x01, 0x01, 0x00, 0x00, 0x10, 0x01, 0x01, 0x00, 0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00, 0x07, 0x00, 0x06, 0x00, 0x72, 0x72, 0x00, 0x00,
    0x0c, 0x00, 0x07, 0x00, 0x02, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x08, 0x00, 0x08, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, 0x5c, 0x00, 0x0a, 0x00,
    0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7c, 0x00, 0x0c, 0x00, 0x0c, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x05, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x09, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
};

/* destination dump entry of TCP 192.0.2.10:80: 10.0.0.12:80 DR weight 3, thresholds
 * 100/10, 3 active connections, 3 conns, 5 packets, 300 bytes in */
static const uint8_t cap_dest_a[] = {
    0x64, 0x01, 0x00, 0x00, 0x20, 0x00, 0x02, 0x00, 0xa0, 0xc4, 0x07, 0x6b, 0x9a, 0x00, 0x40, 0xeb,
    0x05, 0x01, 0x00, 0x00, 0x50, 0x01, 0x02, 0x00, 0x14, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x0c,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x02, 0x00,
    0x00, 0x50, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x04, 0x00,
    0x03, 0x00, 0x00, 0x00, 0x05, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x0e, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x05, 0x00,
    0x64, 0x00, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x08, 0x00, 0x07, 0x00,
    0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x09, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00, 0x5c, 0x00, 0x0a, 0x00,
    0x08, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0x05, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x04, 0x00, 0x2c, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x09, 0x00, 0x1c, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7c, 0x00, 0x0c, 0x00, 0x0c, 0x00, 0x01, 0x00,
    0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x02, 0x00, 0x05, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x04, 0x00, 0x2c, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x05, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x09, 0x00,
    0x1c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
};

/* destination dump entry of TCP 192.0.2.10:80: 10.0.0.11:80 DR weight 1, no traffic */
static const uint8_t cap_dest_b[] = {
    0x64, 0x01, 0x00, 0x00, 0x20, 0x00, 0x02, 0x00, 0xa0, 0xc4, 0x07, 0x6b, 0x9a, 0x00, 0x40, 0xeb,
    0x05, 0x01, 0x00, 0x00, 0x50, 0x01, 0x02, 0x00, 0x14, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x0b,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x02, 0x00,
    0x00, 0x50, 0x00, 0x00, 0x08, 0x00, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x08, 0x00, 0x04, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x0e, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x05, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x07, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x09, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x0b, 0x00, 0x02, 0x00, 0x00, 0x00, 0x5c, 0x00, 0x0a, 0x00,
    0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x08, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7c, 0x00, 0x0c, 0x00, 0x0c, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x05, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x0c, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x09, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00,
};

/* ---- helpers ---- */

static dsr_svc_t svc_of(const char *key, const char *sched, uint32_t flags, uint32_t timeout)
{
	dsr_svc_t s = {0};
	assert_int_equal(dsr_svc_key_parse(key, &s.key), 0);
	snprintf(s.sched, sizeof(s.sched), "%s", sched);
	s.flags = flags;
	s.timeout = timeout;
	return s;
}

static dsr_dest_t dest_of(const char *addr, uint32_t weight, uint32_t u, uint32_t l)
{
	dsr_dest_t d = {.fwd = DSR_FWD_DR, .weight = weight, .u_thresh = u, .l_thresh = l};
	assert_int_equal(dsr_dest_parse(addr, &d), 0);
	return d;
}

/* Builds op into a fresh message; the caller frees it. */
static struct nl_msg *build(dsr_op_t op, const dsr_svc_key_t *key, const dsr_svc_t *svc,
                            const dsr_dest_t *dest)
{
	struct nl_msg *msg = nlmsg_alloc();
	assert_non_null(msg);
	assert_int_equal(build_request(msg, FAMILY_ID, op, key, svc, dest), 0);
	return msg;
}

/* The top-level attributes of a built request, with its genl header checked. */
static void top_attrs(struct nl_msg *msg, uint8_t cmd, int nlflags, struct nlattr **tb)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	assert_int_equal(nlh->nlmsg_type, FAMILY_ID);
	assert_int_equal(nlh->nlmsg_flags, nlflags);
	struct genlmsghdr *g = nlmsg_data(nlh);
	assert_int_equal(g->cmd, cmd);
	assert_int_equal(g->version, IPVS_GENL_VERSION);
	assert_int_equal(genlmsg_parse(nlh, 0, tb, IPVS_CMD_ATTR_MAX, NULL), 0);
}

static void nested(struct nlattr *nest, struct nlattr **tb, int max)
{
	assert_non_null(nest);
	assert_int_equal(nla_parse_nested(tb, max, nest, NULL), 0);
}

static void assert_attr(struct nlattr *a, int len, const void *data)
{
	assert_non_null(a);
	assert_int_equal(nla_len(a), len);
	assert_memory_equal(nla_data(a), data, (size_t)len);
}

static void assert_u16(struct nlattr *a, uint16_t v)
{
	assert_attr(a, 2, &v);
}

static void assert_u32(struct nlattr *a, uint32_t v)
{
	assert_attr(a, 4, &v);
}

/* ---- building ---- */

/* The one request checked byte for byte, written out by hand from linux/ip_vs.h. */
static void test_build_del_service_bytes(void **state)
{
	static const uint8_t want[] = {
	    0x44, 0x00, 0x00, 0x00, /* nlmsg_len 68 */
	    0x20, 0x00,             /* nlmsg_type: the family id */
	    0x05, 0x00,             /* flags: NLM_F_REQUEST (added when sent) | NLM_F_ACK */
	    0x00, 0x00, 0x00, 0x00, /* seq: filled in when sent */
	    0x00, 0x00, 0x00, 0x00, /* port id: filled in when sent */
	    0x03, 0x01, 0x00, 0x00, /* genl: IPVS_CMD_DEL_SERVICE, version 1 */
	    0x30, 0x00, 0x01, 0x80, /* IPVS_CMD_ATTR_SERVICE | NLA_F_NESTED, 48 bytes */
	    0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, /* AF: AF_INET, padded */
	    0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, /* PROTOCOL: TCP */
	    0x14, 0x00, 0x03, 0x00, 0xc0, 0x00, 0x02, 0x0a, /* ADDR: 192.0.2.10 in 16 bytes */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	    0x00, 0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00, /* PORT: 80, network order */
	};
	dsr_svc_key_t key;
	assert_int_equal(dsr_svc_key_parse("TCP 192.0.2.10:80", &key), 0);
	struct nl_msg *msg = build(DSR_OP_SVC_DEL, &key, NULL, NULL);
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	nlh->nlmsg_flags |= NLM_F_REQUEST; /* what nl_send_auto adds */
	assert_int_equal(nlh->nlmsg_len, sizeof(want));
	assert_memory_equal(nlh, want, sizeof(want));
	nlmsg_free(msg);
}

static void test_build_add_service(void **state)
{
	static const struct {
		const char *key, *sched;
		uint32_t flags, timeout, netmask;
		uint32_t wire_flags, wire_netmask;
	} rows[] = {
	    {"TCP 192.0.2.10:80", "mh", DSR_SVC_F_SCHED1 | DSR_SVC_F_SCHED2, 0, 0, 0x18,
	     0xffffffff},
	    /* a persistence timeout sets the persistent flag, and only it clears it */
	    {"TCP 192.0.2.10:80", "wlc", 0, 300, 0, IP_VS_SVC_F_PERSISTENT, 0xffffffff},
	    {"TCP 192.0.2.10:80", "rr", DSR_SVC_F_PERSISTENT, 0, 0, 0, 0xffffffff},
	    {"TCP 192.0.2.10:80", "sh", 0, 60, 24, IP_VS_SVC_F_PERSISTENT, 0},
	    {"TCP [2001:db8::10]:443", "wrr", 0, 0, 0, 0, 128},
	    {"TCP [2001:db8::10]:443", "lc", 0, 10, 64, IP_VS_SVC_F_PERSISTENT, 64},
	    /* the kernel's own bits (HASHED) never go out */
	    {"TCP 192.0.2.10:80", "wlc", 0x2 | DSR_SVC_F_ONEPACKET, 0, 0, 0x4, 0xffffffff},
	};
	for (size_t i = 0; i < NELEM(rows); i++) {
		dsr_svc_t s = svc_of(rows[i].key, rows[i].sched, rows[i].flags, rows[i].timeout);
		s.netmask = rows[i].netmask;
		for (int edit = 0; edit < 2; edit++) {
			struct nlattr *tb[IPVS_CMD_ATTR_MAX + 1], *sv[IPVS_SVC_ATTR_MAX + 1];
			dsr_op_t op = edit ? DSR_OP_SVC_EDIT : DSR_OP_SVC_ADD;
			struct nl_msg *msg = build(op, &s.key, &s, NULL);
			top_attrs(msg, edit ? IPVS_CMD_SET_SERVICE : IPVS_CMD_NEW_SERVICE,
			          NLM_F_ACK, tb);
			assert_null(tb[IPVS_CMD_ATTR_DEST]);
			nested(tb[IPVS_CMD_ATTR_SERVICE], sv, IPVS_SVC_ATTR_MAX);
			assert_u16(sv[IPVS_SVC_ATTR_AF], s.key.af);
			assert_u16(sv[IPVS_SVC_ATTR_PROTOCOL], IPPROTO_TCP);
			uint8_t addr[16] = {0};
			memcpy(addr, s.key.addr.u.raw, s.key.af == AF_INET ? 4 : 16);
			assert_attr(sv[IPVS_SVC_ATTR_ADDR], 16, addr);
			assert_u16(sv[IPVS_SVC_ATTR_PORT], htons(s.key.port));
			assert_null(sv[IPVS_SVC_ATTR_FWMARK]);
			assert_attr(sv[IPVS_SVC_ATTR_SCHED_NAME], (int)strlen(rows[i].sched) + 1,
			            rows[i].sched);
			struct ip_vs_flags fl = {.flags = rows[i].wire_flags, .mask = 0xffffffff};
			assert_attr(sv[IPVS_SVC_ATTR_FLAGS], sizeof(fl), &fl);
			assert_u32(sv[IPVS_SVC_ATTR_TIMEOUT], rows[i].timeout);
			uint32_t nm = rows[i].wire_netmask;
			if (i == 3)
				nm = htonl(0xffffff00);
			assert_u32(sv[IPVS_SVC_ATTR_NETMASK], nm);
			nlmsg_free(msg);
		}
	}
}

static void test_build_fwmark_service(void **state)
{
	struct nlattr *tb[IPVS_CMD_ATTR_MAX + 1], *sv[IPVS_SVC_ATTR_MAX + 1];
	dsr_svc_t s = svc_of("FWM 7 IPv6", "rr", 0, 0);
	struct nl_msg *msg = build(DSR_OP_SVC_ADD, &s.key, &s, NULL);
	top_attrs(msg, IPVS_CMD_NEW_SERVICE, NLM_F_ACK, tb);
	nested(tb[IPVS_CMD_ATTR_SERVICE], sv, IPVS_SVC_ATTR_MAX);
	assert_u16(sv[IPVS_SVC_ATTR_AF], AF_INET6);
	assert_u32(sv[IPVS_SVC_ATTR_FWMARK], 7);
	assert_null(sv[IPVS_SVC_ATTR_ADDR]);
	assert_null(sv[IPVS_SVC_ATTR_PORT]);
	assert_null(sv[IPVS_SVC_ATTR_PROTOCOL]);
	assert_u32(sv[IPVS_SVC_ATTR_NETMASK], 128);
	nlmsg_free(msg);

	/* deleting names the mark only */
	msg = build(DSR_OP_SVC_DEL, &s.key, NULL, NULL);
	top_attrs(msg, IPVS_CMD_DEL_SERVICE, NLM_F_ACK, tb);
	nested(tb[IPVS_CMD_ATTR_SERVICE], sv, IPVS_SVC_ATTR_MAX);
	assert_u32(sv[IPVS_SVC_ATTR_FWMARK], 7);
	assert_null(sv[IPVS_SVC_ATTR_SCHED_NAME]);
	assert_null(sv[IPVS_SVC_ATTR_FLAGS]);
	nlmsg_free(msg);
}

static void test_build_dest(void **state)
{
	static const struct {
		dsr_op_t op;
		uint8_t cmd;
		int full;
	} rows[] = {
	    {DSR_OP_DEST_ADD, IPVS_CMD_NEW_DEST, 1},
	    {DSR_OP_DEST_EDIT, IPVS_CMD_SET_DEST, 1},
	    {DSR_OP_DEST_DEL, IPVS_CMD_DEL_DEST, 0},
	};
	dsr_svc_key_t key;
	assert_int_equal(dsr_svc_key_parse("TCP [2001:db8::10]:443", &key), 0);
	dsr_dest_t d = dest_of("[2001:db8::11]:443", 7, 1000, 10);
	for (size_t i = 0; i < NELEM(rows); i++) {
		struct nlattr *tb[IPVS_CMD_ATTR_MAX + 1], *sv[IPVS_SVC_ATTR_MAX + 1];
		struct nlattr *de[IPVS_DEST_ATTR_MAX + 1];
		struct nl_msg *msg = build(rows[i].op, &key, NULL, &d);
		top_attrs(msg, rows[i].cmd, NLM_F_ACK, tb);
		nested(tb[IPVS_CMD_ATTR_SERVICE], sv, IPVS_SVC_ATTR_MAX);
		assert_u16(sv[IPVS_SVC_ATTR_PORT], htons(443));
		assert_null(sv[IPVS_SVC_ATTR_SCHED_NAME]); /* the service is only named */
		nested(tb[IPVS_CMD_ATTR_DEST], de, IPVS_DEST_ATTR_MAX);
		assert_attr(de[IPVS_DEST_ATTR_ADDR], 16, d.addr.u.raw);
		assert_u16(de[IPVS_DEST_ATTR_PORT], htons(443));
		assert_u16(de[IPVS_DEST_ATTR_ADDR_FAMILY], AF_INET6);
		if (rows[i].full) {
			assert_u32(de[IPVS_DEST_ATTR_FWD_METHOD], IP_VS_CONN_F_DROUTE);
			assert_u32(de[IPVS_DEST_ATTR_WEIGHT], 7);
			assert_u32(de[IPVS_DEST_ATTR_U_THRESH], 1000);
			assert_u32(de[IPVS_DEST_ATTR_L_THRESH], 10);
		} else {
			assert_null(de[IPVS_DEST_ATTR_FWD_METHOD]);
			assert_null(de[IPVS_DEST_ATTR_WEIGHT]);
		}
		nlmsg_free(msg);
	}
	/* weight 0 is sent as such (down/draining), not left out */
	struct nlattr *tb[IPVS_CMD_ATTR_MAX + 1], *de[IPVS_DEST_ATTR_MAX + 1];
	dsr_dest_t z = dest_of("10.0.0.11:80", 0, 0, 0);
	dsr_svc_key_t k4;
	assert_int_equal(dsr_svc_key_parse("TCP 192.0.2.10:80", &k4), 0);
	struct nl_msg *msg = build(DSR_OP_DEST_EDIT, &k4, NULL, &z);
	top_attrs(msg, IPVS_CMD_SET_DEST, NLM_F_ACK, tb);
	nested(tb[IPVS_CMD_ATTR_DEST], de, IPVS_DEST_ATTR_MAX);
	assert_u32(de[IPVS_DEST_ATTR_WEIGHT], 0);
	uint8_t a4[16] = {10, 0, 0, 11};
	assert_attr(de[IPVS_DEST_ATTR_ADDR], 16, a4);
	nlmsg_free(msg);
}

static void test_build_queries(void **state)
{
	struct nlattr *tb[IPVS_CMD_ATTR_MAX + 1], *sv[IPVS_SVC_ATTR_MAX + 1];
	struct nl_msg *msg = build(DSR_OP_INFO, NULL, NULL, NULL);
	top_attrs(msg, IPVS_CMD_GET_INFO, NLM_F_ACK, tb);
	assert_int_equal(nlmsg_hdr(msg)->nlmsg_len, NLMSG_HDRLEN + GENL_HDRLEN);
	nlmsg_free(msg);

	/* dumps end in NLMSG_DONE: no ack asked */
	msg = build(DSR_OP_SVC_DUMP, NULL, NULL, NULL);
	top_attrs(msg, IPVS_CMD_GET_SERVICE, NLM_F_DUMP, tb);
	assert_null(tb[IPVS_CMD_ATTR_SERVICE]);
	nlmsg_free(msg);

	dsr_svc_key_t key;
	assert_int_equal(dsr_svc_key_parse("FWM 9 IPv4", &key), 0);
	msg = build(DSR_OP_DEST_DUMP, &key, NULL, NULL);
	top_attrs(msg, IPVS_CMD_GET_DEST, NLM_F_DUMP, tb);
	nested(tb[IPVS_CMD_ATTR_SERVICE], sv, IPVS_SVC_ATTR_MAX);
	assert_u32(sv[IPVS_SVC_ATTR_FWMARK], 9);
	assert_u16(sv[IPVS_SVC_ATTR_AF], AF_INET);
	nlmsg_free(msg);
}

/* ---- parsing captured replies ---- */

static struct nlmsghdr *hdr_of(const uint8_t *bytes, size_t len, uint8_t *copy)
{
	memcpy(copy, bytes, len);
	return (struct nlmsghdr *)copy;
}

static void test_parse_captured_info(void **state)
{
	uint8_t buf[sizeof(cap_info)] __attribute__((aligned(8)));
	dsr_info_t info = {0};
	reply_t r = {.op = DSR_OP_INFO, .info = &info};
	assert_int_equal(parse_reply(hdr_of(cap_info, sizeof(cap_info), buf), &r), 0);
	assert_int_equal(info.version, 0x010201);
	assert_int_equal(info.conn_tab_size, 4096);
}

static void test_parse_captured_services(void **state)
{
	uint8_t buf[512] __attribute__((aligned(8)));
	reply_t r = {.op = DSR_OP_SVC_DUMP};
	char k[96];

	assert_int_equal(parse_reply(hdr_of(cap_svc_v4, sizeof(cap_svc_v4), buf), &r), 0);
	assert_int_equal(parse_reply(hdr_of(cap_svc_v6, sizeof(cap_svc_v6), buf), &r), 0);
	assert_int_equal(parse_reply(hdr_of(cap_svc_fwm, sizeof(cap_svc_fwm), buf), &r), 0);
	assert_int_equal(r.n, 3);

	const dsr_svc_t *s = &r.svcs[0];
	dsr_svc_key_format(&s->key, k, sizeof(k));
	assert_string_equal(k, "TCP 192.0.2.10:80");
	assert_string_equal(s->sched, "mh");
	assert_int_equal(s->flags, DSR_SVC_F_SCHED1); /* the kernel's HASHED bit masked off */
	assert_int_equal(s->timeout, 0);
	assert_int_equal(s->netmask, 32);
	assert_int_equal(s->stats.conns, 3);
	assert_int_equal(s->stats.inpkts, 5);
	assert_int_equal(s->stats.outpkts, 0);
	assert_int_equal(s->stats.inbytes, 300);
	assert_int_equal(s->stats.outbytes, 0);

	s = &r.svcs[1];
	dsr_svc_key_format(&s->key, k, sizeof(k));
	assert_string_equal(k, "TCP [2001:db8::10]:443");
	assert_string_equal(s->sched, "wrr");
	assert_int_equal(s->flags, DSR_SVC_F_PERSISTENT);
	assert_int_equal(s->timeout, 300);
	assert_int_equal(s->netmask, 128);
	assert_int_equal(s->stats.conns, 0);

	s = &r.svcs[2];
	dsr_svc_key_format(&s->key, k, sizeof(k));
	assert_string_equal(k, "FWM 7 IPv4");
	assert_int_equal(s->key.fwmark, 7);
	assert_string_equal(s->sched, "rr");
	free(r.svcs);
}

static void test_parse_captured_dests(void **state)
{
	uint8_t buf[512] __attribute__((aligned(8)));
	reply_t r = {.op = DSR_OP_DEST_DUMP, .svc_af = AF_INET};
	char a[64];
	assert_int_equal(parse_reply(hdr_of(cap_dest_a, sizeof(cap_dest_a), buf), &r), 0);
	assert_int_equal(parse_reply(hdr_of(cap_dest_b, sizeof(cap_dest_b), buf), &r), 0);
	assert_int_equal(r.n, 2);
	const dsr_dest_t *d = &r.dests[0];
	dsr_dest_format(d, a, sizeof(a));
	assert_string_equal(a, "10.0.0.12:80");
	assert_int_equal(d->fwd, DSR_FWD_DR);
	assert_int_equal(d->weight, 3);
	assert_int_equal(d->u_thresh, 100);
	assert_int_equal(d->l_thresh, 10);
	assert_int_equal(d->active, 3);
	assert_int_equal(d->inactive, 0);
	assert_int_equal(d->stats.conns, 3);
	assert_int_equal(d->stats.inpkts, 5);
	assert_int_equal(d->stats.inbytes, 300);
	d = &r.dests[1];
	dsr_dest_format(d, a, sizeof(a));
	assert_string_equal(a, "10.0.0.11:80");
	assert_int_equal(d->weight, 1);
	assert_int_equal(d->stats.conns, 0);
	free(r.dests);
}

/* A dump of many entries grows the array (and a parse failure does not stop the dump). */
static void test_parse_dump_growth(void **state)
{
	uint8_t buf[512] __attribute__((aligned(8)));
	reply_t r = {.op = DSR_OP_SVC_DUMP};
	for (int i = 0; i < 100; i++)
		assert_int_equal(parse_reply(hdr_of(cap_svc_v4, sizeof(cap_svc_v4), buf), &r), 0);
	assert_int_equal(r.n, 100);
	assert_true(r.cap >= 100);
	assert_string_equal(r.svcs[99].sched, "mh");
	free(r.svcs);
}

/* Every prefix of a captured message, ending right at a guard page: never reads past the end,
 * and the whole message parses. */
static void test_parse_truncated_everywhere(void **state)
{
	static const struct {
		const uint8_t *bytes;
		size_t len;
		dsr_op_t op;
	} msgs[] = {
	    {cap_svc_v4, sizeof(cap_svc_v4), DSR_OP_SVC_DUMP},
	    {cap_svc_fwm, sizeof(cap_svc_fwm), DSR_OP_SVC_DUMP},
	    {cap_dest_a, sizeof(cap_dest_a), DSR_OP_DEST_DUMP},
	    {cap_info, sizeof(cap_info), DSR_OP_INFO},
	};
	for (size_t m = 0; m < NELEM(msgs); m++) {
		for (size_t len = NLMSG_HDRLEN; len <= msgs[m].len; len += 4) {
			test_guard_t g;
			/* 4-aligned: len is a multiple of 4 */
			uint8_t *p = (uint8_t *)test_guard(&g, msgs[m].bytes, len);
			((struct nlmsghdr *)p)->nlmsg_len = (uint32_t)len;
			dsr_info_t info;
			reply_t r = {.op = msgs[m].op, .svc_af = AF_INET, .info = &info};
			int rc = parse_reply((struct nlmsghdr *)p, &r);
			if (len == msgs[m].len)
				assert_int_equal(rc, 0);
			else
				assert_true(rc == 0 || rc == -EPROTO);
			free(r.svcs);
			free(r.dests);
			test_unguard(&g);
		}
	}
}

/* Builds a reply like the kernel's around one service or destination nest. */
static struct nl_msg *reply_start(uint8_t cmd, int attr, struct nlattr **nest)
{
	struct nl_msg *msg = nlmsg_alloc();
	assert_non_null(genlmsg_put(msg, 0, 1, FAMILY_ID, 0, NLM_F_MULTI, cmd, 1));
	*nest = nla_nest_start(msg, attr);
	return msg;
}

static int parse_one(struct nl_msg *msg, reply_t *r)
{
	return parse_reply(nlmsg_hdr(msg), r);
}

static void test_parse_rejects_bad_services(void **state)
{
	uint8_t addr16[16] = {192, 0, 2, 10};
	for (int variant = 0; variant < 6; variant++) {
		struct nlattr *nest;
		struct nl_msg *msg =
		    reply_start(IPVS_CMD_NEW_SERVICE, IPVS_CMD_ATTR_SERVICE, &nest);
		if (variant != 0)
			nla_put_u16(msg, IPVS_SVC_ATTR_AF, variant == 5 ? 99 : AF_INET);
		nla_put_u16(msg, IPVS_SVC_ATTR_PROTOCOL, IPPROTO_TCP);
		nla_put(msg, IPVS_SVC_ATTR_ADDR, variant == 1 ? 4 : 16, addr16);
		nla_put_u16(msg, IPVS_SVC_ATTR_PORT, htons(80));
		if (variant == 2)
			nla_put(msg, IPVS_SVC_ATTR_SCHED_NAME, 2, "rr"); /* no NUL */
		else
			nla_put_string(msg, IPVS_SVC_ATTR_SCHED_NAME, "rr");
		struct ip_vs_flags fl = {0, ~0u};
		nla_put(msg, IPVS_SVC_ATTR_FLAGS, variant == 3 ? 4 : sizeof(fl), &fl);
		if (variant == 4)
			nla_put_u8(msg, IPVS_SVC_ATTR_TIMEOUT, 1); /* too short for a u32 */
		nla_nest_end(msg, nest);
		reply_t r = {.op = DSR_OP_SVC_DUMP};
		assert_int_equal(parse_one(msg, &r), -EPROTO);
		assert_int_equal(r.n, 0);
		free(r.svcs);
		nlmsg_free(msg);
	}
	/* no service nest at all */
	struct nl_msg *msg = nlmsg_alloc();
	genlmsg_put(msg, 0, 1, FAMILY_ID, 0, 0, IPVS_CMD_NEW_SERVICE, 1);
	reply_t r = {.op = DSR_OP_SVC_DUMP};
	assert_int_equal(parse_one(msg, &r), -EPROTO);
	free(r.svcs);
	nlmsg_free(msg);
}

/* Older kernels: 32-bit STATS only, no ADDR_FAMILY on destinations. */
static void test_parse_old_kernel_dest(void **state)
{
	struct nlattr *nest;
	struct nl_msg *msg = reply_start(IPVS_CMD_NEW_DEST, IPVS_CMD_ATTR_DEST, &nest);
	uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x11};
	nla_put(msg, IPVS_DEST_ATTR_ADDR, 16, a);
	nla_put_u16(msg, IPVS_DEST_ATTR_PORT, htons(443));
	nla_put_u32(msg, IPVS_DEST_ATTR_FWD_METHOD, IP_VS_CONN_F_DROUTE | IP_VS_CONN_F_NFCT);
	nla_put_u32(msg, IPVS_DEST_ATTR_WEIGHT, 4);
	nla_put_u32(msg, IPVS_DEST_ATTR_INACT_CONNS, 2);
	struct nlattr *st = nla_nest_start(msg, IPVS_DEST_ATTR_STATS);
	nla_put_u32(msg, IPVS_STATS_ATTR_CONNS, 9);
	nla_put_u32(msg, IPVS_STATS_ATTR_OUTPKTS, 8);
	nla_put_u64(msg, IPVS_STATS_ATTR_INBYTES, 5000000000ull);
	nla_put_u32(msg, IPVS_STATS_ATTR_CPS, 3);
	nla_nest_end(msg, st);
	nla_nest_end(msg, nest);
	reply_t r = {.op = DSR_OP_DEST_DUMP, .svc_af = AF_INET6};
	assert_int_equal(parse_one(msg, &r), 0);
	assert_int_equal(r.n, 1);
	char buf[64];
	dsr_dest_format(&r.dests[0], buf, sizeof(buf));
	assert_string_equal(buf, "[2001:db8::11]:443");
	assert_int_equal(r.dests[0].fwd, DSR_FWD_DR);
	assert_int_equal(r.dests[0].inactive, 2);
	assert_int_equal(r.dests[0].u_thresh, 0);
	assert_int_equal(r.dests[0].stats.conns, 9);
	assert_int_equal(r.dests[0].stats.outpkts, 8);
	assert_int_equal(r.dests[0].stats.inbytes, 5000000000ull);
	assert_int_equal(r.dests[0].stats.cps, 3);
	free(r.dests);
	nlmsg_free(msg);

	/* a destination without a weight is not one we can reconcile against */
	msg = reply_start(IPVS_CMD_NEW_DEST, IPVS_CMD_ATTR_DEST, &nest);
	nla_put(msg, IPVS_DEST_ATTR_ADDR, 16, a);
	nla_put_u16(msg, IPVS_DEST_ATTR_PORT, htons(443));
	nla_put_u32(msg, IPVS_DEST_ATTR_FWD_METHOD, IP_VS_CONN_F_DROUTE);
	nla_nest_end(msg, nest);
	reply_t r2 = {.op = DSR_OP_DEST_DUMP, .svc_af = AF_INET6};
	assert_int_equal(parse_one(msg, &r2), -EPROTO);
	free(r2.dests);
	nlmsg_free(msg);
}

/* on_valid records the first parse error and keeps going, so a dump is always drained. */
static void test_on_valid_keeps_draining(void **state)
{
	struct nlattr *nest;
	struct nl_msg *bad = reply_start(IPVS_CMD_NEW_SERVICE, IPVS_CMD_ATTR_SERVICE, &nest);
	nla_nest_end(bad, nest);
	struct nl_msg *good = nlmsg_convert((struct nlmsghdr *)cap_svc_v4);
	assert_non_null(good);
	reply_t r = {.op = DSR_OP_SVC_DUMP};
	assert_int_equal(on_valid(bad, &r), NL_OK);
	assert_int_equal(on_valid(good, &r), NL_OK);
	assert_int_equal(r.err, -EPROTO);
	assert_int_equal(r.n, 1);
	free(r.svcs);
	nlmsg_free(bad);
	nlmsg_free(good);
}

/* ---- the sync daemon requests ---- */

static struct nl_msg *build_daemon(dsr_op_t op, const dsr_daemon_t *d)
{
	struct nl_msg *msg = nlmsg_alloc();
	assert_non_null(msg);
	assert_int_equal(build_daemon_request(msg, FAMILY_ID, op, d), 0);
	return msg;
}

static void count_attrs(struct nlattr *nest, int want)
{
	struct nlattr *a;
	int rem, n = 0;
	nla_for_each_nested(a, nest, rem) n++;
	assert_int_equal(rem, 0);
	assert_int_equal(n, want);
}

/* START with every optional setting: each attribute, its type and value as the kernel reads it
 * (ip_vs_genl_new_daemon: group as an address, port as a number in host order). */
static void test_build_daemon_start_full(void **state)
{
	struct nlattr *tb[IPVS_CMD_ATTR_MAX + 1], *dm[IPVS_DAEMON_ATTR_MAX + 1];
	dsr_daemon_t d = {.state = DSR_SYNC_MASTER,
	                  .ifname = "eth1",
	                  .sync_id = 7,
	                  .max_len = 1400,
	                  .port = 9000,
	                  .ttl = 3};
	uint8_t group[4] = {239, 1, 2, 3};
	assert_int_equal(dsr_ip_parse("239.1.2.3", &d.group), 0);
	struct nl_msg *msg = build_daemon(DSR_OP_DAEMON_START, &d);
	top_attrs(msg, IPVS_CMD_NEW_DAEMON, NLM_F_ACK, tb);
	assert_null(tb[IPVS_CMD_ATTR_SERVICE]);
	assert_null(tb[IPVS_CMD_ATTR_DEST]);
	nested(tb[IPVS_CMD_ATTR_DAEMON], dm, IPVS_DAEMON_ATTR_MAX);
	assert_u32(dm[IPVS_DAEMON_ATTR_STATE], IP_VS_STATE_MASTER);
	assert_attr(dm[IPVS_DAEMON_ATTR_MCAST_IFN], 5, "eth1"); /* with its NUL */
	assert_u32(dm[IPVS_DAEMON_ATTR_SYNC_ID], 7);
	assert_u16(dm[IPVS_DAEMON_ATTR_SYNC_MAXLEN], 1400);
	assert_attr(dm[IPVS_DAEMON_ATTR_MCAST_GROUP], 4, group);
	assert_null(dm[IPVS_DAEMON_ATTR_MCAST_GROUP6]);
	assert_u16(dm[IPVS_DAEMON_ATTR_MCAST_PORT], 9000);
	uint8_t ttl = 3;
	assert_attr(dm[IPVS_DAEMON_ATTR_MCAST_TTL], 1, &ttl);
	count_attrs(tb[IPVS_CMD_ATTR_DAEMON], 7);
	nlmsg_free(msg);

	/* an IPv6 group, a backup */
	uint8_t group6[16] = {0xff, 0x02, [15] = 0x81};
	d.state = DSR_SYNC_BACKUP;
	assert_int_equal(dsr_ip_parse("ff02::81", &d.group), 0);
	msg = build_daemon(DSR_OP_DAEMON_START, &d);
	top_attrs(msg, IPVS_CMD_NEW_DAEMON, NLM_F_ACK, tb);
	nested(tb[IPVS_CMD_ATTR_DAEMON], dm, IPVS_DAEMON_ATTR_MAX);
	assert_u32(dm[IPVS_DAEMON_ATTR_STATE], IP_VS_STATE_BACKUP);
	assert_attr(dm[IPVS_DAEMON_ATTR_MCAST_GROUP6], 16, group6);
	assert_null(dm[IPVS_DAEMON_ATTR_MCAST_GROUP]);
	count_attrs(tb[IPVS_CMD_ATTR_DAEMON], 7);
	nlmsg_free(msg);
}

/* START with the defaults: only what the kernel requires (state, interface, sync id), so the
 * kernel fills in its own group, port, ttl and payload size. */
static void test_build_daemon_start_minimal(void **state)
{
	struct nlattr *tb[IPVS_CMD_ATTR_MAX + 1], *dm[IPVS_DAEMON_ATTR_MAX + 1];
	dsr_daemon_t d = {.state = DSR_SYNC_BACKUP, .ifname = "bond0.100"};
	struct nl_msg *msg = build_daemon(DSR_OP_DAEMON_START, &d);
	top_attrs(msg, IPVS_CMD_NEW_DAEMON, NLM_F_ACK, tb);
	nested(tb[IPVS_CMD_ATTR_DAEMON], dm, IPVS_DAEMON_ATTR_MAX);
	assert_u32(dm[IPVS_DAEMON_ATTR_STATE], IP_VS_STATE_BACKUP);
	assert_attr(dm[IPVS_DAEMON_ATTR_MCAST_IFN], 10, "bond0.100");
	assert_u32(dm[IPVS_DAEMON_ATTR_SYNC_ID], 0);
	count_attrs(tb[IPVS_CMD_ATTR_DAEMON], 3);
	nlmsg_free(msg);

	/* a name of 15 characters fits with its NUL (IP_VS_IFNAME_MAXLEN) */
	snprintf(d.ifname, sizeof(d.ifname), "abcdefghijklmno");
	msg = build_daemon(DSR_OP_DAEMON_START, &d);
	top_attrs(msg, IPVS_CMD_NEW_DAEMON, NLM_F_ACK, tb);
	nested(tb[IPVS_CMD_ATTR_DAEMON], dm, IPVS_DAEMON_ATTR_MAX);
	assert_attr(dm[IPVS_DAEMON_ATTR_MCAST_IFN], 16, "abcdefghijklmno");
	nlmsg_free(msg);
}

/* STOP names only the state (ip_vs_genl_del_daemon reads nothing else); GET is a dump. */
static void test_build_daemon_stop_and_dump(void **state)
{
	struct nlattr *tb[IPVS_CMD_ATTR_MAX + 1], *dm[IPVS_DAEMON_ATTR_MAX + 1];
	dsr_daemon_t d = {.state = DSR_SYNC_MASTER, .ifname = "eth1", .sync_id = 7, .port = 1};
	struct nl_msg *msg = build_daemon(DSR_OP_DAEMON_STOP, &d);
	top_attrs(msg, IPVS_CMD_DEL_DAEMON, NLM_F_ACK, tb);
	nested(tb[IPVS_CMD_ATTR_DAEMON], dm, IPVS_DAEMON_ATTR_MAX);
	assert_u32(dm[IPVS_DAEMON_ATTR_STATE], IP_VS_STATE_MASTER);
	count_attrs(tb[IPVS_CMD_ATTR_DAEMON], 1);
	nlmsg_free(msg);

	msg = build_daemon(DSR_OP_DAEMON_DUMP, NULL);
	top_attrs(msg, IPVS_CMD_GET_DAEMON, NLM_F_DUMP, tb);
	assert_null(tb[IPVS_CMD_ATTR_DAEMON]);
	assert_int_equal(nlmsg_hdr(msg)->nlmsg_len, NLMSG_HDRLEN + GENL_HDRLEN);
	nlmsg_free(msg);
}

/* A daemon dump entry as ip_vs_genl_fill_daemon writes it. */
static struct nl_msg *daemon_reply(uint32_t st, const char *ifn, int variant)
{
	struct nlattr *nest;
	struct nl_msg *msg = reply_start(IPVS_CMD_NEW_DAEMON, IPVS_CMD_ATTR_DAEMON, &nest);
	uint8_t g4[4] = {224, 0, 0, 81}, g6[16] = {0xff, 0x05, [15] = 0x01};
	if (variant != 1)
		nla_put_u32(msg, IPVS_DAEMON_ATTR_STATE, st);
	if (variant == 2)
		nla_put(msg, IPVS_DAEMON_ATTR_MCAST_IFN, (int)strlen(ifn), ifn); /* no NUL */
	else if (variant != 3)
		nla_put_string(msg, IPVS_DAEMON_ATTR_MCAST_IFN, ifn);
	if (variant != 4)
		nla_put_u32(msg, IPVS_DAEMON_ATTR_SYNC_ID, 7);
	nla_put_u16(msg, IPVS_DAEMON_ATTR_SYNC_MAXLEN, 1472);
	nla_put_u16(msg, IPVS_DAEMON_ATTR_MCAST_PORT, 8848);
	nla_put_u8(msg, IPVS_DAEMON_ATTR_MCAST_TTL, 1);
	if (variant == 5)
		nla_put(msg, IPVS_DAEMON_ATTR_MCAST_GROUP6, 16, g6);
	else if (variant == 6)
		nla_put(msg, IPVS_DAEMON_ATTR_MCAST_GROUP6, 4, g4); /* too short */
	else
		nla_put(msg, IPVS_DAEMON_ATTR_MCAST_GROUP, 4, g4);
	nla_nest_end(msg, nest);
	return msg;
}

static void test_parse_daemons(void **state)
{
	dsr_daemon_t out[2];
	reply_t r = {.op = DSR_OP_DAEMON_DUMP, .daemons = out};
	char buf[160];
	struct nl_msg *m = daemon_reply(IP_VS_STATE_MASTER, "eth1", 0);
	struct nl_msg *b = daemon_reply(IP_VS_STATE_BACKUP, "eth2", 5);
	assert_int_equal(parse_one(m, &r), 0);
	assert_int_equal(parse_one(b, &r), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(out[0].state, DSR_SYNC_MASTER);
	assert_string_equal(out[0].ifname, "eth1");
	assert_int_equal(out[0].sync_id, 7);
	assert_int_equal(out[0].max_len, 1472);
	assert_int_equal(out[0].port, 8848);
	assert_int_equal(out[0].ttl, 1);
	dsr_daemon_format(&out[0], buf, sizeof(buf));
	assert_string_equal(buf, "master sync daemon on eth1, sync id 7, group 224.0.0.81, port "
	                         "8848, ttl 1, max_len 1472");
	dsr_daemon_format(&out[1], buf, sizeof(buf));
	assert_string_equal(buf, "backup sync daemon on eth2, sync id 7, group ff05::1, port 8848, "
	                         "ttl 1, max_len 1472");
	/* a third is no kernel's answer */
	assert_int_equal(parse_one(m, &r), -EPROTO);
	assert_int_equal(r.n, 2);
	nlmsg_free(m);
	nlmsg_free(b);
}

static void test_parse_rejects_bad_daemons(void **state)
{
	/* 1 no state, 2 interface without NUL, 3 no interface, 4 no sync id, 6 short group6 */
	static const int variants[] = {1, 2, 3, 4, 6};
	for (size_t i = 0; i < NELEM(variants); i++) {
		dsr_daemon_t out[2];
		reply_t r = {.op = DSR_OP_DAEMON_DUMP, .daemons = out};
		struct nl_msg *msg = daemon_reply(IP_VS_STATE_MASTER, "eth1", variants[i]);
		assert_int_equal(parse_one(msg, &r), -EPROTO);
		assert_int_equal(r.n, 0);
		nlmsg_free(msg);
	}
	/* a state that is neither master nor backup */
	dsr_daemon_t out[2];
	reply_t r = {.op = DSR_OP_DAEMON_DUMP, .daemons = out};
	struct nl_msg *msg = daemon_reply(3, "eth1", 0);
	assert_int_equal(parse_one(msg, &r), -EPROTO);
	nlmsg_free(msg);
	/* an interface name longer than the kernel's */
	msg = daemon_reply(IP_VS_STATE_MASTER, "abcdefghijklmnopq", 0);
	assert_int_equal(parse_one(msg, &r), -EPROTO);
	nlmsg_free(msg);
	/* every truncation of a good entry, against a guard page */
	msg = daemon_reply(IP_VS_STATE_BACKUP, "eth1", 0);
	struct nlmsghdr *h = nlmsg_hdr(msg);
	for (size_t len = NLMSG_HDRLEN; len <= h->nlmsg_len; len += 4) {
		test_guard_t g;
		uint8_t *p = (uint8_t *)test_guard(&g, h, len);
		((struct nlmsghdr *)p)->nlmsg_len = (uint32_t)len;
		reply_t rr = {.op = DSR_OP_DAEMON_DUMP, .daemons = out};
		int rc = parse_reply((struct nlmsghdr *)p, &rr);
		if (len == h->nlmsg_len)
			assert_int_equal(rc, 0);
		else
			assert_true(rc == 0 || rc == -EPROTO);
		test_unguard(&g);
	}
	nlmsg_free(msg);
}

static void test_describe_daemon(void **state)
{
	char buf[200];
	dsr_daemon_t d = {.state = DSR_SYNC_MASTER, .ifname = "eth1", .sync_id = 7};
	describe_daemon(DSR_OP_DAEMON_START, &d, buf, sizeof(buf));
	assert_string_equal(buf, "start master sync daemon on eth1, sync id 7");
	d.state = DSR_SYNC_BACKUP;
	describe_daemon(DSR_OP_DAEMON_STOP, &d, buf, sizeof(buf));
	assert_string_equal(buf, "stop backup sync daemon");
	describe_daemon(DSR_OP_DAEMON_DUMP, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "dump sync daemons");
}

/* ---- errors ---- */

static void test_errno_table(void **state)
{
	static const struct {
		dsr_op_t op;
		int err;
		const char *text;
	} rows[] = {
	    {DSR_OP_SVC_DEL, -ESRCH, "no such virtual service"},
	    {DSR_OP_SVC_DEL, -ENOENT, "no such virtual service"},
	    {DSR_OP_SVC_EDIT, -ESRCH, "no such virtual service"},
	    {DSR_OP_DEST_ADD, -ESRCH, "no such virtual service"},
	    {DSR_OP_DEST_DUMP, -ESRCH, "no such virtual service"},
	    {DSR_OP_SVC_ADD, -EEXIST, "virtual service already exists"},
	    {DSR_OP_SVC_ADD, -ENOENT,
	     "scheduler not available in this kernel (no ip_vs_<name> module?)"},
	    {DSR_OP_DEST_ADD, -EEXIST, "destination already exists"},
	    {DSR_OP_DEST_DEL, -ENOENT, "no such destination"},
	    {DSR_OP_DEST_EDIT, -ENOENT, "no such destination"},
	    {DSR_OP_DEST_EDIT, -ERANGE,
	     "weight out of range, or lower threshold above upper threshold"},
	    {DSR_OP_SVC_ADD, -EPERM,
	     "operation not permitted (needs CAP_NET_ADMIN in this network namespace)"},
	    {DSR_OP_INFO, -ENOPROTOOPT, "the kernel has no IPVS (modprobe ip_vs)"},
	    {DSR_OP_SVC_DUMP, -EPROTO, "malformed reply from the kernel"},
	    {DSR_OP_SVC_ADD, EEXIST, "virtual service already exists"}, /* either sign */
	    {DSR_OP_DAEMON_START, -EEXIST, "a sync daemon of that state is already running"},
	    {DSR_OP_DAEMON_START, -ENODEV, "no such interface in this network namespace"},
	    {DSR_OP_DAEMON_STOP, -ESRCH, "no sync daemon of that state is running"},
	    {DSR_OP_DAEMON_STOP, -EPERM,
	     "operation not permitted (needs CAP_NET_ADMIN in this network namespace)"},
	};
	for (size_t i = 0; i < NELEM(rows); i++)
		assert_string_equal(dsr_ipvs_strerror(rows[i].op, rows[i].err), rows[i].text);
	/* not in the table: the C library's words */
	assert_string_equal(dsr_ipvs_strerror(DSR_OP_SVC_ADD, -EBUSY), strerror(EBUSY));
	/* every entry's op is real and its text non-empty */
	for (size_t i = 0; i < NELEM(errtab); i++) {
		assert_true(errtab[i].op == ANY_OP || errtab[i].op <= DSR_OP_DAEMON_DUMP);
		assert_true(strlen(errtab[i].text) > 5);
	}
}

static void test_describe(void **state)
{
	dsr_svc_key_t key;
	char buf[200];
	assert_int_equal(dsr_svc_key_parse("TCP 192.0.2.10:80", &key), 0);
	dsr_dest_t d = dest_of("10.0.0.11:80", 1, 0, 0);
	describe(DSR_OP_DEST_ADD, &key, &d, buf, sizeof(buf));
	assert_string_equal(buf, "add destination 10.0.0.11:80 to TCP 192.0.2.10:80");
	describe(DSR_OP_DEST_DEL, &key, &d, buf, sizeof(buf));
	assert_string_equal(buf, "delete destination 10.0.0.11:80 from TCP 192.0.2.10:80");
	describe(DSR_OP_SVC_DEL, &key, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "delete service TCP 192.0.2.10:80");
	describe(DSR_OP_SVC_DUMP, NULL, NULL, buf, sizeof(buf));
	assert_string_equal(buf, "dump IPVS services");
}

/* An NLMSG_ERROR with extended-ack TLVs, capped (no echoed request) or not. */
static void test_extack_text(void **state)
{
	for (int capped = 0; capped < 2; capped++) {
		uint8_t buf[256] __attribute__((aligned(8))) = {0};
		const char *text = "Attribute failed policy validation";
		size_t echoed = capped ? 0 : 20; /* a 20-byte request payload, echoed back */
		struct nlmsghdr *nlh = (struct nlmsghdr *)buf;
		struct nlmsgerr *e = (struct nlmsgerr *)(buf + NLMSG_HDRLEN);
		e->error = -EINVAL;
		e->msg.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + echoed);
		size_t off = NLMSG_HDRLEN + sizeof(*e) + echoed;
		struct nlattr *a = (struct nlattr *)(buf + off);
		a->nla_type = NLMSGERR_ATTR_MSG;
		a->nla_len = (uint16_t)(NLA_HDRLEN + strlen(text) + 1);
		memcpy((char *)a + NLA_HDRLEN, text, strlen(text) + 1);
		nlh->nlmsg_type = NLMSG_ERROR;
		nlh->nlmsg_flags = NLM_F_ACK_TLVS | (capped ? NLM_F_CAPPED : 0);
		nlh->nlmsg_len = (uint32_t)(off + NLA_ALIGN(a->nla_len));
		char out[128];
		extack_text(e, out, sizeof(out));
		assert_string_equal(out, text);
		nlh->nlmsg_flags &= ~NLM_F_ACK_TLVS; /* no TLVs: no text */
		extack_text(e, out, sizeof(out));
		assert_string_equal(out, "");
	}
}

/* This machine's kernel has no IPVS: open says so clearly. In the VM it opens. */
static void test_open(void **state)
{
	dsr_ipvs_t *h = NULL;
	char err[256] = "";
	int rc = dsr_ipvs_open(&h, err, sizeof(err));
	if (rc == 0) {
		dsr_info_t info;
		int irc = dsr_ipvs_info(h, &info);
		assert_true(irc == 0 || irc == -EPERM);
		assert_string_equal(dsr_ipvs_last_error(h), irc ? dsr_ipvs_last_error(h) : "");
		dsr_ipvs_close(h);
		return;
	}
	assert_int_equal(rc, -ENOPROTOOPT);
	assert_non_null(strstr(err, "modprobe ip_vs"));
	assert_non_null(strstr(err, "IPVS"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_build_del_service_bytes),
	    cmocka_unit_test(test_build_add_service),
	    cmocka_unit_test(test_build_fwmark_service),
	    cmocka_unit_test(test_build_dest),
	    cmocka_unit_test(test_build_queries),
	    cmocka_unit_test(test_build_daemon_start_full),
	    cmocka_unit_test(test_build_daemon_start_minimal),
	    cmocka_unit_test(test_build_daemon_stop_and_dump),
	    cmocka_unit_test(test_parse_daemons),
	    cmocka_unit_test(test_parse_rejects_bad_daemons),
	    cmocka_unit_test(test_describe_daemon),
	    cmocka_unit_test(test_parse_captured_info),
	    cmocka_unit_test(test_parse_captured_services),
	    cmocka_unit_test(test_parse_captured_dests),
	    cmocka_unit_test(test_parse_dump_growth),
	    cmocka_unit_test(test_parse_truncated_everywhere),
	    cmocka_unit_test(test_parse_rejects_bad_services),
	    cmocka_unit_test(test_parse_old_kernel_dest),
	    cmocka_unit_test(test_on_valid_keeps_draining),
	    cmocka_unit_test(test_errno_table),
	    cmocka_unit_test(test_describe),
	    cmocka_unit_test(test_extack_text),
	    cmocka_unit_test(test_open),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
