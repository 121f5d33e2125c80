/*
 * libFuzzer target for the IPVS netlink reply parser (dsr/ipvs.c: parse_reply with its nla
 * policies, and extack_text for error replies). Input byte 0 picks the request being answered
 * (info, service dump, destination dump of an IPv4 or IPv6 service); the rest is a receive
 * buffer of netlink messages, walked as libnl's nl_recvmsgs walks it (nlmsg_ok / nlmsg_next,
 * NLMSG_ERROR shorter than its header refused), each message handed over in an exact-size copy
 * so that a read past its nlmsg_len is a heap overflow for ASan. Besides the sanitizers: every
 * parsed entry has a valid family and a NUL-terminated scheduler name, at most one entry per
 * message, and an error's text is a bounded string.
 */
#include <stdint.h>

/* Included to reach the statics, as tests/unit/test_dsr_ipvs.c does. */
#include "dsr/ipvs.c"

static void check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "property failed: %s\n", what);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const dsr_op_t which[] = {DSR_OP_INFO, DSR_OP_SVC_DUMP, DSR_OP_DEST_DUMP};
	dsr_info_t info;
	reply_t r;
	struct nlmsghdr *hdr;
	size_t msgs = 0;
	void *buf;
	int rem;

	if (size < 1 || size > (1 << 20))
		return 0;
	memset(&info, 0, sizeof(info));
	memset(&r, 0, sizeof(r));
	r.op = which[(data[0] & 3) % 3];
	r.svc_af = data[0] & 4 ? AF_INET6 : AF_INET;
	r.info = &info;
	/* an aligned copy, as libnl's receive buffer is */
	buf = malloc(size - 1 ? size - 1 : 1);
	if (!buf)
		abort();
	memcpy(buf, data + 1, size - 1);
	rem = (int)(size - 1);
	for (hdr = buf; nlmsg_ok(hdr, rem); hdr = nlmsg_next(hdr, &rem)) {
		struct nlmsghdr *m = malloc(hdr->nlmsg_len);
		if (!m)
			abort();
		memcpy(m, hdr, hdr->nlmsg_len);
		msgs++;
		if (m->nlmsg_type == NLMSG_ERROR) {
			char text[128];
			if (m->nlmsg_len >= (uint32_t)nlmsg_size(sizeof(struct nlmsgerr))) {
				extack_text(nlmsg_data(m), text, sizeof(text));
				check(strnlen(text, sizeof(text)) < sizeof(text), "bounded text");
			}
		} else if (m->nlmsg_type >= NLMSG_MIN_TYPE) {
			int rc = parse_reply(m, &r);
			check(rc == 0 || rc == -EPROTO || rc == -ENOMEM, "0, -EPROTO or -ENOMEM");
		}
		free(m);
	}
	check(r.n <= msgs, "at most one entry per message");
	for (size_t i = 0; i < r.n && r.op == DSR_OP_SVC_DUMP; i++) {
		const dsr_svc_t *s = &r.svcs[i];
		check(s->key.af == AF_INET || s->key.af == AF_INET6, "service family");
		check(strnlen(s->sched, sizeof(s->sched)) < sizeof(s->sched), "scheduler name");
	}
	for (size_t i = 0; i < r.n && r.op == DSR_OP_DEST_DUMP; i++)
		check(r.dests[i].addr.af == AF_INET || r.dests[i].addr.af == AF_INET6,
		      "destination family");
	free(r.svcs);
	free(r.dests);
	free(buf);
	return 0;
}
