/* cow.c -- the cow file's format: header, records, lock (see cow.h).
 *
 * SPDX-License-Identifier: BSD-3-Clause
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
#include "util.h"

#define COW_MAGIC "HBCOW001"

int cow_open(const char *path, uint64_t image_size, const unsigned char id[COW_ID_LEN],
	     uint64_t *fsize)
{
	unsigned char hdr[COW_HEADER];
	struct stat st;
	int fd, r;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		hb_error("cow file %s: %s", path, strerror(errno));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		hb_error("cow file %s is not a regular file", path);
		close(fd);
		return -EINVAL;
	}
	/* One mount at a time: two would append over each other's records. */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		hb_error("cow file %s is in use by another mount", path);
		close(fd);
		return r == -EWOULDBLOCK ? -EBUSY : r;
	}
	if (st.st_size == 0) {
		memset(hdr, 0, sizeof hdr);
		memcpy(hdr, COW_MAGIC, 8);
		hb_put_le(hdr + 8, DELTA_UNIT, 4);
		hb_put_le(hdr + 16, image_size, 8);
		memcpy(hdr + 24, id, COW_ID_LEN);
		r = (int)hb_pwrite_full(fd, hdr, sizeof hdr, 0);
		if (r < 0 || fsync(fd) < 0) {
			r = r < 0 ? r : -errno;
			hb_error("cow file %s: %s", path, strerror(-r));
			close(fd);
			return r;
		}
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
