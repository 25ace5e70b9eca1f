/* SPDX-License-Identifier: BSD-3-Clause */
/* mount.c -- the mount point, the unmount guard and the readahead window
 * (see mount.h).
 *
 * Everything here is about the place the image is mounted, not about the
 * image: which directory may take the mount, what is mounted there now,
 * who removes the mount when the daemon dies, and how far the kernel
 * reads ahead on it.
 *
 * Two hackbackfs started at once on one empty directory would both pass
 * the checks, build for seconds or minutes, and mount one on top of the
 * other.  mnt_claim() takes an flock on the directory before the checks and
 * holds it until the mount is made, and the checks run again right before
 * mounting: exactly one wins, the other says the directory is being
 * mounted.  (An flock on the directory, not a lock file beside it: nothing
 * is created, and the lock ends with the process whatever kills it.)
 *
 * The mount point checks read /proc/self/mountinfo: a directory that is
 * already a mount point is refused by name (libfuse would stack a second
 * mount on it), and so is one with anything in it (libfuse mounts over a
 * non-empty directory without complaint).  Reading mountinfo sends no FUSE
 * request, so a dead or not yet served mount cannot hang us.
 *
 * The guard (mnt_guard) is a forked process with nothing but one end of a
 * socket whose other end only the daemon holds.  A byte on it means "I have
 * unmounted cleanly": the guard ends.  EOF without one means the daemon was
 * killed, and if its mount is still there, it is a dead mount to remove.
 * "Its mount" is the hard part: path, device number and the mount ID of
 * mountinfo are all handed to the next mount as soon as they are free, and
 * the README's checkpoint-then-restore, back to back, mounts again on the
 * same path while the old daemon still flushes its cow file.  Hence the
 * clean-exit byte, and the kernel's unique mount ID (never reused) where
 * the kernel has one.
 *
 * The readahead window is the mount's bdi's read_ahead_kb in sysfs
 * (/sys/class/bdi/MAJOR:MINOR), found through the device number that
 * mountinfo gives for the mount.
 */
#include "config.h"

#define FUSE_USE_VERSION 35
#include <fuse.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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

/* The last line of /proc/self/mountinfo (the top of stacked mounts) for
 * the mount at PATH, or, with PATH NULL, for the mount with ID: its file
 * system type (malloc'd), or NULL when there is none.  DEV, when not NULL,
 * gets its device ("major:minor", at most 31 bytes), *IDP its mount ID.
 * Sends no FUSE request, so a dead or not yet served mount is no problem. */
static char *mountinfo_find(const char *path, long id, char *dev, long *idp)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *type = NULL;
	size_t cap = 0;

	if (!f)
		return NULL;
	while (getline(&line, &cap, f) > 0) {
		char mp[PATH_MAX], fst[256], mm[32];
		long lid;
		/* id parent major:minor root mountpoint ... - fstype source */
		if (sscanf(line, "%ld %*s %31s %*s %4095s", &lid, mm, mp) != 3)
			continue;
		unescape(mp);
		const char *sep = strstr(line, " - ");
		if ((path ? strcmp(mp, path) != 0 : lid != id) || !sep ||
		    sscanf(sep + 3, "%255s", fst) != 1)
			continue;
		free(type);
		type = strdup(fst);
		if (dev)
			strcpy(dev, mm);
		if (idp)
			*idp = lid;
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
		/* Before 3.3, libfuse resolves /dev/fd/N to /dev/fuse and
		 * mounts a new file system over it.  By its version string:
		 * fuse_version() says 3.2 up to libfuse 3.9. */
		unsigned major = 0, minor = 0;
		if (sscanf(fuse_pkgversion(), "%u.%u", &major, &minor) != 2 ||
		    (major == 3 && minor < 3)) {
			hb_error("mount point %s: /dev/fd/N needs libfuse >= 3.3, this is %s", mnt,
				 fuse_pkgversion());
			return -ENOTSUP;
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
	CLEANUP_FREE char *type = mountinfo_find(real, -1, NULL, NULL);
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

/* The checks of a mount point that libfuse would accept (not /dev/fd/N). */
int mnt_recheck(const char *mnt)
{
	int r = mnt_check(mnt);

	return r < 0 ? r : mnt_check_dir(mnt);
}

int mnt_claim(const char *mnt, int *lock)
{
	int fd, r;

	*lock = -1;
	r = mnt_check(mnt);
	if (r < 0 || mnt_fd(mnt) >= 0)
		return r;
	fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		if (mnt_check_dir(mnt) < 0)	/* names the cause */
			return -ENOTDIR;
		hb_error("mount point %s: %s", mnt, strerror(e));
		return -e;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			hb_error("mount point %s is being mounted by another hackbackfs", mnt);
			close(fd);
			return -EBUSY;
		}
		/* NFS without lockd, some cluster file systems: go on with the
		 * checks alone, which the lock only makes airtight */
		hb_info("mount point %s: no lock (%s)", mnt, strerror(errno));
	}
	/* Under the lock: a hackbackfs that mounted here while we waited for
	 * nothing (between our first check and the lock) shows now. */
	r = mnt_recheck(mnt);
	if (r < 0) {
		close(fd);
		return r;
	}
	*lock = fd;
	return 0;
}

