#include "handoff/record.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- writing: a cursor into a buffer sized in advance ---- */

typedef struct wr_s {
	uint8_t *p;
} wr_t;

static void put_be(wr_t *w, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		w->p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	w->p += n;
}

/* one field: length u32, then the bytes */
static void field_int(wr_t *w, uint64_t v, unsigned n)
{
	put_be(w, n, 4);
	put_be(w, v, n);
}

static void field_bytes(wr_t *w, const uint8_t *b, uint32_t n)
{
	put_be(w, n, 4);
	if (n)
		memcpy(w->p, b, n);
	w->p += n;
}

static bool has_state(ho_type_t t)
{
	return t == HO_STATE || t == HO_HANDBACK;
}

static uint32_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* The fields of a connection state, in their fixed order. */
static void put_state(wr_t *w, const net_repair_state_t *st)
{
	field_int(w, st->family == AF_INET ? 4 : 6, 1);
	field_int(w, st->tcp_state, 1);
	field_bytes(w, st->local_addr, addr_len(st->family));
	field_int(w, st->local_port, 2);
	field_bytes(w, st->peer_addr, addr_len(st->family));
	field_int(w, st->peer_port, 2);
	field_int(w, st->snd_seq, 4);
	field_int(w, st->rcv_seq, 4);
	field_int(w, st->snd_wl1, 4);
	field_int(w, st->snd_wnd, 4);
	field_int(w, st->max_window, 4);
	field_int(w, st->rcv_wnd, 4);
	field_int(w, st->rcv_wup, 4);
	field_int(w, st->options, 1);
	field_int(w, st->snd_wscale, 1);
	field_int(w, st->rcv_wscale, 1);
	field_int(w, st->mss, 2);
	field_int(w, st->timestamp, 4);
	field_int(w, st->sndq_unsent, 4);
	field_bytes(w, st->rcvq, st->rcvq_len);
	field_bytes(w, st->sndq, st->sndq_len);
}

/* one report of a CLOSED record: four fields */
#define REPORT_LEN (4 * 4 + 2 + 8 + 8 + 8)
/* fixed part of a state: 21 fields of at most 16 bytes */
#define STATE_FIXED_MAX (21 * (4 + 16))

static int mac(const ho_key_t *key, const uint8_t *p, size_t n, uint8_t out[HO_MAC_LEN])
{
	unsigned int len = HO_MAC_LEN;
	if (!HMAC(EVP_sha256(), key->bytes, (int)key->len, p, n, out, &len) || len != HO_MAC_LEN)
		return -EIO;
	return 0;
}

int ho_record_encode(const ho_key_t *key, const ho_msg_t *m, uint8_t **out, size_t *out_len)
{
	*out = NULL;
	*out_len = 0;
	if (m->type < HO_STATE || m->type > HO_TYPE_MAX || key->len < HO_KEY_MIN)
		return -EINVAL;
	const net_repair_state_t *st = &m->st;
	size_t cap = HO_HEADER_LEN + 12 + 8 + HO_MAC_LEN;
	if (has_state(m->type)) {
		if ((st->family != AF_INET && st->family != AF_INET6) ||
		    st->rcvq_len > NET_REPAIR_MAX_QUEUE || st->sndq_len > NET_REPAIR_MAX_QUEUE ||
		    st->sndq_unsent > st->sndq_len)
			return -EINVAL;
		cap += STATE_FIXED_MAX + st->rcvq_len + st->sndq_len;
	}
	if (m->type == HO_CLOSED) {
		if (m->nreports > HO_REPORTS_MAX || (m->nreports && !m->reports))
			return -EINVAL;
		cap += 8 + (size_t)m->nreports * REPORT_LEN;
	}
	uint8_t *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	wr_t w = {buf + HO_HEADER_LEN};
	field_int(&w, m->conn_id, 8);
	if (m->type == HO_REFUSE || m->type == HO_CLOSED)
		field_int(&w, m->reason, 4);
	if (m->type == HO_CLOSED) {
		field_int(&w, m->nreports, 4);
		for (uint32_t i = 0; i < m->nreports; i++) {
			field_int(&w, m->reports[i].status, 2);
			field_int(&w, m->reports[i].bytes_in, 8);
			field_int(&w, m->reports[i].bytes_out, 8);
			field_int(&w, m->reports[i].usec, 8);
		}
	}
	if (has_state(m->type))
		put_state(&w, st);
	size_t payload = (size_t)(w.p - buf) - HO_HEADER_LEN;
	wr_t h = {buf};
	put_be(&h, HO_RECORD_VERSION, 1);
	put_be(&h, m->type, 1);
	put_be(&h, 0, 2);
	put_be(&h, m->nonce, 8);
	put_be(&h, payload, 4);
	if (mac(key, buf, HO_HEADER_LEN + payload, w.p) < 0) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*out_len = HO_HEADER_LEN + payload + HO_MAC_LEN;
	return 0;
}

