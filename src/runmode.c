/* runmode.c -- run mode (see runmode.h).
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
 * CMD gets no descriptor of ours (hb_close_fds_from() before exec): a CMD
 * that held /dev/fuse or fusermount3's auto_unmount socket would keep a
 * dead daemon's mount alive.  Whether exec worked comes back through a
 * close-on-exec pipe: nothing read means CMD runs.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mount.h"
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
	hb_close_fds_from(3, 1);
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
