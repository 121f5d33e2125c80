/*
 * The admin commands of the s3lb command line (status, metrics, drain, undrain) and the blocking
 * HTTP client they use. They find the listener (admin.listen) and the token (admin.token_file)
 * in the config, -c FILE or else ADM_DEFAULT_CONFIG when it exists; -a overrides the address.
 * `status` prints the table of admin/table.h, or the document itself with --json, once or every
 * SECS seconds with --watch.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "admin/client.h"
#include "admin/table.h"
#include "core/config.h"
#include "net/http.h"

#define FETCH_TIMEOUT_MS   5000
#define FETCH_MAX_RESPONSE (64u << 20)

/* The value after `name` among argv[2..]. */
static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 2; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return argv[i + 1];
	return NULL;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline; 0, or -ETIMEDOUT / -errno. */
static int wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	for (;;) {
		uint64_t now = mono_ms();
		int rc;
		if (now >= deadline)
			return -ETIMEDOUT;
		rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc > 0)
			return 0;
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int fetch_connect(int fd, const lb_addr_t *a, uint64_t deadline)
{
	int rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	rc = wait_fd(fd, POLLOUT, deadline);
	if (rc < 0)
		return rc;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		return -errno;
	return -soerr;
}

static int fetch_send(int fd, const char *p, size_t n, uint64_t deadline)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		int rc;
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = wait_fd(fd, POLLOUT, deadline);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* A growing receive buffer. */
typedef struct buf_s {
	char *data;
	size_t len, cap;
} buf_t;

/* Reads until the server closes (it always does after one answer). */
static int fetch_recv(int fd, buf_t *t, uint64_t deadline)
{
	for (;;) {
		ssize_t r;
		int rc;
		if (t->len >= FETCH_MAX_RESPONSE)
			return -EFBIG;
		if (t->cap - t->len < 16384) {
			t->cap = t->cap ? t->cap * 2 : 65536;
			t->data = realloc(t->data, t->cap);
			if (!t->data)
				abort();
		}
		r = recv(fd, t->data + t->len, t->cap - t->len, 0);
		if (r > 0) {
			t->len += (size_t)r;
			continue;
		}
		if (r == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0)
			return rc;
	}
}

/* Splits a complete response into status and body; -1 if it is not a whole HTTP response. */
static int fetch_parse(const buf_t *t, int *status, size_t *body_off)
{
	net_http_t h;
	size_t used = 0, used2 = 0;
	net_http_result_t r;
	int rc = -1;

	net_http_init(&h, HTTP_RESPONSE, 100, 65536);
	r = net_http_execute(&h, t->data, t->len, 0, &used);
	if (r != NET_HTTP_HEAD)
		goto out;
	*status = net_http_status(&h);
	*body_off = h.head_len;
	r = net_http_execute(&h, t->data + used, t->len - used, used, &used2);
	if (r == NET_HTTP_MORE)
		r = net_http_finish(&h);
	if (r == NET_HTTP_DONE)
		rc = 0;
out:
	net_http_free(&h);
	return rc;
}

