/* SPDX-License-Identifier: BSD-3-Clause */
/* check_inject.c -- unit tests for src/inject.c, through build_image().
 *
 * One base per test case, made once (unchecked fixture) with mke2fs -d
 * from a tree that has what injection must cope with: an existing /etc,
 * a file with two links, a large file, merged-usr (/sbin -> usr/sbin,
 * /etc/abs -> /usr/sbin), a symlink loop, symlinks that try to leave the
 * root, and symlinks that run through or end at a regular file.  Each
 * test makes its own overlay directory, builds, and then looks at the
 * result the way e2fsprogs' tests do: the image is dumped to a sparse
 * file (dump_image()), and debugfs / e2fsck -fn read the dump.  A clean
 * `e2fsck -fn` is asserted after every successful build.
 *
 * Without mke2fs, debugfs or e2fsck the program is skipped (exit 77).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkutil.h"
#include "build.h"
#include "image.h"
#include "inject.h"
#include "overlay.h"
#include "partition.h"
#include "util.h"

#define CHUNK (1u << 20)

static char tmpdir[64];
static char base[128];		/* bare ext4, 1 KiB blocks */
static char base4k[128];	/* bare ext4, 4 KiB blocks */
static char ov[128];		/* this test's overlay directory */

/* The output of a shell command (at most 64 KiB), NUL-terminated; the
 * caller frees it. */
static char *capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *capture(const char *fmt, ...)
{
	char cmd[2048];
	size_t cap = 65536, n = 0, got;
	char *out = malloc(cap + 1);
	va_list ap;
	FILE *p;

	ck_assert_ptr_nonnull(out);
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	while (n < cap && (got = fread(out + n, 1, cap - n, p)) > 0)
		n += got;
	pclose(p);
	out[n] = '\0';
	return out;
}

/* ---- fixtures ------------------------------------------------------------ */

/* The base tree, once per test case. */
static void make_bases(void)
{
	hb_error_quiet(1);
	unsetenv("SOURCE_DATE_EPOCH");
	snprintf(tmpdir, sizeof tmpdir, "/var/tmp/check_inject.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/check_inject.XXXXXX");
		ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	}
	snprintf(base, sizeof base, "%s/base.img", tmpdir);
	snprintf(base4k, sizeof base4k, "%s/base4k.img", tmpdir);
	snprintf(ov, sizeof ov, "%s/ov", tmpdir);
	cu_run("set -e; cd '%s'; mkdir -p root/etc root/data/sub root/usr/sbin root/var; "
	    "printf 'base-host\\n' > root/etc/hostname; "
	    "ln root/etc/hostname root/etc/hostname2; "
	    "printf 'keep\\n' > root/data/sub/keep; "
	    "head -c 300000 /dev/urandom > root/data/big; "
	    "printf '#!/bin/sh\\n' > root/usr/sbin/init; "
	    "ln -s usr/sbin root/sbin; "
	    "ln -s loop_b root/loop_a; ln -s loop_a root/loop_b; "
	    "ln -s /etc/../../.. root/esc; "
	    "ln -s ../../../.. root/etc/up; "
	    "ln -s /usr/sbin root/etc/abs; "
	    "ln -s etc/hostname/sub root/through; "
	    "ln -s etc/hostname root/tofile; "
	    "ln -s nowhere root/dangling",
	    tmpdir);
	/* -I 256 (crtime, the extra time bits): mke2fs before 1.46.4 gives a
	 * small file system 128-byte inodes. */
	cu_run("mke2fs -q -F -t ext4 -I 256 -b 1024 -E root_owner=0:0 -d '%s/root' '%s' 32M >/dev/null 2>&1",
	    tmpdir, base);
	cu_run("mke2fs -q -F -t ext4 -I 256 -b 4096 -E root_owner=0:0 -d '%s/root' '%s' 32M >/dev/null 2>&1",
	    tmpdir, base4k);
	cu_run("e2fsck -fn '%s' >/dev/null 2>&1 && e2fsck -fn '%s' >/dev/null 2>&1", base, base4k);
}

static void remove_bases(void)
{
	cu_run("rm -rf '%s'", tmpdir);
}

/* A fresh, empty overlay directory for each test. */
static void setup(void)
{
	hb_error_quiet(1);
	cu_run("rm -rf '%s' '%s'/*.dump '%s'/*.script && mkdir '%s'", ov, tmpdir, tmpdir, ov);
}

/* ---- helpers ----------------------------------------------------------- */

static struct build_opts opts_for(const char *base_path)
{
	return (struct build_opts){
		.base = base_path, .overlays = ov, .partition = PARTITION_AUTO,
		.have_epoch = 1, .epoch = 1600000000,
	};
}

/* Write the whole image to path: 1 MiB reads, all-zero chunks left as
 * holes. */
static void dump_image(struct image *img, const char *path)
{
	unsigned char *buf = malloc(CHUNK);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_ge(fd, 0);
	for (uint64_t off = 0; off < image_size(img); off += CHUNK) {
		ssize_t n = image_read(img, buf, CHUNK, off);
		ck_assert_int_eq(n, (ssize_t)HB_MIN((uint64_t)CHUNK, image_size(img) - off));
		if (buf[0] == 0 && memcmp(buf, buf + 1, (size_t)n - 1) == 0)
			continue;
		ck_assert_int_eq(hb_pwrite_full(fd, buf, (size_t)n, off), n);
	}
	ck_assert_int_eq(ftruncate(fd, (off_t)image_size(img)), 0);
	close(fd);
	free(buf);
}

