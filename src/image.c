/* SPDX-License-Identifier: BSD-3-Clause */
/* image.c -- base file + synthesized delta + guest-write layer (image.h).
 *
 * A read is cut into DELTA_UNIT pieces, each answered by the topmost layer
 * that holds the unit (cow, then synth, then the base file), and the pieces
 * are merged back into as few segments as possible; the segments are then
 * copied into the caller's buffer and their source files checked (image.h:
 * a read never hands out a reference to a source file's pages).
 *
 * The guest-write layer lives in memory or, with -o cow=FILE, in a file
 * whose format is cow.c's business: this file maps its records into the
 * cow delta and appends to it.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cow.h"
#include "image-impl.h"
#include "util.h"

#include <stdatomic.h>

/* Record fd (the file at path) as a source, as it is now. */
static int add_source(struct image *img, int fd, const char *path)
{
	struct image_source *src;
	struct stat st;

	if (fd < 0)
		return -EBADF;
	if (fstat(fd, &st) < 0) {
		int r = -errno;
		hb_error("%s: %s", path, strerror(errno));
		return r;
	}
	if (fd >= img->nby_fd) {
		int n = HB_MAX(fd + 1, 2 * img->nby_fd);
		struct image_source **v = realloc(img->by_fd, (size_t)n * sizeof *v);
		if (!v)
			return -ENOMEM;
		memset(v + img->nby_fd, 0, (size_t)(n - img->nby_fd) * sizeof *v);
		img->by_fd = v;
		img->nby_fd = n;
	}
	src = calloc(1, sizeof *src);
	if (!src || !(src->path = strdup(path))) {
		free(src);
		return -ENOMEM;
	}
	src->fd = fd;
	src->dev = st.st_dev;
	src->ino = st.st_ino;
	src->size = st.st_size;
	src->mtime = st.st_mtim;
	free(img->by_fd[fd] ? img->by_fd[fd]->path : NULL);
	free(img->by_fd[fd]);
	img->by_fd[fd] = src;
	return 0;
}

static void free_sources(struct image *img)
{
	for (int i = 0; i < img->nby_fd; i++) {
		if (img->by_fd[i])
			free(img->by_fd[i]->path);
		free(img->by_fd[i]);
	}
	free(img->by_fd);
	img->by_fd = NULL;
	img->nby_fd = 0;
}

/* Is src still what it was?  A change is reported once, and for good. */
static int check_source(struct image_source *src)
{
	struct stat st;
	int expected = 0;
	const char *what;

	if (atomic_load_explicit(&src->stale, memory_order_relaxed))
		return -EIO;
	if (fstat(src->fd, &st) < 0)
		what = "can no longer be examined";
	else if (st.st_dev != src->dev || st.st_ino != src->ino)
		what = "was replaced";
	else if (st.st_size != src->size)
		what = "changed size";
	else if (st.st_mtim.tv_sec != src->mtime.tv_sec || st.st_mtim.tv_nsec != src->mtime.tv_nsec)
		what = "was modified (its mtime moved)";
	else
		return 0;
	if (atomic_compare_exchange_strong(&src->stale, &expected, 1))
		hb_error("%s %s since the image was built: reads of the bytes it holds now fail "
			 "with EIO (remount to serve the new content as a new image)", src->path, what);
	return -EIO;
}

int image_check_sources(struct image *img, const struct image_seg *segs, int n)
{
	int last = -1;

	for (int i = 0; i < n; i++) {
		int fd = segs[i].fd;
		int r;

		if (fd < 0 || fd == last || fd >= img->nby_fd || !img->by_fd[fd])
			continue;
		last = fd;
		if ((r = check_source(img->by_fd[fd])) < 0)
			return r;
	}
	return 0;
}

