/* SPDX-License-Identifier: BSD-3-Clause */
/* check_util.c -- unit tests for src/util.c's descriptor closing: from a
 * number up, closed or marked close-on-exec, those below left alone; by
 * close_range where it was built in and by the /proc/self/fd fallback.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "checkutil.h"
#include "util.h"

/* Descriptors at these numbers, open on /dev/null without FD_CLOEXEC
 * (each test runs in a child of its own). */
static const int below[] = { 20, 49 };
static const int above[] = { 50, 51, 300, 900 };

static void open_at(int fd)
{
	int n = open("/dev/null", O_RDONLY);

	ck_assert_int_ge(n, 0);
	ck_assert_int_ge(dup2(n, fd), 0);
	close(n);
	ck_assert_int_eq(fcntl(fd, F_GETFD), 0);
}

static void setup(void)
{
	for (size_t i = 0; i < HB_ARRAY_SIZE(below); i++)
		open_at(below[i]);
	for (size_t i = 0; i < HB_ARRAY_SIZE(above); i++)
		open_at(above[i]);
}

static void assert_closed_from_50(void)
{
	for (size_t i = 0; i < HB_ARRAY_SIZE(below); i++)
		ck_assert_int_eq(fcntl(below[i], F_GETFD), 0);
	for (size_t i = 0; i < HB_ARRAY_SIZE(above); i++) {
		ck_assert_int_eq(fcntl(above[i], F_GETFD), -1);
		ck_assert_int_eq(errno, EBADF);
	}
}

static void assert_cloexec_from_50(void)
{
	for (size_t i = 0; i < HB_ARRAY_SIZE(below); i++)
		ck_assert_int_eq(fcntl(below[i], F_GETFD), 0);
	for (size_t i = 0; i < HB_ARRAY_SIZE(above); i++)
		ck_assert_int_eq(fcntl(above[i], F_GETFD), FD_CLOEXEC);
}

START_TEST(close_from)
{
	setup();
	ck_assert_int_eq(hb_close_fds_from(50, 0), 0);
	assert_closed_from_50();
}
END_TEST

START_TEST(cloexec_from)
{
	setup();
	ck_assert_int_eq(hb_close_fds_from(50, 1), 0);
	assert_cloexec_from_50();
}
END_TEST

START_TEST(walk_close_from)
{
	setup();
	ck_assert_int_eq(hb_close_fds_walk(50, 0), 0);
	assert_closed_from_50();
}
END_TEST

START_TEST(walk_cloexec_from)
{
	setup();
	ck_assert_int_eq(hb_close_fds_walk(50, 1), 0);
	assert_cloexec_from_50();
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("close_fds");

	tcase_add_test(tc, close_from);
	tcase_add_test(tc, cloexec_from);
	tcase_add_test(tc, walk_close_from);
	tcase_add_test(tc, walk_cloexec_from);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cu_main("check_util", util_suite(), NULL);
}
