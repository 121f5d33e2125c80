/*
 * Command line parsing (see opts.h). Values use core/parse.h's syntax for sizes and durations;
 * every error names the option and the reason.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "bench/opts.h"
#include "core/parse.h"
#include "core/sbuf.h"

const char *const bench_op_names[BENCH_OP_KINDS] = {
    "get", "put", "head", "delete", "list", "multipart", "bucket", "read-back",
};

void bench_usage(FILE *f)
{
	fputs(
	    "usage: s3lb-bench [options]\n"
	    "S3 load generator: SigV4, keep-alive HTTP/1.1 (and HTTPS), verified bodies.\n"
	    "\n"
	    "Targets\n"
	    "  -e, --endpoint URL        the S3 endpoint (http://HOST:PORT or https://...)\n"
	    "  -t, --target NAME=URL     a target; given twice or more, the same workload runs\n"
	    "                            against each in interleaved rounds (A B A B ...) and "
	    "every\n"
	    "                            figure is also shown as a ratio to the first target\n"
	    "      --rounds N            rounds per target (default 1)\n"
	    "      --watch-pid NAME=PID  CPU seconds and peak RSS of a process in each round, "
	    "with\n"
	    "                            CPU-us per request and CPU-s per GB (repeatable)\n"
	    "      --watch-net NAME=PID:DEV  bytes and packets of interface DEV in the network\n"
	    "                            namespace of process PID in each round, also per body\n"
	    "                            byte moved (repeatable)\n"
	    "      --watch-system        the whole system's CPU time in each round (user, system,\n"
	    "                            softirq; /proc/stat), also CPU-s per GB\n"
	    "\n"
	    "Workload\n"
	    "  -w, --workload KIND       get, put, head, delete, list, multipart or mixed "
	    "(default)\n"
	    "      --mix SPEC            weights for mixed (default "
	    "get=45,head=30,put=15,delete=10;\n"
	    "                            also list=N, multipart=N)\n"
	    "  -s, --size SIZE|LO..HI    object size (default 4KiB); LO..HI is log-uniform\n"
	    "      --part-size SIZE      multipart part size (default 5MiB)\n"
	    "      --range SIZE          every GET asks for a random range of SIZE bytes\n"
	    "  -n, --objects N           objects in the working set (default 100)\n"
	    "  -b, --bucket NAME         bucket (default s3lb-bench; created when missing)\n"
	    "      --prefix P            key prefix (default s3lb-bench/)\n"
	    "      --list-max-keys N     max-keys of list requests (default 1000)\n"
	    "      --seed N              object sizes and choices (default 1)\n"
	    "      --keep                keep objects (and a bucket created here) afterwards\n"
	    "      --no-prepare          objects exist already (an earlier --keep run, same seed)\n"
	    "      --shared-keys         all targets read the same keys (read-only workloads on\n"
	    "                            one backend; by default each target has its own)\n"
	    "      --write-files DIR     write the objects as files DIR/BUCKET/KEY for a static\n"
	    "                            web server (then use --no-prepare --shared-keys), exit\n"
	    "      --no-verify           do not check GET bodies\n"
	    "      --read-back           after the rounds, GET every object and check it holds\n"
	    "                            what the acknowledged writes left (lost writes)\n"
	    "\n"
	    "Load\n"
	    "  -c, --concurrency N       operations in flight, one connection each (default 16)\n"
	    "  -r, --rate OPS            open loop: start OPS operations per second in all;\n"
	    "                            latency counts from each one's intended start time\n"
	    "  -T, --threads N           event-loop threads (default 1)\n"
	    "  -d, --duration DUR        measured time per round (default 10s)\n"
	    "      --warmup DUR          unmeasured time before each round (default 2s)\n"
	    "      --no-drain            at the end of a measured window, close the connections\n"
	    "                            still busy instead of letting their operations finish\n"
	    "                            (workloads that only read; large objects, many in "
	    "flight)\n"
	    "      --timeout DUR         per-request timeout (default 30s)\n"
	    "\n"
	    "S3\n"
	    "      --access-key KEY      (default $AWS_ACCESS_KEY_ID)\n"
	    "      --secret-key KEY      (default $AWS_SECRET_ACCESS_KEY)\n"
	    "      --region REGION       (default $AWS_REGION, $AWS_DEFAULT_REGION or us-east-1)\n"
	    "      --virtual-host DOMAIN virtual-hosted style: Host: BUCKET.DOMAIN[:PORT]\n"
	    "      --presign             presigned URLs instead of the Authorization header\n"
	    "      --sign-payload        sign the body's SHA-256 instead of UNSIGNED-PAYLOAD\n"
	    "      --ca FILE             CA bundle for https (default: the system's)\n"
	    "      --insecure            https without certificate verification\n"
	    "\n"
	    "Output\n"
	    "      --json FILE           results as JSON\n"
	    "      --csv FILE            results as CSV (one row per target and operation)\n"
	    "      --max-errors N        exit 1 when more errors than N (default 0)\n"
	    "  -q, --quiet               no progress lines\n"
	    "  -h, --help\n",
	    f);
}

enum {
	O_MIX = 256,
	O_PART,
	O_RANGE,
	O_PREFIX,
	O_LISTMAX,
	O_SEED,
	O_KEEP,
	O_NOPREP,
	O_SHARED,
	O_FILES,
	O_NOVERIFY,
	O_READBACK,
	O_NODRAIN,
	O_WARMUP,
	O_TIMEOUT,
	O_ROUNDS,
	O_WATCH,
	O_WATCHNET,
	O_WATCHSYS,
	O_AK,
	O_SK,
	O_REGION,
	O_VHOST,
	O_PRESIGN,
	O_SIGNPL,
	O_CA,
	O_INSECURE,
	O_JSON,
	O_CSV,
	O_MAXERR,
};

static const struct option longopts[] = {
    {"endpoint", required_argument, NULL, 'e'},
    {"target", required_argument, NULL, 't'},
    {"rounds", required_argument, NULL, O_ROUNDS},
    {"watch-pid", required_argument, NULL, O_WATCH},
    {"watch-net", required_argument, NULL, O_WATCHNET},
    {"watch-system", no_argument, NULL, O_WATCHSYS},
    {"workload", required_argument, NULL, 'w'},
    {"mix", required_argument, NULL, O_MIX},
    {"size", required_argument, NULL, 's'},
    {"part-size", required_argument, NULL, O_PART},
    {"range", required_argument, NULL, O_RANGE},
    {"objects", required_argument, NULL, 'n'},
    {"bucket", required_argument, NULL, 'b'},
    {"prefix", required_argument, NULL, O_PREFIX},
    {"list-max-keys", required_argument, NULL, O_LISTMAX},
    {"seed", required_argument, NULL, O_SEED},
    {"keep", no_argument, NULL, O_KEEP},
    {"no-prepare", no_argument, NULL, O_NOPREP},
    {"shared-keys", no_argument, NULL, O_SHARED},
    {"write-files", required_argument, NULL, O_FILES},
    {"no-verify", no_argument, NULL, O_NOVERIFY},
    {"read-back", no_argument, NULL, O_READBACK},
    {"no-drain", no_argument, NULL, O_NODRAIN},
    {"concurrency", required_argument, NULL, 'c'},
    {"rate", required_argument, NULL, 'r'},
    {"threads", required_argument, NULL, 'T'},
    {"duration", required_argument, NULL, 'd'},
    {"warmup", required_argument, NULL, O_WARMUP},
    {"timeout", required_argument, NULL, O_TIMEOUT},
    {"access-key", required_argument, NULL, O_AK},
    {"secret-key", required_argument, NULL, O_SK},
    {"region", required_argument, NULL, O_REGION},
    {"virtual-host", required_argument, NULL, O_VHOST},
    {"presign", no_argument, NULL, O_PRESIGN},
    {"sign-payload", no_argument, NULL, O_SIGNPL},
    {"ca", required_argument, NULL, O_CA},
    {"insecure", no_argument, NULL, O_INSECURE},
    {"json", required_argument, NULL, O_JSON},
    {"csv", required_argument, NULL, O_CSV},
    {"max-errors", required_argument, NULL, O_MAXERR},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int set_str(char *dst, size_t cap, const char *v, const char **why)
{
	size_t n = strlen(v);
	if (n >= cap) {
		*why = "value too long";
		return -1;
	}
	memcpy(dst, v, n + 1);
	return 0;
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out, const char **why)
{
	char *end;
	unsigned long long v;
	if (!isdigit((unsigned char)*s)) {
		*why = "expected a whole number";
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end) {
		*why = "expected a whole number";
		return -1;
	}
	if (v < min || v > max) {
		*why = "out of range";
		return -1;
	}
	*out = v;
	return 0;
}

static int parse_uint(const char *s, unsigned min, unsigned max, unsigned *out, const char **why)
{
	uint64_t v;
	if (parse_u64(s, min, max, &v, why) < 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int kind_of(const char *s, size_t n)
{
	for (int k = 0; k < BENCH_OP_PUBLIC; k++)
		if (strlen(bench_op_names[k]) == n && strncmp(s, bench_op_names[k], n) == 0)
			return k;
	if (n == 4 && strncmp(s, "stat", 4) == 0) /* warp's name for HEAD */
		return BENCH_OP_HEAD;
	return -1;
}

