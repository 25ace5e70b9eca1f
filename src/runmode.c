/* SPDX-License-Identifier: BSD-3-Clause */
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
 * CMD gets the process its caller would have started: the caller's signal
 * dispositions and mask and RLIMIT_NOFILE, as runmode_prepare() found them
 * before anything of ours changed them (SIGPIPE, which we ignore here,
 * SIGXFSZ, which the cow file ignores, the raised fd limit, our SIGUSR1);
 * and no descriptor of ours (hb_close_fds_from() before exec): a CMD that
 * held /dev/fuse or fusermount3's auto_unmount socket would keep a dead
 * daemon's mount alive.  Whether exec worked comes back through a
 * close-on-exec pipe: nothing read means CMD runs.
 *
 * One copy of each signal.  A signal to our process group (Ctrl-C, a kill
 * of the group as batch systems send) would reach CMD directly and again
 * through us.  So CMD runs in a process group of its own, and gets the
 * signals we pass on from us alone (to CMD itself, as before: a script that
 * relays them to its children, as contrib/slurm's do, would otherwise send
 * its children a second copy).  When we own the terminal, CMD's group
 * gets it (as a shell gives it to a job), so Ctrl-C reaches CMD alone and
 * CMD can read the terminal; a stop of CMD (Ctrl-Z) stops us too and a
 * continue continues both, and the terminal comes back to us when CMD
 * ends.  If we die, CMD gets SIGKILL (PR_SET_PDEATHSIG): its image is gone.
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
	atomic_int loop_done;
	/* the caller's process, for CMD */
	sigset_t caller_ign;	/* signals the caller ignored */
	uint64_t caller_ign_libc;	/* of the C library's own (bit sig - 1) */
	sigset_t caller_mask;
	struct rlimit caller_nofile;
	pid_t parent;		/* us, for CMD's check that we still live */
	int tty;		/* the terminal we hand to CMD, or -1 */
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

/* The C library keeps signals 32 to SIGRTMIN - 1 for itself (glibc: 32
 * and 33, SIGCANCEL and SIGSETXID): its sigaction() refuses them, and
 * glibc's first pthread_create() gives SIGSETXID a handler.  A caller may
 * still ignore them (GNU make's children ignore both), and a CMD forked
 * after the build's threads would get SIGSETXID back as SIG_DFL: ask and
 * set them through the kernel's own call.  Its struct sigaction starts
 * with the handler on the architectures clusters run (not on MIPS, where
 * the 128-signal set makes the call fail and this a no-op); flags,
 * restorer and mask stay zero. */
struct kernel_sigaction {
	void (*handler)(int);
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

static int libc_signal(int sig)
{
	return sig >= 32 && sig < SIGRTMIN && sig <= 64;
}

static int kernel_ignored(int sig)
{
	struct kernel_sigaction k = { 0 };

	return syscall(SYS_rt_sigaction, sig, NULL, &k, sizeof k.mask) == 0 &&
	       k.handler == SIG_IGN;
}

static void kernel_ignore(int sig)
{
	struct kernel_sigaction k = { .handler = SIG_IGN };

	syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof k.mask);
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
	rm->tty = -1;
	sigemptyset(&rm->caller_ign);
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;
		if (sigaction(sig, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
			sigaddset(&rm->caller_ign, sig);
		else if (libc_signal(sig) && kernel_ignored(sig))
			rm->caller_ign_libc |= 1ULL << (sig - 1);
	}
	sigprocmask(SIG_SETMASK, NULL, &rm->caller_mask);
	getrlimit(RLIMIT_NOFILE, &rm->caller_nofile);
	/* A reader of our stderr that has gone must not kill us while CMD
	 * runs on (libfuse does the same for a daemon). */
	signal(SIGPIPE, SIG_IGN);
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

/* CMD has stopped (Ctrl-Z, SIGSTOP): as a job of the caller's shell we
 * stop too, with the terminal back; continued, CMD continues, and gets the
 * terminal again if we are in the foreground.  Without a terminal of ours
 * nobody would continue us: CMD stays stopped alone, as it was asked. */
static void stopped(struct runmode *rm)
{
	if (rm->tty < 0)
		return;
	tcsetpgrp(rm->tty, getpgrp());
	kill(0, SIGTSTP);	/* our group: to the shell, a stopped job */
	if (tcgetpgrp(rm->tty) == getpgrp())
		tcsetpgrp(rm->tty, rm->pid);
	kill(-rm->pid, SIGCONT);
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
		pid_t p = waitpid(rm->pid, &st, WNOHANG | WUNTRACED);
		if (p == rm->pid && WIFSTOPPED(st)) {
			stopped(rm);
			continue;
		}
		if (p == rm->pid || (p < 0 && errno == ECHILD))
			break;
	}
	if (rm->tty >= 0)
		tcsetpgrp(rm->tty, getpgrp());
	rm->status = decode_status(st);
	hb_info("%s ended (exit status %d): unmounting", rm->argv[0], rm->status);
	fuse_exit(rm->fuse);
	while (!atomic_load(&rm->loop_done)) {
		pthread_kill(rm->main, SIGUSR1);
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000 * 1000 }, NULL);
	}
	return NULL;
}

/* In the child: CMD in a process group of its own, with the caller's
 * signal state and fd limit and none of our descriptors, killed if we die.
 * Reports exec's errno on ERRFD. */
static void __attribute__((noreturn)) exec_cmd(struct runmode *rm, int errfd)
{
	int e;

	setpgid(0, 0);
	if (rm->tty >= 0)
		tcsetpgrp(rm->tty, getpid());	/* SIGTTOU is blocked */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != rm->parent)
		_exit(1);	/* we are gone already: no CMD without its image */
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa = { .sa_handler = sigismember(&rm->caller_ign, sig) ? SIG_IGN
										: SIG_DFL };
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &sa, NULL);	/* the C library's own: EINVAL */
		if (rm->caller_ign_libc & (1ULL << (sig - 1)))
			kernel_ignore(sig);	/* ... set here */
	}
	hb_close_fds_from(3, 1);
	setrlimit(RLIMIT_NOFILE, &rm->caller_nofile);
	sigprocmask(SIG_SETMASK, &rm->caller_mask, NULL);
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
	rm->parent = getpid();
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	/* An inherited SIG_IGN would reap CMD behind our back. */
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGCHLD, &dfl, NULL);
	sigemptyset(&block);
	for (size_t i = 0; i < HB_ARRAY_SIZE(forwarded); i++)
		sigaddset(&block, forwarded[i]);
	sigaddset(&block, SIGCHLD);
	/* tcsetpgrp() from a background group; our writes to the terminal
	 * once CMD owns it */
	sigaddset(&block, SIGTTOU);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	for (int fd = 0; fd <= 2 && rm->tty < 0; fd++)
		if (isatty(fd) && tcgetpgrp(fd) == getpgrp())
			rm->tty = fd;

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
	/* Both sides, as shells do: whichever runs first. */
	setpgid(rm->pid, rm->pid);
	if (rm->tty >= 0)
		tcsetpgrp(rm->tty, rm->pid);
	close(p[1]);
	do
		n = read(p[0], &e, sizeof e);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n == sizeof e) {
		if (rm->tty >= 0)
			tcsetpgrp(rm->tty, getpgrp());
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
