/* SPDX-License-Identifier: BSD-3-Clause */
/* overlay.h -- the overlay: what is to be written into the image.
 *
 * overlay_add_dir() walks a host directory (once per overlay directory given,
 * in order) and overlay_finish() turns what was added into a sorted,
 * deterministic list of entries, sorted by path with strcmp(), so that a
 * directory always precedes its contents (a prefix sorts first).
 * Files are hashed by a small pool of threads; overlay_start() lets a
 * consumer (the injection) work through the list while they hash, taking
 * each file with overlay_take() once it is hashed, with its bytes when it
 * is small: the bytes written are the bytes hashed, read once.
 * Later directories win over earlier ones for the same path.  Extra single
 * files (m5, the restore script) are added with overlay_add_file().  The
 * overlay digest is a SHA-256 over a canonical encoding of every entry
 * (path, type, mode, uid, gid, size, content hash or link target,
 * hard-link leader; the mtime only with keep_mtime).  Content, not
 * history: a copy of the tree (cp -r, git clone, rsync without -t) hashes
 * the same.  Of the engine it uses digest.h, dcache.h (the digest cache,
 * asked while hashing) and util.h only.
 */
#ifndef HB_OVERLAY_H
#define HB_OVERLAY_H

#include <stdint.h>
#include <sys/types.h>

#include "digest.h"

struct dcache;
struct hashing;

#define OVERLAY_NAME_MAX 255	/* longest path component ext4 accepts */

enum overlay_type { OVERLAY_DIR, OVERLAY_FILE, OVERLAY_SYMLINK };

struct overlay_entry {
	char *path;		/* relative, no leading or trailing '/', e.g. "root/.bashrc" */
	char *host_path;	/* where the data is on the host (files only) */
	char *target;		/* symlink target, stored verbatim (symlinks only) */
	enum overlay_type type;
	mode_t mode;		/* permission bits incl. setuid/setgid/sticky (07777) */
	uid_t uid;
	gid_t gid;
	uint64_t size;		/* files: bytes; symlinks: strlen(target) */
	int64_t mtime_sec;
	long mtime_nsec;
	int64_t ctime_sec;	/* when scanned: a change with the mtime put back */
	long ctime_nsec;	/* still moves it (not hashed) */
	/* Hard links inside one overlay directory: index of the first entry
	 * (in sorted order) of the same host inode, or -1.  Only files.
	 * The first entry of a group has -1 itself. */
	long link_leader;
	unsigned char sha256[DIGEST_LEN];	/* content hash (files) */
	/* A file still to be hashed by the threads of overlay_start(); its
	 * size and metadata until then are the scan's (lstat), replaced by
	 * those of the opened file. */
	int pending;
	/* Host inode of a file with several links, found by the
	 * host_source-th overlay_add_dir() call (from 1); all 0 otherwise
	 * (overlay_add_file() entries join no group).  Used only to compute
	 * link_leader; not hashed. */
	dev_t host_dev;
	ino_t host_ino;
	unsigned host_source;
};

struct overlay {
	struct overlay_entry *entries;	/* sorted, see above */
	size_t n;
	uint64_t total_file_bytes;	/* sum of regular file sizes (leaders only) */
	unsigned n_dirs;		/* overlay_add_dir() calls so far */
	/* Policy, set before overlay_finish() (overlay_init() clears both):
	 * keep_mtime puts the entries' mtimes in the digest (the image then
	 * carries them); umask clears mode bits of every file and directory
	 * entry, so that checkouts under different umasks agree. */
	int keep_mtime;
	mode_t umask;
	/* Where file digests may come from and go to (dcache.h), or NULL:
	 * every file is read.  Set before the first add; not owned. */
	struct dcache *cache;
	unsigned char digest[DIGEST_LEN];	/* valid after overlay_finish() */
	struct hashing *hashing;	/* overlay_start()'s threads, or NULL */
};

/* Files smaller than this are kept in memory between their hashing and
 * overlay_take() (at most OVERLAY_WINDOW of them ahead of the consumer). */
#define OVERLAY_KEEP_MAX (64 * 1024)
#define OVERLAY_WINDOW 1024

/* Initialise an empty overlay. */
void overlay_init(struct overlay *ov);

/* Add every entry below directory dir (dir itself is the image root and is
 * not an entry).  Symlinks are never followed on the host.  Refused, with
 * one hb_error() naming the path and -EINVAL: fifos, sockets, block and
 * character devices; components longer than OVERLAY_NAME_MAX bytes; an
 * unreadable file (-errno).  dir missing or not a directory: -ENOTDIR /
 * -ENOENT with a message.  An entry for a path already present (from an
 * earlier directory) replaces it; a directory replacing a file or the other
 * way round is refused (-EINVAL). */
int overlay_add_dir(struct overlay *ov, const char *dir);

/* Add (or replace) one regular file at image path dest (e.g. "sbin/m5")
 * with data from host_path.  mode == 0 keeps host_path's permission bits.
 * Missing parent directories of dest are added as directories with mode
 * 0755, uid/gid 0 and the file's mtime.  The file itself is owned by
 * uid/gid 0 too, takes host_path's mtime, and joins no hard-link group.
 * host_path may be a symlink (it is followed); dest is normalised (extra
 * '/' dropped; "." and ".." refused).  A parent that is a file or symlink
 * in the overlay, or a directory at dest, is refused (-EINVAL). */
int overlay_add_file(struct overlay *ov, const char *dest, const char *host_path, mode_t mode);

/* Sort, resolve hard-link groups, hash the files and compute the digest.
 * Must be called once after the last add and before the overlay is used:
 * overlay_finish() is overlay_start() and overlay_end(). */
int overlay_finish(struct overlay *ov);

/* Resolve hard-link groups and start hashing the files in the background,
 * in list order.  The entries' paths, types and link leaders are final;
 * a pending file's size, metadata and hash are final once it is taken. */
int overlay_start(struct overlay *ov);

/* Wait until entry i (a file) is hashed.  *bytes: its content (e->size
 * bytes, the very bytes hashed) when it was kept, else NULL (read it from
 * e->host_path and check it against e->sha256).  Valid until the next
 * overlay_take() or overlay_end().  Entries must be taken in increasing
 * order; taking i gives up the kept bytes of the files before it.  A file
 * that could not be hashed: one hb_error() and its negative errno.
 * Without a run (after overlay_finish()) it returns 0 at once. */
int overlay_take(struct overlay *ov, size_t i, const unsigned char **bytes);

/* Files hashed so far (for a progress line), or 0 without a run. */
size_t overlay_hashed(const struct overlay *ov, uint64_t *bytes);

/* Wait for the rest of the hashing, then give hard-link names their
 * group's values and compute the digest (a no-op without a run). */
int overlay_end(struct overlay *ov);

/* Find an entry by path, or NULL (valid after overlay_finish). */
const struct overlay_entry *overlay_find(const struct overlay *ov, const char *path);

void overlay_free(struct overlay *ov);

#endif
