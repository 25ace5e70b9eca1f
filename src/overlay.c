/* SPDX-License-Identifier: BSD-3-Clause */
/* overlay.c -- scan host directories into a sorted list of entries.
 *
 * The list in struct overlay is kept sorted by path (strcmp) and free of
 * duplicates after every call, so lookups are a bsearch at any time:
 *
 *   overlay_add_dir   walks one directory into a private array (lstat,
 *                     never following a symlink on the host), sorts it,
 *                     then merges it into the list in one pass; on an
 *                     equal path the new entry wins.  Conflicts are
 *                     found in a first pass, so a refused directory
 *                     leaves the list as it was.
 *   overlay_add_file  inserts one file and its missing parents (a few
 *                     memmoves: it is called for a handful of files).
 *   overlay_start     resolves hard-link groups, which need the final
 *                     indices, and starts the hashing threads;
 *   overlay_take      hands the consumer (the injection) one file once it
 *                     is hashed, with its bytes when it is small;
 *   overlay_end       waits for the threads and hashes the list.
 *
 * The scan only lstat()s; a file not known to the digest cache is opened
 * and hashed by the threads, in list order, while the injection works
 * through the list behind them: the two overlap, and a small file is read
 * once, its bytes kept from the hashing to the injection (the bytes
 * written are the bytes hashed).  A file with several links is read once:
 * later names of the same inode take the first one's hash and metadata.
 * Hard-link groups never span two overlay directories (entries remember
 * which add_dir call found them).
 *
 * The digest encoding (version string, the keep_mtime flag, count, then
 * per entry path, type, mode, uid, gid, size, the mtime when kept, and
 * the content hash plus link leader, or the symlink target) leaves out
 * host paths, inode numbers and, by default, mtimes: the same tree copied
 * elsewhere hashes the same.  Modes are hashed after the umask policy.
 */
#include "config.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dcache.h"
#include "overlay.h"
#include "util.h"

#define OVERLAY_FORMAT "hackbackfs overlay v2"

/* A growable array of entries (the walk's private list). */
struct entries {
	struct overlay_entry *v;
	size_t n, cap;
};

/* Does e->path lie inside e->host_path's allocation?  A walked file's
 * host path ends in "/" and its image path: one string holds both. */
static int path_in_host(const struct overlay_entry *e)
{
	uintptr_t p = (uintptr_t)e->path, h = (uintptr_t)e->host_path;

	return e->host_path && p > h && p <= h + strlen(e->host_path);
}

static void entry_free(struct overlay_entry *e)
{
	if (!path_in_host(e))
		free(e->path);
	free(e->host_path);
	free(e->target);
}

static void entries_free(struct entries *es)
{
	size_t i;

	for (i = 0; i < es->n; i++)
		entry_free(&es->v[i]);
	free(es->v);
	es->v = NULL;
	es->n = es->cap = 0;
}

/* Append a zeroed entry; returns it or NULL (out of memory). */
static struct overlay_entry *entries_push(struct entries *es)
{
	if (es->n == es->cap) {
		size_t cap = es->cap ? 2 * es->cap : 64;
		struct overlay_entry *v = realloc(es->v, cap * sizeof *v);

		if (v == NULL)
			return NULL;
		es->v = v;
		es->cap = cap;
	}
	memset(&es->v[es->n], 0, sizeof es->v[0]);
	es->v[es->n].link_leader = -1;
	return &es->v[es->n++];
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct overlay_entry *)a)->path,
		      ((const struct overlay_entry *)b)->path);
}

static int key_cmp(const void *key, const void *b)
{
	return strcmp(key, ((const struct overlay_entry *)b)->path);
}

static const char *type_name(enum overlay_type t)
{
	switch (t) {
	case OVERLAY_DIR:
		return "directory";
	case OVERLAY_FILE:
		return "file";
	case OVERLAY_SYMLINK:
		return "symlink";
	}
	return "?";
}

static const char *refused_type(mode_t m)
{
	if (S_ISFIFO(m))
		return "a fifo";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	return "of an unknown file type";
}

static void set_meta(struct overlay_entry *e, const struct stat *st)
{
	e->mode = st->st_mode & 07777;
	e->uid = st->st_uid;
	e->gid = st->st_gid;
	e->mtime_sec = (int64_t)st->st_mtim.tv_sec;
	e->mtime_nsec = st->st_mtim.tv_nsec;
	e->ctime_sec = (int64_t)st->st_ctim.tv_sec;
	e->ctime_nsec = st->st_ctim.tv_nsec;
}

/* A hashing thread's own digest context and read buffer, set up once for
 * all its files (NULL members: set up per file). */
struct hasher {
	struct digest *d;
	unsigned char *buf;
};

#define HASH_BUF (1u << 20)

/* The bytes of a kept file of size 0: not NULL, never read. */
static unsigned char empty_file[1];

/* Read all of a small file (size bytes) into memory and hash it: the copy
 * is what the injection writes.  A file that shrank is an error. */
