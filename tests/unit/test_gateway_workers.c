/*
 * gateway/workers.c: N workers started on one config, a blocking node and blocking clients on
 * threads of their own, the main loop driven by the test. Checked: every worker serves (the
 * per-worker accept counters), a verdict given on the main loop reaches every worker before the
 * next request, passive reports of other workers arrive on the main loop, the summed counters
 * equal what was sent, a reload is taken by every worker, a reload that cannot bind fails in
 * all, and after a stop the main loop closes with no handle left and every thread joins.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "gateway/workers.h"
#include "net/rbuf.h"
#include "net/splice.h"

static int listen_on(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 512), 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	*port = ntohs(a.sin_port);
	return fd;
}

static int free_port(void)
{
	int port, fd = listen_on(&port);
	close(fd);
	return port;
}

/* ---- a node on a thread: answers every request 200 with its name, counts requests ---------- */

typedef struct {
	int fd, port;
	const char *name;
	unsigned requests;
	pthread_mutex_t mu;
} node_t;

static void *node_conn(void *arg)
{
	void **a = arg;
	node_t *n = a[0];
	int c = (int)(intptr_t)a[1];
	char buf[8192];
	size_t have = 0;
	free(a);
	for (;;) {
		ssize_t r = recv(c, buf + have, sizeof(buf) - have - 1, 0);
		char *end;
		if (r <= 0)
			break;
		have += (size_t)r;
		buf[have] = 0;
		while ((end = strstr(buf, "\r\n\r\n"))) {
			char resp[128];
			size_t used = (size_t)(end + 4 - buf);
			int len = snprintf(resp, sizeof(resp),
			                   "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
			                   strlen(n->name), n->name);
			if (!strstr(buf, "s3lb-health")) {
				pthread_mutex_lock(&n->mu);
				n->requests++;
				pthread_mutex_unlock(&n->mu);
			}
			if (send(c, resp, (size_t)len, MSG_NOSIGNAL) != len)
				goto out;
			memmove(buf, buf + used, have - used + 1);
			have -= used;
		}
	}
out:
	close(c);
	return NULL;
}

static void *node_main(void *arg)
{
	node_t *n = arg;
	for (;;) {
		int c = accept(n->fd, NULL, NULL);
		pthread_t t;
		void **a;
		if (c < 0)
			return NULL;
		a = malloc(2 * sizeof(*a));
		a[0] = n;
		a[1] = (void *)(intptr_t)c;
		pthread_create(&t, NULL, node_conn, a);
		pthread_detach(t);
	}
}

static unsigned node_requests(node_t *n)
{
	unsigned v;
	pthread_mutex_lock(&n->mu);
	v = n->requests;
	pthread_mutex_unlock(&n->mu);
	return v;
}

/* ---- clients on a thread: `count` requests, each on a new connection ------------------------ */

typedef struct {
	int port, count, ok;
	char last[32];
	volatile int done;
} clients_t;

static int one_request(int port, char *body, size_t bodylen)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
	                        .sin_port = htons((uint16_t)port),
	                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	const char *req = "GET /bkt/k HTTP/1.1\r\nHost: s3.local\r\nConnection: close\r\n\r\n";
	char buf[4096];
	size_t have = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    send(fd, req, strlen(req), MSG_NOSIGNAL) < 0) {
		close(fd);
		return 0;
	}
	for (;;) {
		ssize_t r = recv(fd, buf + have, sizeof(buf) - have - 1, 0);
		if (r <= 0)
			break;
		have += (size_t)r;
	}
	close(fd);
	buf[have] = 0;
	ok = strncmp(buf, "HTTP/1.1 200", 12) == 0;
	if (ok && strstr(buf, "\r\n\r\n"))
		snprintf(body, bodylen, "%s", strstr(buf, "\r\n\r\n") + 4);
	return ok;
}

static void *clients_main(void *arg)
{
	clients_t *c = arg;
	for (int i = 0; i < c->count; i++)
		c->ok += one_request(c->port, c->last, sizeof(c->last));
	c->done = 1;
	return NULL;
}

/* Runs the main loop until the clients are done (or 20 s). */
static void run_clients(uv_loop_t *loop, clients_t *c)
{
	pthread_t t;
	uint64_t t0;
	c->done = 0;
	c->ok = 0;
	pthread_create(&t, NULL, clients_main, c);
	uv_update_time(loop);
	t0 = uv_now(loop);
	while (!c->done && uv_now(loop) - t0 < 20000) {
		uv_run(loop, UV_RUN_NOWAIT);
		uv_sleep(1);
		uv_update_time(loop);
	}
	pthread_join(t, NULL);
}

/* ---- the test ------------------------------------------------------------------------------- */

typedef struct {
	unsigned passive;
	bool stopped;
} director_t;

static void on_passive(void *arg, const char *pool, const char *node, bool ok, const char *why)
{
	(void)pool;
	(void)node;
	(void)ok;
	(void)why;
	((director_t *)arg)->passive++;
}

static void on_stop(void *arg)
{
	((director_t *)arg)->stopped = true;
}

static char path[] = "/tmp/s3lb-test-workers-XXXXXX.yaml";

/* The config: listening on port, and on port2 too when it is not 0. */
static void write_config(int port, int port2, const node_t *a, const node_t *b)
{
	FILE *f = fopen(path, "w");
	char second[32] = "";
	assert_non_null(f);
	if (port2)
		snprintf(second, sizeof(second), ", 127.0.0.1:%d", port2);
	fprintf(f,
	        "admin: { listen: off }\n"
	        "log: { level: error, access: off }\n"
	        "workers: 3\n"
	        "pools:\n"
	        "  - name: p\n"
	        "    balance: round-robin\n"
	        "    health: { kind: none, passive: { failures: 0 } }\n"
	        "    nodes:\n"
	        "      - { name: a, addr: 127.0.0.1:%d }\n"
	        "      - { name: b, addr: 127.0.0.1:%d }\n"
	        "frontends:\n"
	        "  - name: s3\n"
	        "    listen: [127.0.0.1:%d%s]\n"
	        "    domains: [s3.local]\n"
	        "    routes:\n"
	        "      - { bucket: bkt, pool: p }\n",
	        a->port, b->port, port, second);
	fclose(f);
}

