/* SPDX-License-Identifier: BSD-3-Clause */
/* fusefs.h -- the FUSE front end: MNT/NAME (the image) and MNT/NAME.json.
 *
 * The FUSE file system itself (main.c and mount.c include <fuse.h> too,
 * for libfuse's option parsing and version; runmode.c for the session it
 * ends).  Two steps, so that FUSE's own
 * options are checked before the (possibly long) build and nothing is
 * mounted until the image is ready:
 *
 *   fusefs_new()    parses FUSE's options from args (libfuse prints its one
 *                   line for an unknown option); nothing mounted yet
 *   fusefs_serve()  mounts, daemonizes unless foreground, serves until
 *                   unmounted or signalled (SIGTERM, SIGINT, SIGHUP), then
 *                   flushes the image and unmounts.  In run mode (cfg.run,
 *                   runmode.h) it stays in the foreground, starts the
 *                   command once mounted and serves until the command ends.
 *
 * Both return 0 or a negative errno.
 */
#ifndef HB_FUSEFS_H
#define HB_FUSEFS_H

#include "build.h"

struct fusefs_config {
	const char *name;		/* the image file's name in MNT */
	const char *mountpoint;
	const char *base;		/* BASE's path, for read_ahead_kb's default */
	int foreground;
	int singlethread;
	int clone_fd;			/* libfuse's loop options (-o clone_fd, */
	unsigned int max_idle_threads;	/* -o max_idle_threads=N) */
	long read_ahead_kb;		/* mnt_read_ahead(): < 0 auto */
	struct runmode *run;		/* run mode, or NULL */
	int guard;			/* start mnt_guard() after mounting */
	int *mnt_lock;			/* mnt_claim()'s lock: mnt_unlock() once mounted */
};

struct fusefs;
struct fuse_args;

int fusefs_new(struct fusefs **out, const struct fusefs_config *cfg, struct fuse_args *args);
int fusefs_serve(struct fusefs *fs, struct build *b);
void fusefs_free(struct fusefs *fs);

#endif