/* Build, check the result with e2fsck -fn, dump it to tmpdir/NAME.dump. */
static void build_ok(const struct build_opts *o, struct build *b, const char *name,
		     char *dump, size_t dump_len)
{
	int r = build_image(o, b);

	ck_assert_msg(r == 0, "build_image: %d: %s", r, hb_last_error());
	snprintf(dump, dump_len, "%s/%s.dump", tmpdir, name);
	dump_image(b->img, dump);
	cu_run("e2fsck -fn '%s' >'%s.fsck' 2>&1 || { cat '%s.fsck' >&2; false; }", dump, dump, dump);
}

/* Build must fail with err, with msg in its one error line. */
static void build_fails(const struct build_opts *o, int err, const char *msg)
{
	struct build b;
	int r = build_image(o, &b);

	ck_assert_msg(r == err, "build_image returned %d (%s), expected %d", r, hb_last_error(), err);
	ck_assert_msg(strstr(hb_last_error(), msg) != NULL, "error \"%s\" lacks \"%s\"",
		      hb_last_error(), msg);
	ck_assert_ptr_null(b.img);
}

/* debugfs -R 'cat PATH' on a dump must give exactly want. */
static void assert_cat(const char *dump, const char *path, const char *want)
{
	char *got = capture("debugfs -R 'cat %s' '%s' 2>/dev/null", path, dump);

	ck_assert_msg(strcmp(got, want) == 0, "%s: \"%s\", expected \"%s\"", path, got, want);
	free(got);
}

/* debugfs stat PATH (the first lines); "" when the path does not exist. */
static char *stat_of(const char *dump, const char *path)
{
	return capture("debugfs -R 'stat %s' '%s' 2>/dev/null", path, dump);
}

static unsigned long field(const char *stat, const char *name)
{
	const char *p = strstr(stat, name);
	unsigned long v;

	ck_assert_msg(p != NULL, "no %s in: %s", name, stat);
	p += strlen(name);
	while (*p == ' ')
		p++;
	ck_assert_int_eq(sscanf(p, "%li", &v), 1);
	return v;
}

static void assert_type(const char *dump, const char *path, const char *type)
{
	char *st = stat_of(dump, path);
	char want[64];

	snprintf(want, sizeof want, "Type: %s", type);
	ck_assert_msg(strstr(st, want) != NULL, "%s is not a %s: %s", path, type, st);
	free(st);
}

static void assert_absent(const char *dump, const char *path)
{
	char *st = stat_of(dump, path);

	ck_assert_msg(strstr(st, "Inode:") == NULL, "%s exists: %s", path, st);
	free(st);
}

/* ---- where entries land ------------------------------------------------- */

START_TEST(test_existing_dir)
{
	struct build_opts o = opts_for(base);
	struct build b;
	char dump[160];
	char *st;

	cu_run("mkdir '%s/etc' && printf 'new\\n' > '%s/etc/motd'", ov, ov);
	build_ok(&o, &b, "existing", dump, sizeof dump);
	assert_cat(dump, "/etc/motd", "new\n");
	assert_cat(dump, "/etc/hostname", "base-host\n");
	assert_type(dump, "/etc/up", "symlink");
	/* The existing directory is kept, not replaced. */
	st = stat_of(dump, "/etc");
	ck_assert_uint_ne(field(st, "mtime:"), 1600000000);
	free(st);
	build_free(&b);
}
END_TEST

START_TEST(test_nested_dirs)
{
	struct build_opts o = opts_for(base4k);
	struct build b;
	char dump[160];

	cu_run("mkdir -p '%s/n1/n2/n3/n4' && printf 'deep' > '%s/n1/n2/n3/n4/f' && "
	    "mkdir -p '%s/data/sub/more' && printf 'x' > '%s/data/sub/more/y'", ov, ov, ov, ov);
	build_ok(&o, &b, "nested", dump, sizeof dump);
	assert_type(dump, "/n1/n2/n3", "directory");
	assert_cat(dump, "/n1/n2/n3/n4/f", "deep");
	assert_cat(dump, "/data/sub/more/y", "x");
	assert_cat(dump, "/data/sub/keep", "keep\n");
	build_free(&b);
}
END_TEST

/* Many names in one directory: the directory has to grow (expand_dir). */
START_TEST(test_many_names)
{
	struct build_opts o = opts_for(base);
	struct build b;
	char dump[160];
	char *ls;

	cu_run("mkdir '%s/etc' && cd '%s/etc' && for i in $(seq 1 300); do "
	    "printf \"$i\" > file-with-a-rather-long-name-number-$i; done", ov, ov);
	build_ok(&o, &b, "many", dump, sizeof dump);
	assert_cat(dump, "/etc/file-with-a-rather-long-name-number-1", "1");
	assert_cat(dump, "/etc/file-with-a-rather-long-name-number-300", "300");
	ls = capture("debugfs -R 'ls /etc' '%s' 2>/dev/null | grep -o 'number-[0-9]*' | wc -l", dump);
	ck_assert_int_eq(atoi(ls), 300);
	free(ls);
	build_free(&b);
}
END_TEST

