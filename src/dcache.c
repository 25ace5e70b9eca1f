/* SPDX-License-Identifier: BSD-3-Clause */
/* dcache.c -- the per-user digest cache (dcache.h).
 *
 * The file, all integers little-endian:
 *
 *   header   "HBDCACHE", u32 version, u32 0, u64 record count
 *   records  96 bytes each: u64 dev, ino, size, mtime s, mtime ns,
 *            ctime s, ctime ns, last run that used it (s), SHA-256
 *   trailer  SHA-256 of header and records
 *
 * In memory the records sit in an array with an open-addressing table
 * over (dev, ino).  When the file is read, each record is marked trusted
 * or not by git's racy rule against the file's own mtime T: a record is
 * trusted only if its file's mtime and ctime are both more than RACY_NS
 * before T.  A file changed within the time stamp granularity after it
 * was hashed keeps its mtime and ctime; such a record was written (T) at
 * most a granule after them, so it is untrusted and the file is hashed
 * again, and the record written then is trusted next time.  RACY_NS is 2 s,
 * the coarsest granularity of the file systems an overlay may live on
 * (FAT; NFS servers may round to a second).
 *
 * Bounded: a save keeps the records used in this run and then the most
 * recently used others, at most DCACHE_MAX (~190 MiB at worst; a million
 * files cost 96 MB).  The file is only written when a file was hashed in
 * this run, through a temporary file in the same directory renamed over
 * the old one, so a reader sees the old or the new file, never half.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dcache.h"
#include "util.h"

#define MAGIC "HBDCACHE"
#define DC_VERSION 1
#define HEADER 24
#define REC 96
#define DCACHE_MAX (1u << 21)
#define RACY_NS 2000000000LL

struct rec {
	uint64_t dev, ino, size;
	int64_t msec, csec;
	uint64_t mnsec, cnsec;
	uint64_t used;			/* run (s since the epoch) that last used it */
	unsigned char sha[DIGEST_LEN];
	int trusted;
};

struct dcache {
	struct rec *v;
	size_t n, cap;
	uint32_t *slot;			/* index + 1, 0: empty */
	size_t mask;
	uint64_t run;			/* this run's stamp */
	int dirty;
	unsigned long hits, misses;
};

static size_t key_of(uint64_t dev, uint64_t ino)
{
	uint64_t h = (dev * 0x9e3779b97f4a7c15ULL) ^ ino;

	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	return (size_t)(h ^ (h >> 29));
}

static struct rec *find(struct dcache *c, uint64_t dev, uint64_t ino, size_t *at)
{
	size_t p;

	if (!c->slot)
		return NULL;
	for (p = key_of(dev, ino) & c->mask; c->slot[p]; p = (p + 1) & c->mask) {
		struct rec *r = &c->v[c->slot[p] - 1];
		if (r->dev == dev && r->ino == ino) {
			*at = p;
			return r;
		}
	}
	*at = p;
	return NULL;
}

