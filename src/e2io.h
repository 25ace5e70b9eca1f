/* SPDX-License-Identifier: BSD-3-Clause */
/* e2io.h -- a libext2fs io_manager over an image (base + delta).
 *
 * libext2fs opens "hackback:ADDRESS" through this manager; every block it
 * reads or writes goes through image_read()/image_write() at the
 * partition's offset, so its writes land in the delta and never in the base.
 */
#ifndef HB_E2IO_H
#define HB_E2IO_H

#include <stddef.h>
#include <ext2fs/ext2fs.h>

#include "image.h"

extern io_manager e2io_manager;

/* The name to pass to ext2fs_open2() with e2io_manager for img. */
void e2io_name(struct image *img, char *buf, size_t len);

#endif
