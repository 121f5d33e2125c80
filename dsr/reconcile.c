/*
 * Reconciler: sort want and have by key, merge them into six buckets of steps (one per phase),
 * concatenate the buckets. Apply runs the steps in order through dsr/ipvs.c and keeps the
 * ownership set (dsr/owner.c) in step with what the kernel did.
 */
#include "dsr/reconcile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NPHASES (DSR_STEP_SVC_DEL + 1)

typedef struct steps_s {
	dsr_step_t *v;
	size_t n, cap;
} steps_t;

static void push(steps_t *s, dsr_step_kind_t kind, const dsr_svc_t *svc, const dsr_dest_t *dest)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			abort();
	}
	dsr_step_t *st = &s->v[s->n++];
	memset(st, 0, sizeof(*st));
	st->kind = kind;
	st->svc = *svc;
	if (dest)
		st->dest = *dest;
}

/* A deep copy of in, services and each service's destinations sorted by key. */
static void copy_sorted(const dsr_table_t *in, dsr_table_t *out)
{
	dsr_table_copy(in, out);
	dsr_table_sort(out);
}

static uint32_t full_mask(uint16_t af)
{
	return af == AF_INET6 ? 128 : 32;
}

/* Checks one wanted service and fills in the defaults; err names it. */
static int normalize_svc(dsr_svc_t *svc, char *err, size_t errlen)
{
	dsr_svc_key_t *k = &svc->key;
	char name[96];
	if (k->af != AF_INET && k->af != AF_INET6) {
		snprintf(err, errlen, "service with address family %u: only IPv4 and IPv6", k->af);
		return -EINVAL;
	}
	if (k->fwmark) {
		memset(&k->addr, 0, sizeof(k->addr));
		k->addr.af = k->af;
		k->port = 0;
		k->protocol = IPPROTO_TCP;
	} else if (k->protocol == 0) {
		k->protocol = IPPROTO_TCP;
	}
	dsr_svc_key_format(k, name, sizeof(name));
	if (k->protocol != IPPROTO_TCP) {
		snprintf(err, errlen, "service %s: only TCP virtual services", name);
		return -EINVAL;
	}
	if (!k->fwmark && (k->addr.af != k->af || k->port == 0)) {
		snprintf(err, errlen, "service %s: needs an address of its family and a port",
		         name);
		return -EINVAL;
	}
	if (svc->sched[0] == '\0')
		snprintf(svc->sched, sizeof(svc->sched), "wlc");
	if (memchr(svc->sched, '\0', sizeof(svc->sched)) == NULL) {
		snprintf(err, errlen, "service %s: scheduler name too long", name);
		return -EINVAL;
	}
	svc->flags &= DSR_SVC_F_MASK;
	if (svc->timeout)
		svc->flags |= DSR_SVC_F_PERSISTENT;
	else
		svc->flags &= ~DSR_SVC_F_PERSISTENT;
	if (svc->netmask == 0)
		svc->netmask = full_mask(k->af);
	if (svc->netmask > full_mask(k->af)) {
		snprintf(err, errlen, "service %s: persistence netmask /%u", name, svc->netmask);
		return -EINVAL;
	}
	memset(&svc->stats, 0, sizeof(svc->stats));
	return 0;
}

static int normalize_dest(const dsr_svc_t *svc, dsr_dest_t *d, char *err, size_t errlen)
{
	char name[96], dn[64];
	dsr_svc_key_format(&svc->key, name, sizeof(name));
	if (d->addr.af != svc->key.af) {
		dsr_ip_format(&d->addr, dn, sizeof(dn));
		snprintf(err, errlen,
		         "service %s: destination %s: DR needs the service's address family", name,
		         dn);
		return -EINVAL;
	}
	d->fwd = DSR_FWD_DR;
	if (!svc->key.fwmark && d->port == 0)
		d->port = svc->key.port;
	dsr_dest_format(d, dn, sizeof(dn));
	if (!svc->key.fwmark && d->port != svc->key.port) {
		snprintf(err, errlen,
		         "service %s: destination %s: DR cannot change ports (the node must accept "
		         "the VIP on port %u)",
		         name, dn, svc->key.port);
		return -EINVAL;
	}
	if (d->u_thresh && d->l_thresh > d->u_thresh) {
		snprintf(err, errlen,
		         "service %s: destination %s: lower threshold %u above upper %u", name, dn,
		         d->l_thresh, d->u_thresh);
		return -EINVAL;
	}
	d->active = d->inactive = d->persist = 0;
	memset(&d->stats, 0, sizeof(d->stats));
	return 0;
}

/* Normalizes a copy of want in place, sorts it (normalizing may change keys: fwmark, port 0)
 * and rejects duplicates. */
