/* runmode.c -- run mode and the mount point checks (see runmode.h).
 *
 * The process runs the FUSE loop in its main thread, as for a normal
 * mount, and one more thread, the supervisor, waits for CMD.  Before CMD
 * is forked the main thread blocks SIGTERM, SIGINT, SIGHUP and SIGCHLD;
 * every thread made afterwards (the supervisor, libfuse's workers)
 * inherits that mask, so the signals queue for the supervisor's sigwait():
 * the first three are passed on to CMD, SIGCHLD means CMD may have ended.
 *
 * Ending the loop from another thread: fuse_exit() only sets a flag that
 * the loop tests between requests, and the main thread may sleep in a
 * read() of /dev/fuse or in libfuse's wait for its workers.  A signal with
 * a handler (SIGUSR1, no SA_RESTART) interrupts either; the supervisor
 * repeats it until the main thread says the loop has returned, so a kick
 * that lands just before the main thread goes to sleep is not lost.  The
 * mount is then removed by fusefs_serve() as always.
 *
 * CMD gets no descriptor of ours (close_range CLOEXEC before exec): a CMD
 * that held /dev/fuse or fusermount3's auto_unmount socket would keep a
 * dead daemon's mount alive.  Whether exec worked comes back through a
 * close-on-exec pipe: nothing read means CMD runs.
 *
 * The mount point checks read /proc/self/mountinfo: a directory that is
 * already a mount point is refused by name (libfuse would stack a second
 * mount on it).  The guard (mnt_guard) is a forked process with nothing but
 * the read end of a pipe whose write end only the daemon holds: EOF means
 * the daemon is gone, and if its mount (same device) is still there, it
 * is a dead mount to remove.
 */
#include "config.h"

#define FUSE_USE_VERSION 35
#include <fuse.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runmode.h"
#include "util.h"

struct runmode {
	char **argv;
	struct fuse *fuse;
	pid_t pid;		/* CMD, once forked */
	int status;		/* exit status to report */
	int started;		/* the supervisor runs */
	pthread_t main, thread;
	sigset_t oldmask;
	struct sigaction oldchld;
	atomic_int loop_done;
};

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP };

/* ---- finding CMD before anything is mounted ----------------------------- */

/* 0 when PATH names an executable regular file; -errno else. */
static int executable(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
		return -EACCES;
	return 0;
}

/* As execvp() will look CMD up: a name with a slash is a path, any other
 * is searched in $PATH.  0, -ENOENT or -EACCES. */
static int find_cmd(const char *cmd)
{
	const char *path = getenv("PATH");
	int r = -ENOENT;

	if (!*cmd)
		return -ENOENT;
	if (strchr(cmd, '/'))
		return executable(cmd);
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *end = strchrnul(path, ':');
		char full[PATH_MAX];
		int n = snprintf(full, sizeof full, "%.*s%s%s", (int)(end - path), path,
				 end == path ? "" : "/", cmd);
		if (n > 0 && (size_t)n < sizeof full) {
			int e = executable(full);
			if (e == 0)
				return 0;
			if (e == -EACCES)
				r = -EACCES;
		}
		path = *end ? end + 1 : end;
	}
	return r;
}

int runmode_prepare(struct runmode **out, char **argv, const char *mnt, const char *name,
		    int *status)
{
	char real[PATH_MAX];
	CLEANUP_FREE char *image = NULL;
	struct runmode *rm;
	int r;

	*status = 1;
	if (!argv[0]) {
		hb_error("no command after '--' (usage: hackbackfs [options] BASE OVERLAY MNT -- CMD [ARGS...])");
		return -EINVAL;
	}
	if (mnt_fd(mnt) >= 0) {
		hb_error("run mode needs a directory as mount point, not %s", mnt);
		return -EINVAL;
	}
	r = find_cmd(argv[0]);
	if (r < 0) {
		hb_error("cannot run '%s': %s", argv[0],
			 r == -ENOENT ? "command not found" : strerror(-r));
		*status = r == -ENOENT ? RUNMODE_NOT_FOUND : RUNMODE_NOT_EXEC;
		return r;
	}
	if (!realpath(mnt, real)) {
		hb_error("mount point %s: %s", mnt, strerror(errno));
		return -errno;
	}
	if (asprintf(&image, "%s/%s", strcmp(real, "/") ? real : "", name) < 0)
		return -ENOMEM;
	/* Set here, while the process has one thread; CMD inherits them. */
	if (setenv("HACKBACKFS_IMAGE", image, 1) < 0 || setenv("HACKBACKFS_MOUNT", real, 1) < 0)
		return -errno;
	rm = calloc(1, sizeof *rm);
	if (!rm)
		return -ENOMEM;
	rm->argv = argv;
	rm->pid = -1;
	rm->status = 1;
	*out = rm;
	return 0;
}