static int read_kept(int fd, uint64_t size, const struct hasher *h,
		     unsigned char out[DIGEST_LEN], unsigned char **kept)
{
	unsigned char *b = size ? malloc(size) : empty_file;
	struct digest *d = h ? h->d : NULL;
	ssize_t got;
	int r;

	if (b == NULL)
		return -ENOMEM;
	got = size ? hb_pread_full(fd, b, size, 0) : 0;
	r = got < 0 ? (int)got : (uint64_t)got != size ? -EIO : 0;
	if (r == 0 && d)
		r = digest_reset(d);
	else if (r == 0)
		r = digest_new(&d);
	if (r == 0)
		r = digest_update(d, b, size);
	if (r == 0)
		r = digest_final_keep(d, out);
	if (d && (!h || d != h->d))
		digest_free(d);
	if (r < 0) {
		if (b != empty_file)
			free(b);
		return r;
	}
	*kept = b;
	return 0;
}

/* Open host (a regular file, not through a symlink when nofollow), take
 * its metadata from the open file into *st and hash its content, or take
 * the hash from cache when given (and put it there).  With kept, a file
 * smaller than OVERLAY_KEEP_MAX is read into memory whole and *kept set
 * to it (else NULL).  A failure is described in msg (msz bytes): this
 * runs in the hashing threads, and only the first failure is printed. */
static int hash_one(struct overlay_entry *e, const char *host, int nofollow,
		    struct dcache *cache, const struct hasher *h, unsigned char **kept,
		    struct stat *st, char *msg, size_t msz)
{
	CLEANUP_CLOSE int fd = -1;
	int r;

	fd = open(host, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
		  (nofollow ? O_NOFOLLOW : 0));
	if (fd < 0 || fstat(fd, st) != 0) {
		r = -errno;
		snprintf(msg, msz, "%s: %s", host, strerror(-r));
		return r;
	}
	if (!S_ISREG(st->st_mode)) {
		snprintf(msg, msz, "%s: not a regular file", host);
		return -EINVAL;
	}
	e->size = (uint64_t)st->st_size;
	if (cache && dcache_get(cache, st, e->sha256))
		return 0;
	if (kept && e->size < OVERLAY_KEEP_MAX)
		r = read_kept(fd, e->size, h, e->sha256, kept);
	else if (h && h->d && h->buf)
		r = digest_fd_range_with(h->d, h->buf, HASH_BUF, fd, 0, (uint64_t)st->st_size,
					 e->sha256);
	else
		r = digest_fd_range(fd, 0, (uint64_t)st->st_size, e->sha256);
	if (r < 0) {
		snprintf(msg, msz, "%s: cannot read: %s%s", host, strerror(-r),
			 r == -EIO ? " (did the file change while it was read?)" : "");
		return r;
	}
	if (cache)
		dcache_put(cache, st, e->sha256);
	return 0;
}

/* hash_one() for one file, reporting a failure itself. */
static int hash_file(struct overlay_entry *e, const char *host, int nofollow,
		     struct dcache *cache, struct stat *st)
{
	char msg[1024];
	int r = hash_one(e, host, nofollow, cache, NULL, NULL, st, msg, sizeof msg);

	if (r < 0)
		hb_error("%s", msg);
	return r;
}

static int read_link(const char *host, size_t hint, char **out)
{
	size_t size = hint + 1 > 256 ? hint + 1 : 256;

	for (;;) {
		char *buf = malloc(size);
		ssize_t n;

		if (buf == NULL) {
			hb_error("%s: out of memory", host);
			return -ENOMEM;
		}
		n = readlink(host, buf, size);
		if (n < 0) {
			int r = -errno;

			free(buf);
			hb_error("%s: readlink: %s", host, strerror(-r));
			return r;
		}
		if ((size_t)n < size) {
			buf[n] = '\0';
			*out = buf;
			return 0;
		}
		free(buf);
		size *= 2;
	}
}

/* The scan of one overlay directory. */
struct walk {
	struct entries es;
	unsigned source;	/* this overlay_add_dir() call, from 1 */
	struct dcache *cache;
};

/* ---- hashing ------------------------------------------------------------ */

/* A run of the hashing threads over the files to read, in list order.
 * The threads take items in order under the lock (at most OVERLAY_WINDOW
 * ahead of the consumer while it takes kept bytes), publish each result
 * in state[] with a release store, and the consumer waits for the item it
 * takes.  Which thread hashes which file changes nothing: each result
 * lands in its own entry; the failure reported is the first in list
 * order. */
enum { ITEM_QUEUED, ITEM_DONE, ITEM_FAILED };

struct hashing {
	struct overlay *ov;
	size_t *item;			/* entry index of each item, ascending */
	size_t n;
	unsigned char **kept;		/* per item: its bytes, or NULL */
	atomic_uchar *state;		/* per item: ITEM_*, stored with release */
	pthread_mutex_t lock;		/* this, and the digest cache */
	pthread_cond_t done_cv;		/* an item finished (when a waiter says so) */
	pthread_cond_t room_cv;		/* the consumer moved on, or stop */
	size_t next;			/* next item to hash */
	size_t base;			/* items before it are given up */
	int keep;			/* a consumer takes kept bytes */
	int stop;
	int waiting;			/* the consumer waits on done_cv */
	int running;			/* threads not yet finished */
	size_t done_files;
	uint64_t done_bytes, total_bytes;
	double start;
	size_t fail_k;			/* lowest failed item (when fail_r) */
	int fail_r;
	char fail_msg[1024];
	pthread_t tid[8];
	int nthreads;
};