int adm_request(const char *addr, const char *method, const char *path, const char *token,
                FILE *out, char *err, size_t errlen)
{
	uint64_t deadline = mono_ms() + FETCH_TIMEOUT_MS;
	buf_t resp = {0};
	char *req = NULL;
	size_t req_len = 0;
	FILE *rf;
	const char *why, *step;
	size_t body = 0;
	int fd, rc, status = 0;
	lb_addr_t a;

	if (lb_parse_addr(addr, &a, &why) < 0) {
		snprintf(err, errlen, "admin address '%s': %s", addr, why);
		return -1;
	}
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rf = open_memstream(&req, &req_len);
	if (!rf)
		abort();
	fprintf(rf, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: s3lb\r\n", method, path, a.text);
	if (token)
		fprintf(rf, "Authorization: Bearer %s\r\n", token);
	fprintf(rf, "Content-Length: 0\r\nConnection: close\r\n\r\n");
	if (fclose(rf) != 0)
		abort();
	step = "connecting to";
	rc = fetch_connect(fd, &a, deadline);
	if (rc == 0) {
		step = "sending to";
		rc = fetch_send(fd, req, req_len, deadline);
	}
	if (rc == 0) {
		step = "reading from";
		rc = fetch_recv(fd, &resp, deadline);
	}
	close(fd);
	if (rc < 0) {
		snprintf(err, errlen, "%s the admin listener at %s: %s", step, a.text,
		         rc == -ETIMEDOUT ? "timed out" : strerror(-rc));
		goto out;
	}
	rc = -1;
	if (fetch_parse(&resp, &status, &body) < 0) {
		snprintf(err, errlen, "%s %s to %s: invalid or truncated HTTP response", method,
		         path, a.text);
		goto out;
	}
	if (status != 200) {
		size_t n = resp.len - body;
		while (n && (resp.data[body + n - 1] == '\n' || resp.data[body + n - 1] == '\r'))
			n--;
		snprintf(err, errlen, "%s %s to %s: HTTP %d %.*s", method, path, a.text, status,
		         (int)(n > 200 ? 200 : n), resp.data + body);
		goto out;
	}
	if (fwrite(resp.data + body, 1, resp.len - body, out) != resp.len - body) {
		snprintf(err, errlen, "writing the answer: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	explicit_bzero(req, req_len); /* it held the token */
	free(req);
	free(resp.data);
	return rc;
}

/*
 * The admin listener's address and the token for an admin command. -a gives the address; else
 * the config's admin.listen (a wildcard address is reached on loopback). The config is -c FILE,
 * or ADM_DEFAULT_CONFIG when it exists. Drain and undrain need the config's token: a config that
 * does not load is an error for them; status and metrics then fall back to 127.0.0.1:9901.
 */
static int admin_target(int argc, char **argv, bool need_token, char *addr, size_t cap,
                        char **token)
{
	const char *path = opt(argc, argv, "-c"), *a = opt(argc, argv, "-a");
	lb_config_t *cfg = NULL;
	char err[1024];

	*token = NULL;
	snprintf(addr, cap, "%s", a ? a : "127.0.0.1:9901");
	if (!path && a && !need_token)
		return 0;
	if (!path && access(ADM_DEFAULT_CONFIG, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (lb_config_load(path ? path : ADM_DEFAULT_CONFIG, &cfg, err, sizeof(err)) < 0) {
		if (path || need_token) {
			fprintf(stderr, "s3lb: %s\n", err);
			return -1;
		}
		fprintf(stderr, "s3lb: %s (asking %s)\n", err, addr);
		return 0;
	}
	if (!a && !cfg->admin_enabled) {
		fprintf(stderr, "s3lb: %s: admin.listen is off\n", cfg->path);
		lb_config_unref(cfg);
		return -1;
	}
	if (!a) {
		const struct sockaddr_storage *ss = &cfg->admin_listen.ss;
		const struct sockaddr_in *v4 = (const void *)ss;
		const struct sockaddr_in6 *v6 = (const void *)ss;
		if (ss->ss_family == AF_INET && v4->sin_addr.s_addr == htonl(INADDR_ANY))
			snprintf(addr, cap, "127.0.0.1:%u", ntohs(v4->sin_port));
		else if (ss->ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&v6->sin6_addr))
			snprintf(addr, cap, "[::1]:%u", ntohs(v6->sin6_port));
		else
			snprintf(addr, cap, "%s", cfg->admin_listen.text);
	}
	if (cfg->admin_token) {
		*token = strdup(cfg->admin_token);
		if (!*token)
			abort();
	}
	lb_config_unref(cfg);
	return 0;
}

static int cmd_admin(int argc, char **argv, const char *method, const char *path)
{
	char addr[128], err[512], *token;
	int rc;

	if (admin_target(argc, argv, !strcmp(method, "POST"), addr, sizeof(addr), &token) < 0)
		return 1;
	rc = adm_request(addr, method, path, token, stdout, err, sizeof(err));
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	if (rc < 0) {
		fprintf(stderr, "s3lb: %s\n", err);
		return 1;
	}
	return 0;
}

#define WATCH_DEFAULT_S 2

/* One GET /status, printed as the table or (json) as it came. 0, or 1 after saying why. */
static int status_once(const char *addr, const char *token, bool json)
{
	char err[512], *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	int rc;

	if (!f)
		abort();
	rc = adm_request(addr, "GET", "/status", token, f, err, sizeof(err));
	if (fclose(f) != 0)
		abort();
	if (rc == 0 && json)
		rc = fwrite(body, 1, len, stdout) == len ? 0 : -1;
	else if (rc == 0)
		rc = adm_status_table(body, len, stdout, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "s3lb: %s\n", err);
	free(body);
	return rc < 0;
}

/*
 * `s3lb status [--json] [--watch [SECS]] [-c FILE] [-a ADDR]`. With --watch, asks every SECS
 * seconds (default 2) until interrupted (Ctrl-C ends the process), clearing a terminal first;
 * an unreachable listener is reported each time and asked again.
 */
static int cmd_status(int argc, char **argv)
{
	char addr[128], *token;
	bool json = false, watch = false, tty = isatty(STDOUT_FILENO);
	unsigned secs = WATCH_DEFAULT_S;
	int rc;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--watch")) {
			watch = true;
			if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') {
				char *end;
				unsigned long v = strtoul(argv[++i], &end, 10);
				if (*end || v == 0 || v > 3600) {
					fprintf(stderr,
					        "s3lb: --watch %s: seconds from 1 to 3600\n",
					        argv[i]);
					return 2;
				}
				secs = (unsigned)v;
			}
		} else if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "-a")) && i + 1 < argc) {
			i++;
		} else {
			fprintf(stderr, "s3lb: status: unknown argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (admin_target(argc, argv, false, addr, sizeof(addr), &token) < 0)
		return 1;
	for (;;) {
		if (watch) {
			time_t now = time(NULL);
			char when[64];
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", localtime(&now));
			if (tty)
				fputs("\033[H\033[2J", stdout); /* home, clear the screen */
			printf("every %us: s3lb status %s (%s)%s", secs, addr, when,
			       json ? "\n" : "\n\n");
		}
		rc = status_once(addr, token, json);
		fflush(stdout);
		if (!watch)
			break;
		sleep(secs);
	}
	if (token) {
		explicit_bzero(token, strlen(token));
		free(token);
	}
	return rc;
}

int adm_cli(int argc, char **argv)
{
	const char *cmd = argv[1];
	char path[256];

	if (!strcmp(cmd, "status"))
		return cmd_status(argc, argv);
	if (!strcmp(cmd, "metrics"))
		return cmd_admin(argc, argv, "GET", "/metrics");
	if ((strcmp(cmd, "drain") && strcmp(cmd, "undrain")) || argc < 3 || argv[2][0] == '-')
		return -1;
	snprintf(path, sizeof(path), "/%s?node=%s", cmd, argv[2]);
	return cmd_admin(argc, argv, "POST", path);
}
