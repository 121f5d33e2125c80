/*
 * The operator's config: YAML -> one libyaml event pass -> a tree of nodes and the line of
 * every key path -> the key tables below -> the immutable lb_config_t of config.h.
 *
 * Every key is declared once, in the table of its section (ckey_t: name, type, where it is
 * stored, default, limits). The tables drive each step: the structure check (unknown keys, a
 * list where a mapping belongs, ...), defaults, conversion and range checks of single values,
 * the dump that `s3lb check` prints, and tests/unit/test_core_config.c's check that
 * docs/config.md documents exactly these keys. What a table cannot say (names that must be
 * unique, required lists, keys that depend on each other, references to pools) is the code
 * of its section, the `check` hook, which runs after the section's plain keys are converted.
 *
 * Every scalar is read as a string and converted here, so each bad value gets one message in
 * one format ("FILE:LINE: key: message"), with YAML's own lenient readings refused ("010",
 * "ture"). The event pass records the line of every key and list entry under its path
 * ("pools[0].nodes[1].addr"), and rejects syntax errors, duplicate keys, complex keys, unknown
 * aliases and extra documents. An alias shares the anchored subtree; inside it, lines fall back
 * to the line of the alias.
 *
 * The `health:` section is the one place where a value is inherited: each node gets a deep copy
 * of its pool's section with the node's own keys laid over it, and the result is checked as a
 * whole; a broken rule is reported at the key the node (or pool) set. The dump writes a node's
 * section as only the keys that differ from its pool's, so it reloads to the same config.
 *
 * The `dr:` list (IPVS virtual services in direct-routing mode) is converted last, because it
 * is checked against the rest: it names pools whose nodes become its real servers, and a VIP
 * must not be an address s3lb itself listens on.
 *
 * Runs on whatever thread loads the config (the main loop, at start and on SIGHUP); no state
 * outside the call. Allocation failures abort (setup path, small and bounded by the file).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "core/config.h"

#define MAX_FILE_SIZE (16u << 20)
#define MAX_DEPTH     32
#define PATH_LEN      256
#define MAX_NAME_LEN  64
#define MAX_WEIGHT    1000
#define MAX_BUF_SIZE  (1ull << 30)
/* The relay buffer also holds a node's response head, which is parsed whole: S3 allows 2 KB of
 * user metadata (x-amz-meta-*), returned on every GET and HEAD, beside the usual headers. */
#define MIN_BUF_SIZE (4u << 10)
#define MAX_JITTER   50
/* IPVS keeps the persistence timeout as a 32-bit count of seconds. */
#define MAX_PERSISTENCE (UINT32_MAX * 1000ull)

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------- */
/* Names.                                                                                     */

static const char *const balance_names[] = {"round-robin", "least-requests", "hash-key"};
static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const probe_kind_names[] = {"http", "tcp", "s3", "none"};
static const char *const probe_method_names[] = {"GET", "HEAD"};
static const char *const dr_sched_names[] = {"rr", "wrr", "lc", "wlc", "sh", "mh"};
static const char *const dr_family_names[] = {"ipv4", "ipv6"};
static const int dr_families[] = {AF_INET, AF_INET6};

/* Indexed by bit position. */
static const char *const op_names[] = {
    "read",       "write",    "delete",       "list",      "bucket",
    "mpu-create", "mpu-part", "mpu-complete", "mpu-abort", "other",
};

const char *lb_op_name(lb_op_t op)
{
	for (size_t i = 0; i < NFIELDS(op_names); i++)
		if ((uint32_t)op == 1u << i)
			return op_names[i];
	return "unknown";
}

int lb_op_parse(const char *name, uint32_t *bits)
{
	if (strcmp(name, "multipart") == 0) {
		*bits = LB_OP_MULTIPART;
		return 0;
	}
	for (size_t i = 0; i < NFIELDS(op_names); i++) {
		if (strcmp(name, op_names[i]) == 0) {
			*bits = 1u << i;
			return 0;
		}
	}
	return -1;
}

const char *lb_balance_name(lb_balance_t b)
{
	return (size_t)b < NFIELDS(balance_names) ? balance_names[b] : "unknown";
}

const char *lb_probe_kind_name(lb_probe_kind_t k)
{
	return (size_t)k < NFIELDS(probe_kind_names) ? probe_kind_names[k] : "unknown";
}

/* ---------------------------------------------------------------------------------------- */
/* The YAML tree: what the event pass builds. Nodes live in the load context's arena; an      */
/* alias is a second reference to its anchor's node.                                          */

typedef enum { Y_SCALAR, Y_MAP, Y_SEQ } ytype_t;

typedef struct ynode_s ynode_t;
struct ynode_s {
	ytype_t type;
	char *value;    /* Y_SCALAR */
	char **keys;    /* Y_MAP: keys[i] holds kids[i] */
	ynode_t **kids; /* Y_MAP values, Y_SEQ entries */
	size_t n, cap;
};

typedef struct map_entry_s {
	char *path;
	int line;
	unsigned seq; /* document order */
} map_entry_t;

typedef struct load_ctx_s {
	const char *name;
	char *err;
	size_t errlen;
	map_entry_t *map; /* sorted by path once built */
	size_t nmap;
	size_t capmap;
	int root_line;
	ynode_t *root; /* NULL: an empty document */
	ynode_t **arena;
	size_t narena, caparena;
	lb_config_t *cfg;     /* being built */
	lb_pool_conf_t *pool; /* whose nodes are being converted */
} load_ctx_t;

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p == NULL)
		abort();
	return p;
}

static char *xstrdup(const char *s)
{
	char *p = s != NULL ? strdup(s) : NULL;

	if (s != NULL && p == NULL)
		abort();
	return p;
}

static void *xgrow(void *p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return p;
	*cap = *cap ? *cap * 2 : 8;
	p = realloc(p, *cap * size);
	if (p == NULL)
		abort();
	return p;
}

static ynode_t *ynew(load_ctx_t *c, ytype_t type, const char *value)
{
	ynode_t *y = xcalloc(1, sizeof(*y));

	y->type = type;
	y->value = xstrdup(value);
	c->arena = xgrow(c->arena, &c->caparena, c->narena, sizeof(*c->arena));
	c->arena[c->narena++] = y;
	return y;
}

static void yappend(ynode_t *parent, char *key, ynode_t *kid)
{
	size_t cap = parent->cap;

	parent->kids = xgrow(parent->kids, &cap, parent->n, sizeof(*parent->kids));
	if (parent->type == Y_MAP) {
		cap = parent->cap;
		parent->keys = xgrow(parent->keys, &cap, parent->n, sizeof(*parent->keys));
		parent->keys[parent->n] = key;
	}
	parent->cap = cap;
	parent->kids[parent->n++] = kid;
}

/* The value of `key` in map (NULL when map is NULL or has no such key). */
static const ynode_t *yfind(const ynode_t *map, const char *key)
{
	for (size_t i = 0; map != NULL && map->type == Y_MAP && i < map->n; i++)
		if (strcmp(map->keys[i], key) == 0)
			return map->kids[i];
	return NULL;
}

static void arena_free(load_ctx_t *c)
{
	for (size_t i = 0; i < c->narena; i++) {
		ynode_t *y = c->arena[i];

		for (size_t k = 0; y->keys != NULL && k < y->n; k++)
			free(y->keys[k]);
		free(y->keys);
		free(y->kids);
		free(y->value);
		free(y);
	}
	free(c->arena);
}

/* ---------------------------------------------------------------------------------------- */
/* Error reporting.                                                                          */

