/* SPDX-License-Identifier: BSD-3-Clause */
/* cow.c -- the cow file's format: header, records, lock (see cow.h).
 *
 * Kept apart from image.c as nbdkit's cow filter keeps its block store
 * apart from its policy: the image knows layers and units, this file knows
 * bytes on disk.  The records are never rewritten as a whole: an append is
 * one pwrite at the end, and the end is only moved past a record once the
 * write returned, so a crash leaves at worst a torn last record, which
 * cow_load() leaves out.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cow.h"
#include "outfile.h"
#include "util.h"

#define COW_MAGIC "HBCOW001"

/* The header of a new cow file. */
static void make_header(unsigned char hdr[COW_HEADER], uint64_t image_size,
			const unsigned char id[COW_ID_LEN])
{
	memset(hdr, 0, COW_HEADER);
	memcpy(hdr, COW_MAGIC, 8);
	hb_put_le(hdr + 8, DELTA_UNIT, 4);
	hb_put_le(hdr + 16, image_size, 8);
	memcpy(hdr + 24, id, COW_ID_LEN);
}

/* Take the lock: exclusive to write, shared to read (two read-only mounts
 * of one file work, a writer excludes them).  A holder that lets go within
 * COW_LOCK_WAIT seconds (the daemon of the last mount, still syncing the
 * file after its unmount) is waited for, and the wait said on stderr. */
static int lock_file(int fd, const char *path, int readonly)
{
	int op = readonly ? LOCK_SH : LOCK_EX;
	const char *env = getenv("HB_COW_LOCK_WAIT");	/* a test hook, see cow.h */
	int wait = env ? atoi(env) : COW_LOCK_WAIT;

	wait = HB_MAX(0, HB_MIN(wait, 600));
	for (int tenths = 0;; tenths++) {
		if (flock(fd, op | LOCK_NB) == 0) {
			if (tenths > 0)
				hb_notice("cow file %s: released, going on", path);
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			int r = -errno;
			hb_error("cow file %s: cannot lock it (%s): the file system does not support "
				 "flock(2) locks; put the cow file on a local file system",
				 path, strerror(errno));
			return r;
		}
		if (tenths == 0)
			hb_notice("cow file %s is in use by another mount (the last one still "
				  "syncing it?); waiting up to %d s for it", path, wait);
		if (tenths >= wait * 10) {
			hb_error("cow file %s is in use by another mount (waited %d s)", path, wait);
			return -EBUSY;
		}
		usleep(100000);
	}
}

/* An existing file someone else could have planted or can change under
 * us: refused.  Only the caller's own regular file, writable by nobody
 * else, is trusted with the guest's writes (and to show its bytes). */
