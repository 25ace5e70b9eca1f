/* SPDX-License-Identifier: BSD-3-Clause */
/* util.c -- see util.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <time.h>

#include "util.h"

/* The only mutable globals of the library: whether to print, and each
 * thread's last message.  Both exist so that one error line reaches the
 * user without every caller threading a message buffer through. */
static int error_quiet;
static int error_syslog;
static int verbose;
static __thread char last_error[1024];

void hb_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof last_error, fmt, ap);
	va_end(ap);
	if (error_quiet)
		return;
	if (error_syslog)
		syslog(LOG_ERR, "%s", last_error);
	else
		fprintf(stderr, "%s: %s\n", HB_PROGRAM, last_error);
}

void hb_error_syslog(int on)
{
	if (on && !error_syslog)
		openlog(HB_PROGRAM, LOG_PID, LOG_USER);
	error_syslog = on;
}

const char *hb_last_error(void)
{
	return last_error;
}

void hb_error_quiet(int quiet)
{
	error_quiet = quiet;
}

/* One line on stderr, the program's name first. */
static void say(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", HB_PROGRAM);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void hb_notice(const char *fmt, ...)
{
	va_list ap;

	if (error_quiet)
		return;
	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}

void hb_set_verbose(int v)
{
	verbose = v;
}

void hb_info(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	say(fmt, ap);
	va_end(ap);
}

/* The progress line: when it was last drawn, and whether one is showing
 * (the main thread's only, like verbose). */
static double progress_last;
static int progress_shown;

double hb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int hb_progress_due(void)
{
	double now;

	if (!verbose || !isatty(STDERR_FILENO))
		return 0;
	now = hb_now();
	if (now - progress_last < 0.5)
		return 0;
	progress_last = now;
	return 1;
}

void hb_progress(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "\r%s: ", HB_PROGRAM);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\033[K", stderr);	/* clear the rest of the line */
	fflush(stderr);
	progress_shown = 1;
}

void hb_progress_end(void)
{
	if (progress_shown)
		fputc('\n', stderr);
	progress_shown = 0;
}

ssize_t hb_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

ssize_t hb_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pwrite(fd, (const char *)buf + done, len - done, (off_t)(off + done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)r;
	}
	return (ssize_t)done;
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

static void close_fd(int fd, int cloexec_only)
{
	int fl;

	if (!cloexec_only)
		close(fd);
	else if ((fl = fcntl(fd, F_GETFD)) >= 0 && !(fl & FD_CLOEXEC))
		fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

int hb_close_fds_walk(int lowfd, int cloexec_only)
{
	/* getdents64 into a buffer on the stack: no opendir(), whose malloc
	 * is not for the child of a threaded fork.  The records have the
	 * layout of glibc's struct dirent64. */
	_Alignas(struct dirent64) char buf[4096];
	struct rlimit rl;
	long n, max;
	int dfd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd >= 0) {
		while ((n = syscall(SYS_getdents64, dfd, buf, sizeof buf)) > 0) {
			for (long off = 0; off < n;) {
				const struct dirent64 *d = (const struct dirent64 *)(buf + off);
				const char *c = d->d_name;
				int fd = 0;
				off += d->d_reclen;
				if (*c < '0' || *c > '9')
					continue;	/* "." and ".." */
				while (*c >= '0' && *c <= '9' && fd < 1 << 24)
					fd = fd * 10 + (*c++ - '0');
				if (fd >= lowfd && fd != dfd)
					close_fd(fd, cloexec_only);
			}
		}
		close(dfd);
		if (n == 0)
			return 0;
	}
	/* No /proc (or it failed): every number below the limit. */
	max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY ?
		      (long)rl.rlim_cur : 65536;
	for (long fd = lowfd; fd < HB_MIN(max, 1L << 20); fd++)
		close_fd((int)fd, cloexec_only);
	return 0;
}

int hb_close_fds_from(int lowfd, int cloexec_only)
{
#ifdef HAVE_CLOSE_RANGE
	if (close_range((unsigned)lowfd, ~0U, cloexec_only ? CLOSE_RANGE_CLOEXEC : 0) == 0)
		return 0;
	if (errno != ENOSYS && errno != EINVAL)
		return -errno;
#endif
	return hb_close_fds_walk(lowfd, cloexec_only);
}