/* Files of every size class: empty, small, exactly one block, mapped
 * (>= 64 KiB) with a hole of zero blocks and a partial last block. */
START_TEST(test_file_data)
{
	struct build_opts o = opts_for(base4k);
	struct build b;
	char dump[160];
	char *cmp;

	cu_run("cd '%s' && mkdir d && : > d/empty && printf abc > d/small && "
	    "head -c 4096 /dev/urandom > d/block && "
	    "{ head -c 70001 /dev/urandom; head -c 65536 /dev/zero; head -c 100003 /dev/urandom; } "
	    "> d/mapped && head -c 200000 /dev/zero > d/zeros", ov);
	build_ok(&o, &b, "data", dump, sizeof dump);
	cmp = capture("cd '%s' && for f in empty small block mapped zeros; do "
		      "debugfs -R \"dump /d/$f %s/out-$f\" '%s' >/dev/null 2>&1; "
		      "cmp -s d/$f %s/out-$f || echo \"$f differs\"; done",
		      ov, tmpdir, dump, tmpdir);
	ck_assert_msg(cmp[0] == '\0', "%s", cmp);
	free(cmp);
	/* All-zero blocks are holes: the zeros file allocates nothing. */
	cmp = stat_of(dump, "/d/zeros");
	ck_assert_uint_eq(field(cmp, "Blockcount:"), 0);
	ck_assert_uint_eq(field(cmp, "Size:"), 200000);
	free(cmp);
	build_free(&b);
}
END_TEST

/* Block-mapped files (ext2, ext3): indirect blocks, replacing a file with
 * indirect blocks, data mapped and copied. */
static void old_format_case(const char *type)
{
	char img[160], dump[160];
	struct build_opts o;
	struct build b;
	char *cmp;

	snprintf(img, sizeof img, "%s/%s.img", tmpdir, type);
	cu_run("mke2fs -q -F -t %s -I 256 -b 1024 -E root_owner=0:0 -d '%s/root' '%s' 24M >/dev/null 2>&1",
	    type, tmpdir, img);
	o = opts_for(img);
	cu_run("cd '%s' && mkdir -p data etc && head -c 400000 /dev/urandom > data/big && "
	    "{ head -c 5000 /dev/urandom; head -c 300000 /dev/zero; head -c 70000 /dev/urandom; } "
	    "> etc/sparse && printf 'h' > etc/hostname", ov);
	build_ok(&o, &b, type, dump, sizeof dump);
	cmp = capture("cd '%s' && for f in data/big etc/sparse etc/hostname; do "
		      "debugfs -R \"dump /$f %s/out\" '%s' >/dev/null 2>&1; "
		      "cmp -s $f %s/out || echo \"$f differs\"; done",
		      ov, tmpdir, dump, tmpdir);
	ck_assert_msg(cmp[0] == '\0', "%s", cmp);
	free(cmp);
	cmp = stat_of(dump, "/data/big");
	ck_assert_ptr_null(strstr(cmp, "EXTENTS"));
	ck_assert_ptr_nonnull(strstr(cmp, "(IND)"));
	free(cmp);
	assert_cat(dump, "/etc/hostname2", "base-host\n");
	build_free(&b);
	cu_run("rm -f '%s' '%s'", img, dump);
}

START_TEST(test_ext2)
{
	old_format_case("ext2");
}
END_TEST

START_TEST(test_ext3)
{
	old_format_case("ext3");
}
END_TEST

/* ---- replacing ---------------------------------------------------------- */

START_TEST(test_replace_file)
{
	struct build_opts o = opts_for(base);
	struct build b;
	char dump[160];
	char *before, *after;

	before = capture("debugfs -R 'stats' '%s' 2>/dev/null | grep -i '^Free inodes'", base);
	cu_run("mkdir -p '%s/etc' '%s/data' && printf 'guest\\n' > '%s/etc/hostname' && "
	    "printf 'small now' > '%s/data/big'", ov, ov, ov, ov);
	build_ok(&o, &b, "replace", dump, sizeof dump);	/* e2fsck: no orphan */
	assert_cat(dump, "/etc/hostname", "guest\n");
	/* The other name of the old inode keeps it and its content. */
	assert_cat(dump, "/etc/hostname2", "base-host\n");
	assert_cat(dump, "/data/big", "small now");
	/* data/big's inode was freed, etc/hostname's was not (one link left),
	 * two new inodes: one fewer free inode; and three for the restore
	 * slot (var/lib, var/lib/hack-back, restore.slot). */
	after = capture("debugfs -R 'stats' '%s' 2>/dev/null | grep -i '^Free inodes'", dump);
	ck_assert_uint_eq(field(after, "Free inodes:"), field(before, "Free inodes:") - 1 - 3);
	free(before);
	free(after);
	build_free(&b);
}
END_TEST

/* A symlink in the image at the path of an overlay file is replaced, not
 * followed. */
START_TEST(test_replace_symlink)
{
	struct build_opts o = opts_for(base);
	struct build b;
	char dump[160];

	cu_run("printf 'now a file' > '%s/tofile' && ln -s elsewhere '%s/dangling'", ov, ov);
	build_ok(&o, &b, "replace_link", dump, sizeof dump);
	assert_type(dump, "/tofile", "regular");
	assert_cat(dump, "/tofile", "now a file");
	assert_cat(dump, "/etc/hostname", "base-host\n");
	assert_type(dump, "/dangling", "symlink");
	build_free(&b);
}
END_TEST