/* Append r (not present); 0 or -ENOMEM. */
static int add(struct dcache *c, const struct rec *r)
{
	size_t at;

	if (2 * (c->n + 1) > (c->slot ? c->mask + 1 : 0)) {
		size_t ncap = c->slot ? 2 * (c->mask + 1) : 4096;
		uint32_t *s = calloc(ncap, sizeof *s);
		if (!s)
			return -ENOMEM;
		for (size_t i = 0; i < c->n; i++) {
			size_t p = key_of(c->v[i].dev, c->v[i].ino) & (ncap - 1);
			while (s[p])
				p = (p + 1) & (ncap - 1);
			s[p] = (uint32_t)(i + 1);
		}
		free(c->slot);
		c->slot = s;
		c->mask = ncap - 1;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 1024;
		struct rec *v = realloc(c->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	if (find(c, r->dev, r->ino, &at))
		return 0;
	c->v[c->n] = *r;
	c->slot[at] = (uint32_t)++c->n;
	return 0;
}

/* The cache directory ($XDG_CACHE_HOME or ~/.cache, then /hackbackfs)
 * into buf, or -1 when there is no home. */
static int cache_dir(char *buf, size_t size)
{
	const char *x = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	int n;

	if (x && x[0] == '/')
		n = snprintf(buf, size, "%s/hackbackfs", x);
	else {
		if (!home || home[0] != '/') {
			struct passwd *pw = getpwuid(geteuid());
			home = pw ? pw->pw_dir : NULL;
		}
		if (!home || home[0] != '/')
			return -1;
		n = snprintf(buf, size, "%s/.cache/hackbackfs", home);
	}
	return n > 0 && (size_t)n < size - 16 ? 0 : -1;
}

static int64_t ns_of(int64_t s, uint64_t ns)
{
	return s * 1000000000LL + (int64_t)ns;
}

/* Read path into c, or leave c empty. */
static void load(struct dcache *c, const char *path)
{
	CLEANUP_CLOSE int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	unsigned char sum[DIGEST_LEN];
	unsigned char *buf;
	struct stat st;
	uint64_t count;
	int64_t t;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) || st.st_size < HEADER + DIGEST_LEN ||
	    (uint64_t)st.st_size > HEADER + (uint64_t)DCACHE_MAX * REC + DIGEST_LEN)
		return;
	buf = malloc((size_t)st.st_size);
	if (!buf)
		return;
	if (hb_pread_full(fd, buf, (size_t)st.st_size, 0) != st.st_size)
		goto out;
	count = hb_get_le(buf + 16, 8);
	if (memcmp(buf, MAGIC, 8) != 0 || hb_get_le(buf + 8, 4) != DC_VERSION ||
	    count > DCACHE_MAX || (uint64_t)st.st_size != HEADER + count * REC + DIGEST_LEN)
		goto out;
	{
		struct digest *d;
		if (digest_new(&d) < 0)
			goto out;
		if (digest_update(d, buf, (size_t)(st.st_size - DIGEST_LEN)) < 0 ||
		    digest_final(d, sum) < 0)
			goto out;
		if (memcmp(sum, buf + st.st_size - DIGEST_LEN, DIGEST_LEN) != 0)
			goto out;
	}
	t = ns_of(st.st_mtim.tv_sec, (uint64_t)st.st_mtim.tv_nsec);
	for (uint64_t i = 0; i < count; i++) {
		const unsigned char *p = buf + HEADER + i * REC;
		struct rec r = {
			.dev = hb_get_le(p, 8), .ino = hb_get_le(p + 8, 8),
			.size = hb_get_le(p + 16, 8), .msec = (int64_t)hb_get_le(p + 24, 8),
			.mnsec = hb_get_le(p + 32, 8), .csec = (int64_t)hb_get_le(p + 40, 8),
			.cnsec = hb_get_le(p + 48, 8), .used = hb_get_le(p + 56, 8),
		};
		memcpy(r.sha, p + 64, DIGEST_LEN);
		if (r.mnsec >= 1000000000 || r.cnsec >= 1000000000)
			continue;
		r.trusted = ns_of(r.msec, r.mnsec) < t - RACY_NS && ns_of(r.csec, r.cnsec) < t - RACY_NS;
		if (add(c, &r) < 0)
			break;
	}
out:
	free(buf);
}

struct dcache *dcache_open(void)
{
	struct dcache *c = calloc(1, sizeof *c);
	char dir[PATH_MAX];

	if (!c)
		return NULL;
	c->run = (uint64_t)time(NULL);
	if (cache_dir(dir, sizeof dir) == 0) {
		strcat(dir, "/digests");
		load(c, dir);
	}
	return c;
}

int dcache_get(struct dcache *c, const struct stat *st, unsigned char out[DIGEST_LEN])
{
	size_t at;
	struct rec *r = find(c, (uint64_t)st->st_dev, (uint64_t)st->st_ino, &at);

	if (r && r->trusted && r->size == (uint64_t)st->st_size &&
	    r->msec == (int64_t)st->st_mtim.tv_sec && r->mnsec == (uint64_t)st->st_mtim.tv_nsec &&
	    r->csec == (int64_t)st->st_ctim.tv_sec && r->cnsec == (uint64_t)st->st_ctim.tv_nsec) {
		memcpy(out, r->sha, DIGEST_LEN);
		r->used = c->run;
		c->hits++;
		return 1;
	}
	c->misses++;
	return 0;
}

