/*
 * `s3lb status | metrics | drain NODE | undrain NODE [-c FILE] [-a ADDR]`: the admin listener's
 * client side, blocking (a 5 s deadline for the whole exchange).
 */
#ifndef S3LB_ADMIN_CLIENT_H
#define S3LB_ADMIN_CLIENT_H

#include <stddef.h>
#include <stdio.h>

#define ADM_DEFAULT_CONFIG "/etc/s3lb/s3lb.yaml"

/* Runs the admin command argv[1] (argv as main's). Returns the exit status, or -1 when argv is
 * not a valid admin command (the caller prints the usage). */
int adm_cli(int argc, char **argv);

/* One request to the admin listener at addr ("127.0.0.1:9901", "[::1]:9901"), with
 * `Authorization: Bearer token` unless token is NULL; a 200 answer's body is written to out.
 * Returns 0, or -1 with a message in err (any other status is an error naming it). */
int adm_request(const char *addr, const char *method, const char *path, const char *token,
                FILE *out, char *err, size_t errlen);

#endif