static void hash_progress(struct hashing *hs)
{
	double mib = (double)hs->done_bytes / 1048576.0;
	double t = hb_now() - hs->start;

	hb_progress("hashing overlay files: %zu/%zu, %.1f/%.1f MiB, %.1f MiB/s",
		    hs->done_files, hs->n, mib, (double)hs->total_bytes / 1048576.0,
		    t > 0 ? mib / t : 0.0);
}

/* Free the kept bytes of items [hs->base, upto). Under the lock. */
static void give_up(struct hashing *hs, size_t upto)
{
	for (; hs->base < upto; hs->base++) {
		unsigned char *b = hs->kept[hs->base];

		if (b && b != empty_file)
			free(b);
		hs->kept[hs->base] = NULL;
	}
	pthread_cond_broadcast(&hs->room_cv);
}

/* A worker takes a batch of items at a time and publishes it at once (a
 * lock per file was three futex calls per file, a third of a small-file
 * run): up to HASH_BATCH files, ended by a large one or the window, as
 * the consumer may wait for the whole batch. */
#define HASH_BATCH 16

struct hashed {
	unsigned char *kept;
	struct stat st;
};

/* Publish items [first, last) of a batch (r: the last one's result).
 * Under the lock. */
static void publish(struct hashing *hs, size_t first, size_t last, struct hashed *got, int r,
		    const char *msg)
{
	struct overlay *ov = hs->ov;

	for (size_t k = first; k < last; k++) {
		struct overlay_entry *e = &ov->entries[hs->item[k]];
		struct hashed *g = &got[k - first];

		if (k == last - 1 && r < 0) {
			atomic_store_explicit(&hs->state[k], ITEM_FAILED, memory_order_release);
			if (!hs->fail_r || k < hs->fail_k) {
				hs->fail_k = k;
				hs->fail_r = r;
				snprintf(hs->fail_msg, sizeof hs->fail_msg, "%s", msg);
			}
			break;
		}
		if (e->pending && ov->cache)
			dcache_put(ov->cache, &g->st, e->sha256);
		e->pending = 0;
		hs->done_files++;
		hs->done_bytes += e->size;
		if (k >= hs->base && hs->keep)
			hs->kept[k] = g->kept;
		else if (g->kept && g->kept != empty_file)
			free(g->kept);
		atomic_store_explicit(&hs->state[k], ITEM_DONE, memory_order_release);
	}
	if (hs->waiting)
		pthread_cond_broadcast(&hs->done_cv);
}

static void *hash_worker(void *arg)
{
	struct hashing *hs = arg;
	struct overlay *ov = hs->ov;
	struct hasher h = { NULL, malloc(HASH_BUF) };
	struct hashed got[HASH_BATCH];
	char msg[1024];

	if (digest_new(&h.d) < 0)
		h.d = NULL;	/* per file, then: slower, not wrong */
	pthread_mutex_lock(&hs->lock);
	for (;;) {
		size_t first, last, k;
		uint64_t bytes = 0;
		int r = 0, keep;

		while (!hs->stop && hs->keep && hs->next >= hs->base + OVERLAY_WINDOW)
			pthread_cond_wait(&hs->room_cv, &hs->lock);
		if (hs->stop || hs->next >= hs->n || (hs->fail_r && hs->next > hs->fail_k))
			break;
		first = last = hs->next;
		while (last < hs->n && last - first < HASH_BATCH && bytes < OVERLAY_KEEP_MAX &&
		       (!hs->keep || last < hs->base + OVERLAY_WINDOW))
			bytes += ov->entries[hs->item[last++]].size;
		hs->next = last;
		keep = hs->keep;
		pthread_mutex_unlock(&hs->lock);

		for (k = first; k < last && r == 0; k++) {
			struct overlay_entry *e = &ov->entries[hs->item[k]];
			struct hashed *g = &got[k - first];

			g->kept = NULL;
			r = hash_one(e, e->host_path, 1, NULL, &h, keep ? &g->kept : NULL, &g->st,
				     msg, sizeof msg);
			if (r == 0 && e->pending) {
				/* The scan's lstat() gives way to the opened
				 * file's metadata; a file added by name, or
				 * known to the cache, keeps its own (read here
				 * for its bytes). */
				set_meta(e, &g->st);
				e->mode &= ~(ov->umask & 07777);
			}
		}

		pthread_mutex_lock(&hs->lock);
		publish(hs, first, k, got, r, msg);
	}
	hs->running--;
	pthread_cond_broadcast(&hs->done_cv);
	pthread_mutex_unlock(&hs->lock);
	digest_free(h.d);
	free(h.buf);
	return NULL;
}

/* Threads for hashing: the CPUs this process may run on (a Slurm job's
 * allocation, taskset), at most 8: past that the disk is the limit. */
