#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "handoff/record.h"
#include "tests/unit/support/guard.h"

static ho_key_t key_a, key_b;

static int setup(void **state)
{
	key_a.len = key_b.len = 32;
	for (size_t i = 0; i < 32; i++) {
		key_a.bytes[i] = (uint8_t)(i * 7 + 1);
		key_b.bytes[i] = (uint8_t)(i * 7 + 1);
	}
	key_b.bytes[31] ^= 1; /* differs in one bit */
	return 0;
}

/* A state with every field distinct from its neighbours and from zero. */
static void make_state(net_repair_state_t *st, int family, uint32_t rcvq, uint32_t sndq)
{
	memset(st, 0, sizeof(*st));
	st->family = family;
	st->tcp_state = TCP_ESTABLISHED;
	for (int i = 0; i < 16; i++) {
		st->local_addr[i] = (uint8_t)(0x10 + i);
		st->peer_addr[i] = (uint8_t)(0x40 + i);
	}
	if (family == AF_INET) {
		memset(st->local_addr + 4, 0, 12);
		memset(st->peer_addr + 4, 0, 12);
	}
	st->local_port = 0x1f90;
	st->peer_port = 0xc351;
	st->snd_seq = 0xfedcba98;
	st->rcv_seq = 0x01234567;
	st->snd_wl1 = 0x11111112;
	st->snd_wnd = 0x22222223;
	st->max_window = 0x33333334;
	st->rcv_wnd = 0x44444445;
	st->rcv_wup = 0x55555556;
	st->options = NET_REPAIR_OPT_SACK | NET_REPAIR_OPT_WSCALE | NET_REPAIR_OPT_TIMESTAMPS;
	st->snd_wscale = 7;
	st->rcv_wscale = 9;
	st->mss = 1448;
	st->timestamp = 0x89abcdef;
	st->rcvq_len = rcvq;
	st->sndq_len = sndq;
	st->sndq_unsent = sndq / 3;
	st->rcvq = rcvq ? malloc(rcvq) : NULL;
	st->sndq = sndq ? malloc(sndq) : NULL;
	for (uint32_t i = 0; i < rcvq; i++)
		st->rcvq[i] = (uint8_t)(i * 31 + 3);
	for (uint32_t i = 0; i < sndq; i++)
		st->sndq[i] = (uint8_t)(i * 17 + 5);
}

static void assert_state_equal(const net_repair_state_t *a, const net_repair_state_t *b)
{
	assert_int_equal(a->family, b->family);
	assert_int_equal(a->tcp_state, b->tcp_state);
	size_t al = a->family == AF_INET ? 4 : 16;
	assert_memory_equal(a->local_addr, b->local_addr, al);
	assert_memory_equal(a->peer_addr, b->peer_addr, al);
	assert_int_equal(a->local_port, b->local_port);
	assert_int_equal(a->peer_port, b->peer_port);
	assert_int_equal(a->snd_seq, b->snd_seq);
	assert_int_equal(a->rcv_seq, b->rcv_seq);
	assert_int_equal(a->snd_wl1, b->snd_wl1);
	assert_int_equal(a->snd_wnd, b->snd_wnd);
	assert_int_equal(a->max_window, b->max_window);
	assert_int_equal(a->rcv_wnd, b->rcv_wnd);
	assert_int_equal(a->rcv_wup, b->rcv_wup);
	assert_int_equal(a->options, b->options);
	assert_int_equal(a->snd_wscale, b->snd_wscale);
	assert_int_equal(a->rcv_wscale, b->rcv_wscale);
	assert_int_equal(a->mss, b->mss);
	assert_int_equal(a->timestamp, b->timestamp);
	assert_int_equal(a->rcvq_len, b->rcvq_len);
	assert_int_equal(a->sndq_len, b->sndq_len);
	assert_int_equal(a->sndq_unsent, b->sndq_unsent);
	if (a->rcvq_len)
		assert_memory_equal(a->rcvq, b->rcvq, a->rcvq_len);
	if (a->sndq_len)
		assert_memory_equal(a->sndq, b->sndq, a->sndq_len);
}