START_TEST(test_dir_replacing_file)
{
	struct build_opts o = opts_for(base);

	cu_run("mkdir -p '%s/etc/hostname'", ov);
	build_fails(&o, -EEXIST, "overlay directory etc/hostname would replace a file of the image");
}
END_TEST

/* A path below a base file: refused at the directory that would replace
 * the file (the overlay lists etc/hostname before etc/hostname/x). */
START_TEST(test_path_through_file)
{
	struct build_opts o = opts_for(base);

	cu_run("mkdir -p '%s/etc/hostname' && : > '%s/etc/hostname/x'", ov, ov);
	build_fails(&o, -EEXIST, "etc/hostname would replace a file of the image");
}
END_TEST

/* Through a symlink of the image whose target runs through a file. */
START_TEST(test_runs_through)
{
	struct build_opts o = opts_for(base);

	cu_run("mkdir -p '%s/through' && : > '%s/through/x'", ov, ov);
	build_fails(&o, -ENOTDIR, "runs through");
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "etc/hostname"));
}
END_TEST

/* An image symlink to a regular file (tofile -> etc/hostname) is not a
 * directory an overlay directory can go through. */
START_TEST(test_symlink_to_file_as_dir)
{
	struct build_opts o = opts_for(base);

	cu_run("mkdir -p '%s/tofile' && : > '%s/tofile/x'", ov, ov);
	build_fails(&o, -ENOTDIR, "not a directory");
	/* libext2fs's messages are readable (its com_err table registered). */
	ck_assert_ptr_null(strstr(hb_last_error(), "Unknown code"));
}
END_TEST

START_TEST(test_file_replacing_dir)
{
	struct build_opts o = opts_for(base);

	cu_run("mkdir '%s/data' && printf x > '%s/data/sub'", ov, ov);
	build_fails(&o, -EISDIR, "overlay file data/sub would replace a directory of the image");
	cu_run("rm -rf '%s'/* && ln -s x '%s/etc'", ov, ov);
	build_fails(&o, -EISDIR, "overlay symlink etc would replace a directory of the image");
}
END_TEST

/* ---- symlinks of the image ------------------------------------------------ */

START_TEST(test_merged_usr)
{
	struct build_opts o = opts_for(base4k);
	struct build b;
	char dump[160], m5[160];

	snprintf(m5, sizeof m5, "%s/m5-binary", tmpdir);
	cu_run("printf 'ELF m5' > '%s'", m5);
	cu_run("mkdir -p '%s/sbin' '%s/etc/abs' && printf 'tool' > '%s/sbin/tool' && "
	    "printf 'abs' > '%s/etc/abs/absf'", ov, ov, ov, ov);
	o.m5 = m5;
	build_ok(&o, &b, "merged", dump, sizeof dump);
	assert_type(dump, "/sbin", "symlink");
	assert_cat(dump, "/usr/sbin/tool", "tool");
	assert_cat(dump, "/usr/sbin/m5", "ELF m5");
	assert_cat(dump, "/usr/sbin/init", "#!/bin/sh\n");
	/* An absolute target starts at the image root, wherever the link is. */
	assert_type(dump, "/etc/abs", "symlink");
	assert_cat(dump, "/usr/sbin/absf", "abs");
	{
		char *st = stat_of(dump, "/usr/sbin/m5");
		ck_assert_uint_eq(field(st, "Mode:"), 0755);
		free(st);
	}
	build_free(&b);
}
END_TEST

START_TEST(test_symlink_loop)
{
	struct build_opts o = opts_for(base);

	cu_run("mkdir '%s/loop_a' && : > '%s/loop_a/x'", ov, ov);
	build_fails(&o, -ELOOP, "too many levels of symbolic links");
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "loop_a"));
}
END_TEST

START_TEST(test_dangling_symlink)
{
	struct build_opts o = opts_for(base);

	cu_run("mkdir '%s/dangling' && : > '%s/dangling/x'", ov, ov);
	build_fails(&o, -EIO, "dangling");
}
END_TEST

/* /esc -> /etc/../../.. and /etc/up -> ../../../.. both end at the
 * image's root, never above it. */
START_TEST(test_symlink_stays_inside)
{
	struct build_opts o = opts_for(base);
	struct build b;
	char dump[160];

	cu_run("mkdir -p '%s/esc/escaped' '%s/etc/up' && printf one > '%s/esc/escaped/f' && "
	    "printf two > '%s/etc/up/f2'", ov, ov, ov, ov);
	build_ok(&o, &b, "inside", dump, sizeof dump);
	assert_type(dump, "/esc", "symlink");
	assert_type(dump, "/etc/up", "symlink");
	assert_cat(dump, "/escaped/f", "one");
	assert_cat(dump, "/f2", "two");
	assert_absent(dump, "/etc/escaped");
	assert_absent(dump, "/etc/f2");
	build_free(&b);
}
END_TEST

