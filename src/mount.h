/* SPDX-License-Identifier: BSD-3-Clause */
/* mount.h -- the mount point: checks before mounting, the guard that
 * removes a dead daemon's mount, and the kernel's readahead window on it.
 *
 * These act on the directory (or the caller's /dev/fd/N) the image is
 * mounted on, and on the kernel's mount there; they know nothing of the
 * image.  Call order in the program: mnt_claim() before the build
 * (main.c); mnt_recheck() right before fuse_mount(), then mnt_unlock();
 * after fuse_mount(), mnt_read_ahead() and mnt_guard() (fusefs.c).
 *
 * Functions return 0 or a negative errno unless said otherwise, after one
 * error line (hb_error) naming the cause.
 */
#ifndef HB_MOUNT_H
#define HB_MOUNT_H

/* N when MNT is "/dev/fd/N" (a mount the caller made), else -1. */
int mnt_fd(const char *mnt);

/* Refuses a mount point that is already mounted (a FUSE mount, or any
 * mount with something in it) or a dead FUSE mount, with one error line
 * naming it.  Accepts /dev/fd/N when N is an open descriptor. */
int mnt_check(const char *mnt);

/* Refuses, with one error line, a mount point that is not a directory or
 * has anything in it.  Not for /dev/fd/N. */
int mnt_check_dir(const char *mnt);

/* Before the build: mnt_check() and mnt_check_dir() under an exclusive
 * flock on the directory, so that of two hackbackfs started at once on one
 * directory exactly one mounts (the other: one error line, -EBUSY).  *lock
 * gets the descriptor that holds it (-1 for /dev/fd/N, or where the file
 * system has no flock); keep it until the mount is made, with
 * mnt_recheck() right before mounting, then mnt_unlock(). */
int mnt_claim(const char *mnt, int *lock);
int mnt_recheck(const char *mnt);
void mnt_unlock(int *lock);

/* The guard: a small process that outlives a killed daemon and removes
 * its dead mount (umount2 as root, fusermount3 -u -z as a user).  Beside
 * libfuse's auto_unmount, which does nothing for users before libfuse 3.15
 * (its fusermount3 cannot see a mount made without allow_other) and can
 * miss a dead mount on a busy machine.  It never removes another mount:
 * after a clean unmount the daemon tells it so (mnt_guard_clean()), and a
 * mount is recognised by the kernel's unique mount ID (Linux >= 6.8; mount
 * ID and device before).  MNT: the absolute path, as in
 * /proc/self/mountinfo.  Call right after the mount, before the FUSE loop
 * starts any thread.  Returns the descriptor for mnt_guard_clean() (>= 0)
 * or -errno. */
int mnt_guard(const char *mnt);

/* Tell the guard (FD from mnt_guard(); nothing when < 0) that the mount is
 * gone the clean way, and close FD: the guard then ends without looking at
 * MNT, where the next mount may already be.  Call as soon as the mount is
 * gone, before the slow part of the exit (the cow file's flush). */
void mnt_guard_clean(int fd);

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