static int cmp_entry(const void *a, const void *b)
{
	const map_entry_t *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static const map_entry_t *map_find(const load_ctx_t *c, const char *path)
{
	size_t lo = 0, hi = c->nmap;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(path, c->map[mid].path);

		if (r == 0)
			return &c->map[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* The line of `path`, or of its nearest ancestor in the file (for keys that are missing). */
static int map_line(const load_ctx_t *c, const char *path)
{
	char buf[PATH_LEN];

	snprintf(buf, sizeof(buf), "%s", path);
	while (buf[0] != '\0') {
		const map_entry_t *e = map_find(c, buf);
		char *cut;

		if (e != NULL)
			return e->line;
		cut = buf[strlen(buf) - 1] == ']' ? strrchr(buf, '[') : strrchr(buf, '.');
		if (cut == NULL)
			break;
		*cut = '\0';
	}
	return c->root_line;
}

/* Writes the one error line at `line` for `path` (empty: the document) and returns -EINVAL. */
static int fail_at(load_ctx_t *c, int line, const char *path, const char *fmt, va_list ap)
{
	int n;

	if (c->err == NULL || c->errlen == 0)
		return -EINVAL;
	n = snprintf(c->err, c->errlen, "%s:%d: %s: ", c->name, line,
	             path[0] != '\0' ? path : "yaml");
	if (n >= 0 && (size_t)n < c->errlen)
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	for (char *p = c->err; *p != '\0'; p++) /* one line, whatever the file holds */
		if (iscntrl((unsigned char)*p))
			*p = '?';
	return -EINVAL;
}

static int fail_line(load_ctx_t *c, int line, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_line(load_ctx_t *c, int line, const char *path, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fail_at(c, line, path, fmt, ap);
	va_end(ap);
	return rc;
}

static int fail(load_ctx_t *c, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(load_ctx_t *c, const char *path, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = fail_at(c, map_line(c, path), path, fmt, ap);
	va_end(ap);
	return rc;
}

/* A value quoted in a message: control bytes become '?' (the message is one line), long cut. */
typedef struct shown_s {
	char s[72];
} shown_t;

static shown_t show(const char *v)
{
	shown_t out;
	size_t i = 0;

	for (; v[i] != '\0' && i < sizeof(out.s) - 4; i++)
		out.s[i] = iscntrl((unsigned char)v[i]) ? '?' : v[i];
	if (v[i] != '\0') {
		memcpy(out.s + i, "...", 3);
		i += 3;
	}
	out.s[i] = '\0';
	return out;
}

/* Formats a key path into buf (PATH_LEN bytes); a longer path is cut, blurring only a message. */
static void pathf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pathf(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, PATH_LEN, fmt, ap);
	va_end(ap);
}

static void path_of(char *buf, const char *prefix, const char *key)
{
	pathf(buf, "%s%s%s", prefix, prefix[0] && key[0] ? "." : "", key);
}

/* ---------------------------------------------------------------------------------------- */
/* The libyaml pass: the tree, the path -> line map, and the checks of YAML itself.          */

typedef struct frame_s {
	bool seq;
	bool want_key;
	size_t base; /* path length of the container itself */
	unsigned index;
	ynode_t *node;
	char *key; /* the key whose value comes next (mappings) */
} frame_t;

typedef struct anchor_s {
	char *name;
	ynode_t *node;
} anchor_t;

typedef struct walk_s {
	load_ctx_t *c;
	frame_t st[MAX_DEPTH];
	int depth;
	char path[PATH_LEN];
	size_t plen;
	unsigned seq;
	anchor_t *anchors;
	size_t nanchors, capanchors;
} walk_t;

static void map_add(load_ctx_t *c, const char *path, int line, unsigned seq)
{
	if (c->nmap == c->capmap) {
		c->capmap = c->capmap ? c->capmap * 2 : 64;
		c->map = realloc(c->map, c->capmap * sizeof(*c->map));
		if (c->map == NULL)
			abort();
	}
	c->map[c->nmap].path = xstrdup(path);
	c->map[c->nmap].line = line;
	c->map[c->nmap].seq = seq;
	c->nmap++;
}

static int walk_append(walk_t *w, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int walk_append(walk_t *w, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(w->path + w->plen, sizeof(w->path) - w->plen, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(w->path) - w->plen) {
		w->path[w->plen] = '\0';
		return fail_line(w->c, line, w->path, "key path too long");
	}
	w->plen += (size_t)n;
	map_add(w->c, w->path, line, w->seq++);
	return 0;
}

static bool is_key_char(unsigned char ch)
{
	return isalnum(ch) || ch == '_' || ch == '-';
}

/* A mapping key: must be a scalar; every key we know is made of [A-Za-z0-9_-]. */
static int walk_key(walk_t *w, const yaml_event_t *ev, int line)
{
	frame_t *top = &w->st[w->depth - 1];
	const char *key;

	if (ev->type != YAML_SCALAR_EVENT)
		return fail_line(w->c, line, w->path, "mapping keys must be plain strings");
	key = (const char *)ev->data.scalar.value;
	for (const char *k = key; *k != '\0'; k++)
		if (!is_key_char((unsigned char)*k)) /* quoted: it may hold blanks, dots, ... */
			return fail_line(w->c, line, w->path, "unknown key '%s'", show(key).s);
	top->key = xstrdup(key);
	return walk_append(w, line, "%s%s", w->plen ? "." : "", key);
}

static void walk_value_done(walk_t *w)
{
	frame_t *top;

	if (w->depth == 0)
		return;
	top = &w->st[w->depth - 1];
	w->plen = top->base;
	w->path[w->plen] = '\0';
	top->want_key = true;
}

/* The node of this event: a new one, or for an alias the anchored one (NULL: unknown). */
static ynode_t *walk_new(walk_t *w, const yaml_event_t *ev)
{
	const char *anchor = NULL;
	ynode_t *y;

	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		for (size_t i = 0; i < w->nanchors; i++)
			if (strcmp(w->anchors[i].name, (const char *)ev->data.alias.anchor) == 0)
				return w->anchors[i].node;
		return NULL;
	case YAML_SCALAR_EVENT:
		y = ynew(w->c, Y_SCALAR, (const char *)ev->data.scalar.value);
		anchor = (const char *)ev->data.scalar.anchor;
		break;
	case YAML_MAPPING_START_EVENT:
		y = ynew(w->c, Y_MAP, NULL);
		anchor = (const char *)ev->data.mapping_start.anchor;
		break;
	default:
		y = ynew(w->c, Y_SEQ, NULL);
		anchor = (const char *)ev->data.sequence_start.anchor;
		break;
	}
	if (anchor != NULL) {
		w->anchors = xgrow(w->anchors, &w->capanchors, w->nanchors, sizeof(*w->anchors));
		w->anchors[w->nanchors++] = (anchor_t){xstrdup(anchor), y};
	}
	return y;
}

/* One node event (scalar, alias, start of a mapping or sequence). */
static int walk_node(walk_t *w, const yaml_event_t *ev)
{
	int line = (int)ev->start_mark.line + 1;
	frame_t *top = w->depth ? &w->st[w->depth - 1] : NULL;
	ynode_t *y;

	if (top == NULL) {
		w->c->root_line = line;
	} else if (!top->seq && top->want_key) {
		top->want_key = false;
		return walk_key(w, ev, line);
	} else if (top->seq) {
		if (walk_append(w, line, "[%u]", top->index++) < 0)
			return -EINVAL;
	}
	y = walk_new(w, ev);
	if (y == NULL)
		return fail_line(w->c, line, w->path, "unknown alias '%s'",
		                 show((const char *)ev->data.alias.anchor).s);
	if (top == NULL) {
		w->c->root = y;
	} else {
		yappend(top->node, top->key, y);
		top->key = NULL;
	}
	if (ev->type == YAML_MAPPING_START_EVENT || ev->type == YAML_SEQUENCE_START_EVENT) {
		if (w->depth == MAX_DEPTH)
			return fail_line(w->c, line, w->path, "nested too deeply");
		w->st[w->depth++] = (frame_t){
		    .seq = ev->type == YAML_SEQUENCE_START_EVENT,
		    .want_key = true,
		    .base = w->plen,
		    .node = y,
		};
		return 0;
	}
	walk_value_done(w);
	return 0;
}

/* 0 when the document is done, 1 to go on, <0 on error. */
static int walk_event(walk_t *w, const yaml_event_t *ev, int *docs)
{
	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++*docs > 1)
			return fail_line(w->c, (int)ev->start_mark.line + 1, "",
			                 "only one YAML document is allowed");
		return 1;
	case YAML_SCALAR_EVENT:
	case YAML_ALIAS_EVENT:
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT:
		return walk_node(w, ev) < 0 ? -EINVAL : 1;
	case YAML_MAPPING_END_EVENT:
	case YAML_SEQUENCE_END_EVENT:
		w->depth--;
		walk_value_done(w);
		return 1;
	default:
		return 1;
	}
}

/* Sorted by path, a repeated path is a repeated key; report the one that comes first. */
static int map_check_duplicates(load_ctx_t *c)
{
	const map_entry_t *dup = NULL, *first = NULL;

	if (c->nmap < 2)
		return 0;
	qsort(c->map, c->nmap, sizeof(*c->map), cmp_entry);
	for (size_t i = 1; i < c->nmap; i++) {
		if (strcmp(c->map[i].path, c->map[i - 1].path) != 0)
			continue;
		if (dup == NULL || c->map[i].seq < dup->seq) {
			dup = &c->map[i];
			first = &c->map[i - 1];
		}
	}
	if (dup != NULL)
		return fail_line(c, dup->line, dup->path, "duplicate key (first at line %d)",
		                 first->line);
	return 0;
}

/*
 * libyaml notices most mistakes a line or more after they were made, so the message also names
 * where the construct it was reading began. A key missing its ':' is reported at the key.
 */
static int syntax_error(load_ctx_t *c, const yaml_parser_t *p)
{
	int line = (int)p->problem_mark.line + 1, ctx_line = (int)p->context_mark.line + 1;
	const char *problem = p->problem ? p->problem : "invalid YAML";

	if (p->context == NULL || ctx_line == line)
		return fail_line(c, line, "", "syntax error: %s", problem);
	if (strcmp(p->context, "while scanning a simple key") == 0)
		return fail_line(c, ctx_line, "", "syntax error: %s", problem);
	return fail_line(c, line, "", "syntax error: %s (%s from line %d)", problem, p->context,
	                 ctx_line);
}

static int map_build(load_ctx_t *c, const unsigned char *buf, size_t len)
{
	yaml_parser_t parser;
	walk_t w = {.c = c};
	int rc = 1, docs = 0;

	c->root_line = 1;
	if (!yaml_parser_initialize(&parser))
		abort();
	yaml_parser_set_input_string(&parser, buf, len);
	while (rc > 0) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			rc = syntax_error(c, &parser);
			break;
		}
		rc = walk_event(&w, &ev, &docs);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	for (int i = 0; i < w.depth; i++) /* a key still waiting for its value (an error) */
		free(w.st[i].key);
	for (size_t i = 0; i < w.nanchors; i++)
		free(w.anchors[i].name);
	free(w.anchors);
	if (rc < 0)
		return rc;
	return map_check_duplicates(c);
}

static void map_free(load_ctx_t *c)
{
	for (size_t i = 0; i < c->nmap; i++)
		free(c->map[i].path);
	free(c->map);
	c->map = NULL;
	c->nmap = c->capmap = 0;
}

/* ---------------------------------------------------------------------------------------- */
/* The key tables: types, and what each type means for loading and the dump.                 */

typedef enum {
	T_BOOL,     /* bool at off */
	T_COUNT,    /* uint32_t at off, a whole number, min..max */
	T_PERCENT,  /* uint32_t at off, 0..100 with or without '%', min..max */
	T_SIZE,     /* uint64_t bytes at off, min..max */
	T_DURATION, /* uint64_t ms at off, min..max */
	T_STRING,   /* char * at off, sdef or NULL; when present: not empty */
	T_NAME,     /* char * at off: a name (logs, metric labels); required */
	T_ENUM,     /* int at off: index into names; def */
	T_ADDR,     /* lb_addr_t at off; required */
	T_VALUE,    /* a single value that the section's check converts and `value` writes */
	T_LIST,     /* a list of single values; with noff, an array at off (see below) */
	T_MAP,      /* a sub-section: the keys of sub, in the object at off */
	T_MAPS, /* a list of sub-sections: an array of esize-byte objects at off, count at noff */
} ktype_t;

typedef struct csec_s csec_t;
typedef struct ckey_s ckey_t;
typedef struct dump_s dump_t;

struct ckey_s {
	const char *name;
	ktype_t type;
	size_t off;
	uint64_t def, min, max;
	const char *sdef;
	const char *const *names; /* T_ENUM */
	size_t nnames;
	const csec_t *sub; /* T_MAP, T_MAPS */
	/* T_LIST and T_MAPS: the array at off has noff elements of esize bytes (0: char *), the
	 * text of a T_LIST element at toff */
	size_t noff, esize, toff;
	/* Converted by the section's check, not by the table (unique names, lists, keys that
	 * depend on others). */
	bool by_check;
	/* Writes the value inline (out NULL: says whether there is one). For T_VALUE, T_LIST in
	 * flow style, and keys whose value the plain type does not show. */
	bool (*value)(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg);
	/* For T_MAP: writes the section (a node's health, only what differs from its pool's). */
	size_t (*put)(dump_t *d, int indent, const ckey_t *k, const void *obj);
	/* For T_MAPS: true when an entry is written on one line, as `- { k: v, ... }`. */
	bool (*flow)(dump_t *d, const void *entry);
};

struct csec_s {
	const ckey_t *keys;
	size_t nkeys;
	/* Runs after the table's keys are converted: the keys marked by_check and the rules
	 * between keys. prefix is the section's path, map its mapping (NULL when absent). */
	int (*check)(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj);
	/* The same, before the table's keys: for keys whose mistakes are reported first. */
	int (*first)(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj);
};

#define SEC(keys, check)                                                                           \
	{                                                                                          \
		keys, NFIELDS(keys), check, NULL                                                   \
	}

/* Constructors of table rows. */
#define K_NUM(n, t, ty_, m, d, lo, hi)                                                             \
	{                                                                                          \
		.name = n, .type = t, .off = offsetof(ty_, m), .def = d, .min = lo, .max = hi      \
	}
#define K_BOOL(n, ty_, m, d)                                                                       \
	{                                                                                          \
		.name = n, .type = T_BOOL, .off = offsetof(ty_, m), .def = d, .max = 1             \
	}
#define K_STR(n, ty_, m, d)                                                                        \
	{                                                                                          \
		.name = n, .type = T_STRING, .off = offsetof(ty_, m), .sdef = d                    \
	}
#define K_NAME(ty_, m)                                                                             \
	{                                                                                          \
		.name = "name", .type = T_NAME, .off = offsetof(ty_, m)                            \
	}
#define K_ADDR(n, ty_, m)                                                                          \
	{                                                                                          \
		.name = n, .type = T_ADDR, .off = offsetof(ty_, m)                                 \
	}
#define K_ENUM(n, ty_, m, d, names_)                                                               \
	{                                                                                          \
		.name = n, .type = T_ENUM, .off = offsetof(ty_, m), .def = d, .names = names_,     \
		.nnames = NFIELDS(names_)                                                          \
	}
#define K_MAP(n, ty_, m, sub_)                                                                     \
	{                                                                                          \
		.name = n, .type = T_MAP, .off = offsetof(ty_, m), .sub = &sub_                    \
	}
#define K_STRS(n, ty_, m, nm)                                                                      \
	{                                                                                          \
		.name = n, .type = T_LIST, .off = offsetof(ty_, m), .noff = offsetof(ty_, nm),     \
		.by_check = true                                                                   \
	}
#define K_MAPS(n, ty_, m, nm, etype, sub_)                                                         \
	{                                                                                          \
		.name = n, .type = T_MAPS, .off = offsetof(ty_, m), .noff = offsetof(ty_, nm),     \
		.esize = sizeof(etype), .sub = &sub_, .by_check = true                             \
	}

static int parse_count(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int parse_bool(const char *s, uint64_t *out)
{
	static const char *const names[] = {"false", "no", "off", "true", "yes", "on"};

	for (size_t i = 0; i < NFIELDS(names); i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*out = i >= 3;
			return 0;
		}
	}
	return -1;
}

static void format_value(ktype_t type, uint64_t v, char *buf, size_t len)
{
	switch (type) {
	case T_SIZE:
		lb_format_size(v, buf, len);
		break;
	case T_DURATION:
		lb_format_duration(v, buf, len);
		break;
	case T_PERCENT:
		snprintf(buf, len, "%llu%%", (unsigned long long)v);
		break;
	case T_BOOL:
		snprintf(buf, len, "%s", v ? "true" : "false");
		break;
	default:
		snprintf(buf, len, "%llu", (unsigned long long)v);
		break;
	}
}

static bool is_number(ktype_t t)
{
	return t == T_BOOL || t == T_COUNT || t == T_PERCENT || t == T_SIZE || t == T_DURATION;
}

static int parse_value(load_ctx_t *c, const char *path, const ckey_t *k, const char *s, uint64_t *v)
{
	const char *why = NULL;
	char tmp[32];

	switch (k->type) {
	case T_SIZE:
		if (lb_parse_size(s, v, &why) < 0)
			return fail(c, path, "invalid size '%s' (%s)", show(s).s, why);
		return 0;
	case T_DURATION:
		if (lb_parse_duration_ms(s, v, &why) < 0)
			return fail(c, path, "invalid duration '%s' (%s)", show(s).s, why);
		return 0;
	case T_BOOL:
		if (parse_bool(s, v) < 0)
			return fail(c, path, "invalid boolean '%s' (expected true or false)",
			            show(s).s);
		return 0;
	case T_PERCENT:
		snprintf(tmp, sizeof(tmp), "%s", s);
		if (strlen(s) < sizeof(tmp) && tmp[0] != '\0' && tmp[strlen(tmp) - 1] == '%')
			tmp[strlen(tmp) - 1] = '\0';
		if (strlen(s) >= sizeof(tmp) || parse_count(tmp, v) < 0)
			return fail(c, path, "invalid percentage '%s' (expected 0 to 100, as 20%%)",
			            show(s).s);
		return 0;
	default:
		if (parse_count(s, v) < 0)
			return fail(c, path, "invalid number '%s' (expected a whole number)",
			            show(s).s);
		return 0;
	}
}

static void store_value(const ckey_t *k, void *obj, uint64_t v)
{
	char *p = (char *)obj + k->off;

	if (k->type == T_BOOL)
		*(bool *)p = v != 0;
	else if (k->type == T_SIZE || k->type == T_DURATION)
		*(uint64_t *)p = v;
	else
		*(uint32_t *)p = (uint32_t)v;
}

static uint64_t load_value(const ckey_t *k, const void *obj)
{
	const char *p = (const char *)obj + k->off;

	if (k->type == T_BOOL)
		return *(const bool *)p;
	if (k->type == T_SIZE || k->type == T_DURATION)
		return *(const uint64_t *)p;
	return *(const uint32_t *)p;
}

/* Parses the value s of key k (path `path`) into *v and checks it against the key's range. */
static int convert_value(load_ctx_t *c, const char *path, const ckey_t *k, const char *s,
                         uint64_t *v)
{
	char lo[32], hi[32];

	if (parse_value(c, path, k, s, v) < 0)
		return -EINVAL;
	if (*v >= k->min && *v <= k->max)
		return 0;
	format_value(k->type, k->min, lo, sizeof(lo));
	format_value(k->type, k->max, hi, sizeof(hi));
	if (k->max != UINT32_MAX && k->max != UINT64_MAX)
		return fail(c, path, "must be between %s and %s", lo, hi);
	if (*v < k->min)
		return fail(c, path, "must be at least %s", lo);
	return fail(c, path, "must be at most %s", hi);
}

/* Names of pools, nodes and frontends appear in logs and metric labels: keep them plain. */
static int convert_name(load_ctx_t *c, const char *path, const char *s, char **out)
{
	if (s == NULL)
		return fail(c, path, "missing");
	if (*s == '\0' || strlen(s) > MAX_NAME_LEN)
		return fail(c, path, "must be 1 to %d characters", MAX_NAME_LEN);
	for (const char *p = s; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return fail(c, path,
			            "invalid name '%s' (letters, digits, '.', '_' and '-' only)",
			            show(s).s);
	*out = xstrdup(s);
	return 0;
}

static int convert_addr(load_ctx_t *c, const char *path, const char *s, lb_addr_t *out)
{
	const char *why = NULL;

	if (s == NULL)
		return fail(c, path, "missing");
	if (lb_parse_addr(s, out, &why) < 0)
		return fail(c, path, "invalid address '%s' (%s)", show(s).s, why);
	return 0;
}

static int convert_enum(load_ctx_t *c, const char *path, const char *what, const char *s,
                        const char *const *names, size_t n, int *out)
{
	char expected[128] = "";
	size_t len = 0;

	if (s == NULL)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (int)i;
			return 0;
		}
		len += (size_t)snprintf(expected + len, sizeof(expected) - len, "%s%s",
		                        i == 0 ? "" : (i + 1 == n ? " or " : ", "), names[i]);
	}
	return fail(c, path, "invalid %s '%s' (expected %s)", what, show(s).s, expected);
}