/* Overlay symlinks are stored verbatim; a long target takes a block. */
START_TEST(test_overlay_symlinks)
{
	struct build_opts o = opts_for(base);
	struct build b;
	char dump[160], target[200];
	char *st;

	memset(target, 'a', 150);
	target[150] = '\0';
	cu_run("cd '%s' && mkdir l && ln -s ../etc/hostname l/short && ln -s %s l/long", ov, target);
	build_ok(&o, &b, "symlinks", dump, sizeof dump);
	st = stat_of(dump, "/l/short");
	ck_assert_ptr_nonnull(strstr(st, "Fast link dest: \"../etc/hostname\""));
	free(st);
	st = capture("debugfs -R 'cat /l/long' '%s' 2>/dev/null", dump);
	ck_assert_str_eq(st, target);
	free(st);
	build_free(&b);
}
END_TEST

/* ---- determinism and the restore slot ----------------------------------- */

/* Both images read the same, byte for byte. */
static void assert_same_bytes(struct image *a, struct image *b)
{
	unsigned char *x = malloc(CHUNK), *y = malloc(CHUNK);

	ck_assert_ptr_nonnull(x);
	ck_assert_ptr_nonnull(y);
	ck_assert_uint_eq(image_size(a), image_size(b));
	for (uint64_t off = 0; off < image_size(a); off += CHUNK) {
		ssize_t n = image_read(a, x, CHUNK, off);
		ck_assert_int_eq(image_read(b, y, CHUNK, off), n);
		ck_assert_msg(memcmp(x, y, (size_t)n) == 0, "images differ in MiB %llu",
			      (unsigned long long)(off / CHUNK));
	}
	free(x);
	free(y);
}

START_TEST(test_deterministic)
{
	struct build_opts o = opts_for(base);
	struct build b1, b2;
	char script[160];

	snprintf(script, sizeof script, "%s/restore.script", tmpdir);
	cu_run("printf '#!/bin/sh\\necho restored\\n' > '%s'", script);
	cu_run("cd '%s' && mkdir -p etc n/m && printf a > etc/a && head -c 100000 /dev/urandom > n/m/big && "
	    "ln n/m/big n/hard && ln -s m n/link && printf b > etc/hostname", ov);
	o.restore = script;
	ck_assert_int_eq(build_image(&o, &b1), 0);
	ck_assert_int_eq(build_image(&o, &b2), 0);
	ck_assert_int_eq(memcmp(b1.digest, b2.digest, DIGEST_LEN), 0);
	ck_assert_int_eq(memcmp(b1.layout, b2.layout, DIGEST_LEN), 0);
	assert_same_bytes(b1.img, b2.img);
	build_free(&b1);
	build_free(&b2);
}
END_TEST

struct extent_list {
	uint64_t first[64], last[64];	/* physical blocks */
	int n;
};

/* The EXTENTS line of debugfs stat: "(0-255):1234-1489, (ETB0):99, ..." */
static void parse_extents(const char *stat, char *line, size_t len, struct extent_list *ex)
{
	const char *p = strstr(stat, "EXTENTS:\n");
	const char *end;

	ck_assert_msg(p != NULL, "no EXTENTS in: %s", stat);
	p += strlen("EXTENTS:\n");
	end = strchrnul(p, '\n');
	ck_assert_uint_lt((size_t)(end - p), len);
	memcpy(line, p, (size_t)(end - p));
	line[end - p] = '\0';
	ex->n = 0;
	for (const char *q = line; (q = strchr(q, ':')) != NULL; q++) {
		unsigned long long a, b;
		int k = sscanf(q + 1, "%llu-%llu", &a, &b);
		ck_assert_int_ge(k, 1);
		ck_assert_int_lt(ex->n, 64);
		ex->first[ex->n] = a;
		ex->last[ex->n] = k == 2 ? b : a;
		ex->n++;
	}
	ck_assert_int_gt(ex->n, 0);
}

static int in_extents(const struct extent_list *ex, uint64_t block)
{
	for (int i = 0; i < ex->n; i++)
		if (block >= ex->first[i] && block <= ex->last[i])
			return 1;
	return 0;
}