void mnt_unlock(int *lock)
{
	if (*lock >= 0)
		close(*lock);
	*lock = -1;
}

/* ---- the guard ------------------------------------------------------------ */

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x4000U	/* Linux 6.8; older headers lack it */
#endif

/* Which mount the guard watches.  Only the unique ID tells a mount from
 * its successor on the same path: the kernel hands a freed mount ID and a
 * freed FUSE device number to the next mount that asks (checked: three
 * tmpfs mounts in a row on one directory, all "49 0:43"). */
struct mnt_ident {
	uint64_t unique;	/* statx's STATX_MNT_ID_UNIQUE; 0: the kernel has none */
	long id;		/* mountinfo's mount ID */
	char dev[32];		/* mountinfo's major:minor */
};

/* The identity of the mount whose root FD (O_PATH) is, or -1.  Asks the
 * FUSE daemon nothing (AT_STATX_DONT_SYNC; the mount ID comes from fdinfo),
 * so a dead mount answers too. */
static int mnt_ident_of(int fd, struct mnt_ident *m)
{
	struct statx sx;
	char path[64], line[128];
	FILE *f;

	m->unique = 0;
	m->id = -1;
	/* The kernel's ABI puts stx_mnt_id right after stx_dev_minor; headers
	 * older than Linux 5.8 call those bytes padding.  Asked of "/" first:
	 * only a kernel that has the unique ID (and honours DONT_SYNC, which
	 * FUSE has done since long before) is asked about our own root, which
	 * the daemon, still on its way to serving, could not answer.  With
	 * HB_GUARD_NO_UNIQUE_ID=1 in the environment (a test hook: the guard
	 * inherits it from the daemon), not asked at all, as on Linux < 6.8. */
	if (!getenv("HB_GUARD_NO_UNIQUE_ID") &&
	    statx(AT_FDCWD, "/", 0, STATX_MNT_ID_UNIQUE, &sx) == 0 &&
	    (sx.stx_mask & STATX_MNT_ID_UNIQUE) &&
	    statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID_UNIQUE, &sx) == 0 &&
	    (sx.stx_mask & STATX_MNT_ID_UNIQUE))
		memcpy(&m->unique, (char *)&sx.stx_dev_minor + sizeof sx.stx_dev_minor,
		       sizeof m->unique);
	snprintf(path, sizeof path, "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "mnt_id: %ld", &m->id) == 1)
			break;
	fclose(f);
	CLEANUP_FREE char *type = m->id < 0 ? NULL : mountinfo_find(NULL, m->id, m->dev, NULL);
	return type ? 0 : -1;
}