static int hash_threads(void)
{
	cpu_set_t set;
	int n = 1;

	if (sched_getaffinity(0, sizeof set, &set) == 0)
		n = CPU_COUNT(&set);
	return n < 1 ? 1 : n > 8 ? 8 : n;
}

/* Wait on done_cv under the lock, drawing the progress line meanwhile. */
static void wait_done(struct hashing *hs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += 200 * 1000 * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	hs->waiting = 1;
	pthread_cond_timedwait(&hs->done_cv, &hs->lock, &ts);
	hs->waiting = 0;
	if (hb_progress_due())
		hash_progress(hs);
}

/* Stop and free a run; its kept bytes go with it. */
static void hashing_free(struct hashing *hs)
{
	if (hs == NULL)
		return;
	pthread_mutex_lock(&hs->lock);
	hs->stop = 1;
	pthread_cond_broadcast(&hs->room_cv);
	pthread_mutex_unlock(&hs->lock);
	for (int i = 0; i < hs->nthreads; i++)
		pthread_join(hs->tid[i], NULL);
	give_up(hs, hs->n);
	pthread_cond_destroy(&hs->done_cv);
	pthread_cond_destroy(&hs->room_cv);
	pthread_mutex_destroy(&hs->lock);
	free(hs->item);
	free(hs->kept);
	free(hs->state);
	free(hs);
}

/* Does the run read e?  The files that lead their hard-link group (the
 * other names take the leader's values at the end) and are pending, or,
 * when a consumer takes kept bytes, small: a small file's digest from
 * the cache would save nothing, as the injection would read the file and
 * hash it again, on one thread, to check it. */
static int hashed_here(const struct overlay_entry *e, int keep)
{
	return e->type == OVERLAY_FILE && e->link_leader < 0 &&
	       (e->pending || (keep && e->size < OVERLAY_KEEP_MAX));
}

/* Start hashing the files hashed_here() says. */
static int hashing_start(struct overlay *ov, int keep)
{
	struct hashing *hs = calloc(1, sizeof *hs);
	size_t n = 0;
	int want;

	if (hs == NULL)
		goto oom;
	for (size_t i = 0; i < ov->n; i++)
		n += hashed_here(&ov->entries[i], keep);
	hs->item = malloc((n + 1) * sizeof *hs->item);
	hs->kept = calloc(n + 1, sizeof *hs->kept);
	hs->state = calloc(n + 1, sizeof *hs->state);
	if (!hs->item || !hs->kept || !hs->state) {
		free(hs->item);
		free(hs->kept);
		free(hs->state);
		free(hs);
		goto oom;
	}
	for (size_t i = 0; i < ov->n; i++) {
		const struct overlay_entry *e = &ov->entries[i];

		if (hashed_here(e, keep)) {
			hs->item[hs->n++] = i;
			hs->total_bytes += e->size;
		}
	}
	hs->ov = ov;
	hs->keep = keep;
	hs->start = hb_now();
	pthread_mutex_init(&hs->lock, NULL);
	pthread_cond_init(&hs->done_cv, NULL);
	pthread_cond_init(&hs->room_cv, NULL);
	want = hash_threads();
	if ((size_t)want > hs->n)
		want = hs->n ? (int)hs->n : 0;
	hs->running = want;
	for (int i = 0; i < want; i++) {
		if (pthread_create(&hs->tid[hs->nthreads], NULL, hash_worker, hs) != 0)
			break;
		hs->nthreads++;
	}
	if (hs->nthreads < want) {
		pthread_mutex_lock(&hs->lock);
		hs->running -= want - hs->nthreads;
		pthread_mutex_unlock(&hs->lock);
		if (hs->nthreads == 0) {
			hb_error("overlay: cannot start a hashing thread");
			hashing_free(hs);
			return -EAGAIN;
		}
	}
	ov->hashing = hs;
	return 0;
oom:
	hb_error("overlay: out of memory");
	return -ENOMEM;
}

/* Add host (at image path rel, lstat()ed into st: see walk_dir) and, for
 * a directory, what is below it.  host ends in "/" and rel. */
static int walk_dir(struct walk *w, const char *host_dir, const char *rel);

static int walk_one(struct walk *w, const char *host, const char *rel, const struct stat *stp)
{
	struct overlay_entry *e;
	struct stat st = *stp;
	int r;

	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
		hb_error("%s: is %s: an overlay holds only files, directories and symlinks",
			 host, refused_type(st.st_mode));
		return -EINVAL;
	}
	e = entries_push(&w->es);
	if (e == NULL) {
		hb_error("%s: out of memory", host);
		return -ENOMEM;
	}
	if (S_ISREG(st.st_mode)) {
		/* One string for both paths: the image path is the host
		 * path's tail. */
		e->host_path = strdup(host);
		if (e->host_path)
			e->path = e->host_path + strlen(host) - strlen(rel);
	} else {
		e->path = strdup(rel);
	}
	if (e->path == NULL) {
		hb_error("%s: out of memory", host);
		return -ENOMEM;
	}
	set_meta(e, &st);

	if (S_ISDIR(st.st_mode)) {
		e->type = OVERLAY_DIR;
		return walk_dir(w, host, rel);
	}
	if (S_ISLNK(st.st_mode)) {
		e->type = OVERLAY_SYMLINK;
		r = read_link(host, (size_t)st.st_size, &e->target);
		if (r < 0)
			return r;
		e->size = strlen(e->target);
		return 0;
	}

	e->type = OVERLAY_FILE;
	e->size = (uint64_t)st.st_size;
	if (st.st_nlink > 1) {
		e->host_dev = st.st_dev;
		e->host_ino = st.st_ino;
		e->host_source = w->source;
	}
	/* Known to the digest cache as it is: not opened at all (the
	 * injection checks what it copies or maps against this digest).
	 * Else hashed by the threads of overlay_start(), its metadata then
	 * taken from the opened file, so that it matches the hashed bytes. */
	e->pending = !(w->cache && dcache_get(w->cache, &st, e->sha256));
	return 0;
}

