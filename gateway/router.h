/*
 * Routing: the first rule of a frontend whose bucket glob, op set and host glob all match names
 * the pool. No match: the caller answers NoSuchBucket (404) without touching any node.
 */
#ifndef S3LB_GATEWAY_ROUTER_H
#define S3LB_GATEWAY_ROUTER_H

#include "core/config.h"
#include "gateway/s3req.h"

/* Returns the index of the matching route in fe->routes, or -1. host may carry ":port". */
int gw_route(const lb_frontend_conf_t *fe, const gw_s3req_t *r, const char *host, size_t host_len);

#endif