/* Index of an earlier element of `base` whose string at `off` equals element i's, or -1. */
static long find_earlier(const void *base, size_t size, size_t off, bool inline_str, size_t i)
{
	const char *const *pp;
	const char *s, *t;

	pp = (const char *const *)((const char *)base + i * size + off);
	s = inline_str ? (const char *)pp : *pp;
	for (size_t j = 0; j < i; j++) {
		pp = (const char *const *)((const char *)base + j * size + off);
		t = inline_str ? (const char *)pp : *pp;
		if (strcmp(s, t) == 0)
			return (long)j;
	}
	return -1;
}

/* The row `key` of sec; a key the code asks for must be declared (else a table is wrong). */
static const ckey_t *sec_key(const csec_t *sec, const char *key)
{
	for (size_t i = 0; i < sec->nkeys; i++)
		if (strcmp(sec->keys[i].name, key) == 0)
			return &sec->keys[i];
	abort();
}

/* The value of the declared `key` of sec in map, or NULL. */
static const ynode_t *yget(const csec_t *sec, const ynode_t *map, const char *key)
{
	return yfind(map, sec_key(sec, key)->name);
}

/* The same, for a single value: its text or NULL. */
static const char *ystr(const csec_t *sec, const ynode_t *map, const char *key)
{
	const ynode_t *v = yget(sec, map, key);

	return v != NULL ? v->value : NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Generic steps over a table: structure, defaults, conversion, copy, free.                  */

static const char *shape_noun(ytype_t t)
{
	return t == Y_MAP ? "a mapping" : t == Y_SEQ ? "a list" : "a single value";
}

static int check_shape(load_ctx_t *c, const char *path, const ynode_t *v, ytype_t want)
{
	if (v->type == want)
		return 0;
	return fail(c, path, "expected %s, got %s", shape_noun(want), shape_noun(v->type));
}

/* Unknown keys and values of the wrong shape under map (of section sec at path prefix), in
 * document order, before any value is converted. */
static int sec_check_structure(load_ctx_t *c, const char *prefix, const csec_t *sec,
                               const ynode_t *map)
{
	char path[PATH_LEN], epath[PATH_LEN];

	for (size_t i = 0; i < map->n; i++) {
		const ynode_t *v = map->kids[i];
		const ckey_t *k = NULL;

		path_of(path, prefix, map->keys[i]);
		for (size_t j = 0; j < sec->nkeys && k == NULL; j++)
			if (strcmp(sec->keys[j].name, map->keys[i]) == 0)
				k = &sec->keys[j];
		if (k == NULL)
			return fail(c, path, "unknown key");
		if (k->type == T_MAP) {
			if (check_shape(c, path, v, Y_MAP) < 0 ||
			    sec_check_structure(c, path, k->sub, v) < 0)
				return -EINVAL;
		} else if (k->type == T_MAPS || k->type == T_LIST) {
			if (check_shape(c, path, v, Y_SEQ) < 0)
				return -EINVAL;
			for (size_t e = 0; e < v->n; e++) {
				pathf(epath, "%s[%zu]", path, e);
				if (check_shape(c, epath, v->kids[e],
				                k->type == T_MAPS ? Y_MAP : Y_SCALAR) < 0 ||
				    (k->type == T_MAPS &&
				     sec_check_structure(c, epath, k->sub, v->kids[e]) < 0))
					return -EINVAL;
			}
		} else if (check_shape(c, path, v, Y_SCALAR) < 0) {
			return -EINVAL;
		}
	}
	return 0;
}

/* Every key of sec (and its sub-sections) that has a default gets it. */
static void sec_defaults(const csec_t *sec, void *obj)
{
	for (size_t i = 0; i < sec->nkeys; i++) {
		const ckey_t *k = &sec->keys[i];
		char *p = (char *)obj + k->off;

		if (is_number(k->type))
			store_value(k, obj, k->def);
		else if (k->type == T_ENUM)
			*(int *)p = (int)k->def;
		else if (k->type == T_STRING)
			*(char **)p = xstrdup(k->sdef);
		else if (k->type == T_MAP && !k->by_check)
			sec_defaults(k->sub, p);
	}
}

/* Converts one single value v of key k (at path) into obj. */
static int convert_key(load_ctx_t *c, const char *path, const ckey_t *k, const char *s, void *obj)
{
	char *p = (char *)obj + k->off;
	uint64_t v;
	int e;

	switch (k->type) {
	case T_STRING:
		if (*s == '\0')
			return fail(c, path, "must not be empty");
		free(*(char **)p);
		*(char **)p = xstrdup(s);
		return 0;
	case T_NAME:
		return convert_name(c, path, s, (char **)p);
	case T_ADDR:
		return convert_addr(c, path, s, (lb_addr_t *)p);
	case T_ENUM:
		e = *(int *)p;
		if (convert_enum(c, path, k->name, s, k->names, k->nnames, &e) < 0)
			return -EINVAL;
		*(int *)p = e;
		return 0;
	default:
		if (convert_value(c, path, k, s, &v) < 0)
			return -EINVAL;
		store_value(k, obj, v);
		return 0;
	}
}

/*
 * Lays the keys of map (section sec at prefix; map NULL: absent) over obj, which holds the
 * defaults or, for a node's health, the pool's values: keys present replace, keys absent stay.
 * Sub-sections are visited whether present or not (their checks fill what depends on others),
 * then the section's check runs.
 */
static int sec_convert(load_ctx_t *c, const char *prefix, const csec_t *sec, const ynode_t *map,
                       void *obj)
{
	char path[PATH_LEN];

	if (sec->first != NULL && sec->first(c, prefix, map, obj) < 0)
		return -EINVAL;
	for (size_t i = 0; i < sec->nkeys; i++) {
		const ckey_t *k = &sec->keys[i];
		const ynode_t *v = yfind(map, k->name);

		if (k->by_check || k->type == T_VALUE || k->type == T_LIST || k->type == T_MAPS)
			continue;
		path_of(path, prefix, k->name);
		if (k->type == T_MAP) {
			if (sec_convert(c, path, k->sub, v, (char *)obj + k->off) < 0)
				return -EINVAL;
		} else if (v != NULL || k->type == T_NAME || k->type == T_ADDR) {
			if (convert_key(c, path, k, v != NULL ? v->value : NULL, obj) < 0)
				return -EINVAL;
		}
	}
	return sec->check != NULL ? sec->check(c, prefix, map, obj) : 0;
}

/* Element i of the T_LIST or T_MAPS array of k in obj, and the array's length. */
static size_t list_len(const ckey_t *k, const void *obj)
{
	return *(const size_t *)((const char *)obj + k->noff);
}

/* A T_LIST key with its own array in the object (not a route's op, stored as bits). */
static bool list_stored(const ckey_t *k)
{
	return k->type == T_LIST && k->noff != 0;
}

/*
 * Gives dst (a shallow copy of an object of section sec) its own copy of every string and
 * list of single values it shares with the original. Only for sections without lists of
 * sections (health).
 */
static void sec_copy(const csec_t *sec, void *dst)
{
	for (size_t i = 0; i < sec->nkeys; i++) {
		const ckey_t *k = &sec->keys[i];
		char **p = (char **)((char *)dst + k->off);

		if (k->type == T_STRING || k->type == T_NAME) {
			*p = xstrdup(*p);
		} else if (k->type == T_MAP) {
			sec_copy(k->sub, (char *)dst + k->off);
		} else if (list_stored(k) && k->esize != 0) {
			size_t bytes = list_len(k, dst) * k->esize;
			char *copy = xcalloc(1, bytes);

			memcpy(copy, *p, bytes);
			*p = copy;
		}
	}
}

static const void *list_entry(const ckey_t *k, const void *obj, size_t i)
{
	const char *base = *(const char *const *)((const char *)obj + k->off);

	if (k->type == T_LIST && k->esize == 0)
		return ((const char *const *)base)[i];
	return base + i * k->esize + k->toff;
}

/* The list of k (a T_MAPS key of obj, at path) from v: each entry gets the defaults of k->sub,
 * then its keys. The array is in place before the entries are converted, so a failure halfway
 * leaves zeroed entries that config_free handles. */
static int convert_entries(load_ctx_t *c, const char *path, const ckey_t *k, const ynode_t *v,
                           void *obj)
{
	size_t n = v != NULL ? v->n : 0;
	char *base = xcalloc(n, k->esize), epath[PATH_LEN];

	*(char **)((char *)obj + k->off) = base;
	*(size_t *)((char *)obj + k->noff) = n;
	for (size_t i = 0; i < n; i++) {
		pathf(epath, "%s[%zu]", path, i);
		sec_defaults(k->sub, base + i * k->esize);
		if (sec_convert(c, epath, k->sub, v->kids[i], base + i * k->esize) < 0)
			return -EINVAL;
	}
	return 0;
}

/* The by_check T_MAPS key `key` of sec in map (section at prefix): its entries, at least one
 * (`what` names the entry in the message). */
static int convert_list_of(load_ctx_t *c, const char *prefix, const csec_t *sec, const ynode_t *map,
                           void *obj, const char *key, const char *what)
{
	const ckey_t *k = sec_key(sec, key);
	const ynode_t *v = yfind(map, key);
	char path[PATH_LEN];

	path_of(path, prefix, key);
	if (v == NULL || v->n == 0)
		return fail(c, path, "at least one %s is required", what);
	return convert_entries(c, path, k, v, obj);
}

/* ---------------------------------------------------------------------------------------- */
/* admin, log, limits, timeouts.                                                             */

/* The first line of admin.token_file. The file must be a regular file that others can neither
 * read nor write: the token lets its holder drain every node. Read on every load (start, reload,
 * `s3lb check`, the CLI), so a file that went wrong is reported where the key is set. */
static int read_token_file(load_ctx_t *c, const char *file, char **out)
{
	const char *path = "admin.token_file";
	char buf[LB_ADMIN_TOKEN_MAX + 2];
	size_t len = 0;
	struct stat st;
	int fd, rc = 0;

	if (*file == '\0')
		return fail(c, path, "must not be empty");
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return fail(c, path, "cannot open '%s': %s", show(file).s, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		rc = fail(c, path, "'%s' is not a regular file", show(file).s);
	else if (st.st_mode & (S_IROTH | S_IWOTH))
		rc = fail(c, path,
		          "'%s' is readable or writable by others (mode %04o): the token lets "
		          "anyone drain nodes; chmod o-rw it (0600 or 0640)",
		          show(file).s, (unsigned)(st.st_mode & 07777));
	while (rc == 0 && len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = fail(c, path, "cannot read '%s': %s", show(file).s, strerror(errno));
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (rc == 0) {
		buf[len] = '\0';
		len = strcspn(buf, "\r\n");
		if (len > LB_ADMIN_TOKEN_MAX)
			rc = fail(c, path, "the token in '%s' is longer than %d bytes",
			          show(file).s, LB_ADMIN_TOKEN_MAX);
		else if (len < LB_ADMIN_TOKEN_MIN)
			rc = fail(
			    c, path,
			    "the first line of '%s' is %zu characters: a token needs at least %d "
			    "(e.g. `openssl rand -hex 32 > FILE`)",
			    show(file).s, len, LB_ADMIN_TOKEN_MIN);
		for (size_t i = 0; rc == 0 && i < len; i++)
			if ((unsigned char)buf[i] <= ' ' || (unsigned char)buf[i] >= 0x7f)
				rc =
				    fail(c, path,
				         "the token in '%s' must be printable ASCII without spaces",
				         show(file).s);
	}
	if (rc == 0)
		*out = strndup(buf, len);
	if (rc == 0 && *out == NULL)
		abort();
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

static int check_domain(load_ctx_t *c, const char *path, const char *d)
{
	size_t n = strlen(d);

	if (n == 0)
		return fail(c, path, "must not be empty");
	for (const char *p = d; *p != '\0'; p++) {
		if (*p == ':')
			return fail(c, path, "domain '%s' must not contain a port", show(d).s);
		if (isupper((unsigned char)*p))
			return fail(c, path, "domain '%s' must be lowercase", show(d).s);
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '.' &&
		    *p != '-')
			return fail(c, path,
			            "invalid domain '%s' (letters, digits, '.' and '-' only)",
			            show(d).s);
	}
	if (d[0] == '.' || d[n - 1] == '.')
		return fail(c, path, "domain '%s' must not start or end with '.'", show(d).s);
	return 0;
}

/* An allowed Origin as browsers send it: http or https, a lowercase host, an optional port, no
 * path. */
static int check_origin(load_ctx_t *c, const char *path, const char *o)
{
	const char *h = !strncmp(o, "http://", 7)    ? o + 7
	                : !strncmp(o, "https://", 8) ? o + 8
	                                             : NULL;

	if (h == NULL || *h == '\0')
		return fail(c, path, "origin '%s' must be http://HOST or https://HOST[:PORT]",
		            show(o).s);
	for (const char *p = h; *p != '\0'; p++)
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) &&
		    !strchr(".-:[]", *p))
			return fail(
			    c, path,
			    "origin '%s': lowercase host and port only, no path or trailing '/'",
			    show(o).s);
	return 0;
}

/* A list of names under admin: each checked, no duplicates. */
static int convert_admin_list(load_ctx_t *c, const char *key, const ynode_t *v,
                              int (*check)(load_ctx_t *, const char *, const char *), char ***out,
                              size_t *nout)
{
	size_t n = v != NULL ? v->n : 0;
	char path[PATH_LEN];
	long j;

	*out = xcalloc(n, sizeof(**out));
	for (size_t k = 0; k < n; k++) {
		const char *s = v->kids[k]->value;

		pathf(path, "admin.%s[%zu]", key, k);
		if (check(c, path, s) < 0)
			return -EINVAL;
		(*out)[k] = xstrdup(s);
		*nout = k + 1;
		if ((j = find_earlier(*out, sizeof(char *), 0, false, k)) >= 0)
			return fail(c, path, "duplicate '%s' (also %s[%ld])", s, key, j);
	}
	return 0;
}

static const csec_t admin_sec;

static int check_admin(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	const char *listen = ystr(&admin_sec, map, "listen");
	const char *token_file = ystr(&admin_sec, map, "token_file");
	lb_config_t *cfg = obj;

	(void)prefix;
	cfg->admin_enabled = listen == NULL || strcmp(listen, "off") != 0;
	if (cfg->admin_enabled &&
	    convert_addr(c, "admin.listen", listen ? listen : "127.0.0.1:9901",
	                 &cfg->admin_listen) < 0)
		return -EINVAL;
	if (yget(&admin_sec, map, "token") != NULL)
		return fail(
		    c, "admin.token",
		    "not supported: the config file is printed by `s3lb check` and is often "
		    "readable by everyone; put the token in a file only s3lb and its "
		    "operators can read and set admin.token_file");
	if (token_file != NULL) {
		if (read_token_file(c, token_file, &cfg->admin_token) < 0)
			return -EINVAL;
		cfg->admin_token_file = xstrdup(token_file);
	}
	if (convert_admin_list(c, "allowed_hosts", yget(&admin_sec, map, "allowed_hosts"),
	                       check_domain, &cfg->admin_hosts, &cfg->nadmin_hosts) < 0)
		return -EINVAL;
	return convert_admin_list(c, "allowed_origins", yget(&admin_sec, map, "allowed_origins"),
	                          check_origin, &cfg->admin_origins, &cfg->nadmin_origins);
}

static bool value_admin_listen(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg);
static bool value_none(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg);

static const ckey_t admin_keys[] = {
    {.name = "listen", .type = T_VALUE, .value = value_admin_listen},
    {.name = "token", .type = T_VALUE, .value = value_none}, /* refused, never written */
    {.name = "token_file",
     .type = T_STRING,
     .off = offsetof(lb_config_t, admin_token_file),
     .by_check = true},
    K_STRS("allowed_hosts", lb_config_t, admin_hosts, nadmin_hosts),
    K_STRS("allowed_origins", lb_config_t, admin_origins, nadmin_origins),
};
static const csec_t admin_sec = SEC(admin_keys, check_admin);

static const csec_t log_sec;

static int check_log(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	const char *e = ystr(&log_sec, map, "error");
	lb_log_conf_t *log = obj;

	(void)prefix;
	if (e == NULL)
		return 0;
	if (e[0] == '\0' || strcmp(e, "stdout") == 0 || strcmp(e, "off") == 0)
		return fail(c, "log.error", "invalid value '%s' (expected stderr or a file path)",
		            show(e).s);
	free(log->error);
	log->error = xstrdup(e);
	return 0;
}

static const ckey_t log_keys[] = {
    K_ENUM("level", lb_log_conf_t, level, LB_LOG_INFO, level_names),
    K_STR("access", lb_log_conf_t, access, "stdout"),
    {.name = "error",
     .type = T_STRING,
     .off = offsetof(lb_log_conf_t, error),
     .sdef = "stderr",
     .by_check = true},
};
static const csec_t log_sec = SEC(log_keys, check_log);

static int check_order(load_ctx_t *c, const char *prefix, ktype_t type, const char *lo_key,
                       const ynode_t *lo_set, uint64_t lo, const char *hi_key, uint64_t hi,
                       bool strict);

static const csec_t limits_sec;

/* A request head is parsed whole in the client's buffer: one byte more than max_header_size
 * must fit to see that a head is too large (431), else the read stops at a full buffer and the
 * head times out (408). */
static int check_limits(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	const lb_limits_t *l = obj;

	return check_order(c, prefix, T_SIZE, "max_header_size",
	                   yget(&limits_sec, map, "max_header_size"), l->max_header_size,
	                   "buffer_size", l->buffer_size, true);
}

static const ckey_t limits_keys[] = {
    K_NUM("max_connections", T_COUNT, lb_limits_t, max_connections, 10000, 1, UINT32_MAX),
    K_NUM("max_header_size", T_SIZE, lb_limits_t, max_header_size, 16 << 10, 1, MAX_BUF_SIZE),
    K_NUM("max_headers", T_COUNT, lb_limits_t, max_headers, 100, 1, UINT32_MAX),
    K_NUM("buffer_size", T_SIZE, lb_limits_t, buffer_size, 64 << 10, MIN_BUF_SIZE, MAX_BUF_SIZE),
    K_NUM("min_body_rate", T_SIZE, lb_limits_t, min_body_rate, 4 << 10, 0, MAX_BUF_SIZE),
    K_NUM("splice_min", T_SIZE, lb_limits_t, splice_min, 128 << 10, 0, UINT64_MAX),
};
static const csec_t limits_sec = SEC(limits_keys, check_limits);

#define TIMEOUT(m, def) K_NUM(#m, T_DURATION, lb_timeouts_t, m, def, 1, UINT64_MAX)
static const ckey_t timeouts_keys[] = {
    TIMEOUT(client_header, 10000),
    TIMEOUT(client_idle, 60000),
    TIMEOUT(client_body, 60000),
    TIMEOUT(client_send, 60000),
    TIMEOUT(upstream_connect, 2000),
    TIMEOUT(upstream_header, 60000),
    TIMEOUT(upstream_read, 60000),
    TIMEOUT(upstream_idle, 30000),
    TIMEOUT(shutdown_grace, 30000),
    /* 0 is the default: no delay */
    K_NUM("shutdown_delay", T_DURATION, lb_timeouts_t, shutdown_delay, 0, 0, UINT64_MAX),
};
static const csec_t timeouts_sec = SEC(timeouts_keys, NULL);

/* ---------------------------------------------------------------------------------------- */
/* Health: the pool's section over the defaults, then each node's section over the pool's.  */

/* Exactly three digits, 100 to 599. */
static int parse_status(const char *s, size_t len, uint16_t *out)
{
	uint16_t v = 0;

	if (len != 3)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = (uint16_t)(v * 10 + (s[i] - '0'));
	}
	*out = v;
	return v >= 100 && v <= 599 ? 0 : -1;
}