static void make_msg(ho_msg_t *m, ho_type_t t, uint64_t nonce)
{
	memset(m, 0, sizeof(*m));
	m->type = t;
	m->nonce = nonce;
	m->conn_id = 0x0102030405060708ull + t;
	if (t == HO_REFUSE)
		m->reason = 0xa1b2c3d4;
	if (t == HO_STATE || t == HO_HANDBACK)
		make_state(&m->st, t == HO_STATE ? AF_INET : AF_INET6, 300, 700);
}

/* decodes buf from a guarded copy, so any read past len faults */
static int decode_guarded(const ho_key_t *key, ho_replay_t *rw, const uint8_t *buf, size_t len,
                          ho_msg_t *m, size_t *used)
{
	test_guard_t g = {0};
	const uint8_t *p = (const uint8_t *)test_guard(&g, buf, len);
	int rc = ho_record_decode(key, rw, p, len, m, used);
	test_unguard(&g);
	return rc;
}

static void test_round_trip_every_type(void **state)
{
	for (int t = HO_STATE; t <= HO_TYPE_MAX; t++) {
		ho_msg_t m, d;
		make_msg(&m, (ho_type_t)t, 1000 + (uint64_t)t);
		uint8_t *buf;
		size_t len, used;
		assert_int_equal(ho_record_encode(&key_a, &m, &buf, &len), 0);
		assert_int_equal(buf[0], HO_RECORD_VERSION);
		assert_int_equal(buf[1], t);
		ho_replay_t rw = {0};
		assert_int_equal(decode_guarded(&key_a, &rw, buf, len, &d, &used), 0);
		assert_int_equal(used, len);
		assert_int_equal(d.type, t);
		assert_int_equal(d.nonce, m.nonce);
		assert_int_equal(d.conn_id, m.conn_id);
		assert_int_equal(d.reason, m.reason);
		assert_int_equal(rw.last, m.nonce);
		if (t == HO_STATE || t == HO_HANDBACK)
			assert_state_equal(&m.st, &d.st);
		net_repair_state_free(&m.st);
		net_repair_state_free(&d.st);
		free(buf);
	}
}

/* the wire layout is the documented one, not the struct's memory */
static void test_header_layout(void **state)
{
	ho_msg_t m;
	make_msg(&m, HO_GO, 0x1122334455667788ull);
	uint8_t *buf;
	size_t len;
	assert_int_equal(ho_record_encode(&key_a, &m, &buf, &len), 0);
	const uint8_t want[] = {1,    3,    0, 0, 0x11, 0x22, 0x33, 0x44,     0x55, 0x66,
	                        0x77, 0x88, 0, 0, 0,    12,   0,    0,        0,    8,
	                        1,    2,    3, 4, 5,    6,    7,    8 + HO_GO};
	assert_int_equal(len, sizeof(want) + HO_MAC_LEN);
	assert_memory_equal(buf, want, sizeof(want));
	free(buf);
}

static void test_empty_queues_and_records_back_to_back(void **state)
{
	ho_msg_t m1, m2, d;
	make_msg(&m1, HO_STATE, 5);
	net_repair_state_free(&m1.st);
	make_msg(&m2, HO_CLOSED, 6);
	uint8_t *b1, *b2;
	size_t l1, l2, used;
	assert_int_equal(ho_record_encode(&key_a, &m1, &b1, &l1), 0);
	assert_int_equal(ho_record_encode(&key_a, &m2, &b2, &l2), 0);
	uint8_t *both = malloc(l1 + l2);
	memcpy(both, b1, l1);
	memcpy(both + l1, b2, l2);
	ho_replay_t rw = {0};
	assert_int_equal(ho_record_decode(&key_a, &rw, both, l1 + l2, &d, &used), 0);
	assert_int_equal(used, l1);
	assert_int_equal(d.st.rcvq_len, 0);
	assert_null(d.st.rcvq);
	assert_int_equal(ho_record_decode(&key_a, &rw, both + used, l1 + l2 - used, &d, &used), 0);
	assert_int_equal(d.type, HO_CLOSED);
	free(both);
	free(b1);
	free(b2);
}

