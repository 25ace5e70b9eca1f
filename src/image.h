/* SPDX-License-Identifier: BSD-3-Clause */
/* image.h -- the synthesized disk image: base file + synthesized delta +
 * guest-write layer.
 *
 *   read:  guest layer (cow) -> synthesized delta (synth) -> base file
 *   write: before image_freeze(): into synth (the injection);
 *          after:                 into cow   (a guest's writes)
 *
 * Coordinates are bytes from the start of the image (= base file); the
 * image is exactly as large as the base.  Writes that do not cover whole
 * DELTA_UNITs read-modify-write the unit from the layers below.  The base
 * file descriptor is opened O_RDONLY and never written.
 *
 * After image_freeze() synth is immutable and read without a lock; cow is
 * guarded by a rwlock.  The layers and the lock are the image's own:
 * struct image is opaque, other units ask the functions below (its
 * definition is in image-impl.h, for image.c and its unit test).
 *
 * Files served by reference (the base, mapped overlay files) can be
 * changed in place by their owners while a simulation runs for days.  The
 * image records each one's device, inode, size and mtime when it takes it
 * (not ctime: chmod changes that, harmlessly) and checks them again after
 * every read that took bytes from it.  The kernel updates mtime before it
 * copies a write's data, so a read that saw new bytes always sees the new
 * mtime afterwards: such reads fail with -EIO, never return the new bytes
 * or a mix, and the file is reported once (hb_error) and stays refused.
 *
 * Return convention: 0 or a negative errno, after one hb_error() where
 * the cause is known.
 */
#ifndef HB_IMAGE_H
#define HB_IMAGE_H

#include <stdint.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "delta.h"
#include "digest.h"
#include "partition.h"

struct image;

/* Open base_path read-only and probe it (which: see partition.h). */
int image_open(struct image **out, const char *base_path, int which);
void image_close(struct image *img);

/* What the image was opened on: its size in bytes (= BASE's), BASE's path
 * (absolute when it could be resolved), where the file system is. */
uint64_t image_size(const struct image *img);
const char *image_base_path(const struct image *img);
const struct partition *image_partition(const struct image *img);
/* Whether guest writes fail with -EROFS (image_freeze()). */
int image_readonly(const struct image *img);
/* fstat() of BASE as opened, into *st, and digest_base_fingerprint() of
 * it (full: of every byte); these report nothing, the caller knows what
 * it wanted them for. */
int image_base_stat(const struct image *img, struct stat *st);
int image_base_fingerprint(const struct image *img, int full, unsigned char out[DIGEST_LEN]);

/* One piece of a read: bytes of fd at pos, or bytes at mem, or zeros when
 * fd < 0 and mem == NULL. */
struct image_seg {
	int fd;
	uint64_t pos;
	const unsigned char *mem;
	size_t len;
};

/* Split [off, off+len) into at most max segments, merging neighbours from
 * the same source.  Returns the number of segments (the last may end early
 * when max is reached: the caller loops), or a negative errno.  Reads past
 * the end of the image are cut at the end. */
int image_segments(struct image *img, uint64_t off, size_t len, struct image_seg *segs, int max);

/* Read exactly len bytes (cut at end of image); returns bytes read or
 * -errno (-EIO when a source file changed, see above). */
ssize_t image_read(struct image *img, void *buf, size_t len, uint64_t off);
/* Write len bytes; returns len or -errno (-EROFS, -ENOSPC, -EIO). */
ssize_t image_write(struct image *img, const void *buf, size_t len, uint64_t off);

/* Ask the kernel to start reading [off, off+len) of the files behind the
 * image (posix_fadvise WILLNEED on each file's range; returns at once).
 * Best effort: nothing is reported. */
void image_readahead(struct image *img, uint64_t off, uint64_t len);

/* Check the sources that segs read from (after reading them): 0, or -EIO
 * when one changed since the image took it. */
int image_check_sources(struct image *img, const struct image_seg *segs, int n);

/* Build phase only.  image_adopt_fd() hands fd (the file at path, a
 * source from now on) to the image (closed by image_close(), also on
 * failure) and returns its id for image_map_file(),
 * which makes [off, off+len) read as the bytes of that file from pos:
 * whole units are mapped, never copied; partial units at either end are
 * copied.  The caller guarantees the file holds those bytes. */
int image_adopt_fd(struct image *img, int fd, const char *path);
int image_map_file(struct image *img, uint64_t off, uint64_t len, int file_id, uint64_t pos);

/* Walk the units whose bytes may differ from BASE's: those the build
 * wrote or mapped (not guest writes), in ascending order, without copying
 * the map.  fn gets each unit's offset, its bytes in the image and BASE's
 * bytes there (len: DELTA_UNIT, less for a partial last unit); the files
 * they were read from are checked after the read (-EIO when one changed,
 * reported once, see above).  fn's non-zero value stops the walk and is
 * returned.  For an exporter, which needs nothing else of the image. */
typedef int (*image_unit_fn)(uint64_t off, const unsigned char *bytes, const unsigned char *base,
			     size_t len, void *arg);
int image_foreach_built(struct image *img, image_unit_fn fn, void *arg);
/* How many units image_foreach_built() visits. */
uint64_t image_built_units(const struct image *img);
/* Whether st is BASE itself (device and inode). */
int image_is_base(const struct image *img, const struct stat *st);

/* End the build phase.  mem_limit bounds guest writes held in memory (0: no
 * bound); readonly makes guest writes fail with -EROFS. */
int image_freeze(struct image *img, uint64_t mem_limit, int readonly);

/* Keep guest writes in the file at path instead of memory.  The file starts
 * with a header holding id (the image identity): an existing file is reused
 * only when its id matches, otherwise refused with -EEXIST and a message
 * (and see cow_open() in cow.h for what else is refused).  A read-only
 * image (image_freeze()) reads the saved writes and never creates, writes
 * or locks the file exclusively.  Call after image_freeze(). */
int image_attach_cow(struct image *img, const char *path, const unsigned char id[32]);
int image_flush(struct image *img);

#endif
