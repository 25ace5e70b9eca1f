/* mount.c -- the mount point, the unmount guard and the readahead window
 * (see mount.h).
 *
 * Everything here is about the place the image is mounted, not about the
 * image: which directory may take the mount, what is mounted there now,
 * who removes the mount when the daemon dies, and how far the kernel
 * reads ahead on it.
 *
 * The mount point checks read /proc/self/mountinfo: a directory that is
 * already a mount point is refused by name (libfuse would stack a second
 * mount on it), and so is one with anything in it (libfuse mounts over a
 * non-empty directory without complaint).  Reading mountinfo sends no FUSE
 * request, so a dead or not yet served mount cannot hang us.
 *
 * The guard (mnt_guard) is a forked process with nothing but the read end
 * of a pipe whose write end only the daemon holds: EOF means the daemon is
 * gone, and if its mount (same device) is still there, it is a dead mount
 * to remove.
 *
 * The readahead window is the mount's bdi's read_ahead_kb in sysfs
 * (/sys/class/bdi/MAJOR:MINOR), found through the device number that
 * mountinfo gives for the mount.
 *
 * SPDX-License-Identifier: BSD-3-Clause
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "mount.h"
#include "util.h"

/* ---- the mount point ---------------------------------------------------- */

int mnt_fd(const char *mnt)
{
	const char *p = mnt + strlen("/dev/fd/");
	char *end;
	long n;

	if (strncmp(mnt, "/dev/fd/", strlen("/dev/fd/")) != 0 || *p < '0' || *p > '9')
		return -1;
	errno = 0;
	n = strtol(p, &end, 10);
	if (errno || *end || n > INT_MAX)
		return -1;
	return (int)n;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *d = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = 0;
}

/* The file system type mounted exactly at PATH (malloc'd), or NULL; with
 * DEV, also its device ("major:minor", at most 31 bytes).  The last of
 * stacked mounts wins.  Sends no FUSE request, so a dead or not yet served
 * mount is no problem. */
static char *mounted_type(const char *path, char *dev)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *type = NULL;
	size_t cap = 0;

	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		char mp[PATH_MAX], fst[256], mm[32];
		/* id parent major:minor root mountpoint ... - fstype source */
		if (sscanf(line, "%*s %*s %31s %*s %4095s", mm, mp) != 2)
			continue;
		unescape(mp);
		const char *sep = strstr(line, " - ");
		if (strcmp(mp, path) != 0 || !sep || sscanf(sep + 3, "%255s", fst) != 1)
			continue;
		free(type);
		type = strdup(fst);
		if (dev)
			strcpy(dev, mm);
	}
	free(line);
	fclose(f);
	return type;
}

int mnt_check(const char *mnt)
{
	char real[PATH_MAX];
	struct stat st;
	int fd = mnt_fd(mnt);

	if (fd >= 0) {
		if (fstat(fd, &st) < 0) {
			hb_error("mount point %s: descriptor %d is not open", mnt, fd);
			return -EBADF;
		}
		if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 10 || minor(st.st_rdev) != 229) {
			hb_error("mount point %s: descriptor %d is not /dev/fuse", mnt, fd);
			return -EINVAL;
		}
		return 0;
	}
	if (stat(mnt, &st) < 0) {
		if (errno == ENOTCONN) {
			hb_error("mount point %s: a dead FUSE mount is there (remove it with fusermount3 -u %s)",
				 mnt, mnt);
			return -ENOTCONN;
		}
		return 0;	/* check_mountpoint() names the cause */
	}
	if (!realpath(mnt, real))
		return 0;
	CLEANUP_FREE char *type = mounted_type(real, NULL);
	if (type) {
		hb_error("mount point %s is already mounted (%s): unmount it, or use an empty directory",
			 mnt, type);
		return -EBUSY;
	}
	return 0;
}

