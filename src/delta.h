/* SPDX-License-Identifier: BSD-3-Clause */
/* delta.h -- a copy-on-write block map.
 *
 * The image is addressed in units of DELTA_UNIT bytes (1 KiB: the smallest
 * ext2/3/4 block, so every file system block is a whole number of units
 * whenever the file system starts on a unit boundary).  A delta maps unit
 * numbers to where their bytes live:
 *
 *   - memory: a unit-sized buffer owned by the delta (metadata blocks,
 *     small files, guest writes);
 *   - a file: a registered file descriptor and a byte offset in it (large
 *     overlay files are mapped, never copied; a COW file stores guest
 *     writes this way too).
 *
 * Units not in the delta are not the delta's business: the layer below
 * (the base file) answers for them.  The map is an open-addressing hash
 * table keyed by unit number: O(1) lookups with no allocation, which is
 * what the read path needs.  Memory units live in an arena of 1 MiB chunks.
 *
 * Thread safety: none inside.  Concurrent delta_lookup() calls are safe as
 * long as nobody modifies the delta; callers that write while serving
 * reads hold their own lock (see image.c).
 *
 * Return convention: 0 or a negative errno.
 */
#ifndef HB_DELTA_H
#define HB_DELTA_H

#include <stdint.h>

#define DELTA_UNIT 1024u

struct delta;

/* Where one unit's bytes are. */
struct delta_src {
	const unsigned char *mem;	/* non-NULL: the unit's first mem_len bytes */
	unsigned mem_len;		/* here; the rest of the unit is zeros */
	int fd;				/* else: DELTA_UNIT bytes of fd at pos */
	uint64_t pos;
};

/* mem_limit: most bytes of memory units, full and short (0: no limit).
 * Exceeding it makes delta_put() fail with -ENOSPC. */
struct delta *delta_new(uint64_t mem_limit);
void delta_free(struct delta *d);

/* From now on, store units whose bytes end in zeros short (delta_put). */
void delta_allow_short(struct delta *d);

/* Register fd and return its id (>= 0).  The delta owns fd from then on
 * and closes it in delta_free(). */
int delta_add_file(struct delta *d, int fd);

/* The descriptor registered as file_id, or -1. */
int delta_file_fd(const struct delta *d, int file_id);

/* Store DELTA_UNIT bytes for unit in memory, replacing any mapping.  Bytes
 * that end in zeros may be stored short (the zeros not kept: see mem_len)
 * when the delta allows it.
 * A unit already stored in memory at full length is overwritten in place;
 * a short one moves when its new bytes need more room. */
int delta_put(struct delta *d, uint64_t unit, const void *data);

/* Map units [unit, unit + count) to consecutive DELTA_UNIT ranges of the
 * file with id file_id starting at byte pos, replacing any mapping. */
int delta_map(struct delta *d, uint64_t unit, uint64_t count, int file_id, uint64_t pos);

/* Look unit up.  Returns 1 and fills *src if present, 0 if not. */
int delta_lookup(const struct delta *d, uint64_t unit, struct delta_src *src);

/* Number of units mapped, and bytes of memory units held. */
uint64_t delta_units(const struct delta *d);
uint64_t delta_mem_bytes(const struct delta *d);

/* Call fn for every mapped unit in ascending unit order; stop and return
 * fn's value when it is non-zero.  Built on the iterator below. */
int delta_foreach(const struct delta *d,
		  int (*fn)(uint64_t unit, const struct delta_src *src, void *arg), void *arg);

/* Walk the mapped units in ascending order without expanding extents: the
 * iterator holds the sorted unit numbers of the hash table only (8 bytes a
 * memory or single-mapped unit), so walking a delta of large mapped files
 * costs no memory per unit.  The delta must not change during the walk.
 *
 *   struct delta_iter *it;
 *   if (delta_iter_new(d, &it) < 0) ...;
 *   while (delta_iter_next(it, &unit, &src)) ...;
 *   delta_iter_free(it);
 */
struct delta_iter;
int delta_iter_new(const struct delta *d, struct delta_iter **out);
/* 1 and the next unit with its source, or 0 at the end. */
int delta_iter_next(struct delta_iter *it, uint64_t *unit, struct delta_src *src);
void delta_iter_free(struct delta_iter *it);

#endif
