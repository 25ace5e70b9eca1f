/* SPDX-License-Identifier: BSD-3-Clause */
/* check_e2check.c -- unit tests for src/e2check.c: which bases it refuses.
 *
 * One small ext4 base, made once (unchecked fixture) with mke2fs -d; a test
 * that needs a bad base copies it and breaks the copy with debugfs.  The
 * file system is opened read-only with libext2fs's own unix I/O manager,
 * as the injection opens it through e2io, and handed to e2check_open():
 * a refusal must be -EINVAL with one error line naming the cause (the
 * lines tests/image/refuse.sh and tests/mount/errors.sh look for end to
 * end), and no context.
 *
 * Without mke2fs or debugfs the program is skipped (exit 77).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ext2fs/ext2fs.h>

#include "checkutil.h"
#include "e2check.h"
#include "util.h"

static char tmpdir[64];
static char base[128];		/* bare ext4, 1 KiB blocks, with a journal */
static char copy[160];		/* this test's copy of base */

static void make_base(void)
{
	hb_error_quiet(1);
	initialize_ext2_error_table();
	snprintf(tmpdir, sizeof tmpdir, "/var/tmp/check_e2check.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/check_e2check.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	}
	snprintf(base, sizeof base, "%s/base.img", tmpdir);
	snprintf(copy, sizeof copy, "%s/copy.img", tmpdir);
	cu_run("set -e; cd '%s'; mkdir -p root/etc; printf 'base\\n' > root/etc/hostname",
	       tmpdir);
	cu_run("mke2fs -q -F -t ext4 -b 1024 -E root_owner=0:0 -d '%s/root' '%s' 8M "
	       ">/dev/null 2>&1", tmpdir, base);
}

static void remove_base(void)
{
	cu_run("rm -rf '%s'", tmpdir);
}

/* copy: a fresh copy of base, then debugfs -w -R REQUEST on it (NULL:
 * none). */
static void break_copy(const char *request)
{
	cu_run("cp --sparse=always '%s' '%s'", base, copy);
	if (request)
		cu_run("debugfs -w -R '%s' '%s' >/dev/null 2>&1", request, copy);
}

static ext2_filsys open_fs(const char *path)
{
	ext2_filsys fs = NULL;
	errcode_t err = ext2fs_open2(path, NULL, EXT2_FLAG_64BITS, 0, 0, unix_io_manager, &fs);

	ck_assert_msg(err == 0, "%s: %s", path, error_message(err));
	return fs;
}

static uint64_t file_bytes(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

/* e2check_open() on path must fail with -EINVAL, with msg in its error. */
static void refused(const char *path, const char *msg)
{
	ext2_filsys fs = open_fs(path);
	struct e2check *c = (struct e2check *)&c;	/* not NULL: must be cleared */
	int r = e2check_open(fs, path, file_bytes(path), &c);

	ck_assert_msg(r == -EINVAL, "e2check_open returned %d (%s), expected -EINVAL", r,
		      hb_last_error());
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(hb_last_error(), msg) != NULL, "error \"%s\" lacks \"%s\"",
		      hb_last_error(), msg);
	ck_assert_msg(strncmp(hb_last_error(), path, strlen(path)) == 0,
		      "error \"%s\" does not name %s", hb_last_error(), path);
	ext2fs_free(fs);
}

/* ---- a sound base -------------------------------------------------------- */

START_TEST(test_sound_base)
{
	ext2_filsys fs = open_fs(base);
	struct e2check *c;
	ext2_ino_t ino;

	ck_assert_int_eq(e2check_open(fs, base, file_bytes(base), &c), 0);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(ext2fs_namei(fs, EXT2_ROOT_INO, EXT2_ROOT_INO, "etc/hostname", &ino), 0);
	ck_assert_int_eq(e2check_inode(c, ino, "/etc/hostname"), 0);
	e2check_free(c);
	ext2fs_free(fs);
}
END_TEST

/* ---- refusals of the base ------------------------------------------------ */

START_TEST(test_needs_recovery)
{
	break_copy("feature needs_recovery");
	refused(copy, "journal needs recovery");
}
END_TEST

START_TEST(test_errors_recorded)
{
	break_copy("ssv state 3");	/* VALID | ERROR */
	refused(copy, "the file system has errors recorded");
}
END_TEST

START_TEST(test_not_clean)
{
	break_copy("ssv state 0");
	refused(copy, "was not cleanly unmounted");
}
END_TEST

/* A file system larger than the bytes that hold it: a truncated copy. */
START_TEST(test_truncated)
{
	ext2_filsys fs;
	struct e2check *c;

	break_copy(NULL);
	fs = open_fs(copy);
	ck_assert_int_eq(e2check_open(fs, copy, file_bytes(copy) / 2, &c), -EINVAL);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "is the image truncated?"));
	ext2fs_free(fs);
}
END_TEST

/* ---- inodes ---------------------------------------------------------------- */

/* A directory entry naming a free inode, or one of the reserved inodes
 * below the first that can hold a file. */
START_TEST(test_inode_refused)
{
	ext2_filsys fs = open_fs(base);
	struct e2check *c;

	ck_assert_int_eq(e2check_open(fs, base, file_bytes(base), &c), 0);
	ck_assert_int_eq(e2check_inode(c, fs->super->s_inodes_count, "/x"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "which is free"));
	ck_assert_int_eq(e2check_inode(c, EXT2_ROOT_INO + 1, "/y"), -EINVAL);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "cannot hold a file"));
	ck_assert_int_eq(e2check_inode(c, fs->super->s_inodes_count + 1, "/z"), -EINVAL);
	e2check_free(c);
	ext2fs_free(fs);
}
END_TEST

static Suite *e2check_suite(void)
{
	Suite *s = suite_create("e2check");
	TCase *ok = tcase_create("sound");
	TCase *bad = tcase_create("refusals");
	TCase *inodes = tcase_create("inodes");
	TCase *all[] = { ok, bad, inodes };

	for (size_t i = 0; i < HB_ARRAY_SIZE(all); i++) {
		tcase_add_unchecked_fixture(all[i], make_base, remove_base);
		tcase_set_timeout(all[i], 60);
	}
	tcase_add_test(ok, test_sound_base);
	suite_add_tcase(s, ok);

	tcase_add_test(bad, test_needs_recovery);
	tcase_add_test(bad, test_errors_recorded);
	tcase_add_test(bad, test_not_clean);
	tcase_add_test(bad, test_truncated);
	suite_add_tcase(s, bad);

	tcase_add_test(inodes, test_inode_refused);
	suite_add_tcase(s, inodes);
	return s;
}

int main(void)
{
	return cu_main("check_e2check", e2check_suite(), "mke2fs debugfs");
}
