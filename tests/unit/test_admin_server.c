/*
 * Unit tests for admin/server.c and admin/client.c: admin connections on a real loop (with a
 * real health checker, probes off) answering a client thread that uses adm_request and raw
 * sockets: bodies and heads, error answers, drain with and without the token, a cross-origin
 * POST, a rebinding Host, limits, and stop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cmocka.h>

#include "admin/admin.h"
#include "admin/client.h"
#include "admin/page.h"
#include "core/version.h"
#include "tests/unit/support/admin_fixture.h"

typedef struct {
	fixture_t *f;
	adm_t *adm;
	hc_t *hc;
	gw_listener_t l;
	uv_async_t done, stop;
	char addr[64];
	pthread_t thread;
	int failures;
	char why[512];
	hc_state_t rgw1, rgw2; /* health's verdicts when the client is done */
} loop_ctx_t;

static loop_ctx_t *ctx;

static void on_admin_connection(uv_stream_t *s, int status)
{
	gw_listener_t *l = s->data;
	assert_int_equal(status, 0);
	l->srv->metrics->conns_accepted++;
	adm_accept(ctx->adm, s, l->addr);
}

static void on_done(uv_async_t *a)
{
	loop_ctx_t *c = a->data;
	uv_close((uv_handle_t *)&c->l.tcp, NULL);
	uv_close((uv_handle_t *)&c->done, NULL);
	uv_close((uv_handle_t *)&c->stop, NULL);
	c->rgw1 = hc_info(c->hc, "ceph-a", "rgw1")->state;
	c->rgw2 = hc_info(c->hc, "ceph-a", "rgw2")->state;
	hc_close(c->hc);
}