static void test_every_truncation(void **state)
{
	for (int t = HO_STATE; t <= HO_TYPE_MAX; t++) {
		ho_msg_t m, d;
		make_msg(&m, (ho_type_t)t, 77);
		uint8_t *buf;
		size_t len, used;
		assert_int_equal(ho_record_encode(&key_a, &m, &buf, &len), 0);
		for (size_t n = 0; n < len; n++) {
			ho_replay_t rw = {0};
			assert_int_equal(decode_guarded(&key_a, &rw, buf, n, &d, &used), HO_ETRUNC);
			assert_false(rw.any);
			assert_int_equal(used, 0);
		}
		net_repair_state_free(&m.st);
		free(buf);
	}
}

static void test_bad_version_type_length(void **state)
{
	ho_msg_t m, d;
	make_msg(&m, HO_READY, 9);
	uint8_t *buf;
	size_t len, used;
	assert_int_equal(ho_record_encode(&key_a, &m, &buf, &len), 0);
	ho_replay_t rw = {0};
	const uint8_t versions[] = {0, 2, 0xff};
	for (size_t i = 0; i < sizeof(versions); i++) {
		buf[0] = versions[i];
		assert_int_equal(decode_guarded(&key_a, &rw, buf, len, &d, &used), HO_EVERSION);
	}
	buf[0] = HO_RECORD_VERSION;
	const uint8_t types[] = {0, HO_TYPE_MAX + 1, 0x80, 0xff};
	for (size_t i = 0; i < sizeof(types); i++) {
		buf[1] = types[i];
		assert_int_equal(decode_guarded(&key_a, &rw, buf, len, &d, &used), HO_ETYPE);
	}
	buf[1] = HO_READY;
	/* an oversize length is refused before the decoder waits for that many bytes */
	uint32_t big = HO_PAYLOAD_MAX + 1;
	buf[12] = (uint8_t)(big >> 24);
	buf[13] = (uint8_t)(big >> 16);
	buf[14] = (uint8_t)(big >> 8);
	buf[15] = (uint8_t)big;
	assert_int_equal(decode_guarded(&key_a, &rw, buf, len, &d, &used), HO_ETOOBIG);
	memset(buf + 12, 0xff, 4);
	assert_int_equal(decode_guarded(&key_a, &rw, buf, len, &d, &used), HO_ETOOBIG);
	assert_false(rw.any);
	free(buf);
}

/* Every single-bit flip anywhere in a valid record is refused (and each refusal is one of the
 * decoder's codes), as is the record under a key that differs in one bit. */
static void test_every_bit_flip_refused(void **state)
{
	const ho_type_t types[] = {HO_STATE, HO_REFUSE, HO_GO};
	for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		ho_msg_t m, d;
		make_msg(&m, types[k], 42);
		if (types[k] == HO_STATE) { /* short queues keep the flips few */
			m.st.rcvq_len = 5;
			m.st.sndq_len = 6;
			m.st.sndq_unsent = 2;
		}
		uint8_t *buf;
		size_t len, used;
		assert_int_equal(ho_record_encode(&key_a, &m, &buf, &len), 0);
		ho_replay_t rw = {0};
		assert_int_equal(decode_guarded(&key_b, &rw, buf, len, &d, &used), HO_EMAC);
		for (size_t i = 0; i < len; i++) {
			for (int bit = 0; bit < 8; bit++) {
				buf[i] ^= (uint8_t)(1u << bit);
				int rc = decode_guarded(&key_a, &rw, buf, len, &d, &used);
				buf[i] ^= (uint8_t)(1u << bit);
				if (rc >= 0)
					fail_msg("flip of byte %zu bit %d accepted", i, bit);
				assert_true(rc == HO_EMAC || rc == HO_EVERSION || rc == HO_ETYPE ||
				            rc == HO_ETOOBIG || rc == HO_ETRUNC || rc == HO_EFIELD);
				assert_false(rw.any);
			}
		}
		/* the unflipped record still decodes */
		assert_int_equal(decode_guarded(&key_a, &rw, buf, len, &d, &used), 0);
		net_repair_state_free(&d.st);
		net_repair_state_free(&m.st);
		free(buf);
	}
}

