/* runmode.h -- the mount's life: run mode, the mount point checks that
 * go with it, and a caller's /dev/fd/N.
 *
 * Run mode (`hackbackfs ... MNT -- CMD [ARGS...]`) serves the image only as
 * long as CMD runs, in the same process tree: what a Slurm job step needs,
 * where every process of the step is killed when it ends.  The serving
 * process stays in the foreground, forks CMD once MNT/NAME is mounted and
 * ends the FUSE loop when CMD ends; fusefs_serve() then unmounts as always.
 * SIGTERM, SIGINT and SIGHUP to hackbackfs go to CMD instead.
 *
 *   runmode_prepare()  before anything is built or mounted: finds CMD on
 *                      PATH (one error line and 127 when it is not there)
 *                      and fixes the environment CMD will get
 *   runmode_start()    in the serving process, right after the mount:
 *                      forks CMD and starts the thread that waits for it
 *   runmode_loop_done()  the FUSE loop has returned (whatever the reason)
 *   runmode_finish()   waits for CMD; its exit status, 128+N for signal N
 *
 * Functions return 0 or a negative errno unless said otherwise.  There is
 * one run per process: the signal plumbing is process-wide anyway.
 */
#ifndef HB_RUNMODE_H
#define HB_RUNMODE_H

/* Exit statuses of run mode when CMD never ran (as sh(1) uses them). */
#define RUNMODE_NOT_FOUND 127
#define RUNMODE_NOT_EXEC 126

struct fuse;
struct runmode;

/* argv: CMD and its arguments (NULL-terminated, kept, not copied).  mnt:
 * the mount point as given, name: the image's name in it.  On failure
 * *status is the exit status to use. */
int runmode_prepare(struct runmode **out, char **argv, const char *mnt, const char *name,
		    int *status);
int runmode_start(struct runmode *rm, struct fuse *f);
void runmode_loop_done(struct runmode *rm);
int runmode_finish(struct runmode *rm);
void runmode_free(struct runmode *rm);

/* N when MNT is "/dev/fd/N" (a mount the caller made), else -1. */
int mnt_fd(const char *mnt);

/* Refuses a mount point that is already mounted (a FUSE mount, or any
 * mount with something in it) or a dead FUSE mount, with one error line
 * naming it.  Accepts /dev/fd/N when N is an open descriptor. */
int mnt_check(const char *mnt);

/* The guard: a small process that outlives a killed daemon and removes
 * its dead mount (umount2 as root, fusermount3 -u -z as a user).  Beside
 * libfuse's auto_unmount, which does nothing for users before libfuse 3.15
 * (its fusermount3 cannot see a mount made without allow_other) and can
 * miss a dead mount on a busy machine.  MNT: the absolute path, as in
 * /proc/self/mountinfo.  Call right after the mount, before the FUSE loop
 * starts any thread. */
int mnt_guard(const char *mnt);

/* The kernel reads ahead 128 KiB on a FUSE mount, where BASE's disk may
 * read megabytes: a sequential reader such as gem5 then waits for a round
 * trip every 128 KiB (bench/seq-limit.sh).  The window is the mount's
 * bdi's read_ahead_kb in sysfs, which only root may raise; FUSE_INIT can
 * only lower it.  kb >= 0: set it to kb, an error (one line) when it
 * cannot be.  kb < 0 (auto): raise it to read_ahead_kb of BASE's device,
 * at most HB_READ_AHEAD_KB_MAX, when that is larger and we may; else
 * nothing.  Call right after the mount, MNT absolute. */
#define HB_READ_AHEAD_KB_MAX 65536
int mnt_read_ahead(const char *mnt, long kb, const char *base);

#endif
