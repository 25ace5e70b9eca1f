/* SPDX-License-Identifier: BSD-3-Clause */
/* dcache.h -- a per-user cache of overlay files' SHA-256, so that a
 * remount of an unchanged overlay does not read its bytes again.
 *
 * An entry is keyed by what the kernel changes whenever a file's content
 * changes: device, inode, size, mtime and ctime in nanoseconds (ctime
 * cannot be set back by a user).  Git's "racy" rule: an entry whose mtime
 * or ctime is not safely older than the cache file's own write time is
 * not trusted, and the file is hashed again.  The cache lives in
 * $XDG_CACHE_HOME/hackbackfs/digests (default ~/.cache), written
 * atomically; a file that is not the caller's, is writable by others, or
 * fails its magic, version or checksum is ignored, never trusted.
 * Functions return 0 or a negative errno; a cache that cannot be read or
 * written costs time, never correctness, so callers may ignore failures.
 */
#ifndef HB_DCACHE_H
#define HB_DCACHE_H

#include <sys/stat.h>

#include "digest.h"

struct dcache;

/* Load the caller's cache (an empty one when there is none or it is
 * ignored).  NULL only when out of memory. */
struct dcache *dcache_open(void);

/* 1 and out: st's file has that digest; 0: hash it. */
int dcache_get(struct dcache *c, const struct stat *st, unsigned char out[DIGEST_LEN]);

/* Remember st's file's digest. */
void dcache_put(struct dcache *c, const struct stat *st, const unsigned char d[DIGEST_LEN]);

/* Write the cache back when it changed: the entries used in this run,
 * then the most recently used others, at most DCACHE_MAX in all. */
int dcache_save(struct dcache *c);

/* Files hashed through the cache this run: hits and misses. */
void dcache_counts(const struct dcache *c, unsigned long *hits, unsigned long *misses);

void dcache_free(struct dcache *c);

#endif