void dcache_put(struct dcache *c, const struct stat *st, const unsigned char d[DIGEST_LEN])
{
	size_t at;
	struct rec n = {
		.dev = (uint64_t)st->st_dev, .ino = (uint64_t)st->st_ino,
		.size = (uint64_t)st->st_size,
		.msec = (int64_t)st->st_mtim.tv_sec, .mnsec = (uint64_t)st->st_mtim.tv_nsec,
		.csec = (int64_t)st->st_ctim.tv_sec, .cnsec = (uint64_t)st->st_ctim.tv_nsec,
		.used = c->run,
	};
	struct rec *r = find(c, n.dev, n.ino, &at);

	memcpy(n.sha, d, DIGEST_LEN);
	if (r)
		*r = n;		/* trusted only once read back from a later file */
	else if (add(c, &n) < 0)
		return;
	c->dirty = 1;
}

/* This run's records first, then the most recently used. */
static int by_use(const void *a, const void *b)
{
	const struct rec *x = a, *y = b;

	return x->used < y->used ? 1 : x->used > y->used ? -1 : 0;
}

int dcache_save(struct dcache *c)
{
	char dir[PATH_MAX], tmp[PATH_MAX + 32], path[PATH_MAX + 16];
	unsigned char *buf, hdr[HEADER];
	struct digest *d = NULL;
	struct stat st;
	size_t n, len;
	int fd, r = 0;

	if (!c->dirty)
		return 0;
	if (cache_dir(dir, sizeof dir) < 0)
		return -ENOENT;
	{	/* mkdir -p, the last level private */
		char *s = dir;
		while ((s = strchr(s + 1, '/'))) {
			*s = '\0';
			mkdir(dir, 0700);
			*s = '/';
		}
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
	}
	if (lstat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return -EPERM;
	qsort(c->v, c->n, sizeof *c->v, by_use);
	n = HB_MIN(c->n, (size_t)DCACHE_MAX);
	len = HEADER + n * REC + DIGEST_LEN;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	memcpy(hdr, MAGIC, 8);
	hb_put_le(hdr + 8, DC_VERSION, 4);
	hb_put_le(hdr + 12, 0, 4);
	hb_put_le(hdr + 16, n, 8);
	memcpy(buf, hdr, HEADER);
	for (size_t i = 0; i < n; i++) {
		unsigned char *p = buf + HEADER + i * REC;
		const struct rec *x = &c->v[i];
		hb_put_le(p, x->dev, 8);
		hb_put_le(p + 8, x->ino, 8);
		hb_put_le(p + 16, x->size, 8);
		hb_put_le(p + 24, (uint64_t)x->msec, 8);
		hb_put_le(p + 32, x->mnsec, 8);
		hb_put_le(p + 40, (uint64_t)x->csec, 8);
		hb_put_le(p + 48, x->cnsec, 8);
		hb_put_le(p + 56, x->used, 8);
		memcpy(p + 64, x->sha, DIGEST_LEN);
	}
	r = digest_new(&d);
	if (r == 0)
		r = digest_update(d, buf, len - DIGEST_LEN);
	if (r == 0)
		r = digest_final(d, buf + len - DIGEST_LEN);
	else
		digest_free(d);
	snprintf(tmp, sizeof tmp, "%s/.digests.XXXXXX", dir);
	snprintf(path, sizeof path, "%s/digests", dir);
	fd = r == 0 ? mkostemp(tmp, O_CLOEXEC) : -1;
	if (r == 0 && fd < 0)
		r = -errno;
	if (fd >= 0) {
		if (hb_pwrite_full(fd, buf, len, 0) != (ssize_t)len)
			r = -EIO;
		if (close(fd) < 0 && r == 0)
			r = -errno;
		if (r == 0 && rename(tmp, path) < 0)
			r = -errno;
		if (r < 0)
			unlink(tmp);
	}
	free(buf);
	/* the table's indexes follow the sort no more */
	free(c->slot);
	c->slot = NULL;
	c->mask = 0;
	c->dirty = 0;
	return r;
}

void dcache_counts(const struct dcache *c, unsigned long *hits, unsigned long *misses)
{
	*hits = c->hits;
	*misses = c->misses;
}

void dcache_free(struct dcache *c)
{
	if (!c)
		return;
	free(c->v);
	free(c->slot);
	free(c);
}
