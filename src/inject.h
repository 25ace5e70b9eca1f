/* SPDX-License-Identifier: BSD-3-Clause */
/* inject.h -- write an overlay into the image's ext2/3/4 file system.
 *
 * Opens the file system through e2io (so every write lands in the image's
 * delta), refuses what libext2fs cannot safely write (a journal needing
 * recovery, unsupported features, errors recorded), then applies the
 * overlay's entries in order.  Deterministic: the same image, overlay and
 * options give the same bytes (fixed time stamps, i_generation, no random
 * fields).  Returns 0 or a negative errno with one hb_error().
 *
 * The overlay may still be hashing (overlay_start()): each file is taken
 * with overlay_take() as the injection reaches it, and a small file's
 * bytes are then the very bytes hashed, not read again.  The caller ends
 * the run with overlay_end() for the digest.
 */
#ifndef HB_INJECT_H
#define HB_INJECT_H

#include <stdint.h>
#include <sys/types.h>

#include "image.h"
#include "overlay.h"

struct inject_opts {
	int keep_owner;		/* use the overlay's uid/gid */
	uid_t uid;		/* otherwise these (default 0:0) */
	gid_t gid;
	int64_t epoch;		/* every time stamp of an injected inode (>= 1) */
	int keep_mtime;		/* but mtime from the overlay entry */
	/* The restore slot: a file written after every overlay entry with
	 * all its blocks allocated (zeros included), so that its inode and
	 * blocks depend on the overlay and never on its content.  slot_path
	 * NULL: no slot.  Missing parents are created (0755, owner as above). */
	const char *slot_path;
	const unsigned char *slot_data;
	size_t slot_size;
};

int inject_overlay(struct image *img, struct overlay *ov, const struct inject_opts *opts);

#endif
