/*
 * One line per finished request: counted in the metrics (gw_metrics_request) and, unless
 * log.access is off, written as one JSON object to the access log. Main loop only.
 */
#ifndef S3LB_GATEWAY_ACCESS_LOG_H
#define S3LB_GATEWAY_ACCESS_LOG_H

#include "gateway/proxy.h"
#include "handoff/record.h"

/* The request on c (c->r) ended (answered, failed, or abandoned by the client): its status is
 * final. */
void gw_access_log(const gw_conn_t *c);

/* A request the node served after a handoff (issue 12): its agent's report (NULL: none came;
 * status 0), the index-th on the connection (request_id gets "-index" after the first). The
 * same fields, then "handoff": line->handoff. */
void gw_access_log_handoff(gw_server_t *srv, const gw_ho_line_t *line, const ho_report_t *rep,
                           uint32_t index);

#endif