int image_open(struct image **out, const char *base_path, int which)
{
	struct image *img;
	struct stat st;
	int r;

	img = calloc(1, sizeof *img);
	if (!img)
		return -ENOMEM;
	img->base_fd = -1;
	img->cow_fd = -1;
	img->cow_id = -1;
	pthread_rwlock_init(&img->lock, NULL);
	/* Absolute, for the manifest; the path as given if that fails. */
	img->base_path = realpath(base_path, NULL);
	if (!img->base_path)
		img->base_path = strdup(base_path);
	if (!img->base_path) {
		r = -ENOMEM;
		goto fail;
	}
	img->base_fd = open(base_path, O_RDONLY | O_CLOEXEC);
	if (img->base_fd < 0) {
		r = -errno;
		hb_error("base image %s: %s", base_path, strerror(errno));
		goto fail;
	}
	if (fstat(img->base_fd, &st) < 0) {
		r = -errno;
		hb_error("base image %s: %s", base_path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		hb_error("base image %s is not a regular file", base_path);
		goto fail;
	}
	img->size = (uint64_t)st.st_size;
	if ((r = add_source(img, img->base_fd, img->base_path)) < 0)
		goto fail;
	r = partition_probe(img->base_fd, base_path, which, &img->part);
	if (r < 0)
		goto fail;
	img->synth = delta_new(0);
	if (!img->synth) {
		r = -ENOMEM;
		goto fail;
	}
	/* The build's units: small files and fresh inode table units end in
	 * zeros, kept short.  Guest writes (img->cow) count whole units
	 * against the cow limit, as documented. */
	delta_allow_short(img->synth);
	*out = img;
	return 0;

fail:
	image_close(img);
	return r;
}

void image_close(struct image *img)
{
	if (!img)
		return;
	if (img->base_fd >= 0)
		close(img->base_fd);
	delta_free(img->synth);	/* closes the adopted overlay fds */
	delta_free(img->cow);	/* closes cow_fd */
	free(img->base_win);
	pthread_rwlock_destroy(&img->lock);
	free_sources(img);
	free(img->base_path);
	free(img);
}

uint64_t image_size(const struct image *img)
{
	return img->size;
}

const char *image_base_path(const struct image *img)
{
	return img->base_path;
}

const struct partition *image_partition(const struct image *img)
{
	return &img->part;
}

int image_readonly(const struct image *img)
{
	return img->readonly;
}

int image_base_stat(const struct image *img, struct stat *st)
{
	return fstat(img->base_fd, st) < 0 ? -errno : 0;
}

int image_base_fingerprint(const struct image *img, int full, unsigned char out[DIGEST_LEN])
{
	return digest_base_fingerprint(img->base_fd, img->size, full, out);
}

/* Where unit's bytes are: 1 and *src from a delta, or 0 for the base. */
static int unit_source(const struct image *img, uint64_t unit, struct delta_src *src)
{
	if (img->cow && delta_lookup(img->cow, unit, src))
		return 1;
	return delta_lookup(img->synth, unit, src);
}

/* Append [fd/mem, len) to the segment list, merging with the last one when
 * it continues it.  Returns 0, or 1 when the list is full. */
static int add_seg(struct image_seg *segs, int *n, int max,
		   int fd, uint64_t pos, const unsigned char *mem, size_t len)
{
	if (*n > 0) {
		struct image_seg *last = &segs[*n - 1];
		if (fd >= 0 && last->fd == fd && last->pos + last->len == pos) {
			last->len += len;
			return 0;
		}
		if (mem && last->fd < 0 && last->mem && last->mem + last->len == mem) {
			last->len += len;
			return 0;
		}
		if (fd < 0 && !mem && last->fd < 0 && !last->mem) {
			last->len += len;	/* zeros */
			return 0;
		}
	}
	if (*n == max)
		return 1;
	segs[*n] = (struct image_seg){ .fd = fd, .pos = pos, .mem = mem, .len = len };
	(*n)++;
	return 0;
}

static int segments_locked(struct image *img, uint64_t off, size_t len,
			   struct image_seg *segs, int max)
{
	uint64_t end;
	int n = 0;

	if (off >= img->size || len == 0)
		return 0;
	end = HB_MIN(off + len, img->size);
	while (off < end) {
		uint64_t unit = off / DELTA_UNIT;
		uint64_t in = off % DELTA_UNIT;
		size_t piece = (size_t)HB_MIN(DELTA_UNIT - in, end - off);
		struct delta_src src;
		int full;

		if (unit_source(img, unit, &src)) {
			if (src.mem) {
				/* A short unit: its bytes, then zeros. */
				size_t m = in < src.mem_len ? HB_MIN(piece, src.mem_len - in) : 0;
				full = m && add_seg(segs, &n, max, -1, 0, src.mem + in, m);
				if (!full && m < piece)
					full = add_seg(segs, &n, max, -1, 0, NULL, piece - m);
			} else
				full = add_seg(segs, &n, max, src.fd, src.pos + in, NULL, piece);
		} else {
			full = add_seg(segs, &n, max, img->base_fd, off, NULL, piece);
		}
		if (full)
			break;
		off += piece;
	}
	return n;
}

int image_segments(struct image *img, uint64_t off, size_t len, struct image_seg *segs, int max)
{
	int n;

	if (!img->frozen)
		return segments_locked(img, off, len, segs, max);
	pthread_rwlock_rdlock(&img->lock);
	n = segments_locked(img, off, len, segs, max);
	pthread_rwlock_unlock(&img->lock);
	return n;
}

/* Copy segments into buf.  Returns bytes copied or -errno. */
static ssize_t copy_segs(const struct image_seg *segs, int n, unsigned char *buf)
{
	size_t done = 0;

	for (int i = 0; i < n; i++) {
		const struct image_seg *s = &segs[i];
		if (s->fd >= 0) {
			ssize_t r = hb_pread_full(s->fd, buf + done, s->len, s->pos);
			if (r < 0)
				return r;
			/* A file that shrank under us reads as zeros. */
			memset(buf + done + r, 0, s->len - (size_t)r);
		} else if (s->mem) {
			memcpy(buf + done, s->mem, s->len);
		} else {
			memset(buf + done, 0, s->len);
		}
		done += s->len;
	}
	return (ssize_t)done;
}

static ssize_t read_locked(struct image *img, void *buf, size_t len, uint64_t off)
{
	struct image_seg segs[32];
	size_t done = 0;

	while (done < len) {
		int n = segments_locked(img, off + done, len - done, segs, HB_ARRAY_SIZE(segs));
		ssize_t r;
		if (n <= 0)
			break;
		r = copy_segs(segs, n, (unsigned char *)buf + done);
		if (r < 0)
			return r;
		/* After the copy, never before: see image.h. */
		int c = image_check_sources(img, segs, n);
		if (c < 0)
			return c;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

ssize_t image_read(struct image *img, void *buf, size_t len, uint64_t off)
{
	ssize_t r;

	if (!img->frozen)
		return read_locked(img, buf, len, off);
	pthread_rwlock_rdlock(&img->lock);
	r = read_locked(img, buf, len, off);
	pthread_rwlock_unlock(&img->lock);
	return r;
}

void image_readahead(struct image *img, uint64_t off, uint64_t len)
{
	struct image_seg segs[64];
	uint64_t end = HB_MIN(off + len, img->size);

	while (off < end) {
		int n = image_segments(img, off, (size_t)HB_MIN(end - off, (uint64_t)1 << 30),
				       segs, HB_ARRAY_SIZE(segs));
		if (n <= 0)
			return;
		for (int i = 0; i < n; i++) {
			if (segs[i].fd >= 0)
				posix_fadvise(segs[i].fd, (off_t)segs[i].pos, (off_t)segs[i].len,
					      POSIX_FADV_WILLNEED);
			off += segs[i].len;
		}
	}
}

#define BASE_WIN_UNITS 32	/* units in one window */
#define BASE_WINS 16		/* windows, least recently used replaced */
#define BASE_WIN_HDR 24		/* first unit + 1 (0: empty), units read, last use */
#define BASE_WIN_SIZE (BASE_WIN_HDR + BASE_WIN_UNITS * DELTA_UNIT)

/* BASE's bytes of unit, through the windows in img->base_win, or NULL
 * (past the end, or unreadable: the unit is then stored).  An injection
 * writes to a few places at once (inode table, data, directories, bitmaps),
 * each sequentially: a window each, whatever their addresses (a window
 * picked by address made the inode table and the data evict each other). */
static const unsigned char *base_unit(struct image *img, uint64_t unit)
{
	uint64_t first = unit - unit % BASE_WIN_UNITS, oldest = UINT64_MAX;
	unsigned char *win = NULL;
	ssize_t got;

	if (!img->base_win) {
		img->base_win = calloc(BASE_WINS, BASE_WIN_SIZE);
		if (!img->base_win)
			return NULL;
	}
	img->base_win_clock++;
	for (size_t w = 0; w < BASE_WINS; w++) {
		unsigned char *c = img->base_win + w * BASE_WIN_SIZE;
		uint64_t used = hb_get_le(c + 16, 8);
		if (hb_get_le(c, 8) == first + 1) {
			win = c;
			break;
		}
		if (used < oldest) {
			oldest = used;
			win = c;
		}
	}
	if (hb_get_le(win, 8) != first + 1) {
		got = hb_pread_full(img->base_fd, win + BASE_WIN_HDR, BASE_WIN_UNITS * DELTA_UNIT,
				    first * DELTA_UNIT);
		hb_put_le(win, first + 1, 8);
		hb_put_le(win + 8, got < 0 ? 0 : (uint64_t)got / DELTA_UNIT, 8);
	}
	hb_put_le(win + 16, img->base_win_clock, 8);
	if (unit - first >= hb_get_le(win + 8, 8))
		return NULL;
	return win + BASE_WIN_HDR + (unit - first) * DELTA_UNIT;
}

/* Store one whole unit in the writable layer. */
static int store_unit(struct image *img, uint64_t unit, const unsigned char *data)
{
	struct delta_src src;
	ssize_t r;

	if (!img->frozen) {
		/* libext2fs rewrites every bitmap and group descriptor when it
		 * closes, most of them unchanged: a unit equal to the base's
		 * stays with the base (less memory, and nothing for an
		 * export to compare). */
		if (!delta_lookup(img->synth, unit, &src)) {
			const unsigned char *old = base_unit(img, unit);
			if (old && memcmp(old, data, DELTA_UNIT) == 0)
				return 0;
		}
		return delta_put(img->synth, unit, data);
	}
	if (img->cow_fd < 0)
		return delta_put(img->cow, unit, data);

	if (delta_lookup(img->cow, unit, &src)) {
		r = hb_pwrite_full(img->cow_fd, data, DELTA_UNIT, src.pos);
		return r < 0 ? (int)r : 0;
	}
	if ((r = cow_append(img->cow_fd, img->cow_next, unit, data)) < 0)
		return (int)r;
	r = delta_map(img->cow, unit, 1, img->cow_id, img->cow_next + 8);
	if (r < 0)
		return (int)r;
	img->cow_next += COW_RECORD;
	return 0;
}

static ssize_t write_locked(struct image *img, const void *buf, size_t len, uint64_t off)
{
	const unsigned char *p = buf;
	unsigned char tmp[DELTA_UNIT];
	uint64_t end;

	if (off >= img->size)
		return len ? -ENOSPC : 0;
	end = HB_MIN(off + len, img->size);
	while (off < end) {
		uint64_t unit = off / DELTA_UNIT;
		uint64_t in = off % DELTA_UNIT;
		size_t piece = (size_t)HB_MIN(DELTA_UNIT - in, end - off);
		const unsigned char *data = p;
		int r;

		if (piece < DELTA_UNIT) {
			/* Read-modify-write; a unit past the end of the image
			 * reads as zeros there. */
			ssize_t got = read_locked(img, tmp, DELTA_UNIT, unit * DELTA_UNIT);
			if (got < 0)
				return got;
			memset(tmp + got, 0, DELTA_UNIT - (size_t)got);
			memcpy(tmp + in, p, piece);
			data = tmp;
		}
		r = store_unit(img, unit, data);
		if (r < 0) {
			/* Report what was written, as write(2) does; the
			 * caller sees the error on its next call. */
			size_t done = (size_t)(p - (const unsigned char *)buf);
			return done ? (ssize_t)done : r;
		}
		p += piece;
		off += piece;
	}
	return (ssize_t)(p - (const unsigned char *)buf);
}

ssize_t image_write(struct image *img, const void *buf, size_t len, uint64_t off)
{
	ssize_t r;

	if (!img->frozen)
		return write_locked(img, buf, len, off);
	if (img->readonly)
		return -EROFS;
	pthread_rwlock_wrlock(&img->lock);
	r = write_locked(img, buf, len, off);
	pthread_rwlock_unlock(&img->lock);
	return r;
}

int image_adopt_fd(struct image *img, int fd, const char *path)
{
	int r = add_source(img, fd, path);
	int id = r < 0 ? r : delta_add_file(img->synth, fd);

	if (id < 0) {
		if (r == 0 && fd < img->nby_fd) {
			free(img->by_fd[fd]->path);
			free(img->by_fd[fd]);
			img->by_fd[fd] = NULL;
		}
		close(fd);
	}
	return id;
}

/* Copy [off, off+len) from fd at pos into the build layer (len < 2 units). */
static int copy_from_fd(struct image *img, uint64_t off, uint64_t len, int fd, uint64_t pos)
{
	unsigned char buf[2 * DELTA_UNIT];
	ssize_t r;

	if (len == 0)
		return 0;
	r = hb_pread_full(fd, buf, (size_t)len, pos);
	if (r < 0)
		return (int)r;
	memset(buf + r, 0, (size_t)len - (size_t)r);
	r = write_locked(img, buf, (size_t)len, off);
	return r < 0 ? (int)r : 0;
}

int image_map_file(struct image *img, uint64_t off, uint64_t len, int file_id, uint64_t pos)
{
	uint64_t end = off + len;
	uint64_t first = (off + DELTA_UNIT - 1) / DELTA_UNIT;	/* first whole unit */
	uint64_t last = end / DELTA_UNIT;			/* one past the last */
	int fd = delta_file_fd(img->synth, file_id);
	int r;

	if (img->frozen || end > img->size || fd < 0)
		return -EINVAL;
	if (first >= last)	/* no whole unit inside: copy it all */
		return copy_from_fd(img, off, len, fd, pos);
	r = copy_from_fd(img, off, first * DELTA_UNIT - off, fd, pos);
	if (r == 0)
		r = delta_map(img->synth, first, last - first, file_id,
			      pos + (first * DELTA_UNIT - off));
	if (r == 0)
		r = copy_from_fd(img, last * DELTA_UNIT, end - last * DELTA_UNIT, fd,
				 pos + (last * DELTA_UNIT - off));
	return r;
}

int image_foreach_built(struct image *img, image_unit_fn fn, void *arg)
{
	unsigned char data[DELTA_UNIT], base[DELTA_UNIT];
	struct delta_iter *it;
	struct delta_src src;
	uint64_t unit;
	int r;

	if ((r = delta_iter_new(img->synth, &it)) < 0) {
		hb_error("walking the image's delta: %s", strerror(-r));
		return r;
	}
	while (r == 0 && delta_iter_next(it, &unit, &src)) {
		struct image_seg segs[2] = {
			{ .fd = src.mem ? -1 : src.fd, .pos = src.pos, .mem = src.mem,
			  .len = src.mem ? src.mem_len : DELTA_UNIT },
			{ .fd = img->base_fd, .pos = unit * DELTA_UNIT },
		};
		uint64_t off = unit * DELTA_UNIT;
		const unsigned char *bytes = src.mem;
		ssize_t got;

		if (off >= img->size)
			continue;
		segs[1].len = (size_t)HB_MIN((uint64_t)DELTA_UNIT, img->size - off);
		if (bytes && src.mem_len < DELTA_UNIT) {
			memcpy(data, bytes, src.mem_len);
			memset(data + src.mem_len, 0, DELTA_UNIT - src.mem_len);
			bytes = data;
		} else if (!bytes) {
			got = hb_pread_full(src.fd, data, DELTA_UNIT, src.pos);
			if (got < 0) {
				r = (int)got;
				hb_error("reading the overlay's data: %s", strerror(-r));
				break;
			}
			memset(data + got, 0, DELTA_UNIT - (size_t)got);	/* as a mount reads it */
			bytes = data;
		}
		got = hb_pread_full(img->base_fd, base, segs[1].len, off);
		if (got != (ssize_t)segs[1].len) {
			r = got < 0 ? (int)got : -EIO;
			hb_error("base image %s: %s", img->base_path,
				 got < 0 ? strerror((int)-got) : "file shrank");
			break;
		}
		/* After the reads, never before: see image.h. */
		if ((r = image_check_sources(img, segs, 2)) < 0)
			break;
		r = fn(off, bytes, base, segs[1].len, arg);
	}
	delta_iter_free(it);
	return r;
}

uint64_t image_built_units(const struct image *img)
{
	return delta_units(img->synth);
}

int image_is_base(const struct image *img, const struct stat *st)
{
	struct stat bst;

	return image_base_stat(img, &bst) == 0 && st->st_dev == bst.st_dev && st->st_ino == bst.st_ino;
}

int image_freeze(struct image *img, uint64_t mem_limit, int readonly)
{
	img->cow = delta_new(mem_limit);
	if (!img->cow)
		return -ENOMEM;
	img->readonly = readonly;
	img->frozen = 1;
	free(img->base_win);	/* the comparison is the build's only */
	img->base_win = NULL;
	return 0;
}

/* cow_load()'s callback: one saved unit into the cow delta. */
static int map_saved(uint64_t unit, uint64_t pos, void *arg)
{
	struct image *img = arg;

	return delta_map(img->cow, unit, 1, img->cow_id, pos);
}

int image_attach_cow(struct image *img, const char *path, const unsigned char id[32])
{
	uint64_t fsize;
	int fd;

	if (!img->frozen)
		return -EINVAL;
	fd = cow_open(path, img->size, id, img->readonly, &fsize);
	if (fd == -ENOENT && img->readonly) {
		hb_info("cow file %s: nothing saved yet; read-only, so none is created", path);
		return 0;
	}
	if (fd < 0)
		return fd;

	/* A cow file that reaches RLIMIT_FSIZE (a Slurm job inherits the
	 * submitting shell's) must fail the write with EFBIG, not kill the
	 * daemon with SIGXFSZ and leave a dead mount.  Process-wide, but the
	 * process is the daemon, and nothing in it wants that signal. */
	signal(SIGXFSZ, SIG_IGN);

	/* Only a file that is ours is written to from here on. */
	img->cow_id = delta_add_file(img->cow, fd);
	if (img->cow_id < 0) {
		close(fd);
		return img->cow_id;
	}
	img->cow_fd = fd;
	img->cow_next = COW_HEADER;
	return cow_load(fd, path, fsize, (img->size + DELTA_UNIT - 1) / DELTA_UNIT, map_saved, img,
			&img->cow_next);
}

int image_flush(struct image *img)
{
	if (img->cow_fd >= 0 && fdatasync(img->cow_fd) < 0)
		return -errno;
	return 0;
}
