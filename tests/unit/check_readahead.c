/* SPDX-License-Identifier: BSD-3-Clause */
/* check_readahead.c -- unit tests for src/readahead.c: which reads start
 * a stream, how far ahead it advises, and that random reads advise
 * nothing. */
#include "config.h"

#include <check.h>
#include <stdint.h>

#include "checkutil.h"
#include "readahead.h"

#define KiB 1024ull
#define MiB (1024ull * 1024)
#define REQ (128 * KiB)		/* the kernel's FUSE readahead window */
#define SIZE (64ull << 30)

/* Read sequentially n requests from off; return the bytes advised and the
 * furthest advised end in *far. */
static uint64_t run(struct ra_stream *s, uint64_t off, int n, uint64_t *far)
{
	uint64_t total = 0, ro, rl;

	*far = 0;
	for (int i = 0; i < n; i++, off += REQ) {
		if (ra_next(s, off, REQ, SIZE, &ro, &rl)) {
			ck_assert_uint_ge(ro, off + REQ);	/* never behind the reader */
			ck_assert_uint_le(ro + rl, off + REQ + RA_MAX);	/* bounded */
			ck_assert_uint_ge(ro, *far);		/* never advised twice */
			total += rl;
			*far = ro + rl;
		}
	}
	return total;
}

START_TEST(test_sequential_grows_to_max)
{
	struct ra_stream s;
	uint64_t far, total;

	ra_init(&s);
	total = run(&s, 0, 1024, &far);		/* 128 MiB read */
	/* Advised what the reader then read, and up to RA_MAX ahead of it. */
	ck_assert_uint_ge(far, 128 * MiB + RA_MAX / 2);
	ck_assert_uint_le(far, 128 * MiB + RA_MAX);
	ck_assert_uint_eq(total, far - 2 * REQ);	/* contiguous from the 2nd read */
	ra_destroy(&s);
}
END_TEST

START_TEST(test_few_advices)
{
	struct ra_stream s;
	uint64_t ro, rl, off = 0;
	int advices = 0;

	ra_init(&s);
	for (int i = 0; i < 4096; i++, off += REQ)	/* 512 MiB */
		advices += ra_next(&s, off, REQ, SIZE, &ro, &rl);
	/* Once the window is at RA_MAX: one advice per RA_MAX/2 read. */
	ck_assert_int_lt(advices, 512 * MiB / (RA_MAX / 2) + 16);
	ra_destroy(&s);
}
END_TEST

START_TEST(test_random_advises_nothing)
{
	struct ra_stream s;
	uint64_t ro, rl, x = 88172645463325252ull;

	ra_init(&s);
	for (int i = 0; i < 10000; i++) {
		x ^= x << 13; x ^= x >> 7; x ^= x << 17;
		ck_assert_int_eq(ra_next(&s, (x % (SIZE / 4096)) * 4096, 4096, SIZE, &ro, &rl), 0);
	}
	ra_destroy(&s);
}
END_TEST

START_TEST(test_out_of_order_and_restart)
{
	struct ra_stream s;
	uint64_t far, ro, rl;

	ra_init(&s);
	run(&s, 0, 64, &far);
	/* Two requests answered out of order still continue the stream. */
	ck_assert_int_eq(ra_next(&s, 65 * REQ, REQ, SIZE, &ro, &rl) +
			 ra_next(&s, 64 * REQ, REQ, SIZE, &ro, &rl) >= 0, 1);
	ck_assert_uint_ge(s.window, 2 * RA_MIN);
	/* A jump far away ends it: nothing advised until it has repeated. */
	ck_assert_int_eq(ra_next(&s, 10ull << 30, REQ, SIZE, &ro, &rl), 0);
	ck_assert_uint_eq(s.window, 0);
	ck_assert_int_eq(ra_next(&s, (10ull << 30) + REQ, REQ, SIZE, &ro, &rl), 1);
	ck_assert_uint_eq(ro, (10ull << 30) + 2 * REQ);
	ra_destroy(&s);
}
END_TEST

START_TEST(test_clipped_at_end)
{
	struct ra_stream s;
	uint64_t ro = 0, rl = 0, size = 1 * MiB, off;
	int any = 0;

	ra_init(&s);
	for (off = 0; off < size; off += REQ)
		if (ra_next(&s, off, REQ, size, &ro, &rl)) {
			any = 1;
			ck_assert_uint_le(ro + rl, size);
		}
	ck_assert_int_eq(any, 1);
	ck_assert_int_eq(ra_next(&s, size, REQ, size, &ro, &rl), 0);
	ra_destroy(&s);
}
END_TEST

static Suite *readahead_suite(void)
{
	Suite *s = suite_create("readahead");
	TCase *tc = tcase_create("stream");

	tcase_add_test(tc, test_sequential_grows_to_max);
	tcase_add_test(tc, test_few_advices);
	tcase_add_test(tc, test_random_advises_nothing);
	tcase_add_test(tc, test_out_of_order_and_restart);
	tcase_add_test(tc, test_clipped_at_end);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cu_main("check_readahead", readahead_suite(), NULL);
}