int mnt_check_dir(const char *mnt)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int empty = 1;

	if (stat(mnt, &st) < 0) {
		hb_error("mount point %s: %s", mnt, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		hb_error("mount point %s is not a directory", mnt);
		return -ENOTDIR;
	}
	d = opendir(mnt);
	if (!d) {
		hb_error("mount point %s: %s", mnt, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = 0;
	closedir(d);
	if (!empty) {
		hb_error("mount point %s is not empty", mnt);
		return -ENOTEMPTY;
	}
	return 0;
}

/* ---- the guard ------------------------------------------------------------ */

/* In the guard: wait until every copy of the pipe's write end is gone (the
 * daemon has ended, one way or another), then remove MNT if our mount (its
 * device DEV) is still there: the daemon that served it is gone, so it is
 * dead.  A clean exit has unmounted it already.  No open(MNT) to ask the
 * kernel, as fusermount3's auto_unmount does: its answer depends on how far
 * the daemon's exit has got when the pipe reports EOF.  (fusermount3 left
 * a killed daemon's mount once here, on a busy machine, for more than 10 s;
 * the cause was not pinned down, 15 more tries under load did not repeat
 * it.  Comparing the device needs no answer from the kernel at all.) */
static void __attribute__((noreturn)) guard(const char *mnt, const char *dev, int rfd)
{
	char now[32];
	sigset_t all;
	char c;
	int fd;

	/* Nothing of the daemon's: a /dev/fuse descriptor held here would keep
	 * a dead daemon's connection alive. */
	rfd = fcntl(rfd, F_DUPFD, 10);
	if (rfd < 0)
		_exit(1);
	close_range(0, (unsigned)rfd - 1, 0);
	close_range((unsigned)rfd + 1, ~0U, 0);
	for (fd = open("/dev/null", O_RDWR); fd >= 0 && fd < 2;)
		fd = dup(fd);
	prctl(PR_SET_NAME, "hackbackfs-guard");
	setsid();
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	while (read(rfd, &c, 1) != 0)
		if (errno != EINTR)
			break;
	CLEANUP_FREE char *type = mounted_type(mnt, now);
	if (!type || strcmp(now, dev) != 0)
		_exit(0);
	if (geteuid() == 0)
		_exit(umount2(mnt, MNT_DETACH) == 0 ? 0 : 1);
	execlp("fusermount3", "fusermount3", "-u", "-z", "-q", "--", mnt, (char *)NULL);
	_exit(1);
}

int mnt_guard(const char *mnt)
{
	char dev[32];
	int p[2];
	pid_t pid;

	CLEANUP_FREE char *type = mounted_type(mnt, dev);
	if (!type) {
		hb_error("cannot start the unmount guard: %s is not in /proc/self/mountinfo", mnt);
		return -ENOENT;
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		hb_error("pipe: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		hb_error("cannot start the unmount guard: fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -EAGAIN;
	}
	if (pid == 0) {
		close(p[1]);
		guard(mnt, dev, p[0]);
	}
	/* Not waited for: it lives until we are gone.  The write end stays
	 * open (close-on-exec, so not in CMD) for the life of this process. */
	close(p[0]);
	return 0;
}

/* ---- the mount's readahead window ------------------------------------------ */

/* The number in a sysfs file such as read_ahead_kb, or -1. */
static long read_sysfs_long(const char *path)
{
	FILE *f = fopen(path, "re");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/* read_ahead_kb of what BASE's file system reads from: the disk's queue
 * (the parent's, for a partition), or the backing device of a file system
 * without one (NFS, Lustre, another FUSE mount); -1 when there is none. */
static long base_read_ahead_kb(const char *base)
{
	char path[PATH_MAX];
	struct stat st;
	long v;

	if (stat(base, &st) < 0)
		return -1;
	snprintf(path, sizeof path, "/sys/dev/block/%u:%u/queue/read_ahead_kb",
		 major(st.st_dev), minor(st.st_dev));
	if ((v = read_sysfs_long(path)) >= 0)
		return v;
	snprintf(path, sizeof path, "/sys/dev/block/%u:%u/../queue/read_ahead_kb",
		 major(st.st_dev), minor(st.st_dev));
	if ((v = read_sysfs_long(path)) >= 0)
		return v;
	snprintf(path, sizeof path, "/sys/class/bdi/%u:%u/read_ahead_kb", major(st.st_dev),
		 minor(st.st_dev));
	return read_sysfs_long(path);
}

int mnt_read_ahead(const char *mnt, long kb, const char *base)
{
	char dev[32], path[PATH_MAX], num[32];
	long now, want = kb;
	int fd, n;

	CLEANUP_FREE char *type = mnt_fd(mnt) >= 0 ? NULL : mounted_type(mnt, dev);
	if (!type) {
		if (kb < 0)
			return 0;
		hb_error("-o read_ahead_kb: %s is not a mount of this process (a /dev/fd/N mount is "
			 "its maker's: set it there)", mnt);
		return -EINVAL;
	}
	snprintf(path, sizeof path, "/sys/class/bdi/%s/read_ahead_kb", dev);
	now = read_sysfs_long(path);
	if (kb < 0) {	/* auto: BASE's window when it is larger, if we may */
		want = base_read_ahead_kb(base);
		if (want > HB_READ_AHEAD_KB_MAX)
			want = HB_READ_AHEAD_KB_MAX;
		if (want <= now || access(path, W_OK) != 0)
			return 0;
	}
	if (want == now)
		return 0;
	n = snprintf(num, sizeof num, "%ld\n", want);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, num, (size_t)n) != n) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		if (kb < 0)
			return 0;	/* auto asks nothing it cannot have */
		hb_error("-o read_ahead_kb=%ld: cannot write %s: %s (it takes root)", kb, path,
			 strerror(e));
		return -e;
	}
	close(fd);
	return 0;
}
