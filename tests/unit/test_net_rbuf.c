/* gateway/rbuf.c: the backpressure bookkeeping of one relay buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net/rbuf.h"

static char mem[16];

static net_rbuf_t fresh(void)
{
	net_rbuf_t rb = {.data = mem, .cap = sizeof(mem)};
	memset(mem, 0, sizeof(mem));
	return rb;
}

static void receive(net_rbuf_t *rb, const char *s)
{
	uv_buf_t b;
	net_rbuf_space(rb, &b);
	assert_true(strlen(s) <= b.len);
	memcpy(b.base, s, strlen(s));
	rb->len += strlen(s);
}

static void test_full_buffer_stops_reading(void **state)
{
	net_rbuf_t rb = fresh();
	uv_buf_t b;
	(void)state;
	receive(&rb, "0123456789abcdef"); /* 16 bytes: full */
	net_rbuf_space(&rb, &b);
	assert_int_equal(b.len, 0); /* nothing parsed or released: reading must stop */
	rb.parsed = 10;
	assert_true(net_rbuf_take(&rb, &b));
	assert_ptr_equal(b.base, mem);
	assert_int_equal(b.len, 10);
	/* while the write is in flight nothing moves and there is still no space */
	net_rbuf_space(&rb, &b);
	assert_int_equal(b.len, 0);
	assert_false(net_rbuf_take(&rb, &b)); /* one write at a time */
	assert_int_equal(net_rbuf_release(&rb), 10);
	/* released: the 6 unparsed bytes move to the front, 10 bytes of space */
	net_rbuf_space(&rb, &b);
	assert_int_equal(b.len, 10);
	assert_int_equal(rb.start, 0);
	assert_int_equal(rb.parsed, 0);
	assert_int_equal(rb.len, 6);
	assert_memory_equal(mem, "abcdef", 6);
}

static void test_release_all_resets(void **state)
{
	net_rbuf_t rb = fresh();
	uv_buf_t b;
	(void)state;
	receive(&rb, "hello");
	rb.parsed = 5;
	assert_true(net_rbuf_take(&rb, &b));
	assert_int_equal(net_rbuf_release(&rb), 5);
	assert_int_equal(rb.start, 0);
	assert_int_equal(rb.len, 0);
	assert_false(net_rbuf_take(&rb, &b)); /* nothing parsed: nothing to write */
}

static void test_reads_continue_while_writing(void **state)
{
	net_rbuf_t rb = fresh();
	uv_buf_t b;
	(void)state;
	receive(&rb, "abcd");
	rb.parsed = 4;
	assert_true(net_rbuf_take(&rb, &b));
	receive(&rb, "efgh"); /* into the free tail, past the bytes in flight */
	assert_memory_equal(mem, "abcdefgh", 8);
	rb.parsed = 8;
	assert_int_equal(net_rbuf_release(&rb), 4);
	assert_true(net_rbuf_take(&rb, &b));
	assert_ptr_equal(b.base, mem + 4);
	assert_int_equal(b.len, 4);
}

static void test_abandon_keeps_bytes_for_retry(void **state)
{
	net_rbuf_t rb = fresh();
	uv_buf_t b;
	(void)state;
	receive(&rb, "body");
	rb.parsed = 4;
	assert_true(net_rbuf_take(&rb, &b));
	net_rbuf_abandon(&rb); /* the node failed mid-write */
	assert_true(net_rbuf_take(&rb, &b));
	assert_ptr_equal(b.base, mem);
	assert_int_equal(b.len, 4);
}

/* No memory until bytes arrive; given back when empty (not while bytes or a write are pending);
 * a dropped buffer is reused by the next one of the same size. */
static void test_lazy_buffer_and_drop(void **state)
{
	net_rbuf_t rb = {.cap = 32}, rb2 = {.cap = 32};
	uv_buf_t b;
	char *first;
	(void)state;
	net_rbuf_drop(&rb); /* nothing to drop */
	assert_null(rb.data);
	receive(&rb, "GET / HTTP/1.1");
	assert_non_null(rb.data);
	first = rb.data;
	net_rbuf_drop(&rb); /* unparsed bytes: kept */
	assert_ptr_equal(rb.data, first);
	rb.parsed = rb.len;
	assert_true(net_rbuf_take(&rb, &b));
	net_rbuf_drop(&rb); /* a write in flight: kept */
	assert_ptr_equal(rb.data, first);
	net_rbuf_release(&rb);
	net_rbuf_drop(&rb);
	assert_null(rb.data);
	assert_int_equal(rb.len, 0);
	receive(&rb2, "x"); /* reuses the spare */
	assert_ptr_equal(rb2.data, first);
	rb2.start = rb2.parsed = rb2.len;
	net_rbuf_drop(&rb2);
	net_rbuf_spares_free(); /* ASan: nothing leaks */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full_buffer_stops_reading),
	    cmocka_unit_test(test_release_all_resets),
	    cmocka_unit_test(test_reads_continue_while_writing),
	    cmocka_unit_test(test_abandon_keeps_bytes_for_retry),
	    cmocka_unit_test(test_lazy_buffer_and_drop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