static void on_stop(uv_async_t *a)
{
	loop_ctx_t *c = a->data;
	adm_stop(c->adm);
}

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			snprintf(ctx->why, sizeof(ctx->why), "line %d: %s", __LINE__, #cond);      \
			ctx->failures++;                                                           \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

/* A blocking client socket connected to the admin listener, or -1. */
static int admin_connect(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	struct timeval tv = {.tv_sec = 5};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)atoi(strrchr(ctx->addr, ':') + 1));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends req and our FIN on a new connection and reads the answer until the server closes. */
static int raw_request(const char *req, size_t len, char *resp, size_t cap)
{
	int fd = admin_connect();
	size_t n = 0;
	ssize_t r;

	if (fd < 0)
		return -1;
	if (len && send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	shutdown(fd, SHUT_WR);
	while (n + 1 < cap && (r = recv(fd, resp + n, cap - 1 - n, 0)) > 0)
		n += (size_t)r;
	resp[n] = 0;
	close(fd);
	return (int)n;
}

#define RAW(s, resp) raw_request(s, sizeof(s) - 1, resp, sizeof(resp))

static void *client_main(void *arg)
{
	char err[512], resp[16384];
	char *body = NULL;
	size_t body_len = 0;
	FILE *out;
	char *big;
	(void)arg;

	/* the blocking client: 200 with the body printed */
	out = open_memstream(&body, &body_len);
	CHECK(adm_request(ctx->addr, "GET", "/status", NULL, out, err, sizeof(err)) == 0);
	fclose(out);
	CHECK(strstr(body, "{\"version\":\"" S3LB_VERSION "\"") == body);
	CHECK(strstr(body, "\"name\":\"rgw2\""));
	/* two samples (test_loop ticked twice, 2 ms apart), rgw1's 7 requests not counted */
	CHECK(strstr(body, "\"reused\":5,\"rate_1m\":{\"req_s\":0.0,\"err_s\":0.0,"));
	free(body);
	body = NULL;
	out = open_memstream(&body, &body_len);
	CHECK(adm_request(ctx->addr, "GET", "/metrics?x=1", NULL, out, err, sizeof(err)) == 0);
	fclose(out);
	CHECK(strstr(body, "\ns3lb_connections_accepted_total 2\n"));
	free(body);
	body = NULL;

	/* non-200 is an error naming the status */
	out = open_memstream(&body, &body_len);
	CHECK(adm_request(ctx->addr, "GET", "/nope", NULL, out, err, sizeof(err)) == -1);
	fclose(out);
	CHECK(body_len == 0);
	CHECK(strstr(err, "HTTP 404"));
	free(body);
	body = NULL;
	CHECK(adm_request("127.0.0.1", "GET", "/status", NULL, stdout, err, sizeof(err)) == -1);
	CHECK(strstr(err, "admin address"));

	/* raw answers */
	CHECK(RAW("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 200 OK\r\n", 17));
	CHECK(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"));
	CHECK(strstr(resp, "\r\nConnection: close\r\n"));
	CHECK(RAW("POST /status HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 405 Method Not Allowed\r\n", 33));
	CHECK(strstr(resp, "\r\nAllow: GET\r\n"));
	CHECK(strstr(resp, "\r\nContent-Type: application/json\r\n"));
	CHECK(strstr(resp, "\r\n\r\n{\"error\":\"Method Not Allowed\",\"status\":405}\n"));
	/* GET / is the status page, judged as GET /status: CSP, rebinding Host, Origin, method */
	{
		static char page[65536];
		const char *b;
		CHECK(RAW("GET / HTTP/1.1\r\nHost: localhost:9901\r\n\r\n", page) > 0);
		CHECK(!strncmp(page, "HTTP/1.1 200 OK\r\n", 17));
		CHECK(strstr(page, "\r\nContent-Type: text/html; charset=utf-8\r\n"));
		CHECK(strstr(page, "\r\nContent-Security-Policy: default-src 'none'; "));
		CHECK(strstr(page, "connect-src 'self'; "));
		CHECK(strstr(page, "\r\nX-Content-Type-Options: nosniff\r\n"));
		CHECK(strstr(page, "\r\nCache-Control: no-store\r\n"));
		b = strstr(page, "\r\n\r\n");
		CHECK(b && !strcmp(b + 4, adm_page_html));
		CHECK(strlen(adm_page_html) == adm_page_html_len);
		CHECK(strstr(adm_page_html, "fetch(\"status\""));
		CHECK(strstr(adm_page_html, "</html>\n"));
		CHECK(RAW("GET /?refresh=5 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", page) > 0);
		CHECK(!strncmp(page, "HTTP/1.1 200 OK\r\n", 17));
		CHECK(RAW("GET / HTTP/1.1\r\nHost: rebind.example\r\n\r\n", page) > 0);
		CHECK(!strncmp(page, "HTTP/1.1 403 Forbidden\r\n", 24));
		CHECK(strstr(page, "\r\nContent-Type: application/json\r\n"));
		CHECK(!strstr(page, "Content-Security-Policy"));
		CHECK(
		    RAW("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://evil.example\r\n\r\n",
		        page) > 0);
		CHECK(!strncmp(page, "HTTP/1.1 403 Forbidden\r\n", 24));
		CHECK(RAW("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", page) > 0);
		CHECK(!strncmp(page, "HTTP/1.1 405 Method Not Allowed\r\n", 33));
		CHECK(strstr(page, "\r\nAllow: GET\r\n"));
		CHECK(RAW("GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", page) > 0);
		CHECK(!strncmp(page, "HTTP/1.1 404 Not Found\r\n", 24));
	}
	CHECK(RAW("GET /status/x HTTP/1.0\r\n\r\n", resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 404 Not Found\r\n", 24));
	CHECK(RAW("GARBAGE\r\n\r\n", resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 400 Bad Request\r\n", 26));
	big = malloc(20000);
	CHECK(big);
	memset(big, 'a', 20000);
	memcpy(big, "GET /status HTTP/1.1\r\nX: ", 25);
	CHECK(raw_request(big, 20000, resp, sizeof(resp)) > 0);
	free(big);
	CHECK(!strncmp(resp, "HTTP/1.1 431 ", 13));
	/* drain: the CLI's request with the token works; without, or from a web page, it does not
	 */
	out = open_memstream(&body, &body_len);
	CHECK(adm_request(ctx->addr, "POST", "/drain?node=ceph-a/rgw1", TOKEN, out, err,
	                  sizeof(err)) == 0);
	fclose(out);
	CHECK(!strcmp(body, "{\"node\":\"ceph-a/rgw1\",\"state\":\"draining\"}\n"));
	free(body);
	body = NULL;
	/* adm follows health: the drain is /status's latest event */
	out = open_memstream(&body, &body_len);
	CHECK(adm_request(ctx->addr, "GET", "/status", NULL, out, err, sizeof(err)) == 0);
	fclose(out);
	CHECK(strstr(body, "\"events\":[{\"time_ms\":"));
	CHECK(strstr(body, ",\"pool\":\"ceph-a\",\"node\":\"rgw1\",\"from\":\"up\",\"to\":"
	                   "\"draining\",\"reason\":\"drained by operator\"}]}\n"));
	free(body);
	body = NULL;
	CHECK(adm_request(ctx->addr, "POST", "/undrain?node=rgw1", "wrong-token-0123456789", stdout,
	                  err, sizeof(err)) == -1);
	CHECK(strstr(err, "HTTP 401"));
	CHECK(strstr(err, "wrong token"));
	CHECK(adm_request(ctx->addr, "POST", "/undrain?node=rgw1", NULL, stdout, err,
	                  sizeof(err)) == -1);
	CHECK(strstr(err, "HTTP 401"));
	CHECK(adm_request(ctx->addr, "POST", "/drain?node=nope", TOKEN, stdout, err, sizeof(err)) ==
	      -1);
	CHECK(strstr(err, "HTTP 404"));
	CHECK(strstr(err, "no node named 'nope'"));
	/* the message names the method that was sent (it said GET for every request) */
	CHECK(!strncmp(err, "POST /drain?node=nope to 127.0.0.1:", 35));
	CHECK(RAW("POST /drain?node=rgw2 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 401 Unauthorized\r\n", 27));
	CHECK(strstr(resp, "\r\nWWW-Authenticate: Bearer realm=\"s3lb-admin\"\r\n"));
	CHECK(RAW("POST /drain?node=rgw2 HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: "
	          "http://evil.example\r\n"
	          "Authorization: Bearer " TOKEN "\r\nContent-Type: text/plain\r\n"
	          "Content-Length: 0\r\n\r\n",
	          resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 403 Forbidden\r\n", 24));
	CHECK(strstr(resp, "\r\n\r\n{\"error\":\"Forbidden\",\"status\":403,\"message\":"
	                   "\"requests from web pages are refused: Origin 'http://evil.example' "
	                   "is not in admin.allowed_origins\"}\n"));
	CHECK(RAW("GET /status HTTP/1.1\r\nHost: rebind.example:9901\r\n\r\n", resp) > 0);
	CHECK(!strncmp(resp, "HTTP/1.1 403 Forbidden\r\n", 24));
	CHECK(strstr(resp, "Host 'rebind.example:9901' is not accepted here"));

	/* the client closes without asking: no answer, no leak */
	CHECK(RAW("", resp) == 0);

	/* stop closes a connection that is still reading */
	{
		int fd = admin_connect();
		CHECK(fd >= 0);
		CHECK(send(fd, "GET /sta", 8, MSG_NOSIGNAL) == 8);
		usleep(100 * 1000);
		uv_async_send(&ctx->stop);
		CHECK(recv(fd, resp, sizeof(resp), 0) == 0);
		close(fd);
	}
out:
	free(body);
	uv_async_send(&ctx->done);
	return NULL;
}

static void test_loop(void **state)
{
	uv_loop_t loop;
	struct sockaddr_storage ss;
	struct sockaddr_in sa;
	int len = sizeof(ss);
	loop_ctx_t c;
	char err[256];
	(void)state;

	memset(&c, 0, sizeof(c));
	ctx = &c;
	assert_int_equal(uv_loop_init(&loop), 0);
	c.f = fixture_new(&loop);
	feed(c.f);
	c.f->srv.metrics->conns_accepted = 0;
	assert_int_equal(hc_new(&loop, &c.hc), 0);
	if (hc_apply(c.hc, c.f->rt.cfg, err, sizeof(err)) < 0)
		fail_msg("hc_apply: %s", err);
	c.adm = adm_new(&c.f->srv, c.hc);
	adm_tick(c.adm); /* what main.c's timer does each second */
	usleep(2000);
	uv_update_time(&loop);
	adm_tick(c.adm);
	c.l.srv = &c.f->srv;
	c.l.admin = true;
	assert_int_equal(uv_tcp_init(&loop, &c.l.tcp), 0);
	c.l.tcp.data = &c.l;
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
	assert_int_equal(uv_tcp_bind(&c.l.tcp, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&c.l.tcp, 16, on_admin_connection), 0);
	assert_int_equal(uv_tcp_getsockname(&c.l.tcp, (struct sockaddr *)&ss, &len), 0);
	snprintf(c.addr, sizeof(c.addr), "127.0.0.1:%d",
	         ntohs(((struct sockaddr_in *)&ss)->sin_port));
	snprintf(c.l.addr, sizeof(c.l.addr), "%s", c.addr);
	assert_int_equal(uv_async_init(&loop, &c.done, on_done), 0);
	assert_int_equal(uv_async_init(&loop, &c.stop, on_stop), 0);
	c.done.data = c.stop.data = &c;
	assert_int_equal(pthread_create(&c.thread, NULL, client_main, NULL), 0);

	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	pthread_join(c.thread, NULL);
	if (c.failures)
		fail_msg("client: %s", c.why);
	/* only the request with the right token reached health */
	assert_int_equal(c.rgw1, HC_DRAINING);
	assert_int_equal(c.rgw2, HC_UP);
	adm_free(c.adm);
	assert_int_equal(uv_loop_close(&loop), 0);
	fixture_free(c.f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_loop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
