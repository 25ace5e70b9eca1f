/* SPDX-License-Identifier: BSD-3-Clause */
/* cow.h -- the file that keeps a mount's guest writes (-o cow=FILE).
 *
 * The format, and nothing else: which image the file belongs to (the
 * header), and where each saved unit lies (the records).  The image
 * (image.c) decides what to store and maps the records into its guest-write
 * delta; this unit only opens, checks, reads and appends the file.
 *
 *   0     "HBCOW001"                      magic + format version
 *   8     u32 LE unit size (DELTA_UNIT, 1024)
 *   12    u32 LE reserved (0)
 *   16    u64 LE image size
 *   24    32 bytes image identity (whose writes these are)
 *   56..  zero up to COW_HEADER
 *   COW_HEADER..  records: u64 LE unit number, then DELTA_UNIT bytes
 *
 * A unit written again is overwritten in place (at the position cow_load()
 * or cow_append() gave it); a new unit is appended.  A torn last record (a
 * crash mid-append) is dropped when the file is loaded again.
 *
 * Return convention: 0 (or a descriptor) or a negative errno after one
 * hb_error().
 */
#ifndef HB_COW_H
#define HB_COW_H

#include <stdint.h>

#include "delta.h"

#define COW_HEADER 4096u
#define COW_RECORD (8u + DELTA_UNIT)
#define COW_ID_LEN 32

/* How long cow_open() waits for another process's lock, seconds
 * (HB_COW_LOCK_WAIT=N in the environment: N instead, a test hook). */
#define COW_LOCK_WAIT 10

/* Open path for an image of image_size bytes with identity id and lock it.
 *
 * A missing path is created with O_EXCL semantics, mode 0600 (a header
 * written and synced under a temporary name, then linked, never over a
 * file that appeared meanwhile).  An existing path must be the caller's
 * own regular file, not a symbolic link, not writable by group or others
 * (-EPERM, -ELOOP: anyone could have planted it), belong to this image
 * (-EEXIST otherwise; -EINVAL when it is not a cow file at all).
 *
 * readonly: opened O_RDONLY and locked shared, never created or written;
 * -ENOENT, with no message, when there is nothing saved (no file, or an
 * empty one).  Otherwise locked exclusive.  A lock held by another
 * process is waited for up to COW_LOCK_WAIT seconds (said on stderr), then
 * -EBUSY.
 *
 * Returns the descriptor (close-on-exec) and the file's size in *fsize. */
int cow_open(const char *path, uint64_t image_size, const unsigned char id[COW_ID_LEN],
	     int readonly, uint64_t *fsize);

/* Read the records of fd (the file at path, fsize bytes, for an image of
 * units units): fn(unit, pos, arg) for each whole record, pos being where
 * its DELTA_UNIT bytes are.  *end is where the next record goes (a torn
 * last record is left out).  fn's non-zero value stops the walk and is
 * returned. */
int cow_load(int fd, const char *path, uint64_t fsize, uint64_t units,
	     int (*fn)(uint64_t unit, uint64_t pos, void *arg), void *arg, uint64_t *end);

/* Append the record of unit (data: DELTA_UNIT bytes) at next, the end of
 * the records.  Its bytes are then at next + 8.  A file that cannot grow
 * (EFBIG, EDQUOT) is -ENOSPC: to the guest, a full disk.  Not reported:
 * the guest sees the error. */
int cow_append(int fd, uint64_t next, uint64_t unit, const unsigned char *data);

#endif