/* ---- reading: every access checked against the end ---- */

typedef struct rd_s {
	const uint8_t *p, *end;
} rd_t;

static uint64_t get_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* the next field's bytes; HO_EFIELD if its length passes the end (the MAC already matched, so
 * the record is complete: a field overrunning it is malformed, not truncated) */
static int next_field(rd_t *r, const uint8_t **b, uint32_t *n)
{
	if (r->end - r->p < 4)
		return HO_EFIELD;
	uint32_t len = (uint32_t)get_be(r->p, 4);
	r->p += 4;
	if ((size_t)(r->end - r->p) < len)
		return HO_EFIELD;
	*b = r->p;
	*n = len;
	r->p += len;
	return 0;
}

static int get_int(rd_t *r, unsigned size, uint64_t *v)
{
	const uint8_t *b;
	uint32_t n;
	int rc = next_field(r, &b, &n);
	if (rc < 0)
		return rc;
	if (n != size)
		return HO_EFIELD;
	*v = get_be(b, size);
	return 0;
}

#define GET(r, size, dst)                                                                          \
	do {                                                                                       \
		uint64_t v_;                                                                       \
		if ((rc = get_int(r, size, &v_)) < 0)                                              \
			goto fail;                                                                 \
		(dst) = v_;                                                                        \
	} while (0)

static int get_queue(rd_t *r, uint8_t **q, uint32_t *qlen)
{
	const uint8_t *b;
	uint32_t n;
	int rc = next_field(r, &b, &n);
	if (rc < 0)
		return rc;
	if (n > NET_REPAIR_MAX_QUEUE)
		return HO_ETOOBIG;
	*q = NULL;
	*qlen = n;
	if (!n)
		return 0;
	if (!(*q = malloc(n)))
		return -ENOMEM;
	memcpy(*q, b, n);
	return 0;
}

/* an address of the family's size */
static int get_addr(rd_t *r, int family, uint8_t *addr)
{
	const uint8_t *b;
	uint32_t n;
	int rc = next_field(r, &b, &n);
	if (rc < 0)
		return rc;
	if (n != addr_len(family))
		return HO_EFIELD;
	memcpy(addr, b, n);
	return 0;
}

static int get_state(rd_t *r, net_repair_state_t *st)
{
	int rc;
	uint64_t fam;
	GET(r, 1, fam);
	if (fam != 4 && fam != 6)
		return HO_EFIELD;
	st->family = fam == 4 ? AF_INET : AF_INET6;
	GET(r, 1, st->tcp_state);
	if ((rc = get_addr(r, st->family, st->local_addr)) < 0)
		goto fail;
	GET(r, 2, st->local_port);
	if ((rc = get_addr(r, st->family, st->peer_addr)) < 0)
		goto fail;
	GET(r, 2, st->peer_port);
	GET(r, 4, st->snd_seq);
	GET(r, 4, st->rcv_seq);
	GET(r, 4, st->snd_wl1);
	GET(r, 4, st->snd_wnd);
	GET(r, 4, st->max_window);
	GET(r, 4, st->rcv_wnd);
	GET(r, 4, st->rcv_wup);
	GET(r, 1, st->options);
	GET(r, 1, st->snd_wscale);
	GET(r, 1, st->rcv_wscale);
	GET(r, 2, st->mss);
	GET(r, 4, st->timestamp);
	uint32_t unsent;
	GET(r, 4, unsent);
	if ((st->options &
	     ~(NET_REPAIR_OPT_TIMESTAMPS | NET_REPAIR_OPT_SACK | NET_REPAIR_OPT_WSCALE)) ||
	    st->snd_wscale > TCP_MAX_WINSHIFT || st->rcv_wscale > TCP_MAX_WINSHIFT)
		return HO_EFIELD;
	if ((rc = get_queue(r, &st->rcvq, &st->rcvq_len)) < 0)
		goto fail;
	if ((rc = get_queue(r, &st->sndq, &st->sndq_len)) < 0)
		goto fail;
	if (unsent > st->sndq_len) {
		rc = HO_EFIELD;
		goto fail;
	}
	st->sndq_unsent = unsent;
	return 0;
fail:
	net_repair_state_free(st);
	return rc;
}

