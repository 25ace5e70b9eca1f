/* SPDX-License-Identifier: BSD-3-Clause */
/* check_outfile.c -- unit tests for src/outfile.c.
 *
 * The name holds nothing, the old file or the whole new one: before the
 * publish nothing shows under it, a close without a publish leaves no
 * file at all, a signal removes the temporary, OUTFILE_NOREPLACE leaves an
 * existing file alone, and a name planted where the temporary used to go
 * (.NAME.PID.tmp) blocks nothing.  Every test runs twice: with O_TMPFILE,
 * and with the named temporary of file systems that lack it.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "checkutil.h"
#include "outfile.h"
#include "util.h"

static char tmpdir[64];
static char path[128];

static void setup(void)
{
	hb_error_quiet(1);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/check_outfile.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof path, "%s/out", tmpdir);
}

static void teardown(void)
{
	cu_run("rm -rf '%s'", tmpdir);
}

/* _i of a loop test: 0 with O_TMPFILE, 1 with a named temporary. */
static void mode(int named)
{
	if (named)
		setenv("HB_OUTFILE_NO_TMPFILE", "1", 1);
	else
		unsetenv("HB_OUTFILE_NO_TMPFILE");
}

/* The names in tmpdir, sorted, space-separated. */
static const char *listing(void)
{
	static char out[1024];
	struct dirent **names;
	int n = scandir(tmpdir, &names, NULL, alphasort);

	ck_assert_int_ge(n, 0);
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (strcmp(names[i]->d_name, ".") && strcmp(names[i]->d_name, "..")) {
			if (out[0])
				strcat(out, " ");
			strncat(out, names[i]->d_name, sizeof out - strlen(out) - 64);
		}
		free(names[i]);
	}
	free(names);
	return out;
}

static void write_pattern(struct outfile *o, size_t len)
{
	unsigned char buf[4096];

	for (size_t done = 0; done < len; done += sizeof buf) {
		for (size_t i = 0; i < sizeof buf; i++)
			buf[i] = (unsigned char)((done + i) * 7);
		ck_assert_int_eq(outfile_write(o, buf, HB_MIN(sizeof buf, len - done)), 0);
	}
}

START_TEST(test_publish)
{
	struct outfile *o;
	struct stat st;
	mode_t mask = umask(022);

	mode(_i);
	ck_assert_int_eq(outfile_open(&o, path, 0666), 0);
	ck_assert_str_eq(listing(), _i ? listing() : "");	/* O_TMPFILE: no name yet */
	write_pattern(o, 3u << 20);	/* past the 1 MiB buffer */
	ck_assert_int_eq(outfile_pwrite(o, "HEAD", 4, 0), 0);
	ck_assert_uint_eq(outfile_size(o), 3u << 20);
	ck_assert_int_eq(outfile_finish(o), 0);
	ck_assert_int_eq(stat(path, &st), -1);	/* not yet */
	ck_assert_int_eq(outfile_publish(o, 0), 0);
	outfile_close(o, NULL);
	umask(mask);
	ck_assert_str_eq(listing(), "out");
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 3u << 20);
	ck_assert_int_eq(st.st_mode & 07777, 0644);
	cu_run("head -c 4 '%s' | grep -qx HEAD", path);
}
END_TEST

START_TEST(test_close_unpublished)
{
	struct outfile *o;

	mode(_i);
	ck_assert_int_eq(outfile_open(&o, path, 0600), 0);
	write_pattern(o, 10000);
	outfile_close(o, NULL);
	ck_assert_str_eq(listing(), "");
	ck_assert_int_eq(outfile_open(&o, path, 0600), 0);
	write_pattern(o, 10000);
	ck_assert_int_eq(outfile_finish(o), 0);
	ck_assert_str_ne(listing(), "");	/* the temporary name */
	outfile_close(o, NULL);
	ck_assert_str_eq(listing(), "");
}
END_TEST

