/*
 * The IPVS part of GET /metrics (admin/metrics.c calls it when the config has `dr:` services):
 * the director's reconcile figures and, for each kernel service that is one of the config's `dr:`
 * entries, its counters and its destinations' weights, connections and counters. Services the
 * config does not name (ipvsadm's, keepalived's, kube-proxy's) are left out: /status lists them.
 */
#ifndef S3LB_ADMIN_METRICS_IPVS_H
#define S3LB_ADMIN_METRICS_IPVS_H

#include <stdio.h>

#include "core/config.h"
#include "dsr/director.h"

/* Writes the s3lb_ipvs_* families from st (a snapshot, dsr_director_status), with pool and node
 * names from cfg (NULL: no running config, families without service series). Pure. */
void adm_metrics_ipvs(FILE *out, const lb_config_t *cfg, const dsr_status_t *st);

#endif
