/*
 * core/notify.c: what systemd receives on NOTIFY_SOCKET (a datagram socket this test binds),
 * and nothing at all without NOTIFY_SOCKET.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/notify.h"

typedef struct {
	char dir[64];
	char path[96];
	int fd;
} sock_t;

static int setup(void **state)
{
	sock_t *s = calloc(1, sizeof(*s));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	assert_non_null(s);
	snprintf(s->dir, sizeof(s->dir), "/tmp/s3lb-notify.XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/notify", s->dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", s->path);
	s->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", s->path, 1), 0);
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	sock_t *s = *state;
	unsetenv("NOTIFY_SOCKET");
	close(s->fd);
	unlink(s->path);
	rmdir(s->dir);
	free(s);
	return 0;
}

/* the next datagram, or "" when none is waiting */
static const char *received(sock_t *s, char *buf, size_t len)
{
	ssize_t n = recv(s->fd, buf, len - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void test_ready_with_status(void **state)
{
	char buf[512];
	assert_int_equal(lb_notify(LB_NOTIFY_READY, "serving: 1 pools"), 1);
	assert_string_equal(received(*state, buf, sizeof(buf)), "READY=1\nSTATUS=serving: 1 pools");
	assert_int_equal(lb_notify(LB_NOTIFY_STOPPING, NULL), 1);
	assert_string_equal(received(*state, buf, sizeof(buf)), "STOPPING=1");
	assert_string_equal(received(*state, buf, sizeof(buf)), "");
}

static void test_reloading_carries_the_clock(void **state)
{
	char buf[512];
	unsigned long long usec = 0;
	struct timespec ts;
	assert_int_equal(lb_notify(LB_NOTIFY_RELOADING, "reloading"), 1);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &ts), 0);
	assert_int_equal(sscanf(received(*state, buf, sizeof(buf)),
	                        "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading", &usec),
	                 1);
	assert_true(usec > 0);
	assert_true(usec <= (unsigned long long)ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000);
	assert_non_null(strstr(buf, "\nSTATUS=reloading"));
}

static void test_no_socket_is_a_no_op(void **state)
{
	char buf[512];
	unsetenv("NOTIFY_SOCKET");
	assert_int_equal(lb_notify(LB_NOTIFY_READY, "x"), 0);
	assert_string_equal(received(*state, buf, sizeof(buf)), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ready_with_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reloading_carries_the_clock, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_socket_is_a_no_op, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
