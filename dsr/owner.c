/*
 * The set of IPVS entries s3lb created (see owner.h for the rules), kept as canonical text lines
 * in an open-addressing hash set, so the file is exactly the set's lines in sorted order.
 */
#include "dsr/owner.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOMB         ((char *)1)
#define LINE_MAX_LEN 192

struct dsr_owned_s {
	char *path;   /* NULL: memory only */
	char **slots; /* NULL (never used), TOMB (removed) or a malloc'ed line */
	size_t cap;   /* power of two */
	size_t n;     /* live lines */
	size_t used;  /* live lines + tombstones */
	bool dirty;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		abort();
	return p;
}

/* Index of line s, or of the slot where it would go (first tombstone or empty) when absent. */
static size_t probe(const dsr_owned_t *o, const char *s, bool *found)
{
	size_t mask = o->cap - 1, i = hash(s) & mask, tomb = SIZE_MAX;
	for (;; i = (i + 1) & mask) {
		char *e = o->slots[i];
		if (!e) {
			*found = false;
			return tomb != SIZE_MAX ? tomb : i;
		}
		if (e == TOMB) {
			if (tomb == SIZE_MAX)
				tomb = i;
		} else if (strcmp(e, s) == 0) {
			*found = true;
			return i;
		}
	}
}

static void grow(dsr_owned_t *o)
{
	char **old = o->slots;
	size_t oldcap = o->cap;
	o->cap = oldcap ? oldcap * 2 : 64;
	while (o->n * 2 >= o->cap)
		o->cap *= 2;
	o->slots = calloc(o->cap, sizeof(*o->slots));
	if (!o->slots)
		abort();
	o->used = o->n;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i] && old[i] != TOMB) {
			bool found;
			o->slots[probe(o, old[i], &found)] = old[i];
		}
	}
	free(old);
}

static bool has(const dsr_owned_t *o, const char *s)
{
	bool found = false;
	if (o->cap)
		probe(o, s, &found);
	return found;
}

static void put(dsr_owned_t *o, const char *s)
{
	if ((o->used + 1) * 4 >= o->cap * 3)
		grow(o);
	bool found;
	size_t i = probe(o, s, &found);
	if (found)
		return;
	if (!o->slots[i])
		o->used++;
	o->slots[i] = xstrdup(s);
	o->n++;
	o->dirty = true;
}

static void del_at(dsr_owned_t *o, size_t i)
{
	free(o->slots[i]);
	o->slots[i] = TOMB;
	o->n--;
	o->dirty = true;
}

static void del(dsr_owned_t *o, const char *s)
{
	bool found = false;
	size_t i = o->cap ? probe(o, s, &found) : 0;
	if (found)
		del_at(o, i);
}

static void svc_line(const dsr_svc_key_t *key, char *buf, size_t len)
{
	char k[96];
	dsr_svc_key_format(key, k, sizeof(k));
	snprintf(buf, len, "service %s", k);
}

static void dest_line(const dsr_svc_key_t *key, const dsr_dest_t *d, char *buf, size_t len)
{
	char k[96], a[64];
	dsr_svc_key_format(key, k, sizeof(k));
	dsr_dest_format(d, a, sizeof(a));
	snprintf(buf, len, "dest %s %s", k, a);
}

dsr_owned_t *dsr_owned_new(const char *path)
{
	dsr_owned_t *o = calloc(1, sizeof(*o));
	if (!o)
		abort();
	o->path = path ? xstrdup(path) : NULL;
	grow(o);
	return o;
}

void dsr_owned_free(dsr_owned_t *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->cap; i++) {
		if (o->slots[i] != TOMB)
			free(o->slots[i]);
	}
	free(o->slots);
	free(o->path);
	free(o);
}

/* A line is valid when it parses and is already in the canonical form we write. */
static bool line_valid(const char *line)
{
	char again[LINE_MAX_LEN];
	dsr_svc_key_t key;
	if (strncmp(line, "service ", 8) == 0) {
		if (dsr_svc_key_parse(line + 8, &key) < 0)
			return false;
		svc_line(&key, again, sizeof(again));
		return strcmp(again, line) == 0;
	}
	if (strncmp(line, "dest ", 5) == 0) {
		const char *sp = strrchr(line, ' ');
		char k[LINE_MAX_LEN];
		dsr_dest_t d = {0};
		size_t klen = (size_t)(sp - (line + 5));
		if (sp <= line + 5 || klen >= sizeof(k))
			return false;
		memcpy(k, line + 5, klen);
		k[klen] = '\0';
		if (dsr_svc_key_parse(k, &key) < 0 || dsr_dest_parse(sp + 1, &d) < 0)
			return false;
		dest_line(&key, &d, again, sizeof(again));
		return strcmp(again, line) == 0;
	}
	return false;
}

