/*
 * s3lb-node: the VIP through libnl-route (rtnetlink), the ARP sysctls through /proc/sys.
 * The only file that speaks rtnetlink.
 */
#include "dsr/nodesetup.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>

#define MAX_IFACES 64

typedef enum { SYSCTL_SET, SYSCTL_CHECK } sysctl_mode_t;

/* What a DR node needs on `all` and on each outward interface, and why (printed by check). */
static const struct {
	const char *knob;
	long want;
	const char *why;
} knobs[] = {
    {"arp_ignore", 1, "answer ARP only for addresses on the interface asked (not the VIP on lo)"},
    {"arp_announce", 2, "never use the VIP as the source of ARP requests"},
};

typedef struct vip_state_s {
	bool exact;         /* on dev with the full prefix */
	int other_plen;     /* on dev with another prefix, or -1 */
	char elsewhere[64]; /* first other device that holds it, or "" */
} vip_state_t;

/* One command's context: node_start fills it, node_close releases it. */
typedef struct node_s {
	const dsr_node_opts_t *o;
	const char *dev;
	const char *root;
	struct nl_sock *sk;
	struct rtnl_link *link; /* the VIP's device */
	int ifindex;
	vip_state_t st; /* where the VIP is now */
	char what[128]; /* "vip 192.0.2.10/32 on lo" */
	const char *ifaces[MAX_IFACES];
	char owned_names[MAX_IFACES][IFNAMSIZ]; /* discovered names live here */
	size_t nifaces;
	FILE *out;
	char *err;
	size_t errlen;
} node_t;

static int nl_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_EXIST:
		return -EEXIST;
	case NLE_PERM:
		return -EPERM;
	case NLE_NOMEM:
		return -ENOMEM;
	case NLE_OBJ_NOTFOUND:
	case NLE_NODEV:
		return -ENODEV;
	case NLE_NOADDR:
		return -EADDRNOTAVAIL;
	default:
		return -EIO;
	}
}

static unsigned full_plen(const dsr_ip_t *ip)
{
	return ip->af == AF_INET6 ? 128 : 32;
}

static bool ifname_ok(const char *name)
{
	size_t len = strlen(name);
	return len > 0 && len < IFNAMSIZ && !strchr(name, '/') && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0;
}

/* ---- sysctls ---- */

