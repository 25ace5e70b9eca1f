/* SPDX-License-Identifier: BSD-3-Clause */
/* util.h -- error reporting and small helpers shared by every module.
 *
 * Errors are reported once, where the context is known, with hb_error();
 * callers only test the return value (0 or a negative errno, see each
 * header).  hb_error() keeps the last message per thread so that the
 * program can print it as its one error line and tests can assert on it.
 */
#ifndef HB_UTIL_H
#define HB_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define HB_PROGRAM "hackbackfs"

/* Record (and, unless hb_error_quiet() was called, print to stderr as
 * "hackbackfs: MESSAGE") one error message.  Returns nothing: the caller
 * returns its own error code. */
void hb_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The last message recorded by hb_error() in this thread, or "". */
const char *hb_last_error(void);

/* Stop printing errors to stderr (tests keep only hb_last_error()). */
void hb_error_quiet(int quiet);

/* Send errors to syslog (LOG_ERR, ident "hackbackfs") instead of stderr:
 * for a daemon whose stderr is gone. */
void hb_error_syslog(int on);

/* A line on stderr that the user must see although nothing failed (a
 * wait, a warning); not recorded as an error, silenced by hb_error_quiet(). */
void hb_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Optional progress line on stderr, printed only when hb_verbose is set. */
void hb_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hb_set_verbose(int verbose);

/* A progress line for long start-ups, redrawn in place on stderr: only
 * when verbose and stderr is a terminal.  hb_progress_due() says whether
 * it is time (every 0.5 s) to call hb_progress(); hb_progress_end() ends
 * the line.  Main thread only.  hb_now(): a monotonic clock, seconds. */
int hb_progress_due(void);
void hb_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void hb_progress_end(void);
double hb_now(void);

/* pread/pwrite that retry on EINTR and short transfers.  Return the number
 * of bytes transferred (short only at end of file) or -errno. */
ssize_t hb_pread_full(int fd, void *buf, size_t len, uint64_t off);
ssize_t hb_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/* Close every descriptor from lowfd up or, with cloexec_only, mark them
 * close-on-exec: what a child gets before exec, so that it holds nothing
 * of ours (a /dev/fuse descriptor held elsewhere keeps a dead daemon's
 * mount alive).  close_range() where configure found it (Linux 5.9, glibc
 * 2.34; CLOEXEC since Linux 5.11), else, or when the kernel says ENOSYS or
 * EINVAL, hb_close_fds_walk().  Async-signal-safe: for the child of a
 * threaded fork.  0 or -errno. */
int hb_close_fds_from(int lowfd, int cloexec_only);

/* The fallback, on its own for the unit test: the descriptors listed in
 * /proc/self/fd, or without /proc every number below the fd limit. */
int hb_close_fds_walk(int lowfd, int cloexec_only);

/* Scoped cleanup, as in nbdkit: the variable is freed / closed when it
 * goes out of scope. */
static inline void hb_free_ptr(void *p) { free(*(void **)p); }
static inline void hb_close_fd(int *fd) { if (*fd >= 0) close(*fd); }
#define CLEANUP_FREE __attribute__((cleanup(hb_free_ptr)))
#define CLEANUP_CLOSE __attribute__((cleanup(hb_close_fd)))

/* Little-endian integers of n bytes (n <= 8) in on-disk formats: the
 * ext superblock, the cow file, gem5's COW file. */
static inline void hb_put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t hb_get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = (v << 8) | p[n];
	return v;
}

#define HB_MIN(a, b) ((a) < (b) ? (a) : (b))
#define HB_MAX(a, b) ((a) > (b) ? (a) : (b))
#define HB_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