/* A drain restored from before a restart: b starts draining in every worker. */
static gw_node_state_t initial_b_drained(void *arg, const char *pool, const char *node)
{
	(void)arg;
	return !strcmp(pool, "p") && !strcmp(node, "b") ? GW_NODE_DRAINING : GW_NODE_UP;
}

static void test_workers(void **state)
{
	node_t na = {.name = "a"}, nb = {.name = "b"};
	pthread_t ta, tb;
	uv_loop_t loop;
	gw_workers_t *ws;
	director_t dir = {0};
	gw_hooks_t hooks = {.arg = &dir, .passive = on_passive, .initial_state = initial_b_drained};
	lb_config_t *cfg;
	char err[512];
	clients_t cl;
	gw_metrics_t *m;
	int port = free_port(), busy_port, busy, fd;
	unsigned before;
	(void)state;

	pthread_mutex_init(&na.mu, NULL);
	pthread_mutex_init(&nb.mu, NULL);
	na.fd = listen_on(&na.port);
	nb.fd = listen_on(&nb.port);
	pthread_create(&ta, NULL, node_main, &na);
	pthread_create(&tb, NULL, node_main, &nb);
	fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	close(fd);
	write_config(port, 0, &na, &nb);
	assert_int_equal(lb_config_load(path, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->workers, 3);
	assert_int_equal(gw_workers_wanted(0) >= 1, 1);
	uv_loop_init(&loop);
	assert_int_equal(
	    gw_workers_start(&loop, cfg, 3, &hooks, on_stop, &dir, &ws, err, sizeof(err)), 0);
	assert_int_equal(gw_workers_count(ws), 3);

	/* from the first request on, no worker sends to b, drained before the start (no message
	 * needed: the hook gave every worker its state as it started) */
	cl = (clients_t){.port = port, .count = 60};
	run_clients(&loop, &cl);
	assert_int_equal(cl.ok, 60);
	assert_int_equal(node_requests(&nb), 0);
	assert_int_equal(node_requests(&na), 60);
	gw_workers_node_state(ws, "p", "b", GW_NODE_UP); /* undrained */
	uv_run(&loop, UV_RUN_NOWAIT);
	uv_sleep(20);

	/* every worker serves, the sums match, passive reports reach the main loop */
	cl = (clients_t){.port = port, .count = 300};
	run_clients(&loop, &cl);
	assert_int_equal(cl.ok, 300);
	assert_true(node_requests(&nb) > 0);
	for (unsigned k = 0; k < 3; k++)
		assert_true(GW_GET(gw_workers_metrics_of(ws, k)->conns_accepted) >= 30);
	m = gw_workers_metrics(ws);
	assert_int_equal(m->conns_accepted, 360);
	assert_int_equal(gw_metrics_node_find(m, "p", "a")->requests +
	                     gw_metrics_node_find(m, "p", "b")->requests,
	                 360);
	gw_metrics_free(m);
	for (int i = 0; i < 200 && dir.passive < 360; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		uv_sleep(1);
	}
	assert_int_equal(dir.passive, 360);

	/* a verdict on the main loop: no worker sends to b from the next request on */
	gw_workers_node_state(ws, "p", "b", GW_NODE_DOWN);
	uv_run(&loop, UV_RUN_NOWAIT);
	uv_sleep(20); /* the workers' loops take their mail */
	before = node_requests(&nb);
	cl.count = 120;
	run_clients(&loop, &cl);
	assert_int_equal(cl.ok, 120);
	assert_int_equal(node_requests(&nb), before);
	gw_workers_node_state(ws, "p", "b", GW_NODE_UP);

	/* a reload is taken by every worker: a second listener answers on all of them */
	busy_port = free_port();
	write_config(port, busy_port, &na, &nb);
	assert_int_equal(gw_workers_reload(ws, err, sizeof(err)), 0);
	uv_sleep(20);
	cl = (clients_t){.port = busy_port, .count = 120};
	run_clients(&loop, &cl);
	assert_int_equal(cl.ok, 120);
	for (unsigned k = 0; k < 3; k++)
		assert_true(GW_GET(gw_workers_metrics_of(ws, k)->conns_accepted) >= 100 + 12);

	/* a reload that cannot bind fails for all; the running config keeps serving */
	busy = listen_on(&busy_port);
	write_config(port, busy_port, &na, &nb);
	assert_int_equal(gw_workers_reload(ws, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot listen on"));
	close(busy);
	cl = (clients_t){.port = port, .count = 30};
	run_clients(&loop, &cl);
	assert_int_equal(cl.ok, 30);

	/* stop: every worker drains, the main loop ends empty, the threads join */
	gw_workers_stop(ws);
	for (int i = 0; i < 5000 && uv_loop_alive(&loop); i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		uv_sleep(1);
	}
	assert_true(dir.stopped);
	assert_int_equal(uv_loop_close(&loop), 0);
	gw_workers_free(ws);
	net_rbuf_spares_free();
	net_splice_pipes_close();
	unlink(path);
	shutdown(na.fd, SHUT_RDWR);
	shutdown(nb.fd, SHUT_RDWR);
	close(na.fd);
	close(nb.fd);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_workers),
	};
	signal(SIGPIPE, SIG_IGN);
	lb_log_level = LB_LOG_ERROR;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