static int sysctl_path(const node_t *n, const char *scope, const char *knob, char *buf, size_t len)
{
	int w = snprintf(buf, len, "%s/net/ipv4/conf/%s/%s", n->root, scope, knob);
	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

static int sysctl_read(const char *path, long *val)
{
	char buf[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t r = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (r < 0)
		return -e;
	buf[r] = '\0';
	char *end;
	errno = 0;
	*val = strtol(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	return 0;
}

static int sysctl_write(const char *path, long val)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%ld\n", val);
	int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, buf, (size_t)len);
	int e = errno;
	if (close(fd) < 0 && w == len)
		return -errno;
	if (w < 0)
		return -e;
	return w == len ? 0 : -EIO;
}

/* Sets or checks every knob on `all` and on each outward interface; counts what is missing. */
static int sysctls(node_t *n, sysctl_mode_t mode, int *missing)
{
	for (size_t s = 0; s <= n->nifaces; s++) {
		const char *scope = s == 0 ? "all" : n->ifaces[s - 1];
		for (size_t k = 0; k < sizeof(knobs) / sizeof(knobs[0]); k++) {
			char path[4096];
			long cur = 0;
			int rc = sysctl_path(n, scope, knobs[k].knob, path, sizeof(path));
			if (rc == 0)
				rc = sysctl_read(path, &cur);
			if (rc < 0) {
				snprintf(n->err, n->errlen, "%s: %s%s", path, strerror(-rc),
				         rc == -ENOENT ? " (no such interface?)" : "");
				return rc;
			}
			if (cur == knobs[k].want) {
				fprintf(n->out, "%snet.ipv4.conf.%s.%s = %ld%s\n",
				        mode == SYSCTL_CHECK ? "ok      " : "", scope,
				        knobs[k].knob, cur, mode == SYSCTL_SET ? " (already)" : "");
				continue;
			}
			if (mode == SYSCTL_CHECK) {
				fprintf(n->out,
				        "MISSING net.ipv4.conf.%s.%s is %ld, want %ld: %s\n", scope,
				        knobs[k].knob, cur, knobs[k].want, knobs[k].why);
				(*missing)++;
				continue;
			}
			if ((rc = sysctl_write(path, knobs[k].want)) < 0) {
				snprintf(n->err, n->errlen, "cannot write %ld to %s: %s",
				         knobs[k].want, path, strerror(-rc));
				return rc;
			}
			fprintf(n->out, "net.ipv4.conf.%s.%s = %ld (was %ld)\n", scope,
			        knobs[k].knob, knobs[k].want, cur);
		}
	}
	return 0;
}

/* ---- links and addresses (rtnetlink) ---- */

static int get_link(node_t *n, const char *name, struct rtnl_link **link)
{
	int rc = rtnl_link_get_kernel(n->sk, 0, name, link);
	if (rc < 0) {
		rc = nl_errno(rc);
		snprintf(n->err, n->errlen, "device %s: %s", name,
		         rc == -ENODEV ? "no such device" : strerror(-rc));
	}
	return rc;
}

/* Every interface that is up and not a loopback, nor the VIP's own device. */
static int discover_ifaces(node_t *n)
{
	struct nl_cache *cache;
	int rc = rtnl_link_alloc_cache(n->sk, AF_UNSPEC, &cache);
	if (rc < 0) {
		snprintf(n->err, n->errlen, "cannot list interfaces: %s", nl_geterror(rc));
		return nl_errno(rc);
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_link *l = (struct rtnl_link *)o;
		unsigned flags = rtnl_link_get_flags(l);
		const char *name = rtnl_link_get_name(l);
		if (!name || (flags & IFF_LOOPBACK) || !(flags & IFF_UP) ||
		    strcmp(name, n->dev) == 0)
			continue;
		if (n->nifaces == MAX_IFACES)
			break;
		snprintf(n->owned_names[n->nifaces], IFNAMSIZ, "%s", name);
		n->ifaces[n->nifaces] = n->owned_names[n->nifaces];
		n->nifaces++;
	}
	nl_cache_free(cache);
	return 0;
}

static int vip_lookup(node_t *n, int ifindex, vip_state_t *st)
{
	struct nl_cache *cache;
	const dsr_ip_t *vip = &n->o->vip;
	size_t alen = vip->af == AF_INET ? 4 : 16;
	memset(st, 0, sizeof(*st));
	st->other_plen = -1;
	int rc = rtnl_addr_alloc_cache(n->sk, &cache);
	if (rc < 0) {
		snprintf(n->err, n->errlen, "cannot list addresses: %s", nl_geterror(rc));
		return nl_errno(rc);
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(a);
		if (!local || nl_addr_get_family(local) != vip->af ||
		    nl_addr_get_len(local) != alen ||
		    memcmp(nl_addr_get_binary_addr(local), vip->u.raw, alen) != 0)
			continue;
		int idx = rtnl_addr_get_ifindex(a);
		int plen = rtnl_addr_get_prefixlen(a);
		if (idx == ifindex && plen == (int)full_plen(vip))
			st->exact = true;
		else if (idx == ifindex)
			st->other_plen = plen;
		else if (!st->elsewhere[0] && !if_indextoname((unsigned)idx, st->elsewhere))
			snprintf(st->elsewhere, sizeof(st->elsewhere), "ifindex %d", idx);
	}
	nl_cache_free(cache);
	return 0;
}

static struct rtnl_addr *vip_object(const node_t *n, int ifindex)
{
	const dsr_ip_t *vip = &n->o->vip;
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct nl_addr *local = nl_addr_build(vip->af, vip->u.raw, vip->af == AF_INET ? 4 : 16);
	if (!a || !local)
		abort();
	nl_addr_set_prefixlen(local, (int)full_plen(vip));
	rtnl_addr_set_ifindex(a, ifindex);
	if (rtnl_addr_set_local(a, local) < 0)
		abort();
	rtnl_addr_set_prefixlen(a, (int)full_plen(vip));
	nl_addr_put(local);
	return a;
}

static void vip_text(const node_t *n, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	dsr_ip_format(&n->o->vip, a, sizeof(a));
	snprintf(buf, len, "vip %s/%u on %s", a, full_plen(&n->o->vip), n->dev);
}

/* ---- start/close ---- */

/* Checks the options, opens rtnetlink, finds the outward interfaces (when asked and not given),
 * the VIP's device and where the VIP is now. Call node_close whatever it returns. */
static int node_start(node_t *n, const dsr_node_opts_t *o, FILE *out, char *err, size_t errlen,
                      bool need_ifaces)
{
	memset(n, 0, sizeof(*n));
	n->o = o;
	n->dev = o->dev ? o->dev : "lo";
	n->root = o->sysctl_root ? o->sysctl_root : "/proc/sys";
	n->out = out;
	n->err = err;
	n->errlen = errlen;
	err[0] = '\0';
	if (o->vip.af != AF_INET && o->vip.af != AF_INET6) {
		snprintf(err, errlen, "no VIP given");
		return -EINVAL;
	}
	if (!ifname_ok(n->dev)) {
		snprintf(err, errlen, "bad device name \"%s\"", n->dev);
		return -EINVAL;
	}
	if (o->nifaces > MAX_IFACES) {
		snprintf(err, errlen, "at most %d interfaces", MAX_IFACES);
		return -EINVAL;
	}
	for (size_t i = 0; i < o->nifaces; i++) {
		if (!ifname_ok(o->ifaces[i])) {
			snprintf(err, errlen, "bad interface name \"%s\"", o->ifaces[i]);
			return -EINVAL;
		}
		n->ifaces[n->nifaces++] = o->ifaces[i];
	}
	n->sk = nl_socket_alloc();
	if (!n->sk)
		abort();
	int rc = nl_connect(n->sk, NETLINK_ROUTE);
	if (rc < 0) {
		snprintf(err, errlen, "cannot open an rtnetlink socket: %s", nl_geterror(rc));
		return nl_errno(rc);
	}
	if (need_ifaces && !o->ifaces && (rc = discover_ifaces(n)) < 0)
		return rc;
	if ((rc = get_link(n, n->dev, &n->link)) < 0)
		return rc;
	n->ifindex = rtnl_link_get_ifindex(n->link);
	vip_text(n, n->what, sizeof(n->what));
	return vip_lookup(n, n->ifindex, &n->st);
}

static void node_close(node_t *n)
{
	if (n->link)
		rtnl_link_put(n->link);
	if (n->sk)
		nl_socket_free(n->sk);
	n->link = NULL;
	n->sk = NULL;
}

/* ---- the three commands ---- */

int dsr_node_setup(const dsr_node_opts_t *o, FILE *out, char *err, size_t errlen)
{
	node_t n;
	struct rtnl_addr *addr = NULL;
	int rc;
	if ((rc = node_start(&n, o, out, err, errlen, true)) < 0)
		goto out;
	if (n.st.other_plen >= 0 && !n.st.exact) {
		snprintf(err, errlen, "%s: already there as /%d; remove it first (ip addr del)",
		         n.what, n.st.other_plen);
		rc = -EEXIST;
		goto out;
	}
	if (n.st.exact) {
		fprintf(out, "%s: already present\n", n.what);
	} else {
		addr = vip_object(&n, n.ifindex);
		rc = rtnl_addr_add(n.sk, addr, 0);
		if (rc < 0 && nl_errno(rc) != -EEXIST) {
			rc = nl_errno(rc);
			snprintf(err, errlen, "%s: cannot add: %s", n.what, strerror(-rc));
			goto out;
		}
		fprintf(out, "%s: added\n", n.what);
	}
	if (n.st.elsewhere[0])
		fprintf(out,
		        "warning: the VIP is also on %s: that device would answer ARP for it\n",
		        n.st.elsewhere);
	if (!(rtnl_link_get_flags(n.link) & IFF_UP)) {
		struct rtnl_link *change = rtnl_link_alloc();
		if (!change)
			abort();
		rtnl_link_set_flags(change, IFF_UP);
		rc = rtnl_link_change(n.sk, n.link, change, 0);
		rtnl_link_put(change);
		if (rc < 0) {
			rc = nl_errno(rc);
			snprintf(err, errlen, "cannot bring %s up: %s", n.dev, strerror(-rc));
			goto out;
		}
		fprintf(out, "device %s: brought up\n", n.dev);
	}
	rc = sysctls(&n, SYSCTL_SET, NULL);
out:
	if (addr)
		rtnl_addr_put(addr);
	node_close(&n);
	return rc;
}

int dsr_node_teardown(const dsr_node_opts_t *o, FILE *out, char *err, size_t errlen)
{
	node_t n;
	struct rtnl_addr *addr = NULL;
	int rc;
	if ((rc = node_start(&n, o, out, err, errlen, false)) < 0)
		goto out;
	if (!n.st.exact) {
		fprintf(out, "%s: not present\n", n.what);
	} else {
		addr = vip_object(&n, n.ifindex);
		rc = rtnl_addr_delete(n.sk, addr, 0);
		if (rc < 0 && nl_errno(rc) != -EADDRNOTAVAIL && nl_errno(rc) != -ENODEV) {
			rc = nl_errno(rc);
			snprintf(err, errlen, "%s: cannot remove: %s", n.what, strerror(-rc));
			goto out;
		}
		fprintf(out, "%s: removed\n", n.what);
	}
	fprintf(out, "arp_ignore/arp_announce left as they are (harmless, and other VIPs may need "
	             "them)\n");
	rc = 0;
out:
	if (addr)
		rtnl_addr_put(addr);
	node_close(&n);
	return rc;
}

int dsr_node_check(const dsr_node_opts_t *o, FILE *out, char *err, size_t errlen)
{
	node_t n;
	int rc, missing = 0;
	if ((rc = node_start(&n, o, out, err, errlen, true)) < 0)
		goto out;
	if (n.st.exact) {
		fprintf(out, "ok      %s\n", n.what);
	} else if (n.st.other_plen >= 0) {
		fprintf(out, "MISSING %s: present as /%d, want /%u\n", n.what, n.st.other_plen,
		        full_plen(&o->vip));
		missing++;
	} else {
		fprintf(out, "MISSING %s: the node would drop packets sent to the VIP\n", n.what);
		missing++;
	}
	if (n.st.elsewhere[0]) {
		fprintf(out, "MISSING vip not on %s: it would answer ARP for the VIP there\n",
		        n.st.elsewhere);
		missing++;
	}
	if (rtnl_link_get_flags(n.link) & IFF_UP) {
		fprintf(out, "ok      device %s up\n", n.dev);
	} else {
		fprintf(out, "MISSING device %s is down\n", n.dev);
		missing++;
	}
	if (n.nifaces == 0)
		fprintf(out, "note: no outward interface is up; only `all` checked\n");
	if ((rc = sysctls(&n, SYSCTL_CHECK, &missing)) < 0)
		goto out;
	rc = missing;
out:
	node_close(&n);
	return rc;
}

/* ---- command line ---- */

static void usage(FILE *f)
{
	fprintf(f, "usage: s3lb-node setup|teardown|check --vip ADDR [--dev DEV] [--iface IF]...\n"
	           "                 [--sysctl-root DIR]\n"
	           "  setup     put the VIP on DEV (default lo) as /32 (/128) and set\n"
	           "            arp_ignore=1, arp_announce=2 on all and on each --iface\n"
	           "            (default: every non-loopback interface that is up)\n"
	           "  teardown  remove the VIP (the sysctls stay)\n"
	           "  check     report what is missing; exit 1 if anything is\n");
}

int dsr_node_main(int argc, char **argv, FILE *out, FILE *errout)
{
	static const struct option longopts[] = {
	    {"vip", required_argument, NULL, 'v'},   {"dev", required_argument, NULL, 'd'},
	    {"iface", required_argument, NULL, 'i'}, {"sysctl-root", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	const char *ifaces[MAX_IFACES];
	dsr_node_opts_t o = {0};
	const char *vip = NULL;
	char err[512];
	int c;
	optind = 1;
	opterr = 0;
	if (argc < 2 || argv[1][0] == '-') {
		usage(argc >= 2 && strcmp(argv[1], "--help") == 0 ? out : errout);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
	}
	const char *cmd = argv[1];
	while ((c = getopt_long(argc - 1, argv + 1, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'v':
			vip = optarg;
			break;
		case 'd':
			o.dev = optarg;
			break;
		case 'i':
			if (o.nifaces == MAX_IFACES) {
				fprintf(errout, "s3lb-node: at most %d --iface\n", MAX_IFACES);
				return 2;
			}
			ifaces[o.nifaces++] = optarg;
			o.ifaces = ifaces;
			break;
		case 's':
			o.sysctl_root = optarg;
			break;
		case 'h':
			usage(out);
			return 0;
		default:
			fprintf(errout, "s3lb-node: unknown option or missing value\n");
			usage(errout);
			return 2;
		}
	}
	if (optind + 1 < argc) {
		fprintf(errout, "s3lb-node: unexpected argument %s\n", argv[optind + 1]);
		return 2;
	}
	if (!vip || dsr_ip_parse(vip, &o.vip) < 0) {
		fprintf(errout, "s3lb-node: %s\n",
		        vip ? "--vip: not an IPv4 or IPv6 address" : "--vip ADDR is required");
		return 2;
	}
	int rc;
	if (strcmp(cmd, "setup") == 0)
		rc = dsr_node_setup(&o, out, err, sizeof(err));
	else if (strcmp(cmd, "teardown") == 0)
		rc = dsr_node_teardown(&o, out, err, sizeof(err));
	else if (strcmp(cmd, "check") == 0)
		rc = dsr_node_check(&o, out, err, sizeof(err));
	else {
		fprintf(errout, "s3lb-node: unknown command %s\n", cmd);
		usage(errout);
		return 2;
	}
	if (rc < 0) {
		fprintf(errout, "s3lb-node %s: %s\n", cmd, err);
		return 1;
	}
	if (strcmp(cmd, "check") == 0) {
		if (rc > 0)
			fprintf(out, "check: %d item%s missing\n", rc, rc == 1 ? "" : "s");
		else
			fprintf(out, "check: ready for DR on %s\n", vip);
		return rc > 0 ? 1 : 0;
	}
	return 0;
}