/* "200", "2xx" or "200-204": 0, -1 if it does not parse, -2 for a range that runs backwards. */
static int parse_status_range(const char *s, lb_status_range_t *r)
{
	const char *dash = strchr(s, '-');

	if (s[0] >= '1' && s[0] <= '5' && strcmp(s + 1, "xx") == 0) {
		r->lo = (uint16_t)((s[0] - '0') * 100);
		r->hi = (uint16_t)(r->lo + 99);
		return 0;
	}
	if (parse_status(s, dash ? (size_t)(dash - s) : strlen(s), &r->lo) < 0)
		return -1;
	r->hi = r->lo;
	if (dash != NULL && parse_status(dash + 1, strlen(dash + 1), &r->hi) < 0)
		return -1;
	return r->lo <= r->hi ? 0 : -2;
}

static const csec_t health_http_sec;

/* `http.expect`, when present, replaces the whole inherited list. */
static int check_health_http(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	const ynode_t *v = yget(&health_http_sec, map, "expect");
	lb_health_conf_t *h = obj;
	char path[PATH_LEN];
	lb_status_range_t *list;

	path_of(path, prefix, "expect");
	if (v == NULL)
		return 0;
	if (v->n == 0)
		return fail(c, path, "empty list (at least one status is required)");
	list = xcalloc(v->n, sizeof(*list));
	for (size_t k = 0; k < v->n; k++) {
		const char *e = v->kids[k]->value;
		int rc = parse_status_range(e, &list[k]);

		if (rc < 0) {
			free(list);
			pathf(path, "%s.expect[%zu]", prefix, k);
			return fail(
			    c, path,
			    rc == -1 ? "invalid status '%s' (expected a status from 100 to 599 "
			               "as 200, a class as 2xx, or a range as 200-204)"
			             : "invalid range '%s' (the first status is above the second)",
			    show(e).s);
		}
	}
	free(h->expect);
	h->expect = list;
	h->nexpect = v->n;
	return 0;
}

static bool value_expect(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg);

static const ckey_t health_http_keys[] = {
    K_STR("method", lb_health_conf_t, http_method, "GET"),
    K_STR("path", lb_health_conf_t, http_path, "/"),
    K_STR("host", lb_health_conf_t, http_host, NULL),
    {.name = "expect",
     .type = T_LIST,
     .off = offsetof(lb_health_conf_t, expect),
     .noff = offsetof(lb_health_conf_t, nexpect),
     .esize = sizeof(lb_status_range_t),
     .by_check = true,
     .value = value_expect},
};
static const csec_t health_http_sec = SEC(health_http_keys, check_health_http);

static const ckey_t health_s3_keys[] = {
    K_STR("bucket", lb_health_conf_t, s3_bucket, NULL),
    K_STR("key", lb_health_conf_t, s3_key, NULL),
    K_STR("access_key", lb_health_conf_t, s3_access_key, NULL),
    K_STR("secret_key", lb_health_conf_t, s3_secret_key, NULL),
    K_STR("region", lb_health_conf_t, s3_region, "us-east-1"),
};
static const csec_t health_s3_sec = SEC(health_s3_keys, NULL);

static const ckey_t health_passive_keys[] = {
    K_NUM("failures", T_COUNT, lb_health_conf_t, passive_failures, 3, 0, UINT32_MAX),
    K_NUM("backoff", T_DURATION, lb_health_conf_t, passive_backoff, 2000, 1, UINT64_MAX),
    K_NUM("max_backoff", T_DURATION, lb_health_conf_t, passive_max_backoff, 30000, 1, UINT64_MAX),
};
static const csec_t health_passive_sec = SEC(health_passive_keys, NULL);

static const csec_t health_sec;

/* Like max_idle_per_node: a fast_interval this section does not set gives way to a smaller
 * interval; one it sets does not (check_health reports it). */
static int check_health_top(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	lb_health_conf_t *h = obj;

	(void)c;
	(void)prefix;
	if (yget(&health_sec, map, "fast_interval") == NULL && h->fast_interval > h->interval)
		h->fast_interval = h->interval;
	return 0;
}

/* The http, s3 and passive keys live in lb_health_conf_t itself (offset 0). */
#define K_SUB(n, sub_)                                                                             \
	{                                                                                          \
		.name = n, .type = T_MAP, .off = 0, .sub = &sub_                                   \
	}
static const ckey_t health_keys[] = {
    K_ENUM("kind", lb_health_conf_t, kind, LB_PROBE_HTTP, probe_kind_names),
    K_NUM("interval", T_DURATION, lb_health_conf_t, interval, 1000, 1, UINT64_MAX),
    K_NUM("fast_interval", T_DURATION, lb_health_conf_t, fast_interval, 250, 1, UINT64_MAX),
    K_NUM("timeout", T_DURATION, lb_health_conf_t, timeout, 500, 1, UINT64_MAX),
    K_NUM("rise", T_COUNT, lb_health_conf_t, rise, 2, 1, UINT32_MAX),
    K_NUM("fall", T_COUNT, lb_health_conf_t, fall, 2, 1, UINT32_MAX),
    K_NUM("jitter", T_PERCENT, lb_health_conf_t, jitter_pct, 10, 0, MAX_JITTER),
    K_SUB("http", health_http_sec),
    K_SUB("s3", health_s3_sec),
    K_SUB("passive", health_passive_sec),
};
static const csec_t health_sec = SEC(health_keys, check_health_top);

static void health_defaults(lb_health_conf_t *h)
{
	sec_defaults(&health_sec, h);
	h->expect = xcalloc(1, sizeof(*h->expect));
	h->expect[0] = (lb_status_range_t){200, 399};
	h->nexpect = 1;
}

/* A deep copy: dst owns its own strings and expect list. */
static void health_copy(lb_health_conf_t *dst, const lb_health_conf_t *src)
{
	*dst = *src;
	sec_copy(&health_sec, dst);
}

/*
 * Values lo (key lo_key) and hi (key hi_key) of one section, of one type (durations, sizes):
 * lo must be below hi, or equal unless strict. Reported at lo_key when this section sets it
 * (lo_set), else at hi_key: the section that sets a key is where the mistake is (a node's
 * section is checked with the pool's values under it, and the pool's section already passed).
 */
static int check_order(load_ctx_t *c, const char *prefix, ktype_t type, const char *lo_key,
                       const ynode_t *lo_set, uint64_t lo, const char *hi_key, uint64_t hi,
                       bool strict)
{
	char path[PATH_LEN], buf[32];

	if (lo < hi || (!strict && lo == hi))
		return 0;
	if (lo_set != NULL) {
		path_of(path, prefix, lo_key);
		format_value(type, hi, buf, sizeof(buf));
		return fail(c, path,
		            strict ? "must be less than %s (%s)" : "must not exceed %s (%s)",
		            hi_key, buf);
	}
	path_of(path, prefix, hi_key);
	format_value(type, lo, buf, sizeof(buf));
	return fail(c, path, strict ? "must be greater than %s (%s)" : "must be at least %s (%s)",
	            lo_key, buf);
}

