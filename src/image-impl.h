/* SPDX-License-Identifier: BSD-3-Clause */
/* image-impl.h -- the image's insides (image.h), for image.c and its unit
 * test (tests/unit/check_image.c) only.
 *
 * Every other unit holds a struct image as an opaque pointer and asks
 * image.h's functions; the layers, their lock and the sources' records
 * below are image.c's alone, so that what image.h promises (a frozen synth
 * read without a lock, cow under the rwlock, each source checked after a
 * read) holds without trusting anyone else.
 */
#ifndef HB_IMAGE_IMPL_H
#define HB_IMAGE_IMPL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "delta.h"
#include "image.h"
#include "partition.h"

/* A file whose bytes the image serves by reference (image.h). */
struct image_source {
	int fd;				/* not owned: base_fd or a synth file */
	char *path;			/* for the report */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	_Atomic int stale;		/* set once, never cleared */
};

struct image {
	char *base_path;
	int base_fd;			/* O_RDONLY */
	uint64_t size;			/* bytes, = base size */
	struct partition part;		/* where the file system is */
	struct delta *synth;		/* the injection's blocks */
	struct delta *cow;		/* guest writes; NULL until image_freeze() */
	int cow_fd;			/* -1: guest writes in memory */
	int cow_id;			/* cow_fd's id in the cow delta */
	uint64_t cow_next;		/* next free record offset in cow_fd */
	int readonly;			/* guest writes fail with -EROFS */
	int frozen;
	pthread_rwlock_t lock;		/* guards cow */
	struct image_source **by_fd;	/* sources by descriptor, NULL: none */
	int nby_fd;
	/* Before the freeze: windows of BASE's bytes for store_unit()'s
	 * comparison, so that an injection writing many neighbouring units
	 * reads BASE once per window, not once per unit (image.c). */
	unsigned char *base_win;
	uint64_t base_win_clock;	/* base_unit()'s use counter */
};

#endif
