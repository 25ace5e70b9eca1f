/* SPDX-License-Identifier: BSD-3-Clause */
/* check_overlaydir.c -- unit tests for src/overlaydir.c.
 *
 * A bare name that is not a directory here is found in the installed
 * directory; a directory here, a path with a '/', ".", ".." and a name
 * found nowhere are taken as given.  Runs in a temporary directory that
 * stands for both the current directory and the installed one.
 */
#include "config.h"

#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkutil.h"
#include "overlaydir.h"
#include "util.h"

static char tmpdir[64];
static char oldcwd[PATH_MAX];
static char installed[128];

/* tmpdir/installed/{hack-back,mine,file}/ are "installed" overlays;
 * tmpdir/cwd/{mine/,file,link->installed/hack-back} is the current directory. */
static void setup(void)
{
	hb_error_quiet(1);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/check_overlaydir.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(installed, sizeof installed, "%s/installed", tmpdir);
	cu_run("cd '%s' && mkdir -p installed/hack-back installed/mine installed/file cwd/mine"
	       " && touch cwd/file && ln -s ../installed/hack-back cwd/link", tmpdir);
	ck_assert_ptr_nonnull(getcwd(oldcwd, sizeof oldcwd));
	ck_assert_int_eq(chdir(tmpdir), 0);
	ck_assert_int_eq(chdir("cwd"), 0);
}

static void teardown(void)
{
	ck_assert_int_eq(chdir(oldcwd), 0);
	cu_run("rm -rf '%s'", tmpdir);
}

/* overlaydir_resolve(name, dir) must give want. */
static void expect(const char *name, const char *dir, const char *want)
{
	char *got = NULL;

	ck_assert_int_eq(overlaydir_resolve(name, dir, &got), 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
	free(got);
}

START_TEST(bare_name_found_installed)
{
	char want[256];

	snprintf(want, sizeof want, "%s/hack-back", installed);
	expect("hack-back", installed, want);
}
END_TEST

START_TEST(local_directory_wins)
{
	/* mine/ exists here and is installed: here wins. */
	expect("mine", installed, "mine");
	/* a symlink to a directory is a directory here */
	expect("link", installed, "link");
}
END_TEST

START_TEST(local_non_directory_is_looked_up)
{
	char want[256];

	/* ./file is a regular file, not an overlay: the installed one */
	snprintf(want, sizeof want, "%s/file", installed);
	expect("file", installed, want);
}
END_TEST

START_TEST(paths_are_taken_as_given)
{
	expect("./hack-back", installed, "./hack-back");
	expect("x/hack-back", installed, "x/hack-back");
	expect("hack-back/", installed, "hack-back/");
	expect("/nonexistent/hack-back", installed, "/nonexistent/hack-back");
	expect(".", installed, ".");
	expect("..", installed, "..");
	expect("", installed, "");
}
END_TEST

START_TEST(missing_everywhere_is_unchanged)
{
	expect("no-such-overlay", installed, "no-such-overlay");
	/* no installed directory at all (or an empty one) */
	expect("hack-back", NULL, "hack-back");
	expect("hack-back", "", "hack-back");
	expect("hack-back", "/nonexistent", "hack-back");
}
END_TEST

START_TEST(installed_is_absolute)
{
	const char *d = overlaydir_installed();

	ck_assert_ptr_nonnull(d);
	ck_assert_int_eq(d[0], '/');
	ck_assert_ptr_nonnull(strstr(d, "/hackbackfs/overlays"));
}
END_TEST

static Suite *overlaydir_suite(void)
{
	Suite *s = suite_create("overlaydir");
	TCase *tc = tcase_create("resolve");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, bare_name_found_installed);
	tcase_add_test(tc, local_directory_wins);
	tcase_add_test(tc, local_non_directory_is_looked_up);
	tcase_add_test(tc, paths_are_taken_as_given);
	tcase_add_test(tc, missing_everywhere_is_unchanged);
	tcase_add_test(tc, installed_is_absolute);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cu_main("check_overlaydir", overlaydir_suite(), NULL);
}
