/* export.c -- gem5 CowDiskImage file from a built image (see export.h).
 *
 * One pass over the synthesized delta in ascending unit order (the delta's
 * iterator: no copy of the delta, no per-unit memory), each unit compared
 * sector by sector with the base; a sector goes out only when its bytes
 * differ, so a unit the injection rewrote with the base's own bytes costs
 * gem5 nothing.  Records stream through a small buffer; N is written into
 * the header at the end, once known.  Memory: the buffer and the iterator's
 * sorted table keys, whatever the delta's size.
 *
 * Never a half-written FILE.  The data goes to an unnamed file in FILE's
 * directory (O_TMPFILE) that only gets a name once complete and synced:
 * linked as .NAME.PID.tmp and renamed over FILE.  Where the file system
 * has no O_TMPFILE (vfat, NFS before 4.x, ...), a mkstemp() name is used
 * from the start; HB_EXPORT_NO_TMPFILE=1 in the environment forces that
 * path (a test hook: tmpfs and ext4 have O_TMPFILE).  A signal
 * handler removes a temporary name on SIGINT/SIGTERM/SIGHUP/SIGQUIT; the
 * names are created and renamed with those signals blocked, so the handler
 * always knows exactly which names exist.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "util.h"

#define COW_MAGIC "COWDISK!"
#define TRAILER_MAGIC "HBTRAIL1"
#define OUT_BUF (1u << 20)
#define FLAG_FULL_FINGERPRINT 1u

/* Temporary names to remove if a signal ends the program: the one global
 * state here, because a signal handler can reach nothing else.  Only
 * written with the handled signals blocked. */