int bench_mix_parse(const char *s, unsigned mix[BENCH_OP_PUBLIC], const char **why)
{
	const char *p = s;
	unsigned total = 0;
	memset(mix, 0, sizeof(unsigned) * BENCH_OP_PUBLIC);
	while (*p) {
		const char *eq = strchr(p, '='), *end = strchr(p, ',');
		char num[16];
		unsigned v;
		int k;
		if (!end)
			end = p + strlen(p);
		if (!eq || eq > end) {
			*why = "expected OP=WEIGHT[,OP=WEIGHT...]";
			return -1;
		}
		if ((k = kind_of(p, (size_t)(eq - p))) < 0) {
			*why = "unknown operation: use get, put, head, delete, list or multipart";
			return -1;
		}
		if ((size_t)(end - eq - 1) >= sizeof(num) || end == eq + 1) {
			*why = "bad weight";
			return -1;
		}
		memcpy(num, eq + 1, (size_t)(end - eq - 1));
		num[end - eq - 1] = '\0';
		if (parse_uint(num, 0, 1000000, &v, why) < 0)
			return -1;
		mix[k] += v;
		total += v;
		p = *end ? end + 1 : end;
	}
	if (total == 0) {
		*why = "the weights add up to 0";
		return -1;
	}
	return 0;
}