/* The effective section h, as the keys in map (this section's) made it. */
static int check_health(load_ctx_t *c, const char *prefix, const ynode_t *map,
                        const lb_health_conf_t *h)
{
	char path[PATH_LEN];
	int method;

	if (check_order(c, prefix, T_DURATION, "timeout", yget(&health_sec, map, "timeout"),
	                h->timeout, "interval", h->interval, true) < 0 ||
	    check_order(c, prefix, T_DURATION, "fast_interval",
	                yget(&health_sec, map, "fast_interval"), h->fast_interval, "interval",
	                h->interval, false) < 0)
		return -EINVAL;
	/* Every string ends up in a probe's request line, headers or signature. */
	for (size_t i = 0; i < health_sec.nkeys; i++) {
		const ckey_t *sub = &health_sec.keys[i];

		for (size_t k = 0; sub->type == T_MAP && k < sub->sub->nkeys; k++) {
			const ckey_t *f = &sub->sub->keys[k];
			const char *s =
			    f->type == T_STRING ? *(char *const *)((const char *)h + f->off) : NULL;

			pathf(path, "%s.%s.%s", prefix, sub->name, f->name);
			for (const char *p = s; p != NULL && *p != '\0'; p++)
				if (iscntrl((unsigned char)*p))
					return fail(c, path, "must not contain control characters");
		}
	}
	/* The s3 keys without a default are required by kind s3, and ignored by the others. */
	for (size_t k = 0; h->kind == LB_PROBE_S3 && k < health_s3_sec.nkeys; k++) {
		const ckey_t *f = &health_s3_sec.keys[k];

		pathf(path, "%s.s3.%s", prefix, f->name);
		if (f->sdef == NULL && *(char *const *)((const char *)h + f->off) == NULL)
			return fail(
			    c, path,
			    "missing (kind s3 needs bucket, key, access_key and secret_key)");
	}
	path_of(path, prefix, "http.method");
	if (convert_enum(c, path, "method", h->http_method, probe_method_names,
	                 NFIELDS(probe_method_names), &method) < 0)
		return -EINVAL;
	path_of(path, prefix, "http.path");
	if (h->http_path[0] != '/' || strchr(h->http_path, ' ') != NULL)
		return fail(c, path,
		            "invalid path '%s' (must start with '/' and contain no spaces)",
		            show(h->http_path).s);
	path_of(path, prefix, "http.host");
	if (h->http_host != NULL && strchr(h->http_host, ' ') != NULL)
		return fail(c, path, "invalid host '%s' (must contain no spaces)",
		            show(h->http_host).s);
	path_of(path, prefix, "passive");
	return check_order(c, path, T_DURATION, "backoff",
	                   yget(&health_passive_sec, yget(&health_sec, map, "passive"), "backoff"),
	                   h->passive_backoff, "max_backoff", h->passive_max_backoff, false);
}