int ho_record_decode(const ho_key_t *key, ho_replay_t *rw, const uint8_t *buf, size_t len,
                     ho_msg_t *m, size_t *used)
{
	memset(m, 0, sizeof(*m));
	*used = 0;
	if (len < HO_HEADER_LEN)
		return HO_ETRUNC;
	if (buf[0] != HO_RECORD_VERSION)
		return HO_EVERSION;
	if (buf[1] < HO_STATE || buf[1] > HO_TYPE_MAX)
		return HO_ETYPE;
	if (buf[2] || buf[3])
		return HO_EFIELD;
	uint64_t nonce = get_be(buf + 4, 8);
	uint32_t payload = (uint32_t)get_be(buf + 12, 4);
	if (payload > HO_PAYLOAD_MAX)
		return HO_ETOOBIG;
	size_t total = HO_HEADER_LEN + (size_t)payload + HO_MAC_LEN;
	if (len < total)
		return HO_ETRUNC;
	uint8_t want[HO_MAC_LEN];
	if (mac(key, buf, HO_HEADER_LEN + payload, want) < 0)
		return -EIO;
	if (CRYPTO_memcmp(want, buf + HO_HEADER_LEN + payload, HO_MAC_LEN) != 0)
		return HO_EMAC;
	if (rw->any && nonce <= rw->last)
		return HO_EREPLAY;

	ho_msg_t d = {.type = (ho_type_t)buf[1], .nonce = nonce};
	rd_t r = {buf + HO_HEADER_LEN, buf + HO_HEADER_LEN + payload};
	int rc;
	GET(&r, 8, d.conn_id);
	if (d.type == HO_REFUSE || d.type == HO_CLOSED)
		GET(&r, 4, d.reason);
	if (d.type == HO_CLOSED) {
		uint32_t n;
		GET(&r, 4, n);
		/* each report takes REPORT_LEN bytes: a count the payload cannot hold is malformed
		 */
		if (n > HO_REPORTS_MAX || (size_t)(r.end - r.p) < (size_t)n * REPORT_LEN) {
			rc = n > HO_REPORTS_MAX ? HO_ETOOBIG : HO_EFIELD;
			goto fail;
		}
		if (n && !(d.reports = calloc(n, sizeof(*d.reports)))) {
			rc = -ENOMEM;
			goto fail;
		}
		d.nreports = n;
		for (uint32_t i = 0; i < n; i++) {
			GET(&r, 2, d.reports[i].status);
			GET(&r, 8, d.reports[i].bytes_in);
			GET(&r, 8, d.reports[i].bytes_out);
			GET(&r, 8, d.reports[i].usec);
		}
	}
	if (has_state(d.type) && (rc = get_state(&r, &d.st)) < 0)
		goto fail;
	if (r.p != r.end) {
		rc = HO_EFIELD;
		goto fail;
	}
	rw->any = true;
	rw->last = nonce;
	*m = d;
	*used = total;
	return 0;
fail:
	ho_msg_free(&d);
	return rc;
}

void ho_msg_free(ho_msg_t *m)
{
	net_repair_state_free(&m->st);
	free(m->reports);
	m->reports = NULL;
	m->nreports = 0;
}

int ho_key_load(const char *path, ho_key_t *key, char *msg, size_t msglen)
{
	memset(key, 0, sizeof(*key));
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(msg, msglen, "key file %s: %s", path, strerror(errno));
		return HO_EKEYFILE;
	}
	int rc = HO_EKEYFILE;
	/* one byte more than the limit (and a newline), to see a file that is too long */
	uint8_t buf[HO_KEY_MAX + 2];
	struct stat sb;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(msg, msglen, "key file %s: not a regular file", path);
		goto out;
	}
	if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
		snprintf(msg, msglen,
		         "key file %s: mode %04o gives group or others access; chmod 600 it", path,
		         (unsigned)(sb.st_mode & 07777));
		rc = HO_EKEYPERM;
		goto out;
	}
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(msg, msglen, "key file %s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0 || (n += (size_t)r) == sizeof(buf))
			break;
	}
	if (n && buf[n - 1] == '\n')
		n--;
	if (n > HO_KEY_MAX) {
		snprintf(msg, msglen, "key file %s: longer than %d bytes", path, HO_KEY_MAX);
		goto out;
	}
	if (n < HO_KEY_MIN) {
		snprintf(msg, msglen, "key file %s: key of %zu bytes, at least %d needed", path, n,
		         HO_KEY_MIN);
		rc = HO_EKEYSHORT;
		goto out;
	}
	memcpy(key->bytes, buf, n);
	key->len = n;
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return rc;
}

const char *ho_strerror(int err)
{
	switch (err) {
	case HO_ETRUNC:
		return "truncated record";
	case HO_EVERSION:
		return "unknown record version";
	case HO_ETYPE:
		return "unknown message type";
	case HO_ETOOBIG:
		return "length beyond its limit";
	case HO_EMAC:
		return "MAC mismatch (wrong key or altered record)";
	case HO_EREPLAY:
		return "replayed or old nonce";
	case HO_EFIELD:
		return "malformed field";
	case HO_EKEYPERM:
		return "key file readable by group or others";
	case HO_EKEYSHORT:
		return "key too short";
	case HO_EKEYFILE:
		return "key file unusable";
	default:
		return strerror(-err);
	}
}
