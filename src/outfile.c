/* SPDX-License-Identifier: BSD-3-Clause */
/* outfile.c -- a file that appears under its name only when complete
 * (see outfile.h).
 *
 * The one global state here is the table of temporary names, because a
 * signal handler can reach nothing else; it is only written with the
 * handled signals blocked.  The handlers are installed when the first
 * outfile opens and the caller's put back when the last one closes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"
#include "util.h"

#define OUT_BUF (1u << 20)
#define NAME_TRIES 100

static const int handled_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
static char temp_names[OUTFILE_MAX][PATH_MAX];
static int slot_used[OUTFILE_MAX];
static int nopen;
static struct sigaction old_actions[HB_ARRAY_SIZE(handled_signals)];
static void (*old_xfsz)(int);

struct outfile {
	const char *path;	/* final name (the caller's string) */
	char dir[PATH_MAX];
	const char *name;	/* last component of path */
	int slot;		/* index in temp_names */
	int fd;
	int anonymous;		/* O_TMPFILE: no name yet */
	unsigned char *buf;
	size_t used;
	uint64_t off;		/* file offset of buf[0] */
};

static void on_signal(int sig)
{
	for (int i = 0; i < OUTFILE_MAX; i++)
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

static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	if (nopen++ > 0)
		return;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < HB_ARRAY_SIZE(handled_signals); i++)
		sigaction(handled_signals[i], &sa, &old_actions[i]);
	old_xfsz = signal(SIGXFSZ, SIG_IGN);
}

static void release_signals(void)
{
	if (--nopen > 0)
		return;
	signal(SIGXFSZ, old_xfsz);
	for (size_t i = 0; i < HB_ARRAY_SIZE(handled_signals); i++)
		sigaction(handled_signals[i], &old_actions[i], NULL);
}

static void split_path(struct outfile *o)
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

/* "DIR/.NAME." and 12 random characters into the slot's name. */
static int random_name(struct outfile *o)
{
	static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[12];
	char suffix[sizeof rnd + 1];

	if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		return -errno;
	for (size_t i = 0; i < sizeof rnd; i++)
		suffix[i] = chars[rnd[i] % (sizeof chars - 1)];
	suffix[sizeof rnd] = '\0';
	if (snprintf(temp_names[o->slot], PATH_MAX, "%s/.%s.%s", o->dir, o->name, suffix) >= PATH_MAX)
		return -ENAMETOOLONG;	/* checked in outfile_open(); cannot happen */
	return 0;
}

static int create_named(struct outfile *o, mode_t mode)
{
	sigset_t old;
	int r = 0;

	o->fd = -1;
	block_signals(&old);
	if (snprintf(temp_names[o->slot], PATH_MAX, "%s/.%s.XXXXXX", o->dir, o->name) >= PATH_MAX)
		errno = ENAMETOOLONG;	/* checked in outfile_open(); cannot happen */
	else
		o->fd = mkostemp(temp_names[o->slot], O_CLOEXEC);
	if (o->fd < 0) {
		r = -errno;
		temp_names[o->slot][0] = '\0';
	}
	restore_signals(&old);
	if (r < 0) {
		hb_error("%s: cannot create a file in %s: %s", o->path, o->dir, strerror(-r));
		return r;
	}
	mode_t mask = umask(0);
	umask(mask);
	fchmod(o->fd, mode & ~mask);
	return 0;
}

int outfile_check(const char *path, const char *what)
{
	struct outfile o = { .path = path };
	struct stat st;

	if (!*path) {
		hb_error("%s: empty file name", what);
		return -EINVAL;
	}
	split_path(&o);
	if (!*o.name || strcmp(o.name, ".") == 0 || strcmp(o.name, "..") == 0 ||
	    (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
		hb_error("%s %s: is a directory, not a file name", what, path);
		return -EISDIR;
	}
	if (stat(o.dir, &st) < 0) {
		int r = -errno;
		hb_error("%s %s: directory %s: %s", what, path, o.dir, strerror(errno));
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		hb_error("%s %s: %s is not a directory", what, path, o.dir);
		return -ENOTDIR;
	}
	if (access(o.dir, W_OK | X_OK) < 0) {
		int r = -errno;
		hb_error("%s %s: cannot write in %s: %s", what, path, o.dir, strerror(errno));
		return r;
	}
	return 0;
}

int outfile_open(struct outfile **out, const char *path, mode_t mode)
{
	struct outfile *o;
	int slot, r;

	if (strlen(path) + 32 >= PATH_MAX) {
		hb_error("%s: file name too long", path);
		return -ENAMETOOLONG;
	}
	for (slot = 0; slot < OUTFILE_MAX && slot_used[slot]; slot++)
		;
	if (slot == OUTFILE_MAX)
		return -EMFILE;	/* a programming error: OUTFILE_MAX is for us */
	o = calloc(1, sizeof *o);
	if (!o || !(o->buf = malloc(OUT_BUF))) {
		free(o);
		return -ENOMEM;
	}
	o->path = path;
	o->slot = slot;
	slot_used[slot] = 1;
	catch_signals();
	split_path(o);
	if (getenv("HB_OUTFILE_NO_TMPFILE")) {
		errno = EOPNOTSUPP;
		o->fd = -1;
	} else {
		o->fd = open(o->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, mode);
	}
	if (o->fd >= 0) {
		o->anonymous = 1;
	} else if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		r = -errno;
		hb_error("%s: cannot create a file in %s: %s", path, o->dir, strerror(errno));
		outfile_close(o, NULL);
		return r;
	} else if ((r = create_named(o, mode)) < 0) {
		outfile_close(o, NULL);
		return r;
	}
	*out = o;
	return 0;
}