int dsr_owned_load(const char *path, dsr_owned_t **out, char *err, size_t errlen)
{
	dsr_owned_t *o = dsr_owned_new(path);
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT) {
			*out = o;
			return 0;
		}
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		dsr_owned_free(o);
		return -e;
	}
	char line[LINE_MAX_LEN];
	int lineno = 0, rc = 0;
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		size_t len = strlen(line);
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(f)) {
			snprintf(err, errlen, "%s:%d: line too long", path, lineno);
			rc = -EINVAL;
			break;
		}
		if (len == 0 || line[0] == '#')
			continue;
		if (!line_valid(line)) {
			snprintf(err, errlen, "%s:%d: not an s3lb ownership entry: %s", path,
			         lineno, line);
			rc = -EINVAL;
			break;
		}
		put(o, line);
	}
	fclose(f);
	if (rc < 0) {
		dsr_owned_free(o);
		return rc;
	}
	o->dirty = false;
	*out = o;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int mkdir_parent(const char *path)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int dsr_owned_save(dsr_owned_t *o, char *err, size_t errlen)
{
	if (!o->path || !o->dirty)
		return 0;
	char tmp[4096 + 8];
	char **lines = malloc((o->n ? o->n : 1) * sizeof(*lines));
	FILE *f = NULL;
	int rc;
	if (!lines)
		abort();
	size_t k = 0;
	for (size_t i = 0; i < o->cap; i++) {
		if (o->slots[i] && o->slots[i] != TOMB)
			lines[k++] = o->slots[i];
	}
	qsort(lines, k, sizeof(*lines), cmp_str);
	snprintf(tmp, sizeof(tmp), "%s.tmp", o->path);
	if ((rc = mkdir_parent(o->path)) < 0)
		goto fail;
	f = fopen(tmp, "w");
	if (!f) {
		rc = -errno;
		goto fail;
	}
	fprintf(f, "# IPVS services and destinations created by s3lb (dsr/owner.h); s3lb deletes\n"
	           "# only these, and only when its config no longer names them.\n");
	for (size_t i = 0; i < k; i++)
		fprintf(f, "%s\n", lines[i]);
	if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
		rc = -errno;
		goto fail_close;
	}
	if (fclose(f) != 0) {
		f = NULL;
		rc = -errno;
		goto fail_unlink;
	}
	f = NULL;
	if (rename(tmp, o->path) < 0) {
		rc = -errno;
		goto fail_unlink;
	}
	free(lines);
	o->dirty = false;
	return 0;
fail_close:
	fclose(f);
fail_unlink:
	unlink(tmp);
fail:
	snprintf(err, errlen, "cannot save %s: %s", o->path, strerror(-rc));
	free(lines);
	return rc;
}

bool dsr_owned_svc(const dsr_owned_t *o, const dsr_svc_key_t *key)
{
	char line[LINE_MAX_LEN];
	svc_line(key, line, sizeof(line));
	return has(o, line);
}

bool dsr_owned_dest(const dsr_owned_t *o, const dsr_svc_key_t *key, const dsr_dest_t *dest)
{
	char line[LINE_MAX_LEN];
	dest_line(key, dest, line, sizeof(line));
	return has(o, line);
}

void dsr_owned_set_svc(dsr_owned_t *o, const dsr_svc_key_t *key, bool own)
{
	char line[LINE_MAX_LEN];
	svc_line(key, line, sizeof(line));
	if (own)
		put(o, line);
	else
		del(o, line);
}

void dsr_owned_set_dest(dsr_owned_t *o, const dsr_svc_key_t *key, const dsr_dest_t *dest, bool own)
{
	char line[LINE_MAX_LEN];
	dest_line(key, dest, line, sizeof(line));
	if (own)
		put(o, line);
	else
		del(o, line);
}

void dsr_owned_drop_svc(dsr_owned_t *o, const dsr_svc_key_t *key)
{
	char line[LINE_MAX_LEN], prefix[LINE_MAX_LEN];
	svc_line(key, line, sizeof(line));
	del(o, line);
	char k[96];
	dsr_svc_key_format(key, k, sizeof(k));
	int plen = snprintf(prefix, sizeof(prefix), "dest %s ", k);
	for (size_t i = 0; i < o->cap; i++) {
		char *e = o->slots[i];
		if (e && e != TOMB && strncmp(e, prefix, (size_t)plen) == 0)
			del_at(o, i);
	}
}

void dsr_owned_prune(dsr_owned_t *o, const dsr_table_t *have)
{
	dsr_owned_t *present = dsr_owned_new(NULL);
	for (size_t i = 0; i < have->nsvcs; i++) {
		const dsr_tsvc_t *t = &have->svcs[i];
		dsr_owned_set_svc(present, &t->svc.key, true);
		for (size_t j = 0; j < t->ndests; j++)
			dsr_owned_set_dest(present, &t->svc.key, &t->dests[j], true);
	}
	for (size_t i = 0; i < o->cap; i++) {
		char *e = o->slots[i];
		if (e && e != TOMB && !has(present, e))
			del_at(o, i);
	}
	dsr_owned_free(present);
}

size_t dsr_owned_count(const dsr_owned_t *o)
{
	return o->n;
}