static int check_owner(int fd, const char *path, struct stat *st)
{
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		hb_error("cow file %s is not a regular file", path);
		return -EINVAL;
	}
	if (st->st_uid != geteuid()) {
		hb_error("cow file %s belongs to uid %u, not to you (uid %u): refused, since its "
			 "owner could read and change the guest's writes", path, (unsigned)st->st_uid,
			 (unsigned)geteuid());
		return -EPERM;
	}
	if (st->st_mode & (S_IWGRP | S_IWOTH)) {
		hb_error("cow file %s is writable by group or others (mode %04o): refused "
			 "(chmod go-w it, or choose another)", path, (unsigned)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* A new cow file: the header written and synced under a temporary name,
 * locked, and only then named path -- never over an existing file. */
static int create(const char *path, uint64_t image_size, const unsigned char id[COW_ID_LEN])
{
	unsigned char hdr[COW_HEADER];
	struct outfile *o;
	int fd = -1, r;

	make_header(hdr, image_size, id);
	if ((r = outfile_open(&o, path, 0600)) < 0)
		return r;
	if ((r = outfile_write(o, hdr, sizeof hdr)) == 0 && (r = outfile_finish(o)) == 0 &&
	    (r = lock_file(outfile_fd(o), path, 0)) == 0)
		r = outfile_publish(o, OUTFILE_NOREPLACE);
	outfile_close(o, r == 0 ? &fd : NULL);
	return r < 0 ? r : fd;
}

int cow_open(const char *path, uint64_t image_size, const unsigned char id[COW_ID_LEN],
	     int readonly, uint64_t *fsize)
{
	unsigned char hdr[COW_HEADER];
	struct stat st;
	int fd, r;

	fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		if (readonly)
			return -ENOENT;	/* nothing saved: the caller's business */
		fd = create(path, image_size, id);
		if (fd != -EEXIST) {	/* -EEXIST: made by another meanwhile */
			*fsize = COW_HEADER;
			return fd;
		}
		fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	}
	if (fd < 0) {
		r = -errno;
		if (errno == ELOOP)
			hb_error("cow file %s is a symbolic link: refused (name the file itself)", path);
		else
			hb_error("cow file %s: %s", path, strerror(errno));
		return r;
	}
	if ((r = check_owner(fd, path, &st)) < 0 || (r = lock_file(fd, path, readonly)) < 0) {
		close(fd);
		return r;
	}
	if (fstat(fd, &st) < 0) {	/* again: the last holder may have grown it */
		r = -errno;
		hb_error("cow file %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	if (st.st_size == 0 && !readonly) {
		/* Created empty by the caller (touch, mktemp): ours to fill. */
		make_header(hdr, image_size, id);
		r = (int)hb_pwrite_full(fd, hdr, sizeof hdr, 0);
		if (r < 0 || fsync(fd) < 0) {
			r = r < 0 ? r : -errno;
			hb_error("cow file %s: %s", path, strerror(-r));
			close(fd);
			return r;
		}
		st.st_size = COW_HEADER;
	} else if (st.st_size == 0) {
		close(fd);
		return -ENOENT;	/* read-only: nothing saved */
	} else if (hb_pread_full(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr ||
		   memcmp(hdr, COW_MAGIC, 8) != 0 || hb_get_le(hdr + 8, 4) != DELTA_UNIT) {
		hb_error("cow file %s is not a hackbackfs cow file (remove it or choose another)", path);
		close(fd);
		return -EINVAL;
	} else if (hb_get_le(hdr + 16, 8) != image_size || memcmp(hdr + 24, id, COW_ID_LEN) != 0) {
		hb_error("cow file %s holds writes for another image (different base, overlay or options); "
			 "remove it or choose another file", path);
		close(fd);
		return -EEXIST;
	}
	*fsize = (uint64_t)st.st_size;
	return fd;
}

int cow_load(int fd, const char *path, uint64_t fsize, uint64_t units,
	     int (*fn)(uint64_t unit, uint64_t pos, void *arg), void *arg, uint64_t *end)
{
	unsigned char rec[8];
	uint64_t pos;

	for (pos = COW_HEADER; pos + COW_RECORD <= fsize; pos += COW_RECORD) {
		uint64_t unit;
		ssize_t r = hb_pread_full(fd, rec, 8, pos);
		if (r < 8) {
			hb_error("cow file %s: %s", path, r < 0 ? strerror((int)-r) : "short read");
			return r < 0 ? (int)r : -EIO;
		}
		unit = hb_get_le(rec, 8);
		if (unit >= units) {
			hb_error("cow file %s is corrupt: record at %llu names unit %llu past the end of the image",
				 path, (unsigned long long)pos, (unsigned long long)unit);
			return -EINVAL;
		}
		if ((r = fn(unit, pos + 8, arg)) != 0)
			return (int)r;
	}
	*end = pos;	/* drops a torn last record */
	return 0;
}

int cow_append(int fd, uint64_t next, uint64_t unit, const unsigned char *data)
{
	unsigned char rec[COW_RECORD];
	ssize_t r;

	hb_put_le(rec, unit, 8);
	memcpy(rec + 8, data, DELTA_UNIT);
	r = hb_pwrite_full(fd, rec, COW_RECORD, next);
	if (r == -EFBIG || r == -EDQUOT)
		r = -ENOSPC;	/* to the guest, a cow file that cannot grow is a full disk */
	return r < 0 ? (int)r : 0;	/* a torn record past next is dropped on reload */
}