static void test_replay_refused(void **state)
{
	ho_replay_t rw = {0};
	uint64_t nonces[] = {10, 11, 11, 10, 0, 500, 499, 501};
	int want[] = {0, 0, HO_EREPLAY, HO_EREPLAY, HO_EREPLAY, 0, HO_EREPLAY, 0};
	for (size_t i = 0; i < sizeof(nonces) / sizeof(nonces[0]); i++) {
		ho_msg_t m, d;
		make_msg(&m, HO_CLOSED, nonces[i]);
		uint8_t *buf;
		size_t len, used;
		assert_int_equal(ho_record_encode(&key_a, &m, &buf, &len), 0);
		uint64_t before = rw.last;
		int rc = decode_guarded(&key_a, &rw, buf, len, &d, &used);
		assert_int_equal(rc, want[i]);
		assert_int_equal(rw.last, rc == 0 ? nonces[i] : before);
		free(buf);
	}
	/* a first record may carry nonce 0 */
	ho_replay_t fresh = {0};
	ho_msg_t m, d;
	make_msg(&m, HO_GO, 0);
	uint8_t *buf;
	size_t len, used;
	assert_int_equal(ho_record_encode(&key_a, &m, &buf, &len), 0);
	assert_int_equal(decode_guarded(&key_a, &fresh, buf, len, &d, &used), 0);
	assert_int_equal(decode_guarded(&key_a, &fresh, buf, len, &d, &used), HO_EREPLAY);
	free(buf);
}

/* Records whose MAC is right but whose fields are malformed (a sender with the key but a bug). */
static void test_malformed_fields(void **state)
{
	ho_msg_t m, d;
	make_msg(&m, HO_STATE, 1);
	uint8_t *buf;
	size_t len, used;
	assert_int_equal(ho_record_encode(&key_a, &m, &buf, &len), 0);
	/* the first field (conn id) claims 9 bytes: re-MAC and decode */
	struct {
		size_t off;
		uint8_t val;
		int want;
	} cases[] = {
	    {HO_HEADER_LEN + 3, 9, HO_EFIELD},      /* conn_id length 9 */
	    {HO_HEADER_LEN + 12 + 4, 5, HO_EFIELD}, /* family 5 */
	    {2, 1, HO_EFIELD},                      /* reserved byte */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t *copy = malloc(len);
		memcpy(copy, buf, len);
		copy[cases[i].off] = cases[i].val;
		unsigned int ml = HO_MAC_LEN;
		HMAC(EVP_sha256(), key_a.bytes, (int)key_a.len, copy, len - HO_MAC_LEN,
		     copy + len - HO_MAC_LEN, &ml);
		ho_replay_t rw = {0};
		assert_int_equal(decode_guarded(&key_a, &rw, copy, len, &d, &used), cases[i].want);
		free(copy);
	}
	/* trailing bytes inside the payload: a GO record with one byte more, re-MACed */
	ho_msg_t g;
	make_msg(&g, HO_GO, 2);
	uint8_t *gb;
	size_t gl;
	assert_int_equal(ho_record_encode(&key_a, &g, &gb, &gl), 0);
	uint8_t *longer = calloc(1, gl + 1);
	memcpy(longer, gb, HO_HEADER_LEN + 12);
	longer[15] = 13;
	unsigned int ml = HO_MAC_LEN;
	HMAC(EVP_sha256(), key_a.bytes, (int)key_a.len, longer, HO_HEADER_LEN + 13,
	     longer + HO_HEADER_LEN + 13, &ml);
	ho_replay_t rw = {0};
	assert_int_equal(decode_guarded(&key_a, &rw, longer, gl + 1, &d, &used), HO_EFIELD);
	free(longer);
	free(gb);
	net_repair_state_free(&m.st);
	free(buf);
}

