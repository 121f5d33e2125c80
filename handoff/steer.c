/* The libnftables adapter of the handoff (the only file that includes it). Commands are built
 * as nft syntax from binary addresses and integers only, so no operator or peer text reaches
 * the parser. */
#include "handoff/steer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <nftables/libnftables.h>
#include <yyjson.h>

#define CMD_MAX 2048

struct ho_steer_s {
	struct nft_ctx *nft;
	char table[64];
	uint64_t steer_timeout_ms, freeze_timeout_ms;
};

static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_msg(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (msg == NULL || msglen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
}

/* The errno behind nftables' message ("Error: Could not process rule: File exists"): the
 * library prints strerror() of the kernel's answer, in the same locale as ours. */
static int classify(const char *err)
{
	static const int codes[] = {EEXIST, ENOENT, EPERM, EACCES, ENOMEM, EBUSY};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strstr(err, strerror(codes[i])) != NULL)
			return -codes[i];
	return -EIO;
}

/* Runs cmd (one or more lines: one transaction). On failure: the errno, and msg "what: the
 * first line of nftables' error". Both buffers are read (which empties them) every time. */
static int run(ho_steer_t *s, const char *cmd, const char *what, char *msg, size_t msglen)
{
	int rc = nft_run_cmd_from_buffer(s->nft, cmd);
	const char *err = nft_ctx_get_error_buffer(s->nft);

	(void)nft_ctx_get_output_buffer(s->nft);
	if (rc == 0)
		return 0;
	if (err == NULL)
		err = "";
	rc = classify(err);
	set_msg(msg, msglen, "%s: %.*s", what, (int)strcspn(err, "\n"),
	        err[0] != '\0' ? err : "failed");
	return rc;
}

