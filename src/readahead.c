/* SPDX-License-Identifier: BSD-3-Clause */
/* readahead.c -- sequential stream detection (see readahead.h). */
#include "config.h"

#include "readahead.h"
#include "util.h"

/* Sequential reads in a row before a stream is believed. */
#define RA_START_HITS 2

void ra_init(struct ra_stream *s)
{
	pthread_mutex_init(&s->lock, NULL);
	s->next = s->advised = s->window = 0;
	s->hits = 0;
}

void ra_destroy(struct ra_stream *s)
{
	pthread_mutex_destroy(&s->lock);
}

int ra_next(struct ra_stream *s, uint64_t off, size_t len, uint64_t size,
	    uint64_t *ra_off, uint64_t *ra_len)
{
	uint64_t end = off + len, slack, start, stop;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	slack = HB_MAX(s->window, (uint64_t)RA_MIN);
	if (s->hits > 0 || s->next > 0) {
		int near = off + slack >= s->next && off <= s->next + slack;
		if (!near) {	/* this read may start a new stream */
			s->hits = 1;
			s->window = 0;
			s->advised = 0;
			s->next = end;
			goto out;
		}
	}
	s->hits++;
	s->next = HB_MAX(s->next, end);
	if (s->hits < RA_START_HITS)
		goto out;
	if (s->window == 0) {
		s->window = RA_MIN;
		s->advised = s->next;
	}
	if (s->advised > s->next && s->advised - s->next >= s->window / 2)
		goto out;	/* far enough ahead still */
	start = HB_MAX(s->advised, s->next);
	stop = HB_MIN(s->next + s->window, size);
	s->window = HB_MIN(2 * s->window, (uint64_t)RA_MAX);
	if (start >= stop)
		goto out;
	s->advised = stop;
	*ra_off = start;
	*ra_len = stop - start;
	r = 1;
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}
