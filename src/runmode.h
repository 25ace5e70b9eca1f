/* SPDX-License-Identifier: BSD-3-Clause */
/* runmode.h -- run mode: serve the image for as long as a command runs.
 *
 * Run mode (`hackbackfs ... MNT -- CMD [ARGS...]`) serves the image only as
 * long as CMD runs, in the same process tree: what a Slurm job step needs,
 * where every process of the step is killed when it ends.  The serving
 * process stays in the foreground, forks CMD once MNT/NAME is mounted and
 * ends the FUSE loop when CMD ends; fusefs_serve() then unmounts as always.
 * SIGTERM, SIGINT and SIGHUP to hackbackfs go to CMD instead, once (CMD
 * runs in a process group of its own).  CMD gets its caller's signal dispositions, signal
 * mask and RLIMIT_NOFILE, none of our descriptors, the terminal when we
 * have it, and SIGKILL if hackbackfs dies.
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
 * *status is the exit status to use.  Call before anything changes a
 * signal's disposition, the signal mask or RLIMIT_NOFILE: what it finds is
 * what CMD gets.  From then on SIGPIPE is ignored. */
int runmode_prepare(struct runmode **out, char **argv, const char *mnt, const char *name,
		    int *status);
int runmode_start(struct runmode *rm, struct fuse *f);
void runmode_loop_done(struct runmode *rm);
int runmode_finish(struct runmode *rm);
void runmode_free(struct runmode *rm);

#endif