/* The `health:` section v under `prefix`: over `base` (a node's pool's) or, NULL, the defaults. */
static int convert_health(load_ctx_t *c, const char *prefix, const ynode_t *v,
                          const lb_health_conf_t *base, lb_health_conf_t *h)
{
	char path[PATH_LEN];

	if (base != NULL)
		health_copy(h, base);
	else
		health_defaults(h);
	path_of(path, prefix, "health");
	if (sec_convert(c, path, &health_sec, v, h) < 0 || check_health(c, path, v, h) < 0)
		return -EINVAL;
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Handoff (issue 12): a route's policy, a pool's agent port and key file, a node's agent.   */

static const csec_t route_handoff_sec;
static const char *const handoff_unknown_names[] = {"proxy", "handoff"};

/* `handoff.operations` of a route: get and head (the default); only object reads move. */
static int check_route_handoff(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	const ynode_t *ops = yget(&route_handoff_sec, map, "operations");
	lb_route_handoff_t *h = obj;
	char path[PATH_LEN];

	h->enabled = map != NULL;
	h->ops = ops == NULL ? LB_HANDOFF_GET | LB_HANDOFF_HEAD : 0;
	path_of(path, prefix, "operations");
	if (ops != NULL && ops->n == 0)
		return fail(c, path, "empty list (leave operations out for get and head)");
	for (size_t k = 0; ops != NULL && k < ops->n; k++) {
		const char *name = ops->kids[k]->value;

		pathf(path, "%s.operations[%zu]", prefix, k);
		if (strcmp(name, "get") == 0)
			h->ops |= LB_HANDOFF_GET;
		else if (strcmp(name, "head") == 0)
			h->ops |= LB_HANDOFF_HEAD;
		else
			return fail(c, path,
			            "unknown operation '%s' (expected get or head: only object "
			            "reads are handed off)",
			            show(name).s);
	}
	return 0;
}

static bool value_handoff_ops(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg);
static size_t put_route_handoff(dump_t *d, int indent, const ckey_t *k, const void *obj);

static const ckey_t route_handoff_keys[] = {
    {.name = "operations", .type = T_LIST, .by_check = true, .value = value_handoff_ops},
    K_NUM("min_size", T_SIZE, lb_route_handoff_t, min_size, 1 << 20, 0, UINT64_MAX),
    K_ENUM("unknown_size", lb_route_handoff_t, unknown_size, LB_HANDOFF_UNKNOWN_PROXY,
           handoff_unknown_names),
};
static const csec_t route_handoff_sec = SEC(route_handoff_keys, check_route_handoff);

/* The frontend whose routes hold r (its routes are in place while they are converted). */
static const lb_frontend_conf_t *route_frontend(const lb_config_t *cfg, const lb_route_conf_t *r)
{
	for (size_t i = 0; i < cfg->nfrontends; i++) {
		const lb_frontend_conf_t *f = &cfg->frontends[i];

		if (f->routes != NULL && r >= f->routes && r < f->routes + f->nroutes)
			return f;
	}
	return NULL;
}

/* A route that hands off needs its pool's key, and a frontend that is not TLS: a TLS session
 * cannot move to a node (its keys and sequence numbers live in s3lb's process), so on a TLS
 * frontend the section could never apply. */
static int check_route_handoff_refs(load_ctx_t *c, const char *prefix, const lb_route_conf_t *r)
{
	const lb_pool_conf_t *p = &c->cfg->pools[r->pool];
	const lb_frontend_conf_t *f = route_frontend(c->cfg, r);
	char path[PATH_LEN];

	if (!r->handoff.enabled)
		return 0;
	path_of(path, prefix, "handoff");
	if (p->handoff.key_file == NULL)
		return fail(c, path,
		            "pool '%s' has no handoff.key_file (the director and the agents "
		            "authenticate every message with that key)",
		            p->name);
	if (f != NULL && f->tls_cert != NULL)
		return fail(c, path,
		            "frontend '%s' serves TLS, and TLS connections are always proxied (the "
		            "TLS session cannot move to the node): leave handoff out",
		            f->name);
	return 0;
}

static const csec_t pool_handoff_sec;

static int check_pool_handoff(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	lb_pool_handoff_t *h = obj;
	char path[PATH_LEN];

	(void)map;
	path_of(path, prefix, "key_file");
	if (h->key_file != NULL && h->key_file[0] != '/')
		return fail(c, path, "invalid path '%s' (must be absolute)", show(h->key_file).s);
	h->key_file_line = map_line(c, path);
	return 0;
}

static size_t put_pool_handoff(dump_t *d, int indent, const ckey_t *k, const void *obj);

#define HANDOFF_AGENT_PORT 9902
#define HANDOFF_READY_MS   20
static const ckey_t pool_handoff_keys[] = {
    K_NUM("agent_port", T_COUNT, lb_pool_handoff_t, agent_port, HANDOFF_AGENT_PORT, 1, 65535),
    K_STR("key_file", lb_pool_handoff_t, key_file, NULL),
    K_NUM("ready_timeout", T_DURATION, lb_pool_handoff_t, ready_timeout, HANDOFF_READY_MS, 1,
          10000),
};
static const csec_t pool_handoff_sec = SEC(pool_handoff_keys, check_pool_handoff);

static const csec_t node_handoff_sec;

/* `handoff.agent` of a node, else the node's IP address at its pool's agent_port (the pool's
 * section is converted before its nodes). */
static int check_node_handoff(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	const char *agent = ystr(&node_handoff_sec, map, "agent");
	lb_node_handoff_t *h = obj;
	const lb_node_conf_t *n =
	    (const lb_node_conf_t *)((const char *)obj - offsetof(lb_node_conf_t, handoff));
	char path[PATH_LEN], text[sizeof(n->addr.host) + 16];

	path_of(path, prefix, "agent");
	h->agent_set = agent != NULL;
	if (agent != NULL)
		return convert_addr(c, path, agent, &h->agent);
	snprintf(text, sizeof(text), n->addr.ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u",
	         n->addr.host, (unsigned)c->pool->handoff.agent_port);
	return convert_addr(c, path, text, &h->agent);
}

static bool value_node_agent(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg);

static const ckey_t node_handoff_keys[] = {
    {.name = "agent", .type = T_VALUE, .value = value_node_agent},
};
static const csec_t node_handoff_sec = SEC(node_handoff_keys, check_node_handoff);

/* ---------------------------------------------------------------------------------------- */
/* Pools and their nodes.                                                                    */

static const csec_t node_sec;

static int check_node(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	lb_node_conf_t *n = obj, *nodes = c->pool->nodes;
	size_t i = (size_t)(n - nodes);
	char path[PATH_LEN];
	long j;

	n->line = map_line(c, prefix);
	path_of(path, prefix, "name");
	if ((j = find_earlier(nodes, sizeof(*n), offsetof(lb_node_conf_t, name), false, i)) >= 0)
		return fail(c, path, "duplicate node name '%s' (first at line %d)", n->name,
		            nodes[j].line);
	path_of(path, prefix, "addr");
	if ((j = find_earlier(nodes, sizeof(*n), offsetof(lb_node_conf_t, addr.text), true, i)) >=
	    0)
		return fail(c, path, "duplicate node address %s (also node '%s')", n->addr.text,
		            nodes[j].name);
	return convert_health(c, prefix, yget(&node_sec, map, "health"), &c->pool->health,
	                      &n->health);
}

static size_t put_node_health(dump_t *d, int indent, const ckey_t *k, const void *obj);
static bool node_flow(dump_t *d, const void *entry);

static const ckey_t node_keys[] = {
    K_NAME(lb_node_conf_t, name),
    K_ADDR("addr", lb_node_conf_t, addr),
    K_NUM("weight", T_COUNT, lb_node_conf_t, weight, 1, 1, MAX_WEIGHT),
    K_MAP("handoff", lb_node_conf_t, handoff, node_handoff_sec),
    {.name = "health",
     .type = T_MAP,
     .off = offsetof(lb_node_conf_t, health),
     .sub = &health_sec,
     .by_check = true,
     .put = put_node_health},
};
static const csec_t node_sec = SEC(node_keys, check_node);

static const ckey_t upstream_tls_keys[] = {
    K_BOOL("enabled", lb_upstream_tls_t, enabled, 0),
    K_BOOL("verify", lb_upstream_tls_t, verify, 1),
    K_STR("ca", lb_upstream_tls_t, ca_file, NULL),
    K_STR("server_name", lb_upstream_tls_t, server_name, NULL),
};
static const csec_t upstream_tls_sec = SEC(upstream_tls_keys, NULL);

static const csec_t pool_sec;

static int check_pool(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	lb_pool_conf_t *p = obj, *pools = c->cfg->pools;
	size_t i = (size_t)(p - pools);
	char path[PATH_LEN];
	long j;

	p->line = map_line(c, prefix);
	if ((j = find_earlier(pools, sizeof(*p), offsetof(lb_pool_conf_t, name), false, i)) >= 0) {
		path_of(path, prefix, "name");
		return fail(c, path, "duplicate pool name '%s' (first at line %d)", p->name,
		            pools[j].line);
	}
	/* The default gives way to a smaller max_conns_per_node; a value written down does not. */
	if (p->max_idle_per_node > p->max_conns_per_node &&
	    yget(&pool_sec, map, "max_idle_per_node") == NULL)
		p->max_idle_per_node = p->max_conns_per_node;
	if (p->max_idle_per_node > p->max_conns_per_node) {
		path_of(path, prefix, "max_idle_per_node");
		return fail(c, path, "must not exceed max_conns_per_node (%u)",
		            p->max_conns_per_node);
	}
	if (convert_health(c, prefix, yget(&pool_sec, map, "health"), NULL, &p->health) < 0)
		return -EINVAL;
	c->pool = p;
	return convert_list_of(c, prefix, &pool_sec, map, p, "nodes", "node");
}

static const ckey_t pool_keys[] = {
    K_NAME(lb_pool_conf_t, name),
    K_ENUM("balance", lb_pool_conf_t, balance, LB_BALANCE_ROUND_ROBIN, balance_names),
    K_NUM("retries", T_COUNT, lb_pool_conf_t, retries, 2, 0, UINT32_MAX),
    K_NUM("retry_budget", T_PERCENT, lb_pool_conf_t, retry_budget_pct, 20, 0, 100),
    K_NUM("max_conns_per_node", T_COUNT, lb_pool_conf_t, max_conns_per_node, 512, 1, UINT32_MAX),
    K_NUM("max_idle_per_node", T_COUNT, lb_pool_conf_t, max_idle_per_node, 64, 0, UINT32_MAX),
    K_MAP("tls", lb_pool_conf_t, tls, upstream_tls_sec),
    {.name = "health",
     .type = T_MAP,
     .off = offsetof(lb_pool_conf_t, health),
     .sub = &health_sec,
     .by_check = true},
    {.name = "handoff",
     .type = T_MAP,
     .off = offsetof(lb_pool_conf_t, handoff),
     .sub = &pool_handoff_sec,
     .put = put_pool_handoff},
    {.name = "nodes",
     .type = T_MAPS,
     .off = offsetof(lb_pool_conf_t, nodes),
     .noff = offsetof(lb_pool_conf_t, nnodes),
     .esize = sizeof(lb_node_conf_t),
     .sub = &node_sec,
     .by_check = true,
     .flow = node_flow},
};
static const csec_t pool_sec = SEC(pool_keys, check_pool);

/* ---------------------------------------------------------------------------------------- */
/* Frontends and their routes.                                                               */

/* `pool: NAME` (key `path`) of a route or a DR service: the index of a pool already loaded. */
static int convert_pool_ref(load_ctx_t *c, const char *path, const char *name, size_t *out)
{
	const lb_config_t *cfg = c->cfg;

	if (name == NULL)
		return fail(c, path, "missing");
	for (size_t k = 0; k < cfg->npools; k++) {
		if (strcmp(cfg->pools[k].name, name) == 0) {
			*out = k;
			return 0;
		}
	}
	return fail(c, path, "unknown pool '%s'", show(name).s);
}

static const csec_t route_sec;

static int check_route(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	const ynode_t *ops = yget(&route_sec, map, "op");
	lb_route_conf_t *r = obj;
	char path[PATH_LEN];

	r->line = map_line(c, prefix);
	for (const char *h = r->host; h != NULL && *h != '\0'; h++) {
		if (isupper((unsigned char)*h)) { /* the router matches the lowercased Host */
			path_of(path, prefix, "host");
			return fail(c, path, "host glob '%s' must be lowercase", show(r->host).s);
		}
	}
	path_of(path, prefix, "op");
	if (ops != NULL && ops->n == 0)
		return fail(c, path, "empty list (leave op out to match every operation)");
	for (size_t k = 0; ops != NULL && k < ops->n; k++) {
		uint32_t bits;

		pathf(path, "%s.op[%zu]", prefix, k);
		if (lb_op_parse(ops->kids[k]->value, &bits) < 0)
			return fail(c, path,
			            "unknown operation '%s' (expected read, write, delete, list, "
			            "bucket, mpu-create, mpu-part, mpu-complete, mpu-abort, "
			            "multipart or other)",
			            show(ops->kids[k]->value).s);
		r->ops |= bits;
	}
	path_of(path, prefix, "pool");
	if (convert_pool_ref(c, path, ystr(&route_sec, map, "pool"), &r->pool) < 0)
		return -EINVAL;
	return check_route_handoff_refs(c, prefix, r);
}

static bool value_ops(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg);
static bool value_pool_ref(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg);
static bool route_flow(dump_t *d, const void *entry);

static const ckey_t route_keys[] = {
    K_STR("bucket", lb_route_conf_t, bucket, NULL),
    {.name = "op", .type = T_LIST, .by_check = true, .value = value_ops},
    K_STR("host", lb_route_conf_t, host, NULL),
    {.name = "pool",
     .type = T_VALUE,
     .off = offsetof(lb_route_conf_t, pool),
     .value = value_pool_ref},
    {.name = "handoff",
     .type = T_MAP,
     .off = offsetof(lb_route_conf_t, handoff),
     .sub = &route_handoff_sec,
     .put = put_route_handoff},
};
static const csec_t route_sec = SEC(route_keys, check_route);

/*
 * Names in who (PATH_LEN bytes) the listener of cfg on address `text` (canonical form), looking
 * at admin.listen and at the frontends' addresses before frontends[fi].listen[li] (fi ==
 * nfrontends: all of them). Returns false when there is none.
 */
static bool find_listener(const lb_config_t *cfg, const char *text, size_t fi, size_t li, char *who)
{
	if (cfg->admin_enabled && strcmp(cfg->admin_listen.text, text) == 0) {
		pathf(who, "admin.listen");
		return true;
	}
	for (size_t g = 0; g < cfg->nfrontends && g <= fi; g++) {
		const lb_frontend_conf_t *o = &cfg->frontends[g];

		for (size_t m = 0; m < (g == fi ? li : o->nlisten); m++) {
			if (strcmp(o->listen[m].text, text) == 0) {
				pathf(who, "frontends[%zu].listen[%zu]", g, m);
				return true;
			}
		}
	}
	return false;
}

/* a listens on every address of vip's family at vip's port (0.0.0.0:PORT, or [::]:PORT: s3lb's
 * IPv6 sockets are IPv6-only) */
static bool covers(const lb_addr_t *a, const lb_addr_t *vip)
{
	if (a->port != vip->port || a->ss.ss_family != vip->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr);
}

/* Names in who the listener of cfg on every address at vip's port, if there is one. */
static bool find_wildcard_listener(const lb_config_t *cfg, const lb_addr_t *vip, char *who)
{
	if (cfg->admin_enabled && covers(&cfg->admin_listen, vip)) {
		pathf(who, "admin.listen (%s)", cfg->admin_listen.text);
		return true;
	}
	for (size_t g = 0; g < cfg->nfrontends; g++)
		for (size_t m = 0; m < cfg->frontends[g].nlisten; m++)
			if (covers(&cfg->frontends[g].listen[m], vip)) {
				pathf(who, "frontends[%zu].listen[%zu] (%s)", g, m,
				      cfg->frontends[g].listen[m].text);
				return true;
			}
	return false;
}

/* A listen address must be unique across the admin listener and every frontend. */
static int check_listen_unique(load_ctx_t *c, const lb_config_t *cfg, size_t fi, size_t li,
                               const char *path)
{
	const char *text = cfg->frontends[fi].listen[li].text;
	char who[PATH_LEN];

	if (find_listener(cfg, text, fi, li, who))
		return fail(c, path, "address %s is already used by %s", text, who);
	return 0;
}

static const csec_t frontend_sec;

static int check_frontend(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	const ynode_t *listen = yget(&frontend_sec, map, "listen");
	const ynode_t *domains = yget(&frontend_sec, map, "domains");
	lb_config_t *cfg = c->cfg;
	lb_frontend_conf_t *f = obj;
	size_t i = (size_t)(f - cfg->frontends);
	char path[PATH_LEN];
	long j;

	f->line = map_line(c, prefix);
	if ((j = find_earlier(cfg->frontends, sizeof(*f), offsetof(lb_frontend_conf_t, name), false,
	                      i)) >= 0) {
		path_of(path, prefix, "name");
		return fail(c, path, "duplicate frontend name '%s' (first at line %d)", f->name,
		            cfg->frontends[j].line);
	}
	path_of(path, prefix, "listen");
	if (listen == NULL || listen->n == 0)
		return fail(c, path, "at least one address is required");
	f->listen = xcalloc(listen->n, sizeof(*f->listen));
	f->nlisten = listen->n;
	for (size_t k = 0; k < f->nlisten; k++) {
		pathf(path, "%s.listen[%zu]", prefix, k);
		if (convert_addr(c, path, listen->kids[k]->value, &f->listen[k]) < 0 ||
		    check_listen_unique(c, cfg, i, k, path) < 0)
			return -EINVAL;
	}
	if (f->healthz != NULL && f->healthz[0] != '/') {
		path_of(path, prefix, "healthz");
		return fail(c, path, "invalid path '%s' (must start with /)", show(f->healthz).s);
	}
	if ((f->tls_cert == NULL) != (f->tls_key == NULL)) {
		path_of(path, prefix, f->tls_cert ? "tls.key" : "tls.cert");
		return fail(c, path, "missing (tls needs both cert and key)");
	}
	f->domains = xcalloc(domains != NULL ? domains->n : 0, sizeof(*f->domains));
	for (size_t k = 0; domains != NULL && k < domains->n; k++) {
		pathf(path, "%s.domains[%zu]", prefix, k);
		if (check_domain(c, path, domains->kids[k]->value) < 0)
			return -EINVAL;
		f->domains[k] = xstrdup(domains->kids[k]->value);
		f->ndomains = k + 1;
		if ((j = find_earlier(f->domains, sizeof(char *), 0, false, k)) >= 0)
			return fail(c, path, "duplicate domain '%s' (also domains[%ld])",
			            f->domains[k], j);
	}
	return convert_list_of(c, prefix, &frontend_sec, map, f, "routes", "route");
}

static const ckey_t frontend_tls_keys[] = {
    K_STR("cert", lb_frontend_conf_t, tls_cert, NULL),
    K_STR("key", lb_frontend_conf_t, tls_key, NULL),
};
static const csec_t frontend_tls_sec = SEC(frontend_tls_keys, NULL);

static const ckey_t frontend_keys[] = {
    K_NAME(lb_frontend_conf_t, name),
    {.name = "listen",
     .type = T_LIST,
     .off = offsetof(lb_frontend_conf_t, listen),
     .noff = offsetof(lb_frontend_conf_t, nlisten),
     .esize = sizeof(lb_addr_t),
     .toff = offsetof(lb_addr_t, text),
     .by_check = true},
    {.name = "tls", .type = T_MAP, .off = 0, .sub = &frontend_tls_sec},
    K_STRS("domains", lb_frontend_conf_t, domains, ndomains),
    K_BOOL("x_forwarded_for", lb_frontend_conf_t, x_forwarded_for, 1),
    K_BOOL("x_real_ip", lb_frontend_conf_t, x_real_ip, 0),
    K_STR("healthz", lb_frontend_conf_t, healthz, NULL),
    {.name = "routes",
     .type = T_MAPS,
     .off = offsetof(lb_frontend_conf_t, routes),
     .noff = offsetof(lb_frontend_conf_t, nroutes),
     .esize = sizeof(lb_route_conf_t),
     .sub = &route_sec,
     .by_check = true,
     .flow = route_flow},
};
static const csec_t frontend_sec = SEC(frontend_keys, check_frontend);

/* ---------------------------------------------------------------------------------------- */
/* Direct routing: the `dr:` list, after the pools and frontends it is checked against.      */

static const char *dr_family_name(int family)
{
	return dr_family_names[family == AF_INET6];
}

static const csec_t dr_sec;

/* What names the service: `vip`, or `fwmark` with `family` and `port`; exactly one of the two. */
static int convert_dr_key(load_ctx_t *c, const char *prefix, const ynode_t *map, lb_dr_conf_t *d)
{
	const char *vip = ystr(&dr_sec, map, "vip"), *fwmark = ystr(&dr_sec, map, "fwmark");
	const char *family_s = ystr(&dr_sec, map, "family"), *port_s = ystr(&dr_sec, map, "port");
	char path[PATH_LEN];
	int family = 0;
	uint64_t v;

	if (vip != NULL && fwmark != NULL) {
		path_of(path, prefix, "fwmark");
		return fail(c, path, "not allowed with vip (a service has a vip or a fwmark)");
	}
	path_of(path, prefix, "vip");
	if (vip == NULL && fwmark == NULL)
		return fail(c, path, "missing (a service needs a vip or a fwmark)");
	if (vip != NULL) {
		d->has_vip = true;
		if (convert_addr(c, path, vip, &d->vip) < 0)
			return -EINVAL;
		d->family = d->vip.ss.ss_family;
		d->port = d->vip.port;
		if (family_s != NULL) {
			path_of(path, prefix, "family");
			return fail(c, path, "only allowed with fwmark (a vip has its own family)");
		}
		if (port_s != NULL) {
			path_of(path, prefix, "port");
			return fail(c, path,
			            "not allowed with vip (the service's port is the vip's)");
		}
		return 0;
	}
	path_of(path, prefix, "fwmark");
	if (convert_key(c, path, sec_key(&dr_sec, "fwmark"), fwmark, d) < 0)
		return -EINVAL;
	path_of(path, prefix, "family");
	if (convert_enum(c, path, "family", family_s ? family_s : "ipv4", dr_family_names,
	                 NFIELDS(dr_family_names), &family) < 0)
		return -EINVAL;
	d->family = dr_families[family];
	path_of(path, prefix, "port");
	if (port_s == NULL)
		return fail(c, path, "missing (a fwmark service needs the port its nodes get)");
	if (convert_value(c, path, sec_key(&dr_sec, "port"), port_s, &v) < 0)
		return -EINVAL;
	d->port = (uint16_t)v;
	return 0;
}

/* A service is named once, and a vip is not an address s3lb listens on itself: IPVS takes the
 * connections to a virtual service before they reach a local socket. */
static int check_dr_unique(load_ctx_t *c, const char *prefix, const lb_config_t *cfg, size_t i)
{
	const lb_dr_conf_t *d = &cfg->dr[i];
	char path[PATH_LEN], who[PATH_LEN];

	path_of(path, prefix, d->has_vip ? "vip" : "fwmark");
	if (d->has_vip && (find_listener(cfg, d->vip.text, cfg->nfrontends, 0, who) ||
	                   find_wildcard_listener(cfg, &d->vip, who)))
		return fail(c, path,
		            "address %s is already used by %s (IPVS would take the connections "
		            "s3lb listens for)",
		            d->vip.text, who);
	for (size_t j = 0; j < i; j++) {
		const lb_dr_conf_t *o = &cfg->dr[j];

		if (d->has_vip && o->has_vip && strcmp(o->vip.text, d->vip.text) == 0)
			return fail(c, path, "duplicate service %s (first at line %d)", d->vip.text,
			            o->line);
		if (!d->has_vip && !o->has_vip && o->fwmark == d->fwmark && o->family == d->family)
			return fail(c, path, "duplicate service fwmark %u %s (first at line %d)",
			            d->fwmark, dr_family_name(d->family), o->line);
	}
	return 0;
}

/*
 * The pool's nodes become the real servers, each at its IP address on the service's port, in
 * the service's family (IPVS refuses a DR destination of another family). So every node must
 * be of that family, and no two nodes may share an IP address (two RGWs on one host, on two
 * ports, would be one real server).
 */
static int check_dr_nodes(load_ctx_t *c, const char *prefix, const lb_config_t *cfg,
                          const lb_dr_conf_t *d)
{
	const lb_pool_conf_t *p = &cfg->pools[d->pool];
	char path[PATH_LEN];

	path_of(path, prefix, "pool");
	for (size_t k = 0; k < p->nnodes; k++) {
		const lb_node_conf_t *n = &p->nodes[k];

		if (n->addr.ss.ss_family != d->family)
			return fail(c, path,
			            "node '%s' (%s) of pool '%s' is not %s like the service (DR "
			            "cannot change the address family)",
			            n->name, n->addr.text, p->name, dr_family_name(d->family));
		for (size_t m = 0; m < k; m++)
			if (strcmp(p->nodes[m].addr.host, n->addr.host) == 0)
				return fail(
				    c, path,
				    "nodes '%s' and '%s' of pool '%s' share the address %s (DR "
				    "sends to each node's address on the service's port)",
				    p->nodes[m].name, n->name, p->name, n->addr.host);
	}
	return 0;
}

/* What names the service and its pool come first: the other keys mean nothing without them. */
static int check_dr_first(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	const char *sched_s = ystr(&dr_sec, map, "scheduler");
	lb_config_t *cfg = c->cfg;
	lb_dr_conf_t *d = obj;
	char path[PATH_LEN];
	int sched = 0;

	d->line = map_line(c, prefix);
	path_of(path, prefix, "pool");
	if (convert_dr_key(c, prefix, map, d) < 0 ||
	    check_dr_unique(c, prefix, cfg, (size_t)(d - cfg->dr)) < 0 ||
	    convert_pool_ref(c, path, ystr(&dr_sec, map, "pool"), &d->pool) < 0 ||
	    check_dr_nodes(c, prefix, cfg, d) < 0)
		return -EINVAL;
	path_of(path, prefix, "scheduler");
	if (convert_enum(c, path, "scheduler", sched_s ? sched_s : "mh", dr_sched_names,
	                 NFIELDS(dr_sched_names), &sched) < 0)
		return -EINVAL;
	d->scheduler = xstrdup(dr_sched_names[sched]);
	return 0;
}

static int check_dr(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	const lb_dr_conf_t *d = obj;
	char path[PATH_LEN];

	(void)map;
	if (d->persistence % 1000 != 0) {
		path_of(path, prefix, "persistence");
		return fail(c, path, "must be a whole number of seconds (IPVS counts in seconds)");
	}
	if (d->upper_threshold > 0 && d->lower_threshold > d->upper_threshold) {
		path_of(path, prefix, "lower_threshold");
		return fail(c, path, "must not exceed upper_threshold (%u)", d->upper_threshold);
	}
	if (d->announce.enabled && !d->has_vip) {
		path_of(path, prefix, "announce");
		return fail(c, path,
		            "only for a vip service (a fwmark has no address to announce)");
	}
	return 0;
}

/* `announce:` of a dr: service: the routing table of the VIP's route (dsr/announce.h). */
static int check_dr_announce(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	lb_dr_announce_t *a = obj;
	char path[PATH_LEN];

	a->enabled = map != NULL;
	if (!a->enabled)
		return 0;
	path_of(path, prefix, "table");
	if (a->table == 0)
		return fail(c, path, "missing (the routing table s3lb puts the VIP's route in)");
	if (a->table >= 253 && a->table <= 255)
		return fail(
		    c, path,
		    "table %u is the kernel's %s table (use a table of its own, which no ip "
		    "rule looks up, e.g. 100)",
		    a->table,
		    a->table == 253   ? "default"
		    : a->table == 254 ? "main"
		                      : "local");
	return 0;
}

static const ckey_t dr_announce_keys[] = {
    K_NUM("table", T_COUNT, lb_dr_announce_t, table, 0, 0, UINT32_MAX),
};
static const csec_t dr_announce_sec = SEC(dr_announce_keys, check_dr_announce);

static size_t put_dr_announce(dump_t *d, int indent, const ckey_t *k, const void *obj);
static bool value_dr_vip(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg);
static bool value_dr_fwmark(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg);

static const ckey_t dr_keys[] = {
    {.name = "vip", .type = T_VALUE, .value = value_dr_vip},
    {.name = "fwmark",
     .type = T_COUNT,
     .off = offsetof(lb_dr_conf_t, fwmark),
     .min = 1,
     .max = UINT32_MAX,
     .by_check = true,
     .value = value_dr_fwmark},
    {.name = "family", .type = T_VALUE, .value = value_dr_fwmark},
    {.name = "port",
     .type = T_COUNT,
     .off = offsetof(lb_dr_conf_t, port),
     .min = 1,
     .max = 65535,
     .by_check = true,
     .value = value_dr_fwmark},
    {.name = "pool", .type = T_VALUE, .off = offsetof(lb_dr_conf_t, pool), .value = value_pool_ref},
    {.name = "scheduler",
     .type = T_STRING,
     .off = offsetof(lb_dr_conf_t, scheduler),
     .by_check = true},
    K_BOOL("mh_fallback", lb_dr_conf_t, mh_fallback, 1),
    K_BOOL("mh_port", lb_dr_conf_t, mh_port, 0),
    K_NUM("persistence", T_DURATION, lb_dr_conf_t, persistence, 0, 0, MAX_PERSISTENCE),
    K_NUM("upper_threshold", T_COUNT, lb_dr_conf_t, upper_threshold, 0, 0, UINT32_MAX),
    K_NUM("lower_threshold", T_COUNT, lb_dr_conf_t, lower_threshold, 0, 0, UINT32_MAX),
    {.name = "announce",
     .type = T_MAP,
     .off = offsetof(lb_dr_conf_t, announce),
     .sub = &dr_announce_sec,
     .put = put_dr_announce},
};
static const csec_t dr_sec = {dr_keys, NFIELDS(dr_keys), check_dr, check_dr_first};

/* ---------------------------------------------------------------------------------------- */
/* `dr_sync:` the IPVS connection sync daemon.                                               */

static const char *const sync_role_names[] = {"auto", "master", "backup"};

static int check_dr_sync(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	lb_dr_sync_conf_t *s = obj;
	unsigned char group[sizeof(struct in6_addr)];
	char path[PATH_LEN];

	s->enabled = map != NULL;
	if (!s->enabled)
		return 0;
	path_of(path, prefix, "interface");
	if (s->interface == NULL)
		return fail(c, path, "missing (the interface the sync daemon multicasts on)");
	if (strlen(s->interface) >= 16 || strpbrk(s->interface, "/ \t:") != NULL)
		return fail(c, path,
		            "invalid interface name '%s' (at most 15 characters, no '/', ':' "
		            "or spaces)",
		            show(s->interface).s);
	path_of(path, prefix, "state_file");
	if (s->state_file[0] != '/')
		return fail(c, path, "invalid path '%s' (must be absolute)", show(s->state_file).s);
	path_of(path, prefix, "mcast_group");
	if (s->mcast_group != NULL) {
		bool v4 = inet_pton(AF_INET, s->mcast_group, group) == 1;
		bool v6 = !v4 && inet_pton(AF_INET6, s->mcast_group, group) == 1;

		if (!v4 && !v6)
			return fail(c, path,
			            "invalid address '%s' (an IPv4 or IPv6 address, no port)",
			            show(s->mcast_group).s);
		if ((v4 && (group[0] & 0xf0) != 0xe0) || (v6 && group[0] != 0xff))
			return fail(c, path, "'%s' is not a multicast address",
			            show(s->mcast_group).s);
	}
	return 0;
}

static size_t put_dr_sync(dump_t *d, int indent, const ckey_t *k, const void *obj);

static const ckey_t dr_sync_keys[] = {
    K_STR("interface", lb_dr_sync_conf_t, interface, NULL),
    K_NUM("sync_id", T_COUNT, lb_dr_sync_conf_t, sync_id, 0, 0, 255),
    K_ENUM("role", lb_dr_sync_conf_t, role, LB_SYNC_AUTO, sync_role_names),
    K_STR("state_file", lb_dr_sync_conf_t, state_file, "/run/s3lb/vrrp-state"),
    K_STR("mcast_group", lb_dr_sync_conf_t, mcast_group, NULL),
    K_NUM("mcast_port", T_COUNT, lb_dr_sync_conf_t, mcast_port, 0, 0, 65535),
    K_NUM("mcast_ttl", T_COUNT, lb_dr_sync_conf_t, mcast_ttl, 0, 0, 255),
};
static const csec_t dr_sync_sec = SEC(dr_sync_keys, check_dr_sync);

/* ---------------------------------------------------------------------------------------- */
/* The top level.                                                                            */

static const csec_t top_sec;

#define MAX_WORKERS 1024

/* `workers: auto | N`: 0 for auto (the CPUs s3lb may run on, counted at start). */
static int convert_workers(load_ctx_t *c, const char *v, lb_config_t *cfg)
{
	char *end;
	unsigned long n;

	cfg->workers = 0;
	if (v == NULL || strcmp(v, "auto") == 0)
		return 0;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 || n < 1 || n > MAX_WORKERS)
		return fail(c, "workers", "invalid value '%s' (auto, or a number from 1 to %d)",
		            show(v).s, MAX_WORKERS);
	cfg->workers = (unsigned)n;
	return 0;
}