/* A name of a directory being walked, with its lstat() (err: its errno). */
struct walk_name {
	char *name;
	int err;
	struct stat st;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct walk_name *)a)->name, ((const struct walk_name *)b)->name);
}

static int walk_dir(struct walk *w, const char *host_dir, const char *rel)
{
	DIR *dp;
	struct dirent *de;
	struct walk_name *names = NULL;
	size_t n = 0, cap = 0, i;
	size_t hlen = strlen(host_dir), rlen = strlen(rel);
	char *host = NULL, *path = NULL;
	int r = 0;

	/* Read the names and lstat() them by name in the open directory
	 * (not by the whole path: no walk from the root per name), then
	 * close the directory, so that the depth of the tree costs no file
	 * descriptors. */
	dp = opendir(host_dir);
	if (dp == NULL) {
		r = -errno;
		hb_error("%s: cannot read directory: %s", host_dir, strerror(-r));
		return r;
	}
	for (;;) {
		size_t len;

		errno = 0;
		de = readdir(dp);
		if (de == NULL) {
			if (errno != 0) {
				r = -errno;
				hb_error("%s: cannot read directory: %s", host_dir, strerror(-r));
			}
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		len = strlen(de->d_name);
		if (len > OVERLAY_NAME_MAX) {
			hb_error("%s/%s: name is %zu bytes long, longer than the %d bytes "
				 "ext2/3/4 allows", host_dir, de->d_name, len, OVERLAY_NAME_MAX);
			r = -EINVAL;
			break;
		}
		if (n == cap) {
			struct walk_name *v;

			cap = cap ? 2 * cap : 32;
			v = realloc(names, cap * sizeof *v);
			if (v == NULL) {
				r = -ENOMEM;
				break;
			}
			names = v;
		}
		names[n].name = strdup(de->d_name);
		if (names[n].name == NULL) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	/* Sorted only so that errors and hard-link leaders found during the
	 * walk do not depend on readdir order; the list is sorted again. */
	if (r == 0 && n > 1)
		qsort(names, n, sizeof *names, name_cmp);
	for (i = 0; i < n && r == 0; i++)
		names[i].err = fstatat(dirfd(dp), names[i].name, &names[i].st,
				       AT_SYMLINK_NOFOLLOW) != 0 ? errno : 0;
	closedir(dp);
	if (r == -ENOMEM)
		hb_error("%s: out of memory", host_dir);

	/* host_dir/NAME and rel/NAME, built in place. */
	if (r == 0 && n > 0) {
		host = malloc(hlen + 1 + OVERLAY_NAME_MAX + 1);
		path = malloc(rlen + 1 + OVERLAY_NAME_MAX + 1);
		if (host == NULL || path == NULL) {
			hb_error("%s: out of memory", host_dir);
			r = -ENOMEM;
		} else {
			memcpy(host, host_dir, hlen);
			host[hlen++] = '/';
			memcpy(path, rel, rlen);
			if (rlen)
				path[rlen++] = '/';
		}
	}
	for (i = 0; i < n && r == 0; i++) {
		size_t len = strlen(names[i].name) + 1;

		memcpy(host + hlen, names[i].name, len);
		memcpy(path + rlen, names[i].name, len);
		if (names[i].err) {
			r = -names[i].err;
			hb_error("%s: %s", host, strerror(-r));
		} else {
			r = walk_one(w, host, path, &names[i].st);
		}
	}
	free(host);
	free(path);
	for (i = 0; i < n; i++)
		free(names[i].name);
	free(names);
	return r;
}

void overlay_init(struct overlay *ov)
{
	memset(ov, 0, sizeof *ov);
}

/* Merge the sorted, duplicate-free list src into ov (also sorted): equal
 * paths take src's entry.  src's entries are moved, its array freed. */
static int merge(struct overlay *ov, struct entries *src, const char *dir)
{
	struct overlay_entry *out;
	size_t i = 0, j = 0, k = 0;

	/* Refuse first, so that a conflict changes nothing. */
	while (i < ov->n && j < src->n) {
		int c = strcmp(ov->entries[i].path, src->v[j].path);

		if (c == 0 && (ov->entries[i].type == OVERLAY_DIR) !=
			      (src->v[j].type == OVERLAY_DIR)) {
			hb_error("%s/%s: a %s cannot replace the %s of an earlier overlay",
				 dir, src->v[j].path, type_name(src->v[j].type),
				 type_name(ov->entries[i].type));
			return -EINVAL;
		}
		if (c <= 0)
			i++;
		if (c >= 0)
			j++;
	}

	out = malloc((ov->n + src->n + 1) * sizeof *out);
	if (out == NULL) {
		hb_error("%s: out of memory", dir);
		return -ENOMEM;
	}
	i = j = 0;
	while (i < ov->n || j < src->n) {
		int c = i == ov->n ? 1 : j == src->n ? -1 :
			strcmp(ov->entries[i].path, src->v[j].path);

		if (c < 0)
			out[k++] = ov->entries[i++];
		else {
			if (c == 0)
				entry_free(&ov->entries[i++]);
			out[k++] = src->v[j++];
		}
	}
	free(ov->entries);
	ov->entries = out;
	ov->n = k;
	free(src->v);
	src->v = NULL;
	src->n = src->cap = 0;
	return 0;
}

int overlay_add_dir(struct overlay *ov, const char *dir)
{
	struct walk w = { .es = { NULL, 0, 0 }, .source = ov->n_dirs + 1, .cache = ov->cache };
	struct stat st;
	int r;

	/* The overlay root itself may be a symlink (a command-line path);
	 * only what is below it is never followed. */
	if (stat(dir, &st) != 0) {
		r = -errno;
		hb_error("%s: overlay directory: %s", dir, strerror(-r));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		hb_error("%s: overlay is not a directory", dir);
		return -ENOTDIR;
	}
	r = walk_dir(&w, dir, "");
	if (r == 0) {
		if (w.es.n > 1)
			qsort(w.es.v, w.es.n, sizeof *w.es.v, entry_cmp);
		r = merge(ov, &w.es, dir);
	}
	if (r == 0)
		ov->n_dirs++;
	entries_free(&w.es);
	return r;
}

/* Normalise an image path: drop leading, trailing and doubled '/';
 * refuse "." and "..", empty paths and over-long components. */
static int normalise(const char *dest, char **out)
{
	char *p = malloc(strlen(dest) + 1), *o = p;
	const char *s = dest;

	if (p == NULL) {
		hb_error("%s: out of memory", dest);
		return -ENOMEM;
	}
	while (*s) {
		size_t len;

		while (*s == '/')
			s++;
		len = strcspn(s, "/");
		if (len == 0)
			break;
		if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.')) {
			hb_error("%s: '.' and '..' are not allowed in an image path", dest);
			free(p);
			return -EINVAL;
		}
		if (len > OVERLAY_NAME_MAX) {
			hb_error("%s: a name is %zu bytes long, longer than the %d bytes "
				 "ext2/3/4 allows", dest, len, OVERLAY_NAME_MAX);
			free(p);
			return -EINVAL;
		}
		if (o != p)
			*o++ = '/';
		memcpy(o, s, len);
		o += len;
		s += len;
	}
	*o = '\0';
	if (o == p) {
		hb_error("'%s': empty image path", dest);
		free(p);
		return -EINVAL;
	}
	*out = p;
	return 0;
}

/* Insert e (whose path is not in ov) at its sorted place. */
static int insert(struct overlay *ov, const struct overlay_entry *e)
{
	struct overlay_entry *v = realloc(ov->entries, (ov->n + 1) * sizeof *v);
	size_t lo = 0, hi;

	if (v == NULL)
		return -ENOMEM;
	ov->entries = v;
	hi = ov->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (strcmp(v[mid].path, e->path) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	memmove(&v[lo + 1], &v[lo], (ov->n - lo) * sizeof *v);
	v[lo] = *e;
	ov->n++;
	return 0;
}

int overlay_add_file(struct overlay *ov, const char *dest, const char *host_path, mode_t mode)
{
	CLEANUP_FREE char *path = NULL;
	struct overlay_entry e = { .type = OVERLAY_FILE, .link_leader = -1 };
	struct overlay_entry *old;
	struct stat st;
	char *slash;
	int r;

	r = normalise(dest, &path);
	if (r < 0)
		return r;

	/* Check every parent before changing anything. */
	for (slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
		const struct overlay_entry *p;

		*slash = '\0';
		p = overlay_find(ov, path);
		if (p && p->type != OVERLAY_DIR) {
			hb_error("%s: %s is a %s in the overlay, not a directory",
				 dest, path, type_name(p->type));
			*slash = '/';
			return -EINVAL;
		}
		*slash = '/';
	}
	old = (struct overlay_entry *)overlay_find(ov, path);
	if (old && old->type == OVERLAY_DIR) {
		hb_error("%s: a file cannot replace the directory of an earlier overlay", dest);
		return -EINVAL;
	}

	/* A file named on the command line may be a symlink to a build
	 * output: follow it, unlike symlinks inside an overlay directory. */
	r = hash_file(&e, host_path, 0, ov->cache, &st);
	if (r < 0)
		return r;
	set_meta(&e, &st);
	/* Explicit files go to system paths (/sbin/m5, /root): owned by
	 * root, whoever runs hackbackfs. */
	e.uid = 0;
	e.gid = 0;
	if (mode != 0)
		e.mode = mode & 07777;

	for (slash = strchr(path, '/'); slash; slash = strchr(slash + 1, '/')) {
		struct overlay_entry d = {
			.type = OVERLAY_DIR, .mode = 0755, .link_leader = -1,
			.mtime_sec = e.mtime_sec, .mtime_nsec = e.mtime_nsec,
		};

		*slash = '\0';
		if (overlay_find(ov, path) == NULL) {
			d.path = strdup(path);
			if (d.path == NULL || insert(ov, &d) < 0) {
				free(d.path);
				*slash = '/';
				hb_error("%s: out of memory", dest);
				return -ENOMEM;
			}
		}
		*slash = '/';
	}

	e.path = strdup(path);
	/* The injection opens host_path again without following a
	 * symlink: keep where this one led (the file hashed above). */
	e.host_path = realpath(host_path, NULL);
	if (e.path == NULL || e.host_path == NULL) {
		entry_free(&e);
		hb_error("%s: out of memory", dest);
		return -ENOMEM;
	}
	old = (struct overlay_entry *)overlay_find(ov, path);
	if (old) {
		entry_free(old);
		*old = e;
		return 0;
	}
	if (insert(ov, &e) < 0) {
		entry_free(&e);
		hb_error("%s: out of memory", dest);
		return -ENOMEM;
	}
	return 0;
}

/* Hard links: order the multiply-linked files by overlay directory and
 * host inode, then by index, so that each group's first entry in path
 * order leads it.  Two overlay directories never share a group: they
 * are independent sources, whatever the host's inodes say. */
struct link_key {
	unsigned source;
	dev_t dev;
	ino_t ino;
	size_t idx;
};

static int link_cmp(const void *a, const void *b)
{
	const struct link_key *x = a, *y = b;

	if (x->source != y->source)
		return x->source < y->source ? -1 : 1;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int resolve_links(struct overlay *ov)
{
	struct link_key *k;
	size_t n = 0, i, leader = 0;

	for (i = 0; i < ov->n; i++)
		ov->entries[i].link_leader = -1;
	k = malloc((ov->n + 1) * sizeof *k);
	if (k == NULL) {
		hb_error("overlay: out of memory");
		return -ENOMEM;
	}
	for (i = 0; i < ov->n; i++) {
		const struct overlay_entry *e = &ov->entries[i];

		if (e->type == OVERLAY_FILE && e->host_source != 0)
			k[n++] = (struct link_key){ e->host_source, e->host_dev, e->host_ino, i };
	}
	if (n > 1)
		qsort(k, n, sizeof *k, link_cmp);
	for (i = 0; i < n; i++) {
		if (i == 0 || k[i].source != k[i - 1].source ||
		    k[i].dev != k[i - 1].dev || k[i].ino != k[i - 1].ino)
			leader = k[i].idx;
		else
			ov->entries[k[i].idx].link_leader = (long)leader;
	}
	free(k);
	return 0;
}

static int hash_entries(struct overlay *ov)
{
	struct digest *d;
	size_t i;
	int r;

	r = digest_new(&d);
	if (r < 0)
		goto fail;
	r = digest_str(d, OVERLAY_FORMAT);
	if (r == 0)
		r = digest_u64(d, (uint64_t)!!ov->keep_mtime);
	if (r == 0)
		r = digest_u64(d, ov->n);
	for (i = 0; i < ov->n && r == 0; i++) {
		const struct overlay_entry *e = &ov->entries[i];
		static const char code[] = { [OVERLAY_DIR] = 'd', [OVERLAY_FILE] = 'f',
					     [OVERLAY_SYMLINK] = 'l' };

		if ((r = digest_str(d, e->path)) < 0 ||
		    (r = digest_u64(d, (uint64_t)code[e->type])) < 0 ||
		    (r = digest_u64(d, e->mode)) < 0 ||
		    (r = digest_u64(d, e->uid)) < 0 ||
		    (r = digest_u64(d, e->gid)) < 0 ||
		    (r = digest_u64(d, e->size)) < 0)
			break;
		if (ov->keep_mtime &&
		    ((r = digest_u64(d, (uint64_t)e->mtime_sec)) < 0 ||
		     (r = digest_u64(d, (uint64_t)e->mtime_nsec)) < 0))
			break;
		if (e->type == OVERLAY_FILE) {
			if ((r = digest_bytes(d, e->sha256, DIGEST_LEN)) < 0)
				break;
			r = digest_u64(d, (uint64_t)(int64_t)e->link_leader);
		} else if (e->type == OVERLAY_SYMLINK)
			r = digest_str(d, e->target);
	}
	if (r < 0) {
		digest_free(d);
		goto fail;
	}
	r = digest_final(d, ov->digest);
	if (r == 0)
		return 0;
fail:
	hb_error("overlay: cannot compute the digest: %s", strerror(-r));
	return r;
}

/* Names of one inode have one set of values: the group leader's. */
static void copy_values(struct overlay_entry *e, const struct overlay_entry *o)
{
	memcpy(e->sha256, o->sha256, DIGEST_LEN);
	e->size = o->size;
	e->mode = o->mode;
	e->uid = o->uid;
	e->gid = o->gid;
	e->mtime_sec = o->mtime_sec;
	e->mtime_nsec = o->mtime_nsec;
	e->ctime_sec = o->ctime_sec;
	e->ctime_nsec = o->ctime_nsec;
	e->pending = 0;
}

static int start(struct overlay *ov, int keep)
{
	int r;

	if (ov->hashing) {
		hb_error("overlay: started twice");
		return -EINVAL;
	}
	/* The list is kept sorted by every add; nothing to sort here.  A
	 * pending file's mode is masked when its metadata is final. */
	for (size_t i = 0; i < ov->n; i++)
		if (ov->entries[i].type != OVERLAY_SYMLINK && !ov->entries[i].pending)
			ov->entries[i].mode &= ~(ov->umask & 07777);
	r = resolve_links(ov);
	if (r < 0)
		return r;
	ov->total_file_bytes = 0;
	for (size_t i = 0; i < ov->n; i++)
		if (ov->entries[i].type == OVERLAY_FILE && ov->entries[i].link_leader < 0)
			ov->total_file_bytes += ov->entries[i].size;
	return hashing_start(ov, keep);
}

int overlay_start(struct overlay *ov)
{
	return start(ov, 1);
}

int overlay_finish(struct overlay *ov)
{
	int r = start(ov, 0);

	return r < 0 ? r : overlay_end(ov);
}

/* The item of entry i in the run, or where it would be. */
static size_t item_of(const struct hashing *hs, size_t i)
{
	size_t lo = 0, hi = hs->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (hs->item[mid] < i)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

#define GIVE_UP_EVERY 64	/* items taken between two give_up()s */

int overlay_take(struct overlay *ov, size_t i, const unsigned char **bytes)
{
	struct hashing *hs = ov->hashing;
	size_t k;
	int r = 0, found;

	*bytes = NULL;
	if (hs == NULL)
		return 0;
	k = item_of(hs, i);
	found = k < hs->n && hs->item[k] == i;
	/* Without the lock when the file is hashed and little is to be
	 * given up: only this thread moves base, and the release store of
	 * the item's state publishes the entry and its bytes. */
	if (k - hs->base < GIVE_UP_EVERY &&
	    (!found || atomic_load_explicit(&hs->state[k], memory_order_acquire) == ITEM_DONE)) {
		if (found)
			*bytes = hs->kept[k];
		return 0;
	}
	pthread_mutex_lock(&hs->lock);
	if (k > hs->base)
		give_up(hs, k);
	if (found) {
		while (hs->state[k] == ITEM_QUEUED && hs->running > 0)
			wait_done(hs);
		if (hs->state[k] == ITEM_DONE) {
			*bytes = hs->kept[k];
		} else {
			/* The items before k were taken, so hashed: this is
			 * the first failure, or no thread was left to try. */
			r = hs->fail_r && hs->fail_k == k ? hs->fail_r : -EAGAIN;
			hb_error("%s", hs->fail_r && hs->fail_k == k ? hs->fail_msg :
				 "overlay: the hashing threads stopped");
		}
	}
	pthread_mutex_unlock(&hs->lock);
	return r;
}

size_t overlay_hashed(const struct overlay *ov, uint64_t *bytes)
{
	struct hashing *hs = ov->hashing;
	size_t n;

	*bytes = 0;
	if (hs == NULL)
		return 0;
	pthread_mutex_lock(&hs->lock);
	n = hs->done_files;
	*bytes = hs->done_bytes;
	pthread_mutex_unlock(&hs->lock);
	return n;
}

int overlay_end(struct overlay *ov)
{
	struct hashing *hs = ov->hashing;
	int r = 0;

	if (hs == NULL)
		return 0;
	pthread_mutex_lock(&hs->lock);
	hs->keep = 0;		/* no one takes bytes any more: no window */
	give_up(hs, hs->n);
	while (hs->running > 0)
		wait_done(hs);
	if (hs->done_files > 0 && hb_progress_due())
		hash_progress(hs);
	if (hs->fail_r) {
		r = hs->fail_r;
		hb_error("%s", hs->fail_msg);
	}
	pthread_mutex_unlock(&hs->lock);
	hb_progress_end();
	hashing_free(hs);
	ov->hashing = NULL;
	if (r < 0)
		return r;

	ov->total_file_bytes = 0;
	for (size_t i = 0; i < ov->n; i++) {
		struct overlay_entry *e = &ov->entries[i];

		if (e->type != OVERLAY_FILE)
			continue;
		if (e->link_leader >= 0)
			copy_values(e, &ov->entries[e->link_leader]);
		else
			ov->total_file_bytes += e->size;
	}
	return hash_entries(ov);
}

const struct overlay_entry *overlay_find(const struct overlay *ov, const char *path)
{
	if (ov->n == 0)
		return NULL;
	return bsearch(path, ov->entries, ov->n, sizeof *ov->entries, key_cmp);
}

void overlay_free(struct overlay *ov)
{
	size_t i;

	hashing_free(ov->hashing);
	for (i = 0; i < ov->n; i++)
		entry_free(&ov->entries[i]);
	free(ov->entries);
	overlay_init(ov);
}