static int same_mount(const struct mnt_ident *a, const struct mnt_ident *b)
{
	if (a->unique && b->unique)
		return a->unique == b->unique;
	/* Linux < 6.8: as good as it gets.  After a clean exit the guard does
	 * not look at all; after a killed daemon its dead mount blocks the
	 * path (mnt_check() refuses it) until it is removed. */
	return a->id == b->id && strcmp(a->dev, b->dev) == 0;
}

/* In the guard: wait for the daemon's word or its end.  A byte means the
 * daemon has unmounted cleanly (fusermount3 -u, or its own unmount): its
 * mount is gone and whatever is on MNT now is somebody else's, so the guard
 * ends without looking.  EOF without a byte (every copy of the socket's
 * other end is closed: the daemon was killed) means: if OURS is still on
 * MNT, it is dead; remove it.  As root exactly that mount, through a
 * descriptor of its root; as a user by path with fusermount3 (the only way
 * a user has), right after checking it.  No open(MNT) that asks the
 * daemon, as fusermount3's auto_unmount does: its answer depends on how far
 * the daemon's exit has got.  (fusermount3 left a killed daemon's mount
 * once here, on a busy machine, for more than 10 s; the cause was not
 * pinned down, 15 more tries under load did not repeat it.) */
static void __attribute__((noreturn)) guard(const char *mnt, const struct mnt_ident *ours,
					     int rfd)
{
	struct mnt_ident now;
	char self[64];
	sigset_t all;
	ssize_t n;
	char c;
	int fd;

	/* Nothing of the daemon's: a /dev/fuse descriptor held here would keep
	 * a dead daemon's connection alive; nor its working directory, which
	 * would keep the caller's file system busy. */
	if (rfd != 3 && (dup3(rfd, 3, O_CLOEXEC) < 0 || close(rfd) < 0))
		_exit(1);
	rfd = 3;
	hb_close_fds_from(4, 0);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0 || chdir("/") < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(1);
	if (fd > 2)
		close(fd);
	prctl(PR_SET_NAME, "hackbackfs-guard");
	setsid();
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);
	do
		n = read(rfd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		_exit(0);
	fd = open(mnt, O_PATH | O_CLOEXEC);
	if (fd < 0 || mnt_ident_of(fd, &now) < 0 || !same_mount(ours, &now))
		_exit(0);
	if (geteuid() == 0) {
		snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
		_exit(umount2(self, MNT_DETACH) == 0 ? 0 : 1);
	}
	close(fd);
	execlp("fusermount3", "fusermount3", "-u", "-z", "-q", "--", mnt, (char *)NULL);
	_exit(1);
}

int mnt_guard(const char *mnt)
{
	struct mnt_ident ours;
	int sv[2], fd;
	pid_t pid;

	fd = open(mnt, O_PATH | O_CLOEXEC);
	if (fd < 0 || mnt_ident_of(fd, &ours) < 0) {
		hb_error("cannot start the unmount guard: %s: %s", mnt,
			 fd < 0 ? strerror(errno) : "not in /proc/self/mountinfo");
		if (fd >= 0)
			close(fd);
		return -ENOENT;
	}
	close(fd);	/* held, it would make fusermount3 -u fail (busy) */
	/* A socket, not a pipe: mnt_guard_clean()'s send() to a guard that is
	 * gone must not raise SIGPIPE. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		hb_error("socketpair: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		hb_error("cannot start the unmount guard: fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -EAGAIN;
	}
	if (pid == 0) {
		close(sv[1]);
		guard(mnt, &ours, sv[0]);
	}
	/* Not waited for: it lives until we are gone or say so.  Our end is
	 * close-on-exec, so not in CMD or fusermount3. */
	close(sv[0]);
	return sv[1];
}

void mnt_guard_clean(int fd)
{
	char c = 'u';

	if (fd < 0)
		return;
	if (send(fd, &c, 1, MSG_NOSIGNAL) < 0)
		hb_info("the unmount guard has gone: %s", strerror(errno));
	close(fd);
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

	CLEANUP_FREE char *type = mnt_fd(mnt) >= 0 ? NULL : mountinfo_find(mnt, -1, dev, NULL);
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