static void put_scalar(FILE *out, const char *s);

static bool value_workers(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg)
{
	const lb_config_t *c = obj;
	char n[16];

	(void)k;
	(void)cfg;
	snprintf(n, sizeof(n), "%u", c->workers);
	if (out != NULL)
		put_scalar(out, c->workers ? n : "auto");
	return true;
}

static int check_top(load_ctx_t *c, const char *prefix, const ynode_t *map, void *obj)
{
	lb_config_t *cfg = obj;

	(void)prefix;
	if (convert_workers(c, ystr(&top_sec, map, "workers"), cfg) < 0)
		return -EINVAL;
	const ynode_t *fes = yfind(map, "frontends"), *dr = yfind(map, "dr");
	if (convert_list_of(c, "", &top_sec, map, cfg, "pools", "pool") < 0)
		return -EINVAL;
	/* an L4-only director (the tier in front of gateways) has dr: services and no frontend */
	if ((fes == NULL || fes->n == 0) && dr != NULL && dr->n > 0) {
		if (fes != NULL &&
		    convert_entries(c, "frontends", sec_key(&top_sec, "frontends"), fes, cfg) < 0)
			return -EINVAL;
	} else if (fes == NULL || fes->n == 0) {
		return fail(c, "frontends", "at least one frontend (or a dr: service) is required");
	} else if (convert_list_of(c, "", &top_sec, map, cfg, "frontends", "frontend") < 0) {
		return -EINVAL;
	}
	if (cfg->dr_state[0] != '/')
		return fail(c, "dr_state", "invalid path '%s' (must be absolute)",
		            show(cfg->dr_state).s);
	if (cfg->drain_state[0] != '/')
		return fail(c, "drain_state", "invalid path '%s' (must be absolute)",
		            show(cfg->drain_state).s);
	return convert_entries(c, "dr", sec_key(&top_sec, "dr"), yget(&top_sec, map, "dr"), cfg);
}

static const ckey_t top_keys[] = {
    {.name = "admin", .type = T_MAP, .off = 0, .sub = &admin_sec},
    K_MAP("log", lb_config_t, log, log_sec),
    K_MAP("limits", lb_config_t, limits, limits_sec),
    K_MAP("timeouts", lb_config_t, timeouts, timeouts_sec),
    K_MAPS("pools", lb_config_t, pools, npools, lb_pool_conf_t, pool_sec),
    K_MAPS("frontends", lb_config_t, frontends, nfrontends, lb_frontend_conf_t, frontend_sec),
    {.name = "workers", .type = T_VALUE, .value = value_workers},
    K_STR("dr_state", lb_config_t, dr_state, "/run/s3lb/ipvs-owned"),
    K_STR("drain_state", lb_config_t, drain_state, "/var/lib/s3lb/drained"),
    K_MAPS("dr", lb_config_t, dr, ndr, lb_dr_conf_t, dr_sec),
    {.name = "dr_sync",
     .type = T_MAP,
     .off = offsetof(lb_config_t, dr_sync),
     .sub = &dr_sync_sec,
     .put = put_dr_sync},
};
static const csec_t top_sec = SEC(top_keys, check_top);
/* ---------------------------------------------------------------------------------------- */
/* Entry points.                                                                             */

/* Frees what the tables say obj owns: strings, lists, sub-sections, lists of sections. */
static void sec_free(const csec_t *sec, void *obj)
{
	for (size_t i = 0; i < sec->nkeys; i++) {
		const ckey_t *k = &sec->keys[i];
		char *p = (char *)obj + k->off;

		if (k->type == T_STRING || k->type == T_NAME) {
			free(*(char **)p);
		} else if (k->type == T_MAP) {
			sec_free(k->sub, p);
		} else if (list_stored(k) || k->type == T_MAPS) {
			for (size_t e = 0; *(char **)p != NULL && e < list_len(k, obj); e++) {
				if (k->type == T_MAPS)
					sec_free(k->sub, *(char **)p + e * k->esize);
				else if (k->esize == 0)
					free(((char **)*(char **)p)[e]);
			}
			free(*(char **)p);
		}
	}
}

static void config_free(lb_config_t *cfg)
{
	if (cfg == NULL)
		return;
	sec_free(&top_sec, cfg);
	if (cfg->admin_token != NULL)
		explicit_bzero(cfg->admin_token, strlen(cfg->admin_token));
	free(cfg->admin_token);
	free(cfg->path);
	free(cfg);
}

int lb_config_load_string(const char *name, const char *yaml, size_t len, lb_config_t **out,
                          char *err, size_t errlen)
{
	load_ctx_t c = {.name = name, .err = err, .errlen = errlen};
	lb_config_t *cfg = NULL;
	int rc;

	*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (yaml == NULL)
		yaml = "";
	rc = map_build(&c, (const unsigned char *)yaml, len);
	if (rc == 0 && c.root != NULL)
		rc = check_shape(&c, "", c.root, Y_MAP) < 0
		         ? -EINVAL
		         : sec_check_structure(&c, "", &top_sec, c.root);
	if (rc < 0)
		goto out;
	cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(name);
	cfg->refs = 1;
	c.cfg = cfg;
	sec_defaults(&top_sec, cfg);
	rc = sec_convert(&c, "", &top_sec, c.root, cfg);
	if (rc < 0)
		config_free(cfg);
	else
		*out = cfg;
out:
	arena_free(&c);
	map_free(&c);
	return rc;
}