#define MAX_TEMPS 2
static char temp_names[MAX_TEMPS][PATH_MAX];
static const int handled_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static void on_signal(int sig)
{
	for (int i = 0; i < MAX_TEMPS; i++)
		if (temp_names[i][0])
			unlink(temp_names[i]);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void block_signals(sigset_t *old)
{
	sigset_t set;

	sigemptyset(&set);
	for (size_t i = 0; i < HB_ARRAY_SIZE(handled_signals); i++)
		sigaddset(&set, handled_signals[i]);
	sigprocmask(SIG_BLOCK, &set, old);
}

static void restore_signals(const sigset_t *old)
{
	sigprocmask(SIG_SETMASK, old, NULL);
}

/* One output file on its way to its final name. */
struct out {
	const char *path;	/* final name */
	char dir[PATH_MAX];
	const char *name;	/* last component of path */
	int slot;		/* index in temp_names */
	int fd;
	int anonymous;		/* O_TMPFILE: no name yet */
	unsigned char *buf;
	size_t used;
	uint64_t off;		/* file offset of buf[0] */
};

static void split_path(struct out *o)
{
	const char *slash = strrchr(o->path, '/');

	if (!slash) {
		strcpy(o->dir, ".");
		o->name = o->path;
	} else if (slash == o->path) {
		strcpy(o->dir, "/");
		o->name = slash + 1;
	} else {
		snprintf(o->dir, sizeof o->dir, "%.*s", (int)(slash - o->path), o->path);
		o->name = slash + 1;
	}
}

static int out_open(struct out *o, const char *path, int slot)
{
	sigset_t old;
	mode_t mask;

	memset(o, 0, sizeof *o);
	o->path = path;
	o->slot = slot;
	o->fd = -1;
	split_path(o);
	if (strlen(path) + 32 >= PATH_MAX) {
		hb_error("%s: file name too long", path);
		return -ENAMETOOLONG;
	}
	o->buf = malloc(OUT_BUF);
	if (!o->buf)
		return -ENOMEM;
	if (getenv("HB_EXPORT_NO_TMPFILE")) {
		errno = EOPNOTSUPP;
		o->fd = -1;
	} else {
		o->fd = open(o->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
	}
	if (o->fd >= 0) {
		o->anonymous = 1;
		return 0;
	}
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		int r = -errno;
		hb_error("%s: cannot create a file in %s: %s", path, o->dir, strerror(errno));
		return r;
	}
	block_signals(&old);
	if (snprintf(temp_names[slot], PATH_MAX, "%s/.%s.XXXXXX", o->dir, o->name) >= PATH_MAX)
		errno = ENAMETOOLONG;	/* checked above; cannot happen */
	else
		o->fd = mkostemp(temp_names[slot], O_CLOEXEC);
	if (o->fd < 0) {
		int r = -errno;
		temp_names[slot][0] = '\0';
		restore_signals(&old);
		hb_error("%s: cannot create a file in %s: %s", path, o->dir, strerror(-r));
		return r;
	}
	restore_signals(&old);
	mask = umask(0);
	umask(mask);
	fchmod(o->fd, 0666 & ~mask);
	return 0;
}

static int write_error(const struct out *o, ssize_t r)
{
	int e = r < 0 ? (int)-r : ENOSPC;	/* a short write: the device is full */

	hb_error("%s: %s", o->path, strerror(e));
	return -e;
}

static int out_flush(struct out *o)
{
	ssize_t r;

	if (o->used == 0)
		return 0;
	r = hb_pwrite_full(o->fd, o->buf, o->used, o->off);
	if (r != (ssize_t)o->used)
		return write_error(o, r);
	o->off += o->used;
	o->used = 0;
	return 0;
}

static int out_write(struct out *o, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		size_t n = HB_MIN(len, OUT_BUF - o->used);
		memcpy(o->buf + o->used, p, n);
		o->used += n;
		p += n;
		len -= n;
		if (o->used == OUT_BUF) {
			int r = out_flush(o);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Flush, sync, and give the data a temporary name (for an O_TMPFILE). */
static int out_finish(struct out *o)
{
	char proc[64];
	sigset_t old;
	int r = out_flush(o);

	if (r < 0)
		return r;
	if (fsync(o->fd) < 0)
		return write_error(o, -errno);
	if (!o->anonymous)
		return 0;
	snprintf(proc, sizeof proc, "/proc/self/fd/%d", o->fd);
	block_signals(&old);
	if (snprintf(temp_names[o->slot], PATH_MAX, "%s/.%s.%ld.tmp", o->dir, o->name,
		     (long)getpid()) >= PATH_MAX) {
		r = -ENAMETOOLONG;	/* checked in out_open(); cannot happen */
	} else {
		unlink(temp_names[o->slot]);	/* a stale one of a dead process with our pid */
		if (linkat(AT_FDCWD, proc, AT_FDCWD, temp_names[o->slot], AT_SYMLINK_FOLLOW) < 0)
			r = -errno;
	}
	if (r < 0) {
		temp_names[o->slot][0] = '\0';
		restore_signals(&old);
		hb_error("%s: cannot name the finished file in %s: %s", o->path, o->dir, strerror(-r));
		return r;
	}
	restore_signals(&old);
	return 0;
}

/* Rename the temporary name over the final one. */
static int out_publish(struct out *o)
{
	sigset_t old;
	int r = 0;

	block_signals(&old);
	if (rename(temp_names[o->slot], o->path) < 0) {
		r = -errno;
		unlink(temp_names[o->slot]);
	}
	temp_names[o->slot][0] = '\0';
	restore_signals(&old);
	if (r < 0) {
		hb_error("%s: cannot rename the finished file into place: %s", o->path, strerror(-r));
		return r;
	}
	/* The rename itself, durable (best effort: some file systems refuse). */
	int dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

/* Close, removing the temporary name if it is still there. */
static void out_close(struct out *o)
{
	sigset_t old;

	block_signals(&old);
	if (temp_names[o->slot][0]) {
		unlink(temp_names[o->slot]);
		temp_names[o->slot][0] = '\0';
	}
	restore_signals(&old);
	if (o->fd >= 0)
		close(o->fd);
	o->fd = -1;
	free(o->buf);
	o->buf = NULL;
}

static void header(unsigned char h[EXPORT_HEADER_LEN], uint64_t n)
{
	memcpy(h, COW_MAGIC, 8);
	hb_put_le(h + 8, 1, 4);	/* major */
	hb_put_le(h + 12, 0, 4);	/* minor */
	hb_put_le(h + 16, n, 8);
}

/* Write the sectors of unit that differ from the base. */
static int export_unit(const struct build *b, struct out *o, uint64_t unit,
		       const struct delta_src *src, uint64_t *n)
{
	const struct image *img = b->img;
	unsigned char data[DELTA_UNIT], base[DELTA_UNIT], rec[8];
	const unsigned char *bytes = src->mem;
	uint64_t off = unit * DELTA_UNIT;
	size_t len;
	ssize_t r;

	if (off >= img->size)
		return 0;
	len = (size_t)HB_MIN((uint64_t)DELTA_UNIT, img->size - off);
	if (!bytes) {
		r = hb_pread_full(src->fd, data, DELTA_UNIT, src->pos);
		if (r < 0) {
			hb_error("reading the overlay's data: %s", strerror((int)-r));
			return (int)r;
		}
		memset(data + r, 0, DELTA_UNIT - (size_t)r);	/* as a mount reads it */
		bytes = data;
	}
	r = hb_pread_full(img->base_fd, base, len, off);
	if (r != (ssize_t)len) {
		hb_error("base image %s: %s", img->base_path,
			 r < 0 ? strerror((int)-r) : "file shrank while exporting");
		return r < 0 ? (int)r : -EIO;
	}
	/* A partial last sector is dropped, as gem5's RawDiskImage does. */
	for (size_t s = 0; s + EXPORT_SECTOR <= len; s += EXPORT_SECTOR) {
		int w;
		if (memcmp(bytes + s, base + s, EXPORT_SECTOR) == 0)
			continue;
		hb_put_le(rec, (off + s) / EXPORT_SECTOR, 8);
		if ((w = out_write(o, rec, sizeof rec)) < 0 ||
		    (w = out_write(o, bytes + s, EXPORT_SECTOR)) < 0)
			return w;
		(*n)++;
	}
	return 0;
}

static int write_table(const struct build *b, struct out *o, uint64_t *n)
{
	unsigned char h[EXPORT_HEADER_LEN];
	struct delta_iter *it;
	struct delta_src src;
	uint64_t unit;
	int r;

	*n = 0;
	header(h, 0);	/* N once known */
	if ((r = out_write(o, h, sizeof h)) < 0)
		return r;
	if ((r = delta_iter_new(b->img->synth, &it)) < 0) {
		hb_error("walking the image's delta: %s", strerror(-r));
		return r;
	}
	while (r == 0 && delta_iter_next(it, &unit, &src))
		r = export_unit(b, o, unit, &src, n);
	delta_iter_free(it);
	return r;
}

static int write_trailer(const struct build *b, struct out *o, uint64_t n, int full)
{
	unsigned char t[EXPORT_TRAILER_LEN];

	memcpy(t, TRAILER_MAGIC, 8);
	hb_put_le(t + 8, EXPORT_TRAILER_LEN, 4);
	hb_put_le(t + 12, full ? FLAG_FULL_FINGERPRINT : 0, 4);
	hb_put_le(t + 16, n, 8);
	hb_put_le(t + 24, b->img->size, 8);
	memcpy(t + 32, b->base_fp, DIGEST_LEN);
	memcpy(t + 64, b->ov.digest, DIGEST_LEN);
	memcpy(t + 96, b->layout, DIGEST_LEN);
	memcpy(t + 128, b->digest, DIGEST_LEN);
	return out_write(o, t, sizeof t);
}

/* FILE.json: the manifest with a "cow" member in front. */
static int write_json(const struct build *b, struct out *o, const struct export_result *res)
{
	const char *m = b->manifest ? strchr(b->manifest, '{') : NULL;
	char head[512];
	int len;

	if (!m) {
		hb_error("%s: the image has no manifest", o->path);
		return -EINVAL;
	}
	m++;
	if (*m == '\n')
		m++;
	len = snprintf(head, sizeof head,
		       "{\n  \"cow\": {\"format\": \"gem5 CowDiskImage 1.0\", \"trailer\": \"%s\", "
		       "\"sectors\": %" PRIu64 ", \"file_bytes\": %" PRIu64
		       ", \"gem5_table_bytes\": %" PRIu64 "},\n",
		       TRAILER_MAGIC, res->sectors, res->file_bytes, res->table_bytes);
	int r = out_write(o, head, (size_t)len);
	return r < 0 ? r : out_write(o, m, strlen(m));
}

/* Refuse to rename over BASE itself. */
static int check_not_base(const struct build *b, const char *path)
{
	struct stat st, bst;

	if (stat(path, &st) == 0 && fstat(b->img->base_fd, &bst) == 0 &&
	    st.st_dev == bst.st_dev && st.st_ino == bst.st_ino) {
		hb_error("%s is the base image: choose another output file", path);
		return -EINVAL;
	}
	return 0;
}

int export_check_path(const char *path)
{
	struct out o = { .path = path };
	struct stat st;

	if (!*path) {
		hb_error("--export-cow: empty file name");
		return -EINVAL;
	}
	split_path(&o);
	if (!*o.name || strcmp(o.name, ".") == 0 || strcmp(o.name, "..") == 0 ||
	    (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
		hb_error("--export-cow %s: is a directory, not a file name", path);
		return -EISDIR;
	}
	if (stat(o.dir, &st) < 0) {
		int r = -errno;
		hb_error("--export-cow %s: directory %s: %s", path, o.dir, strerror(errno));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		hb_error("--export-cow %s: %s is not a directory", path, o.dir);
		return -ENOTDIR;
	}
	if (access(o.dir, W_OK | X_OK) < 0) {
		int r = -errno;
		hb_error("--export-cow %s: cannot write in %s: %s", path, o.dir, strerror(errno));
		return r;
	}
	return 0;
}

int export_cow(const struct build *b, const struct build_opts *bo, const char *path,
	       struct export_result *res)
{
	CLEANUP_FREE char *json_path = NULL;
	struct out cow, json;
	struct sigaction sa = { .sa_handler = on_signal }, old_sa[HB_ARRAY_SIZE(handled_signals)];
	void (*old_xfsz)(int);
	unsigned char h[EXPORT_HEADER_LEN];
	ssize_t w;
	int r;

	memset(res, 0, sizeof *res);
	if (asprintf(&json_path, "%s.json", path) < 0) {
		json_path = NULL;
		return -ENOMEM;
	}
	if ((r = check_not_base(b, path)) < 0 || (r = check_not_base(b, json_path)) < 0)
		return r;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < HB_ARRAY_SIZE(handled_signals); i++)
		sigaction(handled_signals[i], &sa, &old_sa[i]);
	old_xfsz = signal(SIGXFSZ, SIG_IGN);	/* a file size limit is an EFBIG, not death */
	memset(&json, 0, sizeof json);
	json.fd = -1;
	json.slot = 1;

	hb_info("exporting the delta (%" PRIu64 " units) to %s", delta_units(b->img->synth), path);
	if ((r = out_open(&cow, path, 0)) < 0)
		goto out;
	if ((r = write_table(b, &cow, &res->sectors)) < 0 ||
	    (r = write_trailer(b, &cow, res->sectors, bo->full_hash)) < 0 ||
	    (r = out_flush(&cow)) < 0)
		goto out;
	header(h, res->sectors);
	w = hb_pwrite_full(cow.fd, h, sizeof h, 0);
	if (w != (ssize_t)sizeof h) {
		r = write_error(&cow, w);
		goto out;
	}
	res->file_bytes = cow.off;
	res->table_bytes = res->sectors * EXPORT_GEM5_ENTRY_BYTES;
	if ((r = out_finish(&cow)) < 0)
		goto out;

	if ((r = out_open(&json, json_path, 1)) < 0 || (r = write_json(b, &json, res)) < 0 ||
	    (r = out_finish(&json)) < 0)
		goto out;
	/* The description first: a FILE in place always has its own. */
	if ((r = out_publish(&json)) < 0)
		goto out;
	if ((r = out_publish(&cow)) < 0) {
		unlink(json_path);
		goto out;
	}
	hb_info("%s: %" PRIu64 " sectors, %" PRIu64 " bytes", path, res->sectors, res->file_bytes);

out:
	out_close(&cow);
	out_close(&json);
	signal(SIGXFSZ, old_xfsz);
	for (size_t i = 0; i < HB_ARRAY_SIZE(handled_signals); i++)
		sigaction(handled_signals[i], &old_sa[i], NULL);
	return r;
}

void export_print(FILE *f, const struct export_result *res)
{
	fprintf(f, "sectors %" PRIu64 "\n", res->sectors);
	fprintf(f, "file_bytes %" PRIu64 "\n", res->file_bytes);
	fprintf(f, "gem5_table_bytes %" PRIu64 "\n", res->table_bytes);
	if (res->table_bytes > EXPORT_WARN_TABLE_BYTES)
		fprintf(stderr,
			"%s: warning: gem5 will hold this table in memory, about %" PRIu64
			" MiB (%" PRIu64 " sectors at ~%u bytes), in every simulation and every "
			"checkpoint; above %llu MiB the FUSE mount serves the same image better\n",
			HB_PROGRAM, res->table_bytes >> 20, res->sectors, EXPORT_GEM5_ENTRY_BYTES,
			EXPORT_WARN_TABLE_BYTES >> 20);
}
