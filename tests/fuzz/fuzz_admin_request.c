/*
 * libFuzzer target for the admin request decision (admin/request.c): the first input byte picks
 * one of a few admin configs, the rest is the request as it arrived. Besides the sanitizers it
 * checks the property that matters: a drain or undrain is only ever decided for a request that
 * carries the configured token, an accepted Origin (or none) and a node name.
 *
 * Built by the fuzz build (-DS3LB_FUZZ=ON, scripts/fuzz; docs/testing-fuzz.md); by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     -D_GNU_SOURCE -I. \
 *     tests/fuzz/fuzz_admin_request.c admin/request.c net/http.c core/parse.c \
 *     $(pkg-config --cflags --libs libllhttp) -o fuzz_admin_request
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "admin/request.h"
#include "core/parse.h"

#define TOKEN "fuzz-token-0123456789"

static lb_config_t configs[4];

static void config(lb_config_t *c, const char *listen, const char *token, char **hosts,
                   size_t nhosts, char **origins, size_t norigins)
{
	const char *why;
	c->admin_enabled = true;
	if (lb_parse_addr(listen, &c->admin_listen, &why) < 0)
		abort();
	c->admin_token = (char *)token;
	c->admin_hosts = hosts;
	c->nadmin_hosts = nhosts;
	c->admin_origins = origins;
	c->nadmin_origins = norigins;
}

static void setup(void)
{
	static char *hosts[] = {"admin.example"};
	static char *origins[] = {"https://grafana.example"};
	config(&configs[0], "127.0.0.1:9901", NULL, NULL, 0, NULL, 0);
	config(&configs[1], "127.0.0.1:9901", TOKEN, hosts, 1, origins, 1);
	config(&configs[2], "0.0.0.0:9901", TOKEN, NULL, 0, NULL, 0);
	config(&configs[3], "[::1]:9901", TOKEN, hosts, 1, NULL, 0);
}

/* The request's Authorization value holds the token after "Bearer ". */
static int carries_token(const adm_req_t *r)
{
	const char *p = r->authorization.p;
	size_t n = r->authorization.len;
	if (!p || n < 7 + sizeof(TOKEN) - 1)
		return 0;
	return memmem(p + 7, n - 7, TOKEN, sizeof(TOKEN) - 1) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	const lb_config_t *cfg;
	adm_req_t r;
	adm_verdict_t v;
	char *buf;

	if (!ready) {
		setup();
		ready = 1;
	}
	if (size < 1)
		return 0;
	cfg = &configs[data[0] % 4];
	/* an exact-size copy: any read past the request is a heap overflow for ASan */
	buf = malloc(size - 1 ? size - 1 : 1);
	if (!buf)
		abort();
	memcpy(buf, data + 1, size - 1);
	if (adm_parse(buf, size - 1, &r) == 1) {
		adm_decide(&r, cfg, &v);
		if (v.action == ADM_DRAIN || v.action == ADM_UNDRAIN) {
			if (!cfg->admin_token || !carries_token(&r) || r.bad || !v.node[0] ||
			    v.status != 200)
				abort();
			if (r.origin.count && (cfg->nadmin_origins == 0 ||
			                       r.origin.len != strlen(cfg->admin_origins[0])))
				abort();
		}
		if (v.action == ADM_REFUSE && (v.status < 400 || v.status > 499))
			abort();
	}
	free(buf);
	return 0;
}
