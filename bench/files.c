/* --write-files (see files.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/body.h"
#include "bench/files.h"
#include "bench/objects.h"

#define CHUNK (1 << 20)

/* mkdir -p of every directory above path's last '/'. */
static int make_parents(char *path, char *err, size_t errlen)
{
	for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		int rc = mkdir(path, 0755);
		int e = errno;
		*p = '/';
		if (rc < 0 && e != EEXIST) {
			*p = '\0';
			snprintf(err, errlen, "mkdir %s: %s", path, strerror(e));
			return -1;
		}
	}
	return 0;
}

/* Whether the file holds exactly the object already (a rerun need not write 64 MiB again). */
static bool same_file(const char *path, uint64_t seed, uint64_t size, char *buf)
{
	struct stat st;
	uint64_t off = 0;
	bool same = true;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size) {
		close(fd);
		return false;
	}
	while (same && off < size) {
		size_t want = size - off < CHUNK ? (size_t)(size - off) : CHUNK;
		ssize_t n = read(fd, buf, want);
		if (n <= 0)
			same = false;
		else if (bench_body_check(seed, off, buf, (size_t)n) >= 0)
			same = false;
		else
			off += (uint64_t)n;
	}
	close(fd);
	return same;
}

static int write_one(const char *path, uint64_t seed, uint64_t size, char *buf, char *err,
                     size_t errlen)
{
	char tmp[4200];
	uint64_t off = 0;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	while (off < size) {
		size_t want = size - off < CHUNK ? (size_t)(size - off) : CHUNK, done = 0;
		bench_body_fill(seed, off, buf, want);
		while (done < want) {
			ssize_t n = write(fd, buf + done, want - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				snprintf(err, errlen, "%s: %s", tmp,
				         n < 0 ? strerror(errno) : "short write");
				close(fd);
				unlink(tmp);
				return -1;
			}
			done += (size_t)n;
		}
		off += want;
	}
	/* Written whole, then renamed: a server never serves a half-written file. */
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

int bench_write_files(const bench_opts_t *o, const char *dir, char *err, size_t errlen)
{
	bench_objects_t t;
	char key[512], path[4096];
	uint64_t bytes = 0;
	unsigned written = 0;
	char *buf = malloc(CHUNK);
	int rc = 0;

	if (!buf)
		abort();
	bench_objects_init(&t, o->objects, o->prefix, &o->size, o->seed, false, true);
	for (uint32_t slot = 0; slot < t.n && rc == 0; slot++) {
		int klen = bench_objects_key(&t, slot, key, sizeof(key));
		uint64_t size = bench_objects_size(&t, slot, 0), seed;
		if (klen < 0 || (size_t)klen >= sizeof(key) ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s/%s", dir, o->bucket, key) >=
		        sizeof(path)) {
			snprintf(err, errlen, "path too long for object %u", slot);
			rc = -1;
			break;
		}
		if (strstr(key, "..") || strstr(key, "//")) {
			snprintf(err, errlen, "key %s cannot be a file name", key);
			rc = -1;
			break;
		}
		seed = bench_body_seed(key, (size_t)klen, size);
		if ((rc = make_parents(path, err, errlen)) < 0)
			break;
		if (same_file(path, seed, size, buf))
			continue;
		if ((rc = write_one(path, seed, size, buf, err, errlen)) == 0) {
			written++;
			bytes += size;
		}
	}
	if (rc == 0 && !o->quiet)
		fprintf(stderr, "s3lb-bench: %u objects under %s/%s/%s (%u written, %llu bytes)\n",
		        t.n, dir, o->bucket, o->prefix, written, (unsigned long long)bytes);
	bench_objects_free(&t);
	free(buf);
	return rc;
}
