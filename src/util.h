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