static int normalize_want(dsr_table_t *t, char *err, size_t errlen)
{
	char name[96], dn[64];
	int rc;
	for (size_t i = 0; i < t->nsvcs; i++) {
		dsr_tsvc_t *s = &t->svcs[i];
		if ((rc = normalize_svc(&s->svc, err, errlen)) < 0)
			return rc;
		for (size_t j = 0; j < s->ndests; j++) {
			if ((rc = normalize_dest(&s->svc, &s->dests[j], err, errlen)) < 0)
				return rc;
		}
	}
	dsr_table_sort(t);
	for (size_t i = 0; i < t->nsvcs; i++) {
		const dsr_tsvc_t *s = &t->svcs[i];
		dsr_svc_key_format(&s->svc.key, name, sizeof(name));
		if (i > 0 && dsr_svc_key_cmp(&t->svcs[i - 1].svc.key, &s->svc.key) == 0) {
			snprintf(err, errlen, "service %s listed twice", name);
			return -EINVAL;
		}
		for (size_t j = 1; j < s->ndests; j++) {
			if (dsr_dest_cmp(&s->dests[j - 1], &s->dests[j]) == 0) {
				dsr_dest_format(&s->dests[j], dn, sizeof(dn));
				snprintf(err, errlen, "service %s: destination %s listed twice",
				         name, dn);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static bool svc_differs(const dsr_svc_t *w, const dsr_svc_t *h)
{
	if (strcmp(w->sched, h->sched) != 0 || w->flags != h->flags || w->timeout != h->timeout)
		return true;
	/* the netmask only matters for persistent services */
	return w->timeout && w->netmask != h->netmask;
}

static bool dest_differs(const dsr_dest_t *w, const dsr_dest_t *h)
{
	return w->weight != h->weight || w->u_thresh != h->u_thresh || w->l_thresh != h->l_thresh ||
	       w->fwd != h->fwd;
}

/* The destination to want, given the kernel's (NULL: none): a weight without a verdict
 * (keep_weight) is only a ceiling over what the kernel has. */
static dsr_dest_t wanted_dest(const dsr_dest_t *w, const dsr_dest_t *h)
{
	dsr_dest_t d = *w;
	if (d.keep_weight) {
		d.weight = h && h->weight < d.weight ? h->weight : h ? d.weight : 0;
		d.keep_weight = false;
	}
	return d;
}

static void merge_dests(const dsr_tsvc_t *w, const dsr_tsvc_t *h, const dsr_owned_t *owned,
                        steps_t *ph)
{
	size_t i = 0, j = 0;
	while (i < w->ndests || j < h->ndests) {
		int c = i == w->ndests   ? 1
		        : j == h->ndests ? -1
		                         : dsr_dest_cmp(&w->dests[i], &h->dests[j]);
		dsr_dest_t d;
		if (c < 0) {
			d = wanted_dest(&w->dests[i++], NULL);
			push(&ph[DSR_STEP_DEST_ADD], DSR_STEP_DEST_ADD, &w->svc, &d);
		} else if (c > 0) {
			if (dsr_owned_dest(owned, &h->svc.key, &h->dests[j]))
				push(&ph[DSR_STEP_DEST_DEL], DSR_STEP_DEST_DEL, &w->svc,
				     &h->dests[j]);
			j++;
		} else {
			d = wanted_dest(&w->dests[i], &h->dests[j]);
			if (dest_differs(&d, &h->dests[j]))
				push(&ph[DSR_STEP_DEST_EDIT], DSR_STEP_DEST_EDIT, &w->svc, &d);
			i++;
			j++;
		}
	}
}

/* A kernel service that want does not name: delete it if ours, else only our destinations. */
static void unwanted_svc(const dsr_tsvc_t *h, const dsr_owned_t *owned, steps_t *ph)
{
	if (dsr_owned_svc(owned, &h->svc.key)) {
		push(&ph[DSR_STEP_SVC_DEL], DSR_STEP_SVC_DEL, &h->svc, NULL);
		return;
	}
	for (size_t j = 0; j < h->ndests; j++) {
		if (dsr_owned_dest(owned, &h->svc.key, &h->dests[j]))
			push(&ph[DSR_STEP_DEST_DEL], DSR_STEP_DEST_DEL, &h->svc, &h->dests[j]);
	}
}

int dsr_plan_make(const dsr_table_t *want, const dsr_table_t *have, const dsr_owned_t *owned,
                  dsr_plan_t *plan, char *err, size_t errlen)
{
	dsr_table_t w, h;
	steps_t ph[NPHASES] = {{0}};
	int rc;
	memset(plan, 0, sizeof(*plan));
	copy_sorted(want, &w);
	copy_sorted(have, &h);
	if ((rc = normalize_want(&w, err, errlen)) < 0)
		goto out;
	size_t i = 0, j = 0;
	while (i < w.nsvcs || j < h.nsvcs) {
		int c = i == w.nsvcs   ? 1
		        : j == h.nsvcs ? -1
		                       : dsr_svc_key_cmp(&w.svcs[i].svc.key, &h.svcs[j].svc.key);
		if (c < 0) {
			const dsr_tsvc_t *t = &w.svcs[i++];
			push(&ph[DSR_STEP_SVC_ADD], DSR_STEP_SVC_ADD, &t->svc, NULL);
			for (size_t k = 0; k < t->ndests; k++) {
				dsr_dest_t d = wanted_dest(&t->dests[k], NULL);
				push(&ph[DSR_STEP_DEST_ADD], DSR_STEP_DEST_ADD, &t->svc, &d);
			}
		} else if (c > 0) {
			unwanted_svc(&h.svcs[j++], owned, ph);
		} else {
			if (svc_differs(&w.svcs[i].svc, &h.svcs[j].svc))
				push(&ph[DSR_STEP_SVC_EDIT], DSR_STEP_SVC_EDIT, &w.svcs[i].svc,
				     NULL);
			merge_dests(&w.svcs[i], &h.svcs[j], owned, ph);
			i++;
			j++;
		}
	}
	size_t total = 0;
	for (int p = 0; p < NPHASES; p++)
		total += ph[p].n;
	plan->steps = malloc((total ? total : 1) * sizeof(*plan->steps));
	if (!plan->steps)
		abort();
	for (int p = 0; p < NPHASES; p++) {
		if (ph[p].n)
			memcpy(plan->steps + plan->n, ph[p].v, ph[p].n * sizeof(*plan->steps));
		plan->n += ph[p].n;
	}
	rc = 0;
out:
	for (int p = 0; p < NPHASES; p++)
		free(ph[p].v);
	dsr_table_free(&w);
	dsr_table_free(&h);
	return rc;
}

void dsr_plan_free(dsr_plan_t *plan)
{
	free(plan->steps);
	plan->steps = NULL;
	plan->n = 0;
}

void dsr_step_format(const dsr_step_t *st, char *buf, size_t len)
{
	char k[96], d[64], extra[64] = "";
	dsr_svc_key_format(&st->svc.key, k, sizeof(k));
	dsr_dest_format(&st->dest, d, sizeof(d));
	if (st->dest.u_thresh || st->dest.l_thresh)
		snprintf(extra, sizeof(extra), " thresholds %u/%u", st->dest.u_thresh,
		         st->dest.l_thresh);
	switch (st->kind) {
	case DSR_STEP_SVC_ADD:
	case DSR_STEP_SVC_EDIT:
		snprintf(buf, len, "%s service %s sched %s flags 0x%x timeout %u",
		         st->kind == DSR_STEP_SVC_ADD ? "add" : "edit", k, st->svc.sched,
		         st->svc.flags, st->svc.timeout);
		break;
	case DSR_STEP_DEST_ADD:
		snprintf(buf, len, "add dest %s to %s weight %u%s", d, k, st->dest.weight, extra);
		break;
	case DSR_STEP_DEST_EDIT:
		snprintf(buf, len, "edit dest %s of %s weight %u%s", d, k, st->dest.weight, extra);
		break;
	case DSR_STEP_DEST_DEL:
		snprintf(buf, len, "delete dest %s from %s", d, k);
		break;
	case DSR_STEP_SVC_DEL:
		snprintf(buf, len, "delete service %s", k);
		break;
	}
}

static int exec_step(dsr_ipvs_t *h, const dsr_step_t *st)
{
	switch (st->kind) {
	case DSR_STEP_SVC_ADD:
		return dsr_ipvs_svc_add(h, &st->svc);
	case DSR_STEP_SVC_EDIT:
		return dsr_ipvs_svc_edit(h, &st->svc);
	case DSR_STEP_DEST_ADD:
		return dsr_ipvs_dest_add(h, &st->svc.key, &st->dest);
	case DSR_STEP_DEST_EDIT:
		return dsr_ipvs_dest_edit(h, &st->svc.key, &st->dest);
	case DSR_STEP_DEST_DEL:
		return dsr_ipvs_dest_del(h, &st->svc.key, &st->dest);
	case DSR_STEP_SVC_DEL:
		return dsr_ipvs_svc_del(h, &st->svc.key);
	}
	return -EINVAL;
}

static void note_failure(dsr_apply_result_t *res, int rc, const char *msg)
{
	res->failed++;
	if (res->first_rc == 0) {
		res->first_rc = rc;
		snprintf(res->first, sizeof(res->first), "%s", msg);
	}
}

static bool key_in(const dsr_svc_key_t *keys, size_t n, const dsr_svc_key_t *k)
{
	for (size_t i = 0; i < n; i++) {
		if (dsr_svc_key_cmp(&keys[i], k) == 0)
			return true;
	}
	return false;
}

/* Records the outcome of one executed step in owned and res; returns the step's failure message
 * or NULL. */
static const char *settle(dsr_ipvs_t *h, const dsr_step_t *st, int rc, dsr_owned_t *owned,
                          dsr_apply_result_t *res)
{
	bool is_del = st->kind == DSR_STEP_DEST_DEL || st->kind == DSR_STEP_SVC_DEL;
	bool is_add = st->kind == DSR_STEP_SVC_ADD || st->kind == DSR_STEP_DEST_ADD;
	bool gone = is_del && (rc == 0 || rc == -ENOENT || rc == -ESRCH);
	if (gone && st->kind == DSR_STEP_SVC_DEL)
		dsr_owned_drop_svc(owned, &st->svc.key);
	else if (gone)
		dsr_owned_set_dest(owned, &st->svc.key, &st->dest, false);
	/* an add that did not create anything (EEXIST: someone else did first) is not ours */
	if (is_add && rc < 0 && st->kind == DSR_STEP_SVC_ADD)
		dsr_owned_set_svc(owned, &st->svc.key, false);
	else if (is_add && rc < 0)
		dsr_owned_set_dest(owned, &st->svc.key, &st->dest, false);

	if (rc == 0) {
		res->done++;
		return NULL;
	}
	if (gone || (is_add && rc == -EEXIST)) {
		res->already++;
		return NULL;
	}
	note_failure(res, rc, dsr_ipvs_last_error(h));
	return dsr_ipvs_last_error(h);
}

int dsr_plan_apply(dsr_ipvs_t *h, const dsr_plan_t *plan, dsr_owned_t *owned, dsr_step_cb cb,
                   void *ud, dsr_apply_result_t *res)
{
	char err[384];
	dsr_svc_key_t *failed_svcs = NULL;
	size_t nfailed = 0;
	int rc;
	memset(res, 0, sizeof(*res));
	res->planned = plan->n;

	for (size_t i = 0; i < plan->n; i++) { /* write-ahead */
		const dsr_step_t *st = &plan->steps[i];
		if (st->kind == DSR_STEP_SVC_ADD)
			dsr_owned_set_svc(owned, &st->svc.key, true);
		else if (st->kind == DSR_STEP_DEST_ADD)
			dsr_owned_set_dest(owned, &st->svc.key, &st->dest, true);
	}
	if ((rc = dsr_owned_save(owned, err, sizeof(err))) < 0) {
		note_failure(res, rc, err);
		res->failed = plan->n;
		return rc;
	}

	for (size_t i = 0; i < plan->n; i++) {
		const dsr_step_t *st = &plan->steps[i];
		const char *msg;
		if ((st->kind == DSR_STEP_DEST_ADD || st->kind == DSR_STEP_DEST_EDIT) &&
		    key_in(failed_svcs, nfailed, &st->svc.key)) {
			char k[96];
			dsr_svc_key_format(&st->svc.key, k, sizeof(k));
			snprintf(err, sizeof(err), "skipped: service %s could not be added", k);
			dsr_owned_set_dest(owned, &st->svc.key, &st->dest, false);
			note_failure(res, -ESRCH, err);
			if (cb)
				cb(ud, st, -ESRCH, err);
			continue;
		}
		rc = exec_step(h, st);
		msg = settle(h, st, rc, owned, res);
		if (msg && st->kind == DSR_STEP_SVC_ADD) {
			failed_svcs = realloc(failed_svcs, (nfailed + 1) * sizeof(*failed_svcs));
			if (!failed_svcs)
				abort();
			failed_svcs[nfailed++] = st->svc.key;
		}
		if (cb)
			cb(ud, st, msg ? rc : 0, msg);
	}
	free(failed_svcs);
	if ((rc = dsr_owned_save(owned, err, sizeof(err))) < 0)
		note_failure(res, rc, err);
	return res->first_rc;
}

int dsr_reconcile(dsr_ipvs_t *h, const dsr_table_t *want, dsr_owned_t *owned, dsr_step_cb cb,
                  void *ud, dsr_apply_result_t *res)
{
	dsr_table_t have;
	dsr_plan_t plan;
	char err[384];
	int rc;
	memset(res, 0, sizeof(*res));
	if ((rc = dsr_ipvs_dump(h, &have)) < 0) {
		note_failure(res, rc, dsr_ipvs_last_error(h));
		return rc;
	}
	dsr_owned_prune(owned, &have);
	rc = dsr_plan_make(want, &have, owned, &plan, err, sizeof(err));
	dsr_table_free(&have);
	if (rc < 0) {
		note_failure(res, rc, err);
		return rc;
	}
	rc = dsr_plan_apply(h, &plan, owned, cb, ud, res);
	dsr_plan_free(&plan);
	return rc;
}