static void slot_case(const char *base_path, unsigned block_size)
{
	struct build_opts o = opts_for(base_path);
	struct build b1, b2;
	char s1[160], s2[160], d1[160], d2[160], line1[4096], line2[4096];
	char *st1, *st2, *cat;
	struct extent_list ex;
	unsigned char *x = malloc(CHUNK), *y = malloc(CHUNK);
	uint64_t slot_units = 0;

	ck_assert_ptr_nonnull(x);
	ck_assert_ptr_nonnull(y);
	snprintf(s1, sizeof s1, "%s/one.script", tmpdir);
	snprintf(s2, sizeof s2, "%s/two.script", tmpdir);
	cu_run("printf '#!/bin/sh\\nrun benchmark one\\n' > '%s'", s1);
	cu_run("head -c 200000 /dev/urandom | base64 > '%s'", s2);
	cu_run("cd '%s' && mkdir -p etc root && printf b > etc/hostname && "
	    "head -c 100000 /dev/urandom > root/payload", ov);
	o.restore = s1;
	build_ok(&o, &b1, "slot1", d1, sizeof d1);
	o.restore = s2;
	build_ok(&o, &b2, "slot2", d2, sizeof d2);
	ck_assert_int_eq(memcmp(b1.layout, b2.layout, DIGEST_LEN), 0);
	ck_assert_int_ne(memcmp(b1.digest, b2.digest, DIGEST_LEN), 0);

	st1 = stat_of(d1, "/" RESTORE_SLOT_PATH);
	st2 = stat_of(d2, "/" RESTORE_SLOT_PATH);
	ck_assert_uint_eq(field(st1, "Inode:"), field(st2, "Inode:"));
	ck_assert_uint_eq(field(st1, "Size:"), RESTORE_SLOT_SIZE);
	ck_assert_uint_eq(field(st2, "Size:"), RESTORE_SLOT_SIZE);
	parse_extents(st2, line2, sizeof line2, &ex);
	parse_extents(st1, line1, sizeof line1, &ex);
	ck_assert_str_eq(line1, line2);
	for (int i = 0; i < ex.n; i++)
		slot_units += (ex.last[i] - ex.first[i] + 1) * block_size / 1024;
	ck_assert_uint_ge(slot_units, RESTORE_SLOT_SIZE / 1024);

	/* The slot's content: header, then the script. */
	cat = capture("debugfs -R 'cat /%s' '%s' 2>/dev/null | head -c 64", RESTORE_SLOT_PATH, d1);
	ck_assert_int_eq(strncmp(cat, "hackback-restore-slot 1 28 ", 27), 0);
	ck_assert_int_eq(cat[63], '\n');
	free(cat);
	cat = capture("debugfs -R 'cat /%s' '%s' 2>/dev/null | tail -c +65 | head -c 28 | "
		      "cmp -s - '%s' && echo same", RESTORE_SLOT_PATH, d1, s1);
	ck_assert_str_eq(cat, "same\n");
	free(cat);

	/* Every byte outside the slot's blocks is the same in both. */
	for (uint64_t off = 0; off < image_size(b1.img); off += CHUNK) {
		ssize_t n = image_read(b1.img, x, CHUNK, off);
		ck_assert_int_eq(image_read(b2.img, y, CHUNK, off), n);
		for (ssize_t u = 0; u < n; u += 1024) {
			uint64_t block = (off + (uint64_t)u) / block_size;
			if (memcmp(x + u, y + u, 1024) != 0)
				ck_assert_msg(in_extents(&ex, block),
					      "byte range at %llu differs outside the slot",
					      (unsigned long long)(off + (uint64_t)u));
		}
	}
	free(st1);
	free(st2);
	free(x);
	free(y);
	build_free(&b1);
	build_free(&b2);
}

START_TEST(test_restore_slot_1k)
{
	slot_case(base, 1024);
}
END_TEST

START_TEST(test_restore_slot_4k)
{
	slot_case(base4k, 4096);
}
END_TEST

/* No restore script: the slot is still there, with length 0. */
START_TEST(test_restore_slot_empty)
{
	struct build_opts o = opts_for(base4k);
	struct build b;
	char dump[160];
	char *cat;

	cu_run("mkdir '%s/etc'", ov);
	build_ok(&o, &b, "noslot", dump, sizeof dump);
	cat = capture("debugfs -R 'cat /%s' '%s' 2>/dev/null | head -c 26", RESTORE_SLOT_PATH, dump);
	ck_assert_str_eq(cat, "hackback-restore-slot 1 0 ");
	free(cat);
	build_free(&b);
}
END_TEST

START_TEST(test_restore_too_large)
{
	struct build_opts o = opts_for(base);
	struct build b;
	char script[160];

	snprintf(script, sizeof script, "%s/big.script", tmpdir);
	cu_run("head -c %u /dev/zero | tr '\\0' x > '%s'", RESTORE_SLOT_SIZE - RESTORE_SLOT_HEADER + 1,
	    script);
	o.restore = script;
	build_fails(&o, -EFBIG, "the restore slot holds at most");
	/* Exactly the most it holds is fine. */
	cu_run("truncate -s %u '%s'", RESTORE_SLOT_SIZE - RESTORE_SLOT_HEADER, script);
	ck_assert_int_eq(build_image(&o, &b), 0);
	build_free(&b);
}
END_TEST

/* ---- options ---------------------------------------------------------------- */

START_TEST(test_epoch)
{
	struct build_opts o = opts_for(base);
	struct build b;
	char dump[160];
	char *st;

	cu_run("cd '%s' && mkdir -p nd/sub && printf x > nd/sub/f && "
	    "touch -h -d @1000000000 nd/sub/f nd/sub nd", ov);
	o.epoch = 1234567890;
	build_ok(&o, &b, "epoch", dump, sizeof dump);
	ck_assert_int_eq(b.epoch, 1234567890);
	/* Directories the build creates (the slot's parents): all at epoch. */
	st = stat_of(dump, "/var/lib/hack-back");
	ck_assert_uint_eq(field(st, "mtime:"), 1234567890);
	ck_assert_uint_eq(field(st, "ctime:"), 1234567890);
	ck_assert_uint_eq(field(st, "atime:"), 1234567890);
	free(st);
	/* Overlay entries: every time stamp is the epoch, not the host's. */
	st = stat_of(dump, "/nd/sub");
	ck_assert_uint_eq(field(st, "mtime:"), 1234567890);
	ck_assert_uint_eq(field(st, "ctime:"), 1234567890);
	free(st);
	st = stat_of(dump, "/nd/sub/f");
	ck_assert_uint_eq(field(st, "mtime:"), 1234567890);
	ck_assert_uint_eq(field(st, "ctime:"), 1234567890);
	ck_assert_uint_eq(field(st, "atime:"), 1234567890);
	ck_assert_uint_eq(field(st, "crtime:"), 1234567890);
	free(st);
	build_free(&b);

	/* keep_mtime: the overlay's mtime, the rest still the epoch. */
	o.keep_mtime = 1;
	build_ok(&o, &b, "epoch-km", dump, sizeof dump);
	st = stat_of(dump, "/nd/sub");
	ck_assert_uint_eq(field(st, "mtime:"), 1000000000);
	ck_assert_uint_eq(field(st, "ctime:"), 1234567890);
	free(st);
	st = stat_of(dump, "/nd/sub/f");
	ck_assert_uint_eq(field(st, "mtime:"), 1000000000);
	ck_assert_uint_eq(field(st, "crtime:"), 1234567890);
	free(st);
	build_free(&b);
}
END_TEST