START_TEST(test_replace_and_noreplace)
{
	struct outfile *o;
	int fd;

	mode(_i);
	cu_run("echo old > '%s'", path);
	ck_assert_int_eq(outfile_open(&o, path, 0600), 0);
	ck_assert_int_eq(outfile_write(o, "new\n", 4), 0);
	ck_assert_int_eq(outfile_finish(o), 0);
	ck_assert_int_eq(outfile_publish(o, OUTFILE_NOREPLACE), -EEXIST);
	outfile_close(o, NULL);
	ck_assert_str_eq(listing(), "out");
	cu_run("grep -qx old '%s'", path);

	ck_assert_int_eq(outfile_open(&o, path, 0600), 0);
	ck_assert_int_eq(outfile_write(o, "new\n", 4), 0);
	ck_assert_int_eq(outfile_finish(o), 0);
	ck_assert_int_eq(outfile_publish(o, 0), 0);
	outfile_close(o, NULL);
	cu_run("grep -qx new '%s'", path);

	/* NOREPLACE where nothing is, and the descriptor kept open. */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(outfile_open(&o, path, 0600), 0);
	ck_assert_int_eq(outfile_write(o, "one\n", 4), 0);
	ck_assert_int_eq(outfile_finish(o), 0);
	ck_assert_int_eq(outfile_publish(o, OUTFILE_NOREPLACE), 0);
	outfile_close(o, &fd);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "two\n", 4, 4), 4);
	close(fd);
	cu_run("printf 'one\\ntwo\\n' | cmp - '%s'", path);
	ck_assert_str_eq(listing(), "out");
}
END_TEST

/* Another user can create names in a shared sticky directory: the
 * temporary's name must not be one they can guess and take first. */
START_TEST(test_planted_name)
{
	struct outfile *o;
	char planted[256];

	mode(_i);
	snprintf(planted, sizeof planted, "%s/.out.%ld.tmp", tmpdir, (long)getpid());
	ck_assert_int_eq(mkdir(planted, 0700), 0);
	ck_assert_int_eq(outfile_open(&o, path, 0644), 0);
	ck_assert_int_eq(outfile_write(o, "x", 1), 0);
	ck_assert_int_eq(outfile_finish(o), 0);
	ck_assert_int_eq(outfile_publish(o, 0), 0);
	outfile_close(o, NULL);
	cu_run("test -d '%s' && test -s '%s'", planted, path);
}
END_TEST

/* SIGTERM before and after the temporary has a name: it is removed, and
 * the process still dies of the signal. */
START_TEST(test_signal_removes_temporary)
{
	for (int finished = 0; finished < 2; finished++) {
		pid_t pid;
		int st;

		mode(_i);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct outfile *o;
			if (outfile_open(&o, path, 0644) < 0 || outfile_write(o, "x", 1) < 0 ||
			    (finished && outfile_finish(o) < 0))
				_exit(2);
			raise(SIGTERM);
			_exit(3);
		}
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status %#x", st);
		ck_assert_str_eq(listing(), "");
	}
	/* The caller's handler is back once the last outfile is closed. */
	struct outfile *o;
	ck_assert_int_eq(outfile_open(&o, path, 0644), 0);
	ck_assert_ptr_ne(signal(SIGTERM, SIG_DFL), SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	outfile_close(o, NULL);
}
END_TEST

START_TEST(test_check)
{
	char p[200];

	ck_assert_int_eq(outfile_check(path, "--x"), 0);
	ck_assert_int_eq(outfile_check("", "--x"), -EINVAL);
	ck_assert_int_eq(outfile_check(tmpdir, "--x"), -EISDIR);
	snprintf(p, sizeof p, "%s/..", tmpdir);
	ck_assert_int_eq(outfile_check(p, "--x"), -EISDIR);
	snprintf(p, sizeof p, "%s/none/out", tmpdir);
	ck_assert_int_eq(outfile_check(p, "--x"), -ENOENT);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "--x"));
	cu_run("touch '%s'", path);
	snprintf(p, sizeof p, "%s/out/x", tmpdir);
	ck_assert_int_eq(outfile_check(p, "--x"), -ENOTDIR);
}
END_TEST

static Suite *outfile_suite(void)
{
	Suite *s = suite_create("outfile");
	TCase *tc = tcase_create("outfile");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_publish, 0, 2);
	tcase_add_loop_test(tc, test_close_unpublished, 0, 2);
	tcase_add_loop_test(tc, test_replace_and_noreplace, 0, 2);
	tcase_add_loop_test(tc, test_planted_name, 0, 2);
	tcase_add_loop_test(tc, test_signal_removes_temporary, 0, 2);
	tcase_add_test(tc, test_check);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return cu_main("check_outfile", outfile_suite(), NULL);
}