/* ---- running CMD -------------------------------------------------------- */

static void kick(int sig)
{
	(void)sig;	/* only interrupts the main thread's wait */
}

static int decode_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 1;
}

static void *supervise(void *arg)
{
	struct runmode *rm = arg;
	sigset_t set;
	int sig, st = 0;

	sigemptyset(&set);
	for (size_t i = 0; i < HB_ARRAY_SIZE(forwarded); i++)
		sigaddset(&set, forwarded[i]);
	sigaddset(&set, SIGCHLD);
	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig != SIGCHLD) {
			hb_info("passing signal %d on to %s (pid %d)", sig, rm->argv[0], (int)rm->pid);
			kill(rm->pid, sig);
			continue;
		}
		pid_t p = waitpid(rm->pid, &st, WNOHANG);
		if (p == rm->pid || (p < 0 && errno == ECHILD))
			break;
	}
	rm->status = decode_status(st);
	hb_info("%s ended (exit status %d): unmounting", rm->argv[0], rm->status);
	fuse_exit(rm->fuse);
	while (!atomic_load(&rm->loop_done)) {
		pthread_kill(rm->main, SIGUSR1);
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	return NULL;
}

/* In the child: CMD with the caller's signal state and none of our
 * descriptors.  Reports exec's errno on ERRFD. */
static void __attribute__((noreturn)) exec_cmd(struct runmode *rm, int errfd)
{
	int e;

	sigaction(SIGCHLD, &rm->oldchld, NULL);
	sigprocmask(SIG_SETMASK, &rm->oldmask, NULL);
	close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
	execvp(rm->argv[0], rm->argv);
	e = errno;
	if (write(errfd, &e, sizeof e) < 0)
		_exit(RUNMODE_NOT_EXEC);
	_exit(e == ENOENT ? RUNMODE_NOT_FOUND : RUNMODE_NOT_EXEC);
}

int runmode_start(struct runmode *rm, struct fuse *f)
{
	struct sigaction sa = { .sa_handler = kick };
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t block;
	int p[2], e = 0, st;
	ssize_t n;

	rm->fuse = f;
	rm->main = pthread_self();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	/* An inherited SIG_IGN would reap CMD behind our back. */
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, &rm->oldchld);
	sigemptyset(&block);
	for (size_t i = 0; i < HB_ARRAY_SIZE(forwarded); i++)
		sigaddset(&block, forwarded[i]);
	sigaddset(&block, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &block, &rm->oldmask);

	if (pipe2(p, O_CLOEXEC) < 0) {
		hb_error("pipe: %s", strerror(errno));
		return -errno;
	}
	fflush(NULL);
	rm->pid = fork();
	if (rm->pid < 0) {
		hb_error("cannot start %s: fork: %s", rm->argv[0], strerror(errno));
		close(p[0]);
		close(p[1]);
		return -EAGAIN;
	}
	if (rm->pid == 0) {
		close(p[0]);
		exec_cmd(rm, p[1]);
	}
	close(p[1]);
	do
		n = read(p[0], &e, sizeof e);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == sizeof e) {
		hb_error("cannot run '%s': %s", rm->argv[0], strerror(e));
		waitpid(rm->pid, &st, 0);
		rm->status = e == ENOENT ? RUNMODE_NOT_FOUND : RUNMODE_NOT_EXEC;
		return -e;
	}
	hb_info("started %s (pid %d)", rm->argv[0], (int)rm->pid);
	e = pthread_create(&rm->thread, NULL, supervise, rm);
	if (e) {
		/* Without the supervisor nobody would end the loop. */
		hb_error("cannot start the supervisor thread: %s", strerror(e));
		kill(rm->pid, SIGTERM);
		waitpid(rm->pid, &st, 0);
		return -e;
	}
	rm->started = 1;
	return 0;
}

void runmode_loop_done(struct runmode *rm)
{
	atomic_store(&rm->loop_done, 1);
}

int runmode_finish(struct runmode *rm)
{
	if (!rm->started)
		return rm->status;
	/* The loop may also have ended because somebody unmounted MNT: CMD
	 * still decides the exit status, and still gets our signals. */
	pthread_join(rm->thread, NULL);
	rm->started = 0;
	return rm->status;
}

void runmode_free(struct runmode *rm)
{
	free(rm);
}

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
	CLEANUP_FREE char *type = mounted_type(real, NULL);
	if (type) {
		hb_error("mount point %s is already mounted (%s): unmount it, or use an empty directory",
			 mnt, type);
		return -EBUSY;
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
