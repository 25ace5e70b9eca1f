/* SPDX-License-Identifier: BSD-3-Clause */
/* readahead.h -- when to read ahead on the files behind the image.
 *
 * The kernel reads ahead on MNT/hack-back in windows of at most 128 KiB
 * (the FUSE bdi's default), and each window is one round trip to the
 * daemon, whose read of BASE is itself cold.  So the daemon reads ahead
 * on the files it serves from (posix_fadvise WILLNEED: the kernel starts
 * the I/O and returns), far enough ahead that the round trips find the
 * base's pages in memory.
 *
 * One ra_stream per open file.  A read that starts where the stream's
 * last read ended, or within one window of it (the kernel sends several
 * readahead requests at once and threads may answer them out of order),
 * continues the stream; anything else starts a new one with nothing
 * ahead.  While a stream continues, its window doubles from RA_MIN to
 * RA_MAX, and ra_next() returns the range to advise next: beyond what was
 * advised already, only when the reader has come within half a window of
 * its end, so that one read in many issues an advice.  Random reads never
 * advise anything.  Leaf module; thread-safe (a mutex per stream, taken
 * for a few instructions per read).
 */
#ifndef HB_READAHEAD_H
#define HB_READAHEAD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define RA_MIN (512u * 1024)		/* first window of a stream */
#define RA_MAX (32u * 1024 * 1024)	/* most read ahead of the reader */

struct ra_stream {
	pthread_mutex_t lock;
	uint64_t next;		/* where the last read ended */
	uint64_t advised;	/* end of what was advised (> next when ahead) */
	uint64_t window;	/* 0: no stream */
	unsigned hits;		/* sequential reads in a row */
};

void ra_init(struct ra_stream *s);
void ra_destroy(struct ra_stream *s);

/* Account a read of [off, off + len) of an image of size bytes.  Returns
 * 1 and sets *ra_off, *ra_len to the range to advise, or 0. */
int ra_next(struct ra_stream *s, uint64_t off, size_t len, uint64_t size,
	    uint64_t *ra_off, uint64_t *ra_len);

#endif