/* An epoch past 2038-01-19 (the option takes up to 2^32 - 1) needs the
 * extra epoch bits in ctime/atime/crtime as well as in mtime, or the kernel
 * reads 1901..1970. */
START_TEST(test_epoch_past_2038)
{
	struct build_opts o = opts_for(base);
	struct build b;
	char dump[160];
	char *st;

	cu_run("cd '%s' && mkdir nd && printf x > nd/f && touch -d @2500000000 nd/f", ov);
	o.epoch = 3000000000;
	o.keep_mtime = 1;
	build_ok(&o, &b, "epoch2038", dump, sizeof dump);
	st = stat_of(dump, "/nd/f");
	/* seconds:extra, the low 2 bits of extra being bits 32-33 of time */
	ck_assert_ptr_nonnull(strstr(st, "mtime: 0x9502f900:00000001"));
	ck_assert_msg(strstr(st, "ctime: 0xb2d05e00:00000001") != NULL, "%s", st);
	ck_assert_msg(strstr(st, "crtime: 0xb2d05e00:00000001") != NULL, "%s", st);
	free(st);
	build_free(&b);
}
END_TEST

/* Without an epoch option (and no SOURCE_DATE_EPOCH): the base file
 * system's last write time, whatever the overlay's mtimes. */
START_TEST(test_epoch_default)
{
	struct build_opts o = opts_for(base);
	struct build b;
	unsigned char sb[4];
	int fd = open(base, O_RDONLY);
	uint32_t wtime;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, sb, 4, 1024 + 0x30), 4);	/* s_wtime */
	close(fd);
	wtime = (uint32_t)sb[0] | (uint32_t)sb[1] << 8 | (uint32_t)sb[2] << 16 | (uint32_t)sb[3] << 24;
	ck_assert_uint_gt(wtime, 0);

	cu_run("cd '%s' && mkdir d && printf x > d/f && printf y > d/g && "
	    "touch -d @1100000000 d/f && touch -d @1200000000 d/g && touch -d @1000000000 d", ov);
	o.have_epoch = 0;
	ck_assert_int_eq(build_image(&o, &b), 0);
	ck_assert_int_eq(b.epoch, wtime);
	ck_assert_str_eq(b.epoch_from, "base");
	build_free(&b);
	cu_run("cd '%s' && touch -d @1700000000 d/f d/g d", ov);
	ck_assert_int_eq(build_image(&o, &b), 0);
	ck_assert_int_eq(b.epoch, wtime);
	build_free(&b);
	setenv("SOURCE_DATE_EPOCH", "1300000000", 1);
	ck_assert_int_eq(build_image(&o, &b), 0);
	unsetenv("SOURCE_DATE_EPOCH");
	ck_assert_int_eq(b.epoch, 1300000000);
	build_free(&b);
}
END_TEST

START_TEST(test_owner)
{
	struct build_opts o = opts_for(base);
	struct build b;
	char dump[160];
	char *st;

	cu_run("cd '%s' && mkdir od && printf x > od/f && ln -s f od/l", ov);
	o.uid = 100000;		/* above 16 bits: the high halves count */
	o.gid = 70001;
	build_ok(&o, &b, "owner", dump, sizeof dump);
	st = stat_of(dump, "/od/f");
	ck_assert_uint_eq(field(st, "User:"), 100000);
	ck_assert_uint_eq(field(st, "Group:"), 70001);
	free(st);
	st = stat_of(dump, "/od");
	ck_assert_uint_eq(field(st, "User:"), 100000);
	ck_assert_uint_eq(field(st, "Group:"), 70001);
	free(st);
	st = stat_of(dump, "/od/l");
	ck_assert_uint_eq(field(st, "User:"), 100000);
	free(st);
	/* The slot is owned like every injected file. */
	st = stat_of(dump, "/" RESTORE_SLOT_PATH);
	ck_assert_uint_eq(field(st, "User:"), 100000);
	free(st);
	build_free(&b);
}
END_TEST