int ho_steer_open(const ho_steer_opts_t *opts, ho_steer_t **out, char *msg, size_t msglen)
{
	const ho_steer_opts_t defaults = {0};
	const char *t;
	char cmd[CMD_MAX];
	ho_steer_t *s;
	int rc;

	*out = NULL;
	if (opts == NULL)
		opts = &defaults;
	t = opts->table != NULL ? opts->table : HO_STEER_TABLE;
	if (t[0] == '\0' || strlen(t) >= sizeof(s->table) ||
	    strspn(t, "abcdefghijklmnopqrstuvwxyz"
	              "0123456789_") != strlen(t)) {
		set_msg(msg, msglen, "nftables table name '%s': lowercase letters, digits, '_'", t);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	snprintf(s->table, sizeof(s->table), "%s", t);
	s->steer_timeout_ms = opts->steer_timeout_ms ? opts->steer_timeout_ms : 3600 * 1000;
	s->freeze_timeout_ms = opts->freeze_timeout_ms ? opts->freeze_timeout_ms : 5000;
	s->nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (s->nft == NULL || nft_ctx_buffer_output(s->nft) != 0 ||
	    nft_ctx_buffer_error(s->nft) != 0) {
		set_msg(msg, msglen, "libnftables: cannot create a context");
		ho_steer_close(s);
		return -ENOMEM;
	}
	/* `add` leaves an existing set, map or chain (and its elements) as it is; the chain is
	 * the table's own, so flushing and refilling it in the same transaction is atomic */
#define KEY4 "ipv4_addr . inet_service . ipv4_addr . inet_service"
#define KEY6 "ipv6_addr . inet_service . ipv6_addr . inet_service"
#define TUP4 "ip saddr . tcp sport . ip daddr . tcp dport"
#define TUP6 "ip6 saddr . tcp sport . ip6 daddr . tcp dport"
	snprintf(cmd, sizeof(cmd),
	         "add table inet %1$s\n"
	         "add set inet %1$s frozen4 { type " KEY4 "; flags timeout; }\n"
	         "add set inet %1$s frozen6 { type " KEY6 "; flags timeout; }\n"
	         "add map inet %1$s steer4 { type " KEY4 " : mark; flags timeout; }\n"
	         "add map inet %1$s steer6 { type " KEY6 " : mark; flags timeout; }\n"
	         "add chain inet %1$s prerouting { type filter hook prerouting priority raw; "
	         "policy accept; }\n"
	         "flush chain inet %1$s prerouting\n"
	         "add rule inet %1$s prerouting " TUP4 " @frozen4 drop\n"
	         "add rule inet %1$s prerouting " TUP6 " @frozen6 drop\n"
	         "add rule inet %1$s prerouting meta mark set " TUP4 " map @steer4 notrack\n"
	         "add rule inet %1$s prerouting meta mark set " TUP6 " map @steer6 notrack\n",
	         s->table);
	rc = run(s, cmd, "creating the steering table", msg, msglen);
	if (rc < 0) {
		ho_steer_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

void ho_steer_close(ho_steer_t *s)
{
	if (s == NULL)
		return;
	if (s->nft != NULL)
		nft_ctx_free(s->nft);
	free(s);
}

int ho_steer_destroy(ho_steer_t *s, char *msg, size_t msglen)
{
	char cmd[128];
	int rc;

	snprintf(cmd, sizeof(cmd), "delete table inet %s\n", s->table);
	rc = run(s, cmd, "deleting the steering table", msg, msglen);
	ho_steer_close(s);
	return rc == -ENOENT ? 0 : rc;
}

/* "C . P . V . Q" of f into buf; false for an unknown family. */
static bool key_text(const ho_flow_t *f, char *buf, size_t len)
{
	char c[INET6_ADDRSTRLEN], v[INET6_ADDRSTRLEN];

	if ((f->family != AF_INET && f->family != AF_INET6) ||
	    inet_ntop(f->family, f->client_addr, c, sizeof(c)) == NULL ||
	    inet_ntop(f->family, f->vip_addr, v, sizeof(v)) == NULL)
		return false;
	snprintf(buf, len, "%s . %u . %s . %u", c, f->client_port, v, f->vip_port);
	return true;
}

static char fam(const ho_flow_t *f)
{
	return f->family == AF_INET ? '4' : '6';
}

/* Appends to cmd (CMD_MAX bytes) the removal of f's freeze whether or not there is one: adding
 * an element a set holds already is no error, so the delete that follows always finds it. */
static void put_unfreeze(const ho_steer_t *s, const ho_flow_t *f, const char *key, char *cmd)
{
	size_t n = strlen(cmd);

	snprintf(cmd + n, CMD_MAX - n,
	         "add element inet %1$s frozen%2$c { %3$s timeout 1s }\n"
	         "delete element inet %1$s frozen%2$c { %3$s }\n",
	         s->table, fam(f), key);
}

#define CHECK_FLOW(f, key, what)                                                                   \
	do {                                                                                       \
		if (!key_text(f, key, sizeof(key))) {                                              \
			set_msg(msg, msglen, "%s: address family %d", what, (f)->family);          \
			return -EAFNOSUPPORT;                                                      \
		}                                                                                  \
	} while (0)

int ho_steer_freeze(ho_steer_t *s, const ho_flow_t *f, char *msg, size_t msglen)
{
	char key[160], cmd[CMD_MAX];

	CHECK_FLOW(f, key, "freezing a flow");
	snprintf(cmd, sizeof(cmd), "add element inet %s frozen%c { %s timeout %llums }\n", s->table,
	         fam(f), key, (unsigned long long)s->freeze_timeout_ms);
	return run(s, cmd, "freezing a flow", msg, msglen);
}

int ho_steer_thaw(ho_steer_t *s, const ho_flow_t *f, char *msg, size_t msglen)
{
	char key[160], cmd[CMD_MAX] = "";

	CHECK_FLOW(f, key, "thawing a flow");
	put_unfreeze(s, f, key, cmd);
	return run(s, cmd, "thawing a flow", msg, msglen);
}

/*
 * Sets f's steering entry to mark (a fresh timeout), with the freeze's removal in the same
 * transaction when `thaw`. First a plain add; if an entry of the 4-tuple exists with another
 * mark (EEXIST: a stale entry of a reused client port) or must be refreshed, delete and add in
 * one transaction; if that entry expired in between (ENOENT), the plain add again.
 */
static int steer_set(ho_steer_t *s, const ho_flow_t *f, uint32_t mark, bool thaw, bool refresh,
                     const char *what, char *msg, size_t msglen)
{
	char key[160], cmd[CMD_MAX];
	bool replace = refresh;
	int rc = -EIO;

	CHECK_FLOW(f, key, what);
	for (int attempt = 0; attempt < 4; attempt++) {
		size_t n;

		cmd[0] = '\0';
		if (thaw)
			put_unfreeze(s, f, key, cmd);
		n = strlen(cmd);
		if (replace)
			n += (size_t)snprintf(cmd + n, CMD_MAX - n,
			                      "delete element inet %s steer%c { %s }\n", s->table,
			                      fam(f), key);
		snprintf(cmd + n, CMD_MAX - n,
		         "add element inet %s steer%c { %s timeout %llums : 0x%08x }\n", s->table,
		         fam(f), key, (unsigned long long)s->steer_timeout_ms, mark);
		rc = run(s, cmd, what, msg, msglen);
		if (rc == -EEXIST && !replace)
			replace = true;
		else if (rc == -ENOENT && replace)
			replace = false;
		else
			return rc;
	}
	return rc;
}

int ho_steer_switch(ho_steer_t *s, const ho_flow_t *f, uint32_t mark, char *msg, size_t msglen)
{
	return steer_set(s, f, mark, true, false, "switching a flow to its node", msg, msglen);
}

int ho_steer_add(ho_steer_t *s, const ho_flow_t *f, uint32_t mark, char *msg, size_t msglen)
{
	/* a refresh deletes first: `add` of an element that exists keeps its old timeout */
	return steer_set(s, f, mark, false, true, "steering a flow", msg, msglen);
}

int ho_steer_remove(ho_steer_t *s, const ho_flow_t *f, char *msg, size_t msglen)
{
	char key[160], cmd[CMD_MAX] = "";
	size_t n;
	int rc;

	CHECK_FLOW(f, key, "removing a flow's steering");
	put_unfreeze(s, f, key, cmd);
	n = strlen(cmd);
	snprintf(cmd + n, CMD_MAX - n, "delete element inet %s steer%c { %s }\n", s->table, fam(f),
	         key);
	rc = run(s, cmd, "removing a flow's steering", msg, msglen);
	if (rc != -ENOENT)
		return rc;
	cmd[n] = '\0'; /* no steering entry: only the freeze, if any */
	return run(s, cmd, "removing a flow's freeze", msg, msglen);
}

/* ---- listing: the JSON form of `list table` ---- */

/* One key, {"concat": [client, cport, vip, vport]}, into f. */
static bool parse_key(yyjson_val *concat, int family, ho_flow_t *f)
{
	yyjson_val *v = yyjson_obj_get(concat, "concat");
	yyjson_val *c, *cp, *a, *ap;

	if (!yyjson_is_arr(v) || yyjson_arr_size(v) != 4)
		return false;
	c = yyjson_arr_get(v, 0);
	cp = yyjson_arr_get(v, 1);
	a = yyjson_arr_get(v, 2);
	ap = yyjson_arr_get(v, 3);
	memset(f, 0, sizeof(*f));
	f->family = family;
	if (!yyjson_is_str(c) || !yyjson_is_str(a) || !yyjson_is_uint(cp) || !yyjson_is_uint(ap) ||
	    yyjson_get_uint(cp) > 65535 || yyjson_get_uint(ap) > 65535 ||
	    inet_pton(family, yyjson_get_str(c), f->client_addr) != 1 ||
	    inet_pton(family, yyjson_get_str(a), f->vip_addr) != 1)
		return false;
	f->client_port = (uint16_t)yyjson_get_uint(cp);
	f->vip_port = (uint16_t)yyjson_get_uint(ap);
	return true;
}

/* One element of a set ({"elem": {"val": KEY, "expires": N}} or KEY) or a map ([that, mark]). */
static bool parse_elem(yyjson_val *e, bool is_map, int family, ho_steer_entry_t *out)
{
	yyjson_val *k = e, *w;

	memset(out, 0, sizeof(*out));
	out->frozen = !is_map;
	if (is_map) {
		yyjson_val *mark;

		if (!yyjson_is_arr(e) || yyjson_arr_size(e) != 2)
			return false;
		k = yyjson_arr_get(e, 0);
		mark = yyjson_arr_get(e, 1);
		if (!yyjson_is_uint(mark) || yyjson_get_uint(mark) > UINT32_MAX)
			return false;
		out->mark = (uint32_t)yyjson_get_uint(mark);
	}
	w = yyjson_obj_get(k, "elem");
	if (yyjson_is_obj(w)) {
		yyjson_val *exp = yyjson_obj_get(w, "expires");

		if (yyjson_is_uint(exp))
			out->expires_s = yyjson_get_uint(exp);
		k = yyjson_obj_get(w, "val");
	}
	return parse_key(k, family, &out->flow);
}

int ho_steer_list(ho_steer_t *s, ho_steer_entry_t **out, size_t *n, char *msg, size_t msglen)
{
	unsigned flags = nft_ctx_output_get_flags(s->nft);
	ho_steer_entry_t *list = NULL;
	size_t count = 0, cap = 0;
	yyjson_val *root, *objs, *o;
	yyjson_doc *doc = NULL;
	const char *json;
	char cmd[128];
	size_t i, max;
	int rc;

	*out = NULL;
	*n = 0;
	snprintf(cmd, sizeof(cmd), "list table inet %s\n", s->table);
	nft_ctx_output_set_flags(s->nft, flags | NFT_CTX_OUTPUT_JSON);
	rc = nft_run_cmd_from_buffer(s->nft, cmd);
	nft_ctx_output_set_flags(s->nft, flags);
	json = nft_ctx_get_output_buffer(s->nft);
	if (rc != 0) {
		const char *err = nft_ctx_get_error_buffer(s->nft);

		rc = classify(err != NULL ? err : "");
		set_msg(msg, msglen, "listing the steering table: %.*s",
		        err ? (int)strcspn(err, "\n") : 0, err ? err : "");
		return rc;
	}
	(void)nft_ctx_get_error_buffer(s->nft);
	doc = json != NULL ? yyjson_read(json, strlen(json), 0) : NULL;
	root = yyjson_doc_get_root(doc);
	objs = yyjson_obj_get(root, "nftables");
	if (!yyjson_is_arr(objs)) {
		set_msg(msg, msglen,
		        "listing the steering table: unexpected JSON from libnftables");
		rc = -EPROTO;
		goto out;
	}
	yyjson_arr_foreach(objs, i, max, o)
	{
		yyjson_val *set = yyjson_obj_get(o, "set"), *elems, *e;
		bool is_map = false;
		const char *name;
		size_t j, jmax;
		int family;

		if (set == NULL) {
			set = yyjson_obj_get(o, "map");
			is_map = true;
		}
		name = yyjson_get_str(yyjson_obj_get(set, "name"));
		if (name == NULL)
			continue;
		if (strcmp(name, is_map ? "steer4" : "frozen4") == 0)
			family = AF_INET;
		else if (strcmp(name, is_map ? "steer6" : "frozen6") == 0)
			family = AF_INET6;
		else
			continue;
		elems = yyjson_obj_get(set, "elem");
		yyjson_arr_foreach(elems, j, jmax, e)
		{
			if (count == cap) {
				size_t ncap = cap ? 2 * cap : 16;
				ho_steer_entry_t *p = realloc(list, ncap * sizeof(*p));

				if (p == NULL) {
					rc = -ENOMEM;
					goto out;
				}
				list = p;
				cap = ncap;
			}
			if (!parse_elem(e, is_map, family, &list[count])) {
				set_msg(msg, msglen,
				        "listing the steering table: an element of %s "
				        "that does not parse",
				        name);
				rc = -EPROTO;
				goto out;
			}
			count++;
		}
	}
	*out = list;
	*n = count;
	list = NULL;
	rc = 0;
out:
	free(list);
	yyjson_doc_free(doc);
	return rc;
}
