#include "handoff/decide.h"

static const char *const reason_names[HO_REASON_COUNT] = {
    [HO_REASON_OK] = "ok",
    [HO_REASON_ROUTE] = "route",
    [HO_REASON_OPERATION] = "operation",
    [HO_REASON_TLS] = "tls",
    [HO_REASON_PIPELINED] = "pipelined",
    [HO_REASON_SMALL] = "small",
    [HO_REASON_UNKNOWN_SIZE] = "unknown_size",
    [HO_REASON_NODE_DOWN] = "node_down",
    [HO_REASON_AGENT_DOWN] = "agent_down",
};

const char *ho_reason_name(ho_reason_t r)
{
	if ((unsigned)r >= HO_REASON_COUNT)
		return "invalid";
	return reason_names[r];
}

static ho_decision_t proxy(ho_reason_t r)
{
	return (ho_decision_t){HO_PROXY, r};
}

/* The route's operation bit of op, 0 for none. */
static uint32_t op_bit(ho_op_t op)
{
	return op == HO_OP_GET ? LB_HANDOFF_GET : op == HO_OP_HEAD ? LB_HANDOFF_HEAD : 0;
}

/* Size against min_size: SMALL, UNKNOWN_SIZE or OK. An AT_MOST below the threshold is small
 * for sure; at or above it, it says nothing. */
static ho_reason_t size_reason(const lb_route_handoff_t *conf, ho_size_t size)
{
	switch (size.kind) {
	case HO_SIZE_EXACT:
		return size.bytes < conf->min_size ? HO_REASON_SMALL : HO_REASON_OK;
	case HO_SIZE_AT_MOST:
		if (size.bytes < conf->min_size)
			return HO_REASON_SMALL;
		break;
	case HO_SIZE_UNKNOWN:
		break;
	}
	if (conf->min_size == 0) /* every size qualifies, known or not */
		return HO_REASON_OK;
	return conf->unknown_size == LB_HANDOFF_UNKNOWN_HANDOFF ? HO_REASON_OK
	                                                        : HO_REASON_UNKNOWN_SIZE;
}

ho_decision_t ho_decide(const ho_decide_in_t *in)
{
	const lb_route_handoff_t *conf = in->conf;
	ho_reason_t r;

	if (conf == NULL || !conf->enabled)
		return proxy(HO_REASON_ROUTE);
	if ((conf->ops & op_bit(in->op)) == 0)
		return proxy(HO_REASON_OPERATION);
	if (in->tls)
		return proxy(HO_REASON_TLS);
	if (in->buffered_after > 0)
		return proxy(HO_REASON_PIPELINED);
	if ((r = size_reason(conf, in->size)) != HO_REASON_OK)
		return proxy(r);
	if (!in->node_up)
		return proxy(HO_REASON_NODE_DOWN);
	if (!in->agent_up)
		return proxy(HO_REASON_AGENT_DOWN);
	return (ho_decision_t){HO_HANDOFF, HO_REASON_OK};
}
