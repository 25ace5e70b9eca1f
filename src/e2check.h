/* SPDX-License-Identifier: BSD-3-Clause */
/* e2check.h -- keep malformed ext2/3/4 metadata away from libext2fs.
 *
 * The injection's safety boundary: a base that would have libext2fs read
 * or write wild blocks, loop or crash is refused here first, with one
 * hb_error() naming what is wrong.  Three doors: e2check_open() checks
 * the superblock (a journal needing recovery, errors recorded, an unclean
 * unmount, counts), group descriptors, bitmaps and the reserved inodes the
 * kernel uses, once, right after the file system is opened; e2check_inode()
 * checks one inode before the injection uses it (reads it, follows it,
 * looks names up or links into it, frees it); e2check_free() drops the
 * context.  Functions return 0 or a negative errno (after one message).
 */
#ifndef HB_E2CHECK_H
#define HB_E2CHECK_H

#include <stdint.h>

#include <ext2fs/ext2fs.h>

struct e2check;

/* Check fs as opened from base_name (for messages), whose partition holds
 * fs_bytes bytes; reads the bitmaps.  On success *out is the context for
 * e2check_inode(); on failure *out is NULL. */
int e2check_open(ext2_filsys fs, const char *base_name, uint64_t fs_bytes,
		 struct e2check **out);

/* Everything the injection may do with inode ino, reached as shown (the
 * overlay path, for messages). */
int e2check_inode(struct e2check *c, ext2_ino_t ino, const char *shown);

void e2check_free(struct e2check *c);

#endif