/* Reads all of fp into *buf (caller frees); 0 or a negative errno. */
static int read_all(FILE *fp, char **buf, size_t *len)
{
	size_t cap = 64 << 10;

	*buf = NULL;
	*len = 0;
	for (;;) {
		*buf = realloc(*buf, cap);
		if (*buf == NULL)
			abort();
		*len += fread(*buf + *len, 1, cap - *len, fp);
		if (ferror(fp))
			return -(errno ? errno : EIO);
		if (feof(fp))
			return 0;
		if (cap > MAX_FILE_SIZE)
			return -EFBIG;
		cap *= 2;
	}
}

int lb_config_load(const char *path, lb_config_t **out, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (fp == NULL) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(-rc));
		return rc;
	}
	rc = read_all(fp, &buf, &len);
	if (rc == -EFBIG)
		snprintf(err, errlen, "%s: cannot read: larger than %u MiB", path,
		         MAX_FILE_SIZE >> 20);
	else if (rc < 0)
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
	else
		rc = lb_config_load_string(path, buf, len, out, err, errlen);
	free(buf);
	fclose(fp);
	return rc;
}

lb_config_t *lb_config_ref(lb_config_t *cfg)
{
	__atomic_add_fetch(&cfg->refs, 1, __ATOMIC_RELAXED); /* shared by the workers */
	return cfg;
}

void lb_config_unref(lb_config_t *cfg)
{
	if (cfg != NULL && __atomic_sub_fetch(&cfg->refs, 1, __ATOMIC_ACQ_REL) == 0)
		config_free(cfg);
}

/* ---------------------------------------------------------------------------------------- */
/* Dump: YAML that lb_config_load reads back to the same config, from the tables.            */

struct dump_s {
	FILE *out; /* NULL: only count what would be written */
	const lb_config_t *cfg;
	const void *parent; /* the object that holds the list being written */
	bool dash;          /* the next line starts a list entry ("- ") */
};

/* Plain when it cannot be mistaken for YAML syntax, double-quoted otherwise. */
static void put_scalar(FILE *out, const char *s)
{
	bool plain = isalnum((unsigned char)s[0]) || s[0] == '/';

	for (const char *p = s; plain && *p != '\0'; p++)
		plain = isalnum((unsigned char)*p) || strchr("._/:+-", *p) != NULL;
	if (plain && s[strlen(s) - 1] != ':') {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\x%02x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
}

/* Writes the value of k in obj inline; out NULL: only says whether it has one. */
static bool put_value(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg)
{
	const char *p = (const char *)obj + k->off, *s = NULL;
	char buf[32];

	if (k->value != NULL)
		return k->value(out, k, obj, cfg);
	switch (k->type) {
	case T_STRING:
	case T_NAME:
		s = *(const char *const *)p;
		break;
	case T_ADDR:
		s = ((const lb_addr_t *)p)->text;
		break;
	case T_ENUM:
		s = k->names[*(const int *)p];
		break;
	default:
		format_value(k->type, load_value(k, obj), buf, sizeof(buf));
		s = buf;
		break;
	}
	if (s != NULL && out != NULL) {
		if (k->type == T_ENUM || is_number(k->type))
			fputs(s, out);
		else
			put_scalar(out, s);
	}
	return s != NULL;
}

/* The value of k in obj as text (caller frees), NULL when it has none. */
static char *value_text(const ckey_t *k, const void *obj, const lb_config_t *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	if (!put_value(NULL, k, obj, cfg))
		return NULL;
	fp = open_memstream(&buf, &len);
	if (fp == NULL)
		abort();
	put_value(fp, k, obj, cfg);
	if (fclose(fp) != 0)
		abort();
	return buf;
}

static void put_indent(dump_t *d, int indent)
{
	if (d->dash)
		fprintf(d->out, "%*s- ", indent - 2, "");
	else
		fprintf(d->out, "%*s", indent, "");
	d->dash = false;
}

/* One entry of a list of sections on one line: `- { k: v, k: v }`, sub-sections left out. */
static void put_flow(dump_t *d, int indent, const csec_t *sec, const void *obj)
{
	const char *sep = "";

	fprintf(d->out, "%*s- {", indent, "");
	for (size_t i = 0; i < sec->nkeys; i++) {
		char *text =
		    sec->keys[i].type == T_MAP ? NULL : value_text(&sec->keys[i], obj, d->cfg);

		if (text == NULL)
			continue;
		fprintf(d->out, "%s %s: %s", sep, sec->keys[i].name, text);
		sep = ",";
		free(text);
	}
	fprintf(d->out, " }\n");
}

/*
 * Writes the keys of sec in obj at indent; with base, only those whose value differs from
 * base's (a node's health over its pool's). A sub-section with nothing to write is left out.
 * Returns how many keys were (or, d->out NULL, would be) written.
 */
static size_t dump_sec(dump_t *d, int indent, const csec_t *sec, const void *obj, const void *base)
{
	size_t n = 0;

	for (size_t i = 0; i < sec->nkeys; i++) {
		const ckey_t *k = &sec->keys[i];
		const char *p = (const char *)obj + k->off;

		if (k->type == T_MAP) {
			dump_t q = *d;
			const void *sub_base = base ? (const char *)base + k->off : NULL;
			size_t m;

			if (k->put != NULL) {
				n += k->put(d, indent, k, obj);
				continue;
			}
			q.out = NULL;
			m = dump_sec(&q, indent + 2, k->sub, p, sub_base);
			if (m == 0)
				continue;
			n += m;
			if (d->out == NULL)
				continue;
			put_indent(d, indent);
			fprintf(d->out, "%s:\n", k->name);
			dump_sec(d, indent + 2, k->sub, p, sub_base);
		} else if (k->type == T_MAPS || (k->type == T_LIST && k->value == NULL)) {
			size_t len = list_len(k, obj);

			n++;
			if (d->out == NULL)
				continue;
			put_indent(d, indent);
			fprintf(d->out, "%s:%s\n", k->name, len ? "" : " []");
			for (size_t e = 0; e < len; e++) {
				const void *entry = list_entry(k, obj, e);
				dump_t q = {d->out, d->cfg, obj, false};

				if (k->type == T_LIST) {
					fprintf(d->out, "%*s- ", indent + 2, "");
					put_scalar(d->out, entry);
					fputc('\n', d->out);
				} else if (k->flow != NULL && k->flow(&q, entry)) {
					put_flow(&q, indent + 2, k->sub, entry);
				} else {
					q.dash = true;
					dump_sec(&q, indent + 4, k->sub, entry, NULL);
				}
			}
		} else {
			char *text = value_text(k, obj, d->cfg);
			char *was =
			    text != NULL && base != NULL ? value_text(k, base, d->cfg) : NULL;
			bool same = was != NULL && strcmp(text, was) == 0;

			if (text != NULL && !same) {
				n++;
				if (d->out != NULL) {
					put_indent(d, indent);
					fprintf(d->out, "%s: %s\n", k->name, text);
				}
			}
			free(text);
			free(was);
		}
	}
	return n;
}

static bool value_admin_listen(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg)
{
	const lb_config_t *c = obj;

	(void)k;
	(void)cfg;
	if (out != NULL)
		put_scalar(out, c->admin_enabled ? c->admin_listen.text : "off");
	return true;
}

static bool value_none(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg)
{
	(void)out;
	(void)k;
	(void)obj;
	(void)cfg;
	return false;
}

/* Canonical forms: 200, 2xx, 200-204. */
static bool value_expect(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg)
{
	const lb_health_conf_t *h = obj;

	(void)k;
	(void)cfg;
	for (size_t i = 0; out != NULL && i < h->nexpect; i++) {
		const lb_status_range_t *r = &h->expect[i];
		const char *sep = i ? ", " : "[";

		if (r->lo == r->hi)
			fprintf(out, "%s%u", sep, r->lo);
		else if (r->lo % 100 == 0 && r->hi == r->lo + 99)
			fprintf(out, "%s%uxx", sep, r->lo / 100);
		else
			fprintf(out, "%s%u-%u", sep, r->lo, r->hi);
	}
	if (out != NULL)
		fputc(']', out);
	return true;
}

/* A route's operations, with the four mpu-* written as the group `multipart`. */
static bool value_ops(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg)
{
	const lb_route_conf_t *r = obj;
	bool group = (r->ops & LB_OP_MULTIPART) == LB_OP_MULTIPART;
	const char *sep = "";

	(void)k;
	(void)cfg;
	if (r->ops == 0 || out == NULL)
		return r->ops != 0;
	fputc('[', out);
	for (uint32_t bit = 1; bit <= LB_OP_OTHER; bit <<= 1) {
		if ((r->ops & bit) && !(group && (bit & LB_OP_MULTIPART))) {
			fprintf(out, "%s%s", sep, lb_op_name((lb_op_t)bit));
			sep = ", ";
		}
	}
	if (group)
		fprintf(out, "%smultipart", sep);
	fputc(']', out);
	return true;
}

static bool value_pool_ref(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg)
{
	size_t pool = *(const size_t *)((const char *)obj + k->off);

	if (out != NULL)
		put_scalar(out, cfg->pools[pool].name);
	return true;
}

static bool value_dr_vip(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg)
{
	const lb_dr_conf_t *d = obj;

	(void)k;
	(void)cfg;
	if (d->has_vip && out != NULL)
		put_scalar(out, d->vip.text);
	return d->has_vip;
}

/* fwmark, family and port: only for a firewall-mark service. */
static bool value_dr_fwmark(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg)
{
	const lb_dr_conf_t *d = obj;

	(void)cfg;
	if (d->has_vip || out == NULL)
		return !d->has_vip;
	if (strcmp(k->name, "family") == 0)
		fputs(dr_family_name(d->family), out);
	else
		fprintf(out, "%u", strcmp(k->name, "port") == 0 ? d->port : d->fwmark);
	return true;
}

/* A route is written on one line unless it has a handoff section. */
static bool route_flow(dump_t *d, const void *entry)
{
	(void)d;
	return !((const lb_route_conf_t *)entry)->handoff.enabled;
}

/* The sub-section k of obj in full when `shown`, else nothing. */
static size_t put_section_if(dump_t *d, int indent, const ckey_t *k, const void *obj, bool shown)
{
	if (!shown)
		return 0;
	if (d->out != NULL) {
		put_indent(d, indent);
		fprintf(d->out, "%s:\n", k->name);
		dump_sec(d, indent + 2, k->sub, (const char *)obj + k->off, NULL);
	}
	return 1;
}

/* A route's `handoff:` only when the route has one (its defaults alone would turn it on). */
static size_t put_route_handoff(dump_t *d, int indent, const ckey_t *k, const void *obj)
{
	return put_section_if(d, indent, k, obj, ((const lb_route_conf_t *)obj)->handoff.enabled);
}

/* `dr_sync:` only when set: its absence means something (the daemons are left alone). */
static size_t put_dr_sync(dump_t *d, int indent, const ckey_t *k, const void *obj)
{
	return put_section_if(d, indent, k, obj, ((const lb_config_t *)obj)->dr_sync.enabled);
}

/* A dr: service's `announce:` only when it has one. */
static size_t put_dr_announce(dump_t *d, int indent, const ckey_t *k, const void *obj)
{
	return put_section_if(d, indent, k, obj, ((const lb_dr_conf_t *)obj)->announce.enabled);
}

/* A pool's `handoff:` when it says something: a pool without handoff keeps its short form. */
static size_t put_pool_handoff(dump_t *d, int indent, const ckey_t *k, const void *obj)
{
	const lb_pool_handoff_t *h = &((const lb_pool_conf_t *)obj)->handoff;

	return put_section_if(d, indent, k, obj,
	                      h->key_file != NULL || h->agent_port != HANDOFF_AGENT_PORT ||
	                          h->ready_timeout != HANDOFF_READY_MS);
}

static bool value_handoff_ops(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg)
{
	const lb_route_handoff_t *h = obj;

	(void)k;
	(void)cfg;
	if (out != NULL) {
		bool get = h->ops & LB_HANDOFF_GET, head = h->ops & LB_HANDOFF_HEAD;

		fprintf(out, "[%s%s%s]", get ? "get" : "", get && head ? ", " : "",
		        head ? "head" : "");
	}
	return true;
}

static bool value_node_agent(FILE *out, const ckey_t *k, const void *obj, const lb_config_t *cfg)
{
	const lb_node_handoff_t *h = obj;

	(void)k;
	(void)cfg;
	if (h->agent_set && out != NULL)
		put_scalar(out, h->agent.text);
	return h->agent_set;
}

/* A node's `health:`: only the keys that differ from its pool's (d->parent). */
static size_t put_node_health(dump_t *d, int indent, const ckey_t *k, const void *obj)
{
	const lb_health_conf_t *h = (const lb_health_conf_t *)((const char *)obj + k->off);
	const lb_health_conf_t *base = &((const lb_pool_conf_t *)d->parent)->health;
	dump_t q = *d;
	size_t n;

	q.out = NULL;
	n = dump_sec(&q, indent + 2, &health_sec, h, base);
	if (n == 0 || d->out == NULL)
		return n;
	put_indent(d, indent);
	fprintf(d->out, "health:\n");
	dump_sec(d, indent + 2, &health_sec, h, base);
	return n;
}

/* A node is written on one line unless its health differs from its pool's. */
static bool node_flow(dump_t *d, const void *entry)
{
	dump_t q = *d;

	q.out = NULL;
	return put_node_health(&q, 0, sec_key(&node_sec, "health"), entry) == 0 &&
	       !((const lb_node_conf_t *)entry)->handoff.agent_set;
}

void lb_config_dump(const lb_config_t *cfg, FILE *out)
{
	dump_t d = {out, cfg, NULL, false};

	dump_sec(&d, 0, &top_sec, cfg, NULL);
}
