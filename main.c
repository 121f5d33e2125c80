/*
 * s3lb: the director daemon and its command line.
 *   s3lb run -c FILE      run the gateway (SIGHUP reloads FILE, SIGTERM stops gracefully)
 *   s3lb check -c FILE    validate FILE and print the effective config, or FILE:LINE: key: message
 *   s3lb status [-a ADDR] ask a running s3lb's admin listener (default 127.0.0.1:9901)
 *   s3lb metrics [-a ADDR]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "gateway/admin.h"
#include "gateway/proxy.h"

#define S3LB_VERSION "0.1.0"

static int usage(FILE *out)
{
	fprintf(out, "usage: s3lb run -c FILE\n"
	             "       s3lb check -c FILE\n"
	             "       s3lb status [-a ADMIN_ADDR]\n"
	             "       s3lb metrics [-a ADMIN_ADDR]\n"
	             "       s3lb version\n");
	return out == stdout ? 0 : 2;
}

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 2; i + 1 < argc; i++)
		if (!strcmp(argv[i], name))
			return argv[i + 1];
	return NULL;
}

static int cmd_check(const char *path)
{
	lb_config_t *cfg;
	char err[1024];
	if (lb_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	lb_config_dump(cfg, stdout);
	lb_config_unref(cfg);
	return 0;
}

static int cmd_run(const char *path)
{
	lb_config_t *cfg;
	gw_server_t srv;
	uv_loop_t loop;
	char err[1024];
	int rc;

	if (lb_config_load(path, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (lb_log_open(&cfg->log, err, sizeof(err)) < 0) {
		fprintf(stderr, "s3lb: %s\n", err);
		lb_config_unref(cfg);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&loop);
	if (gw_server_init(&srv, &loop, cfg, err, sizeof(err)) < 0) {
		LB_ERR("%s", err);
		gw_server_stop(&srv);
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		gw_metrics_free(srv.metrics);
		free(srv.config_path);
		return 1;
	}
	LB_INFO("s3lb %s started with %s", S3LB_VERSION, path);
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&loop);
	if (rc != 0)
		LB_WARN("loop closed with handles open: %s", uv_strerror(rc));
	gw_metrics_free(srv.metrics);
	free(srv.config_path);
	return 0;
}

static int cmd_fetch(const char *addr, const char *path)
{
	char err[512];
	if (gw_admin_fetch(addr ? addr : "127.0.0.1:9901", path, stdout, err, sizeof(err)) < 0) {
		fprintf(stderr, "s3lb: %s\n", err);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	if (!cmd)
		return usage(stderr);
	if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help"))
		return usage(stdout);
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("s3lb %s\n", S3LB_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "run") || !strcmp(cmd, "check")) {
		const char *path = opt(argc, argv, "-c");
		if (!path)
			return usage(stderr);
		return !strcmp(cmd, "run") ? cmd_run(path) : cmd_check(path);
	}
	if (!strcmp(cmd, "status"))
		return cmd_fetch(opt(argc, argv, "-a"), "/status");
	if (!strcmp(cmd, "metrics"))
		return cmd_fetch(opt(argc, argv, "-a"), "/metrics");
	return usage(stderr);
}