static void test_encode_refuses_bad_input(void **state)
{
	ho_msg_t m;
	uint8_t *buf;
	size_t len;
	make_msg(&m, HO_GO, 1);
	m.type = (ho_type_t)0;
	assert_int_equal(ho_record_encode(&key_a, &m, &buf, &len), -EINVAL);
	make_msg(&m, HO_STATE, 1);
	m.st.family = AF_UNIX;
	assert_int_equal(ho_record_encode(&key_a, &m, &buf, &len), -EINVAL);
	net_repair_state_free(&m.st);
	ho_key_t short_key = {.len = 31};
	make_msg(&m, HO_GO, 1);
	assert_int_equal(ho_record_encode(&short_key, &m, &buf, &len), -EINVAL);
}

static char *write_key(const char *content, size_t n, mode_t mode)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/s3lb-key-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void test_key_file(void **state)
{
	char msg[256];
	ho_key_t k;
	const char *good = "0123456789abcdef0123456789abcdef\n";
	char *p = write_key(good, strlen(good), 0600);
	assert_int_equal(ho_key_load(p, &k, msg, sizeof(msg)), 0);
	assert_int_equal(k.len, 32); /* the newline is not key */
	assert_memory_equal(k.bytes, good, 32);
	unlink(p);

	p = write_key(good, strlen(good), 0640);
	assert_int_equal(ho_key_load(p, &k, msg, sizeof(msg)), HO_EKEYPERM);
	assert_non_null(strstr(msg, "mode 0640 gives group or others access; chmod 600"));
	assert_non_null(strstr(msg, p));
	assert_int_equal(k.len, 0);
	unlink(p);
	p = write_key(good, strlen(good), 0604);
	assert_int_equal(ho_key_load(p, &k, msg, sizeof(msg)), HO_EKEYPERM);
	unlink(p);
	p = write_key(good, strlen(good), 0620);
	assert_int_equal(ho_key_load(p, &k, msg, sizeof(msg)), HO_EKEYPERM);
	unlink(p);

	p = write_key(good, 31, 0400);
	assert_int_equal(ho_key_load(p, &k, msg, sizeof(msg)), HO_EKEYSHORT);
	assert_non_null(strstr(msg, "key of 31 bytes, at least 32 needed"));
	unlink(p);
	/* 31 bytes and a newline: still short */
	char s31[33];
	memcpy(s31, good, 31);
	s31[31] = '\n';
	p = write_key(s31, 32, 0600);
	assert_int_equal(ho_key_load(p, &k, msg, sizeof(msg)), HO_EKEYSHORT);
	unlink(p);

	char big[HO_KEY_MAX + 1];
	memset(big, 'k', sizeof(big));
	p = write_key(big, sizeof(big), 0600);
	assert_int_equal(ho_key_load(p, &k, msg, sizeof(msg)), HO_EKEYFILE);
	assert_non_null(strstr(msg, "longer than 1024 bytes"));
	unlink(p);
	p = write_key(big, HO_KEY_MAX, 0600);
	assert_int_equal(ho_key_load(p, &k, msg, sizeof(msg)), 0);
	assert_int_equal(k.len, HO_KEY_MAX);
	unlink(p);

	assert_int_equal(ho_key_load("/nonexistent/s3lb.key", &k, msg, sizeof(msg)), HO_EKEYFILE);
	assert_non_null(strstr(msg, "/nonexistent/s3lb.key: No such file or directory"));
	assert_int_equal(ho_key_load("/tmp", &k, msg, sizeof(msg)), HO_EKEYFILE);
	assert_non_null(strstr(msg, "not a regular file"));
}