START_TEST(test_keep_owner)
{
	struct build_opts o = opts_for(base);
	struct build b;
	char dump[160], path[200];
	struct stat hs;
	char *st;

	cu_run("cd '%s' && mkdir ko && printf x > ko/f && printf y > ko/g", ov);
	/* As root, give the files owners of their own; as anyone else,
	 * they keep ours. */
	snprintf(path, sizeof path, "%s/ko/f", ov);
	if (geteuid() == 0)
		ck_assert_int_eq(chown(path, 4321, 8765), 0);
	ck_assert_int_eq(lstat(path, &hs), 0);
	o.keep_owner = 1;
	o.uid = 1;
	o.gid = 1;
	build_ok(&o, &b, "keep", dump, sizeof dump);
	st = stat_of(dump, "/ko/f");
	ck_assert_uint_eq(field(st, "User:"), hs.st_uid);
	ck_assert_uint_eq(field(st, "Group:"), hs.st_gid);
	free(st);
	build_free(&b);
	/* Default: 0:0 whatever the host owner. */
	o.keep_owner = 0;
	o.uid = 0;
	o.gid = 0;
	build_ok(&o, &b, "nokeep", dump, sizeof dump);
	st = stat_of(dump, "/ko/f");
	ck_assert_uint_eq(field(st, "User:"), 0);
	ck_assert_uint_eq(field(st, "Group:"), 0);
	free(st);
	build_free(&b);
}
END_TEST

/* inject_overlay() on its own: no restore slot unless asked, and an epoch
 * of 0 (libext2fs's "use the clock") refused. */
START_TEST(test_inject_direct)
{
	struct overlay ovl;
	struct image *img;
	struct inject_opts io = { .epoch = 1500000000 };
	char dump[160];

	cu_run("mkdir '%s/etc' && printf direct > '%s/etc/direct'", ov, ov);
	overlay_init(&ovl);
	ck_assert_int_eq(overlay_add_dir(&ovl, ov), 0);
	ck_assert_int_eq(overlay_finish(&ovl), 0);
	ck_assert_int_eq(image_open(&img, base, PARTITION_AUTO), 0);
	io.epoch = 0;
	ck_assert_int_eq(inject_overlay(img, &ovl, &io), -EINVAL);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "epoch"));
	ck_assert_uint_eq(image_built_units(img), 0);
	io.epoch = 1500000000;
	ck_assert_int_eq(inject_overlay(img, &ovl, &io), 0);
	snprintf(dump, sizeof dump, "%s/direct.dump", tmpdir);
	dump_image(img, dump);
	cu_run("e2fsck -fn '%s' >/dev/null 2>&1", dump);
	assert_cat(dump, "/etc/direct", "direct");
	assert_absent(dump, "/var/lib/hack-back");
	image_close(img);
	overlay_free(&ovl);
}
END_TEST

/* ---- refusals (the base's own: check_e2check.c) ----------------------------- */

/* An overlay larger than the free space: -ENOSPC, one clear line. */
START_TEST(test_no_space)
{
	struct build_opts o = opts_for(base);

	cu_run("head -c 40000000 /dev/urandom > '%s/huge'", ov);
	build_fails(&o, -ENOSPC, "does not fit");
}
END_TEST

static Suite *inject_suite(void)
{
	Suite *s = suite_create("inject");
	TCase *place = tcase_create("placement");
	TCase *repl = tcase_create("replace");
	TCase *links = tcase_create("image_symlinks");
	TCase *det = tcase_create("determinism");
	TCase *opt = tcase_create("options");
	TCase *bad = tcase_create("refusals");
	TCase *all[] = { place, repl, links, det, opt, bad };

	for (size_t i = 0; i < HB_ARRAY_SIZE(all); i++) {
		tcase_add_unchecked_fixture(all[i], make_bases, remove_bases);
		tcase_add_checked_fixture(all[i], setup, NULL);
		tcase_set_timeout(all[i], 120);
	}
	tcase_add_test(place, test_existing_dir);
	tcase_add_test(place, test_nested_dirs);
	tcase_add_test(place, test_many_names);
	tcase_add_test(place, test_file_data);
	tcase_add_test(place, test_ext2);
	tcase_add_test(place, test_ext3);
	suite_add_tcase(s, place);

	tcase_add_test(repl, test_replace_file);
	tcase_add_test(repl, test_replace_symlink);
	tcase_add_test(repl, test_dir_replacing_file);
	tcase_add_test(repl, test_path_through_file);
	tcase_add_test(repl, test_file_replacing_dir);
	suite_add_tcase(s, repl);

	tcase_add_test(links, test_merged_usr);
	tcase_add_test(links, test_symlink_loop);
	tcase_add_test(links, test_dangling_symlink);
	tcase_add_test(links, test_symlink_stays_inside);
	tcase_add_test(links, test_runs_through);
	tcase_add_test(links, test_overlay_symlinks);
	tcase_add_test(links, test_symlink_to_file_as_dir);
	suite_add_tcase(s, links);

	tcase_add_test(det, test_deterministic);
	tcase_add_test(det, test_restore_slot_1k);
	tcase_add_test(det, test_restore_slot_4k);
	tcase_add_test(det, test_restore_slot_empty);
	tcase_add_test(det, test_restore_too_large);
	suite_add_tcase(s, det);

	tcase_add_test(opt, test_epoch);
	tcase_add_test(opt, test_epoch_default);
	tcase_add_test(opt, test_owner);
	tcase_add_test(opt, test_keep_owner);
	tcase_add_test(opt, test_inject_direct);
	tcase_add_test(opt, test_epoch_past_2038);
	suite_add_tcase(s, opt);

	tcase_add_test(bad, test_no_space);
	suite_add_tcase(s, bad);
	return s;
}

int main(void)
{
	return cu_main("check_inject", inject_suite(), "mke2fs debugfs e2fsck base64 cmp");
}