static int write_error(const struct outfile *o, ssize_t r)
{
	int e = r < 0 ? (int)-r : ENOSPC;	/* a short write: the device is full */

	hb_error("%s: %s", o->path, strerror(e));
	return -e;
}

static int flush(struct outfile *o)
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

int outfile_write(struct outfile *o, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		size_t n = HB_MIN(len, OUT_BUF - o->used);
		memcpy(o->buf + o->used, p, n);
		o->used += n;
		p += n;
		len -= n;
		if (o->used == OUT_BUF) {
			int r = flush(o);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int outfile_pwrite(struct outfile *o, const void *data, size_t len, uint64_t off)
{
	ssize_t w;
	int r = flush(o);

	if (r < 0)
		return r;
	w = hb_pwrite_full(o->fd, data, len, off);
	return w == (ssize_t)len ? 0 : write_error(o, w);
}

uint64_t outfile_size(const struct outfile *o)
{
	return o->off + o->used;
}

int outfile_fd(const struct outfile *o)
{
	return o->fd;
}

/* Link the unnamed file under a fresh random name; EEXIST: another. */
static int name_anonymous(struct outfile *o)
{
	char proc[64];
	int r = -EEXIST;

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", o->fd);
	for (int i = 0; i < NAME_TRIES && r == -EEXIST; i++) {
		sigset_t old;

		block_signals(&old);
		r = random_name(o);
		if (r == 0 && linkat(AT_FDCWD, proc, AT_FDCWD, temp_names[o->slot], AT_SYMLINK_FOLLOW) < 0)
			r = -errno;
		if (r < 0)
			temp_names[o->slot][0] = '\0';
		restore_signals(&old);
	}
	if (r < 0)
		hb_error("%s: cannot name the finished file in %s: %s", o->path, o->dir, strerror(-r));
	return r;
}

int outfile_finish(struct outfile *o)
{
	int r = flush(o);

	if (r < 0)
		return r;
	if (fsync(o->fd) < 0)
		return write_error(o, -errno);
	if (!o->anonymous)
		return 0;
	if ((r = name_anonymous(o)) < 0)
		return r;
	o->anonymous = 0;
	return 0;
}

/* rename(2) that refuses an existing to (RENAME_NOREPLACE; link and
 * unlink where the file system lacks it). */
static int rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -errno;
	if (link(from, to) < 0)
		return -errno;
	unlink(from);
	return 0;
}

int outfile_publish(struct outfile *o, int flags)
{
	sigset_t old;
	int r = 0;

	block_signals(&old);
	if (!temp_names[o->slot][0])
		r = -EINVAL;	/* not finished: a programming error */
	else if (flags & OUTFILE_NOREPLACE)
		r = rename_noreplace(temp_names[o->slot], o->path);
	else if (rename(temp_names[o->slot], o->path) < 0)
		r = -errno;
	if (r < 0)
		unlink(temp_names[o->slot]);
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

void outfile_close(struct outfile *o, int *keep_fd)
{
	sigset_t old;

	if (!o)
		return;
	block_signals(&old);
	if (temp_names[o->slot][0]) {
		unlink(temp_names[o->slot]);
		temp_names[o->slot][0] = '\0';
	}
	slot_used[o->slot] = 0;
	restore_signals(&old);
	if (keep_fd)
		*keep_fd = o->fd;
	else if (o->fd >= 0)
		close(o->fd);
	release_signals();
	free(o->buf);
	free(o);
}