void bench_mix_format(const unsigned mix[BENCH_OP_PUBLIC], char *buf, size_t len)
{
	lb_sbuf_t b;
	lb_sbuf_init(&b, buf, len);
	for (int k = 0; k < BENCH_OP_PUBLIC; k++)
		if (mix[k])
			lb_sbuf_printf(&b, "%s%s=%u", b.len ? "," : "", bench_op_names[k], mix[k]);
}

bool bench_mix_needs_objects(const unsigned mix[BENCH_OP_PUBLIC])
{
	return mix[BENCH_OP_GET] || mix[BENCH_OP_HEAD] || mix[BENCH_OP_DELETE];
}

bool bench_mix_writes(const unsigned mix[BENCH_OP_PUBLIC])
{
	return mix[BENCH_OP_PUT] || mix[BENCH_OP_DELETE] || mix[BENCH_OP_MULTIPART];
}

int bench_target_parse(const char *s, unsigned index, bench_target_t *t, const char **why)
{
	const char *eq = strchr(s, '='), *url = s, *hp, *slash, *colon;
	struct addrinfo hints, *res = NULL;
	char port[8];
	size_t n;

	memset(t, 0, sizeof(*t));
	if (eq && strstr(s, "://") > eq) {
		if ((size_t)(eq - s) >= sizeof(t->name) || eq == s) {
			*why = "bad target name";
			return -1;
		}
		memcpy(t->name, s, (size_t)(eq - s));
		url = eq + 1;
	} else {
		snprintf(t->name, sizeof(t->name), "%c", 'A' + (int)index);
	}
	if (set_str(t->url, sizeof(t->url), url, why) < 0)
		return -1;
	if (strncmp(url, "http://", 7) == 0) {
		hp = url + 7;
		t->port = 80;
	} else if (strncmp(url, "https://", 8) == 0) {
		hp = url + 8;
		t->tls = true;
		t->port = 443;
	} else {
		*why = "the URL must start with http:// or https://";
		return -1;
	}
	slash = strchr(hp, '/');
	if (slash && slash[1] != '\0') {
		*why = "the URL must not have a path (the bucket is --bucket)";
		return -1;
	}
	n = slash ? (size_t)(slash - hp) : strlen(hp);
	if (n == 0 || n >= sizeof(t->authority)) {
		*why = "bad host";
		return -1;
	}
	memcpy(t->authority, hp, n);
	t->authority[n] = '\0';
	/* host part: [v6] or up to the last colon */
	if (t->authority[0] == '[') {
		const char *rb = strchr(t->authority, ']');
		if (!rb) {
			*why = "unbalanced [ in the host";
			return -1;
		}
		memcpy(t->host, t->authority + 1, (size_t)(rb - t->authority - 1));
		colon = rb[1] == ':' ? rb + 1 : NULL;
	} else {
		colon = strrchr(t->authority, ':');
		n = colon ? (size_t)(colon - t->authority) : strlen(t->authority);
		memcpy(t->host, t->authority, n);
	}
	if (colon) {
		unsigned p;
		if (parse_uint(colon + 1, 1, 65535, &p, why) < 0) {
			*why = "bad port";
			return -1;
		}
		t->port = (uint16_t)p;
		/* Host carries the port only when it is not the scheme's default. */
		if ((t->tls && p == 443) || (!t->tls && p == 80))
			t->authority[colon - t->authority] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", t->port);
	if (getaddrinfo(t->host, port, &hints, &res) != 0 || !res) {
		*why = "cannot resolve the host";
		return -1;
	}
	memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

static void defaults(bench_opts_t *o)
{
	const char *v;
	memset(o, 0, sizeof(*o));
	strcpy(o->region, "us-east-1");
	if ((v = getenv("AWS_DEFAULT_REGION")) && *v && strlen(v) < sizeof(o->region))
		strcpy(o->region, v);
	if ((v = getenv("AWS_REGION")) && *v && strlen(v) < sizeof(o->region))
		strcpy(o->region, v);
	if ((v = getenv("AWS_ACCESS_KEY_ID")) && strlen(v) < sizeof(o->access_key))
		strcpy(o->access_key, v);
	if ((v = getenv("AWS_SECRET_ACCESS_KEY")) && strlen(v) < sizeof(o->secret_key))
		strcpy(o->secret_key, v);
	strcpy(o->bucket, "s3lb-bench");
	strcpy(o->prefix, "s3lb-bench/");
	strcpy(o->workload, "mixed");
	o->size.lo = o->size.hi = 4096;
	o->part_size = 5 << 20;
	o->objects = 100;
	o->list_max_keys = 1000;
	o->concurrency = 16;
	o->threads = 1;
	o->duration_ms = 10000;
	o->warmup_ms = 2000;
	o->timeout_ms = 30000;
	o->rounds = 1;
	o->seed = 1;
}

static void save_cmdline(bench_opts_t *o, int argc, char **argv)
{
	lb_sbuf_t b;
	lb_sbuf_init(&b, o->cmdline, sizeof(o->cmdline));
	for (int i = 0; i < argc; i++) {
		/* The secret never goes into reports. */
		bool secret = i > 0 && (strcmp(argv[i - 1], "--secret-key") == 0);
		lb_sbuf_printf(&b, "%s%s", i ? " " : "",
		               secret                                       ? "***"
		               : strncmp(argv[i], "--secret-key=", 13) == 0 ? "--secret-key=***"
		                                                            : argv[i]);
	}
}

static int apply_workload(bench_opts_t *o, const char *mix_arg, const char **why)
{
	int k;
	if (strcmp(o->workload, "mixed") == 0)
		return bench_mix_parse(mix_arg ? mix_arg : "get=45,head=30,put=15,delete=10",
		                       o->mix, why);
	if (mix_arg) {
		*why = "--mix goes with --workload mixed";
		return -1;
	}
	if ((k = kind_of(o->workload, strlen(o->workload))) < 0) {
		*why = "unknown workload: use get, put, head, delete, list, multipart or mixed";
		return -1;
	}
	memset(o->mix, 0, sizeof(o->mix));
	o->mix[k] = 1;
	return 0;
}

int bench_opts_parse(int argc, char **argv, bench_opts_t *o, char *err, size_t errlen)
{
	const char *why = NULL, *mix_arg = NULL;
	const char *endpoint = NULL;
	int c, idx;
	uint64_t v;

	defaults(o);
	save_cmdline(o, argc, argv);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":e:t:w:s:n:b:c:r:T:d:qh", longopts, &idx)) != -1) {
		const char *name = NULL;
		for (const struct option *lo = longopts; lo->name; lo++)
			if (lo->val == c)
				name = lo->name;
		why = NULL;
		switch (c) {
		case 'e':
			endpoint = optarg;
			break;
		case 't':
			if (o->ntargets == BENCH_MAX_TARGETS)
				why = "too many targets";
			else if (bench_target_parse(optarg, o->ntargets, &o->targets[o->ntargets],
			                            &why) == 0)
				o->ntargets++;
			break;
		case O_ROUNDS:
			parse_uint(optarg, 1, 1000, &o->rounds, &why);
			break;
		case O_WATCH: {
			const char *eq = strrchr(optarg, '=');
			bench_watch_t *w = &o->watch[o->nwatch];
			unsigned pid;
			if (o->nwatch == BENCH_MAX_WATCH)
				why = "too many processes";
			else if (!eq || eq == optarg || (size_t)(eq - optarg) >= sizeof(w->name))
				why = "expected NAME=PID";
			else if (parse_uint(eq + 1, 1, 0x7fffffff, &pid, &why) == 0) {
				memcpy(w->name, optarg, (size_t)(eq - optarg));
				w->name[eq - optarg] = '\0';
				w->pid = (int)pid;
				o->nwatch++;
			}
			break;
		}
		case O_WATCHNET: {
			const char *eq = strchr(optarg, '='), *colon = eq ? strchr(eq, ':') : NULL;
			bench_netwatch_t *w = &o->netwatch[o->nnetwatch];
			unsigned pid;
			char num[16];
			if (o->nnetwatch == BENCH_MAX_WATCH)
				why = "too many interfaces";
			else if (!eq || eq == optarg || (size_t)(eq - optarg) >= sizeof(w->name) ||
			         !colon || colon[1] == '\0' ||
			         strlen(colon + 1) >= sizeof(w->dev) ||
			         (size_t)(colon - eq - 1) >= sizeof(num))
				why = "expected NAME=PID:DEV";
			else {
				memcpy(num, eq + 1, (size_t)(colon - eq - 1));
				num[colon - eq - 1] = '\0';
				if (parse_uint(num, 1, 0x7fffffff, &pid, &why) == 0) {
					memcpy(w->name, optarg, (size_t)(eq - optarg));
					w->name[eq - optarg] = '\0';
					w->pid = (int)pid;
					snprintf(w->dev, sizeof(w->dev), "%s", colon + 1);
					o->nnetwatch++;
				}
			}
			break;
		}
		case O_WATCHSYS:
			o->watch_system = true;
			break;
		case 'w':
			set_str(o->workload, sizeof(o->workload), optarg, &why);
			break;
		case O_MIX:
			mix_arg = optarg;
			break;
		case 's':
			bench_size_parse(optarg, &o->size, &why);
			break;
		case O_PART:
			if (lb_parse_size(optarg, &o->part_size, &why) == 0 && o->part_size == 0)
				why = "must be at least 1 byte";
			break;
		case O_RANGE:
			if (lb_parse_size(optarg, &o->range_size, &why) == 0 && o->range_size == 0)
				why = "must be at least 1 byte";
			break;
		case 'n':
			if (parse_u64(optarg, 1, 100000000, &v, &why) == 0)
				o->objects = (uint32_t)v;
			break;
		case 'b':
			set_str(o->bucket, sizeof(o->bucket), optarg, &why);
			break;
		case O_PREFIX:
			set_str(o->prefix, sizeof(o->prefix), optarg, &why);
			break;
		case O_LISTMAX:
			parse_uint(optarg, 1, 1000, &o->list_max_keys, &why);
			break;
		case O_SEED:
			parse_u64(optarg, 0, UINT64_MAX, &o->seed, &why);
			break;
		case O_KEEP:
			o->keep = true;
			break;
		case O_NOPREP:
			o->no_prepare = true;
			break;
		case O_SHARED:
			o->shared_keys = true;
			break;
		case O_NODRAIN:
			o->no_drain = true;
			break;
		case O_FILES:
			if (set_str(o->write_files, sizeof(o->write_files), optarg, &why) == 0 &&
			    !optarg[0])
				why = "expected a directory";
			break;
		case O_NOVERIFY:
			o->no_verify = true;
			break;
		case O_READBACK:
			o->read_back = true;
			break;
		case 'c':
			parse_uint(optarg, 1, 100000, &o->concurrency, &why);
			break;
		case 'r': {
			char *end;
			o->rate = strtod(optarg, &end);
			if (*end || !(o->rate > 0) || o->rate > 1e8)
				why = "expected operations per second (a positive number)";
			break;
		}
		case 'T':
			parse_uint(optarg, 1, 256, &o->threads, &why);
			break;
		case 'd':
			if (lb_parse_duration_ms(optarg, &o->duration_ms, &why) == 0 &&
			    o->duration_ms == 0)
				why = "must be more than 0";
			break;
		case O_WARMUP:
			lb_parse_duration_ms(optarg, &o->warmup_ms, &why);
			break;
		case O_TIMEOUT:
			if (lb_parse_duration_ms(optarg, &o->timeout_ms, &why) == 0 &&
			    o->timeout_ms == 0)
				why = "must be more than 0";
			break;
		case O_AK:
			set_str(o->access_key, sizeof(o->access_key), optarg, &why);
			break;
		case O_SK:
			set_str(o->secret_key, sizeof(o->secret_key), optarg, &why);
			break;
		case O_REGION:
			set_str(o->region, sizeof(o->region), optarg, &why);
			break;
		case O_VHOST:
			set_str(o->vhost_domain, sizeof(o->vhost_domain), optarg, &why);
			break;
		case O_PRESIGN:
			o->presign = true;
			break;
		case O_SIGNPL:
			o->sign_payload = true;
			break;
		case O_CA:
			set_str(o->ca_file, sizeof(o->ca_file), optarg, &why);
			break;
		case O_INSECURE:
			o->insecure = true;
			break;
		case O_JSON:
			set_str(o->json_path, sizeof(o->json_path), optarg, &why);
			break;
		case O_CSV:
			set_str(o->csv_path, sizeof(o->csv_path), optarg, &why);
			break;
		case O_MAXERR:
			parse_u64(optarg, 0, UINT64_MAX, &o->max_errors, &why);
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			bench_usage(stdout);
			return 1;
		case ':':
			snprintf(err, errlen, "%s needs a value", argv[optind - 1]);
			return -1;
		default:
			snprintf(err, errlen, "unknown option %s (see --help)", argv[optind - 1]);
			return -1;
		}
		if (why) {
			if (name)
				snprintf(err, errlen, "--%s %s: %s", name, optarg ? optarg : "",
				         why);
			else
				snprintf(err, errlen, "-%c %s: %s", c, optarg ? optarg : "", why);
			return -1;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument %s (see --help)", argv[optind]);
		return -1;
	}
	if (endpoint) {
		if (o->ntargets) {
			snprintf(err, errlen, "--endpoint and --target do not go together");
			return -1;
		}
		if (bench_target_parse(endpoint, 0, &o->targets[0], &why) < 0) {
			snprintf(err, errlen, "--endpoint %s: %s", endpoint, why);
			return -1;
		}
		o->ntargets = 1;
	}
	if (o->ntargets == 0 && !o->write_files[0]) {
		snprintf(err, errlen, "no target: give --endpoint URL or --target NAME=URL");
		return -1;
	}
	for (unsigned i = 0; i < o->ntargets; i++)
		for (unsigned j = 0; j < i; j++)
			if (strcmp(o->targets[i].name, o->targets[j].name) == 0) {
				snprintf(err, errlen, "--target %s: the name is used twice",
				         o->targets[i].name);
				return -1;
			}
	if (apply_workload(o, mix_arg, &why) < 0) {
		snprintf(err, errlen, "--workload %s: %s", o->workload, why);
		return -1;
	}
	for (int k = 0; k < BENCH_OP_PUBLIC; k++)
		o->mix_total += o->mix[k];
	if (o->shared_keys && bench_mix_writes(o->mix)) {
		snprintf(err, errlen,
		         "--shared-keys is for workloads that only read "
		         "(targets would change each other's objects)");
		return -1;
	}
	if (o->no_drain && bench_mix_writes(o->mix)) {
		snprintf(err, errlen,
		         "--no-drain is for workloads that only read "
		         "(a write cut short leaves its object unknown)");
		return -1;
	}
	if (o->write_files[0])
		return 0; /* no requests: no credentials needed */
	if (!o->access_key[0] || !o->secret_key[0]) {
		snprintf(err, errlen,
		         "no credentials: give --access-key and --secret-key (or set "
		         "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)");
		return -1;
	}
	if (o->threads > o->concurrency) {
		snprintf(err, errlen, "--threads %u is more than --concurrency %u", o->threads,
		         o->concurrency);
		return -1;
	}
	if (o->mix[BENCH_OP_MULTIPART] && o->part_size < 5 << 20 && o->size.hi > o->part_size)
		fprintf(stderr, "s3lb-bench: note: parts below 5MiB (other than the last) are "
		                "refused by S3 and by most implementations\n");
	return 0;
}
