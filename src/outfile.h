/* SPDX-License-Identifier: BSD-3-Clause */
/* outfile.h -- a file that appears under its name only when complete.
 *
 * For outputs that someone else will trust by their name (--export-cow's
 * FILE and FILE.json, a new cow file): the bytes go to a temporary first,
 * are synced, and only then take the final name, so the name holds either
 * nothing, the old file, or the whole new one -- also after a crash, a full
 * disk or SIGINT/SIGTERM/SIGHUP/SIGQUIT, which remove the temporary before
 * the program dies of them.
 *
 *   struct outfile *o;
 *   outfile_open(&o, path, 0666);        temporary in path's directory
 *   outfile_write(o, ...); ...            buffered, appended
 *   outfile_finish(o);                    flush, fsync, a temporary name
 *   outfile_publish(o, 0);                rename over path, sync the directory
 *   outfile_close(o);                     the temporary, if any, is removed
 *
 * The temporary is an unnamed O_TMPFILE where the file system has one,
 * else (and with HB_OUTFILE_NO_TMPFILE=1 in the environment, a test hook)
 * a name made with mkostemp; a finished O_TMPFILE is linked under a name
 * with a random suffix, retried when taken, so that nobody sharing the
 * directory can predict, block or pre-create it.  Names are created and
 * removed with the handled signals blocked, so the signal handler always
 * knows exactly which exist.  SIGXFSZ is ignored while an outfile is open:
 * a file size limit is an EFBIG write error, not death.
 *
 * Return convention: 0 or a negative errno after one hb_error() naming
 * path.
 */
#ifndef HB_OUTFILE_H
#define HB_OUTFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* How many outfiles may be open at once (the signal handler's table). */
#define OUTFILE_MAX 4

/* outfile_publish(): fail with -EEXIST, leaving it alone, when path
 * exists (else it is replaced). */
#define OUTFILE_NOREPLACE 1

struct outfile;

/* Fail early, before a long computation, when path cannot be created:
 * empty, a directory, its directory missing or not writable.  what names
 * the option in the message ("--export-cow"). */
int outfile_check(const char *path, const char *what);

/* A temporary in the directory of path, with mode & ~umask. */
int outfile_open(struct outfile **out, const char *path, mode_t mode);
/* Append len bytes (buffered). */
int outfile_write(struct outfile *o, const void *data, size_t len);
/* Write len bytes at off, below what was appended (flushes first). */
int outfile_pwrite(struct outfile *o, const void *data, size_t len, uint64_t off);
/* Bytes appended so far. */
uint64_t outfile_size(const struct outfile *o);
/* The descriptor (read-write, close-on-exec); owned by o. */
int outfile_fd(const struct outfile *o);
/* Flush, fsync, and give the file a temporary name. */
int outfile_finish(struct outfile *o);
/* Rename the finished file to path (flags: OUTFILE_NOREPLACE), then sync
 * the directory (best effort: some file systems refuse). */
int outfile_publish(struct outfile *o, int flags);
/* Close, removing a temporary name that is left.  *keep_fd, when not
 * NULL, receives the descriptor instead of its being closed. */
void outfile_close(struct outfile *o, int *keep_fd);

#endif
