/*
 * One line per finished request: counted in the metrics (gw_metrics_request) and, unless
 * log.access is off, written as one JSON object to the access log. Main loop only.
 */
#ifndef S3LB_GATEWAY_ACCESS_LOG_H
#define S3LB_GATEWAY_ACCESS_LOG_H

#include "gateway/proxy.h"

/* The request on c (c->r) ended (answered, failed, or abandoned by the client): its status is
 * final. */
void gw_access_log(const gw_conn_t *c);

#endif