static void test_strerror_distinct(void **state)
{
	const int codes[] = {HO_ETRUNC,  HO_EVERSION, HO_ETYPE,    HO_ETOOBIG,   HO_EMAC,
	                     HO_EREPLAY, HO_EFIELD,   HO_EKEYPERM, HO_EKEYSHORT, HO_EKEYFILE};
	size_t n = sizeof(codes) / sizeof(codes[0]);
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n; j++) {
			assert_int_not_equal(codes[i], codes[j]);
			assert_string_not_equal(ho_strerror(codes[i]), ho_strerror(codes[j]));
		}
	assert_string_equal(ho_strerror(-ENOMEM), strerror(ENOMEM));
}

/* CLOSED carries how the connection ended and one report per request, in order */
static void test_closed_reports(void **state)
{
	ho_report_t reps[3] = {{200, 120, 5u << 20, 1500},
	                       {404, 0x1122334455667788ull, 7, 1},
	                       {0, 9, 0, 0xffffffffffull}};
	ho_msg_t m = {.type = HO_CLOSED,
	              .nonce = 4,
	              .conn_id = 99,
	              .reason = 3,
	              .reports = reps,
	              .nreports = 3};
	uint8_t *buf;
	size_t len, used;
	assert_int_equal(ho_record_encode(&key_a, &m, &buf, &len), 0);
	for (size_t n = 0; n < len; n++) {
		ho_msg_t d;
		ho_replay_t rw = {0};
		assert_int_equal(decode_guarded(&key_a, &rw, buf, n, &d, &used), HO_ETRUNC);
	}
	ho_msg_t d;
	ho_replay_t rw = {0};
	assert_int_equal(decode_guarded(&key_a, &rw, buf, len, &d, &used), 0);
	assert_int_equal(d.reason, 3);
	assert_int_equal(d.nreports, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(d.reports[i].status, reps[i].status);
		assert_int_equal(d.reports[i].bytes_in, reps[i].bytes_in);
		assert_int_equal(d.reports[i].bytes_out, reps[i].bytes_out);
		assert_int_equal(d.reports[i].usec, reps[i].usec);
	}
	ho_msg_free(&d);
	free(buf);
	m.nreports = HO_REPORTS_MAX + 1;
	assert_int_equal(ho_record_encode(&key_a, &m, &buf, &len), -EINVAL);
	/* a count the payload cannot hold (MAC recomputed): malformed, nothing allocated */
	m.nreports = 1;
	assert_int_equal(ho_record_encode(&key_a, &m, &buf, &len), 0);
	buf[HO_HEADER_LEN + 12 + 8 + 7] = 2; /* count field: 2 */
	unsigned int ml = HO_MAC_LEN;
	HMAC(EVP_sha256(), key_a.bytes, (int)key_a.len, buf, len - HO_MAC_LEN,
	     buf + len - HO_MAC_LEN, &ml);
	rw = (ho_replay_t){0};
	assert_int_equal(decode_guarded(&key_a, &rw, buf, len, &d, &used), HO_EFIELD);
	assert_null(d.reports);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip_every_type),
	    cmocka_unit_test(test_header_layout),
	    cmocka_unit_test(test_empty_queues_and_records_back_to_back),
	    cmocka_unit_test(test_every_truncation),
	    cmocka_unit_test(test_bad_version_type_length),
	    cmocka_unit_test(test_every_bit_flip_refused),
	    cmocka_unit_test(test_replay_refused),
	    cmocka_unit_test(test_malformed_fields),
	    cmocka_unit_test(test_encode_refuses_bad_input),
	    cmocka_unit_test(test_closed_reports),
	    cmocka_unit_test(test_key_file),
	    cmocka_unit_test(test_strerror_distinct),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
