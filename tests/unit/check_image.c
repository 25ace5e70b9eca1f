/* SPDX-License-Identifier: BSD-3-Clause */
/* check_image.c -- unit tests for src/image.c.
 *
 * The base is a real ext4 file system (image_open() probes for one), made
 * here with mke2fs in a temporary directory and then grown by BASE_TAIL
 * bytes with truncate, so that its last delta unit is partial.  Every test
 * keeps a shadow: a copy of the base in memory to which each image_write()
 * is applied too; the image must always read exactly as the shadow, and
 * the base file must always read exactly as the original copy.  The
 * tests look inside the image (src/image-impl.h): which layer holds a
 * unit, and the base's descriptor.
 *
 * Without mke2fs or truncate the program is skipped (exit 77).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkutil.h"
#include "delta.h"
#include "digest.h"
#include "image-impl.h"
#include "partition.h"
#include "util.h"

#define BASE_KIB 8192u
#define BASE_TAIL 300u		/* bytes after the file system: a partial last unit */
#define BASE_SIZE ((uint64_t)BASE_KIB * 1024 + BASE_TAIL)

static char rootdir[64];		/* per test case, removed even after failures */
static char tmpdir[96];		/* per test, inside rootdir */
static char base_path[128];
static char cow_path[128];
static unsigned char *orig;	/* the base file's bytes */
static unsigned char *shadow;	/* what the image must read as */
static unsigned char orig_hash[DIGEST_LEN];
static struct image *img;

static void hash_file(const char *path, unsigned char out[DIGEST_LEN])
{
	int fd = open(path, O_RDONLY);
	struct stat st;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(digest_fd_range(fd, 0, (uint64_t)st.st_size, out), 0);
	close(fd);
}

/* Check skips a checked teardown when the test fails: the directories
 * live in one made by an unchecked fixture, whose teardown always runs. */
static void make_rootdir(void)
{
	snprintf(rootdir, sizeof rootdir, "/tmp/check_image.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(rootdir));
}

static void remove_rootdir(void)
{
	cu_run("rm -rf '%s'", rootdir);
}

static void setup(void)
{
	int fd;

	hb_error_quiet(1);
	snprintf(tmpdir, sizeof tmpdir, "%s/test.XXXXXX", rootdir);
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(base_path, sizeof base_path, "%s/base.img", tmpdir);
	snprintf(cow_path, sizeof cow_path, "%s/writes.cow", tmpdir);
	cu_run("mke2fs -q -F -t ext4 '%s' %uk >/dev/null 2>&1", base_path, BASE_KIB);
	cu_run("truncate -s +%u '%s'", BASE_TAIL, base_path);
	/* Some non-zero bytes in the tail, so that reads there mean something. */
	cu_run("printf 'tail-of-the-base' | dd of='%s' bs=1 seek=%llu conv=notrunc status=none",
	    base_path, (unsigned long long)(BASE_SIZE - 20));

	orig = malloc(BASE_SIZE);
	shadow = malloc(BASE_SIZE);
	ck_assert_ptr_nonnull(orig);
	ck_assert_ptr_nonnull(shadow);
	fd = open(base_path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(hb_pread_full(fd, orig, BASE_SIZE, 0), (ssize_t)BASE_SIZE);
	close(fd);
	memcpy(shadow, orig, BASE_SIZE);
	hash_file(base_path, orig_hash);

	ck_assert_int_eq(image_open(&img, base_path, PARTITION_AUTO), 0);
	ck_assert_uint_eq(img->size, BASE_SIZE);
}

static void teardown(void)
{
	image_close(img);
	img = NULL;
	free(orig);
	free(shadow);
	orig = shadow = NULL;
	cu_run("rm -rf '%s'", tmpdir);
}

/* ---- helpers ------------------------------------------------------------- */

/* A deterministic byte source (xorshift64*), so failures reproduce. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static void random_bytes(unsigned char *buf, size_t len)
{
	if (rng_state == 0)	/* xorshift's fixed point */
		rng_state = 0x2545f4914f6cdd1dULL;
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(rnd() >> 56);
}

/* Write len random bytes at off to the image and to the shadow; the image
 * must take min(len, size - off) of them. */
static void write_both(uint64_t off, size_t len)
{
	unsigned char *buf = malloc(len ? len : 1);
	size_t want = off >= BASE_SIZE ? 0 : (size_t)HB_MIN((uint64_t)len, BASE_SIZE - off);

	ck_assert_ptr_nonnull(buf);
	random_bytes(buf, len);
	ck_assert_int_eq(image_write(img, buf, len, off), (ssize_t)want);
	memcpy(shadow + off, buf, want);
	free(buf);
}

/* The image reads as the shadow over [off, off+len). */
static void assert_range(uint64_t off, size_t len)
{
	unsigned char *buf = malloc(len ? len : 1);
	size_t want = off >= BASE_SIZE ? 0 : (size_t)HB_MIN((uint64_t)len, BASE_SIZE - off);

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(image_read(img, buf, len, off), (ssize_t)want);
	for (size_t i = 0; i < want; i++)
		if (buf[i] != shadow[off + i])
			ck_abort_msg("image byte %llu is %#x, expected %#x",
				     (unsigned long long)(off + i), buf[i], shadow[off + i]);
	free(buf);
}

/* The whole image reads as the shadow, in reads of an odd size. */
static void assert_image(void)
{
	for (uint64_t off = 0; off < BASE_SIZE; off += 65537)
		assert_range(off, 65537);
}

/* The base file still holds exactly its original bytes, and the image
 * holds it open read-only. */
static void assert_base_untouched(void)
{
	unsigned char now[DIGEST_LEN];
	char path[64], line[256];
	FILE *f;
	unsigned flags = 0;

	hash_file(base_path, now);
	ck_assert_msg(memcmp(now, orig_hash, DIGEST_LEN) == 0, "the base file was modified");
	if (img && img->base_fd >= 0) {
		snprintf(path, sizeof path, "/proc/self/fdinfo/%d", img->base_fd);
		f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		while (fgets(line, sizeof line, f))
			if (sscanf(line, "flags: %o", &flags) == 1)
				break;
		fclose(f);
		ck_assert_uint_eq(flags & O_ACCMODE, O_RDONLY);
	}
}

/* A host file of len bytes of pattern, adopted by the image; its id. */
static unsigned char file_byte(uint64_t off)
{
	return (unsigned char)(off * 37 + (off >> 9) + 5);
}

static int adopt_pattern_file(uint64_t len, int *fd_out)
{
	char path[160];
	unsigned char buf[4096];
	int fd, id;

	snprintf(path, sizeof path, "%s/overlay-file", tmpdir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	for (uint64_t off = 0; off < len; off += sizeof buf) {
		size_t n = (size_t)HB_MIN((uint64_t)sizeof buf, len - off);
		for (size_t i = 0; i < n; i++)
			buf[i] = file_byte(off + i);
		ck_assert_int_eq(hb_pwrite_full(fd, buf, n, off), (ssize_t)n);
	}
	id = image_adopt_fd(img, fd, "mapped-file");
	ck_assert_int_ge(id, 0);
	*fd_out = fd;
	return id;
}

static void shadow_map(uint64_t off, uint64_t len, uint64_t pos)
{
	for (uint64_t i = 0; i < len; i++)
		shadow[off + i] = file_byte(pos + i);
}

/* Where the unit's bytes are in the build layer: 'm' memory, 'f' file,
 * '-' nowhere (the base). */
static char synth_kind(uint64_t unit)
{
	struct delta_src src;

	if (!delta_lookup(img->synth, unit, &src))
		return '-';
	return src.mem ? 'm' : 'f';
}

/* ---- reads of the bare base -------------------------------------------- */

START_TEST(test_read_base)
{
	unsigned char buf[3000];

	assert_image();
	assert_range(0, 1);
	assert_range(1023, 2);
	assert_range(BASE_SIZE - 1, 1);
	assert_range(BASE_SIZE - BASE_TAIL - 10, 2000);	/* cut at the end */
	ck_assert_int_eq(image_read(img, buf, 100, BASE_SIZE), 0);
	ck_assert_int_eq(image_read(img, buf, 100, BASE_SIZE + 5000), 0);
	ck_assert_int_eq(image_read(img, buf, 0, 10), 0);
	ck_assert_str_eq(img->part.fstype, "ext4");
	ck_assert_uint_eq(img->part.offset, 0);
	assert_base_untouched();
}
END_TEST

START_TEST(test_open_refuses)
{
	struct image *other = NULL;
	char path[160];

	snprintf(path, sizeof path, "%s/missing", tmpdir);
	ck_assert_int_eq(image_open(&other, path, PARTITION_AUTO), -ENOENT);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "missing"));
	ck_assert_int_lt(image_open(&other, tmpdir, PARTITION_AUTO), 0);
	snprintf(path, sizeof path, "%s/zeros", tmpdir);
	cu_run("truncate -s 1M '%s'", path);
	ck_assert_int_eq(image_open(&other, path, PARTITION_AUTO), -EINVAL);
	ck_assert_ptr_null(other);
}
END_TEST

/* ---- read-modify-write --------------------------------------------------- */

START_TEST(test_write_odd_sizes)
{
	const uint64_t last = BASE_SIZE / DELTA_UNIT * DELTA_UNIT;	/* partial unit */

	rng_state = 1;
	write_both(0, 1);
	assert_range(0, 2048);
	write_both(1023, 1);
	write_both(1, 1023);			/* the rest of unit 0 */
	write_both(3 * 1024 + 1, 1023);		/* unit 3 but its first byte */
	write_both(5 * 1024 - 1, 1025);		/* last byte of 4, all of 5 */
	write_both(8 * 1024 + 5, 1025);		/* across the 8|9 boundary */
	write_both(20 * 1024 + 1000, 1025);	/* 20 end, 21 start */
	write_both(40 * 1024, 1024);		/* one whole unit */
	write_both(50 * 1024 + 512, 10 * 1024);	/* unaligned both ends */
	assert_range(0, 64 * 1024);
	/* The partial last unit. */
	write_both(last, 1);
	write_both(BASE_SIZE - 1, 1);
	write_both(last + 17, 100);
	write_both(last - 5, 10);		/* across into the partial unit */
	assert_range(last - 2048, 2048 + BASE_TAIL);
	/* Past the end: cut, or refused when it starts there. */
	write_both(BASE_SIZE - 10, 100);
	ck_assert_int_eq(image_write(img, "x", 1, BASE_SIZE), -ENOSPC);
	ck_assert_int_eq(image_write(img, "x", 1, BASE_SIZE + 4096), -ENOSPC);
	ck_assert_int_eq(image_write(img, "x", 0, BASE_SIZE), 0);
	ck_assert_int_eq(image_write(img, "x", 0, 77), 0);
	assert_image();
	assert_base_untouched();
}
END_TEST

/* Many random writes, reads checked at random and in full at the end. */
START_TEST(test_write_random)
{
	rng_state = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 2000; i++) {
		uint64_t off = rnd() % BASE_SIZE;
		size_t len = (size_t)(rnd() % 3000) + 1;
		/* Every fourth write goes to the first 64 KiB: overlaps. */
		if (i % 4 == 0)
			off %= 64 * 1024;
		write_both(off, len);
		if (i % 50 == 0)
			assert_range(rnd() % BASE_SIZE, (size_t)(rnd() % 5000) + 1);
	}
	assert_image();
	assert_base_untouched();
}
END_TEST

/* In the build phase a unit written back with the base's own bytes stays
 * with the base (libext2fs rewrites unchanged metadata on close). */
START_TEST(test_write_same_as_base)
{
	unsigned char buf[4 * DELTA_UNIT];

	rng_state = 2;
	memcpy(buf, orig + 10 * DELTA_UNIT, sizeof buf);
	ck_assert_int_eq(image_write(img, buf, sizeof buf, 10 * DELTA_UNIT), (ssize_t)sizeof buf);
	ck_assert_int_eq(image_write(img, orig + 12345, 3000, 12345), 3000);
	ck_assert_uint_eq(delta_units(img->synth), 0);
	/* A unit already in the delta is stored even when equal to the base. */
	write_both(30 * DELTA_UNIT, DELTA_UNIT);
	ck_assert_int_eq(image_write(img, orig + 30 * DELTA_UNIT, DELTA_UNIT, 30 * DELTA_UNIT),
			 DELTA_UNIT);
	memcpy(shadow + 30 * DELTA_UNIT, orig + 30 * DELTA_UNIT, DELTA_UNIT);
	ck_assert_int_eq(synth_kind(30), 'm');
	assert_image();
}
END_TEST

/* ---- sources changed behind the image ---------------------------------------- */

/* A mapped file changed in place: reads of its units fail with EIO (also
 * later ones: the source stays refused), the others still read, and the
 * report names the file once. */
START_TEST(test_source_changed)
{
	int fd, id = adopt_pattern_file(64 * 1024, &fd);
	uint64_t off = 100 * DELTA_UNIT;
	unsigned char buf[DELTA_UNIT], junk = 0x5a;
	struct timespec later[2] = { { 0, UTIME_OMIT }, { 2000000000, 0 } };

	ck_assert_int_eq(image_map_file(img, off, 16 * DELTA_UNIT, id, 0), 0);
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	shadow_map(off, 16 * DELTA_UNIT, 0);
	assert_range(off, 16 * DELTA_UNIT);

	/* Same size, new byte, new mtime (as any write gives). */
	ck_assert_int_eq(pwrite(fd, &junk, 1, 5 * DELTA_UNIT), 1);
	ck_assert_int_eq(futimens(fd, later), 0);
	hb_error("(no error)");
	ck_assert_int_eq(image_read(img, buf, DELTA_UNIT, off + 5 * DELTA_UNIT), -EIO);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "mapped-file"));
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "modified"));
	hb_error("(no error)");
	ck_assert_int_eq(image_read(img, buf, DELTA_UNIT, off), -EIO);
	ck_assert_str_eq(hb_last_error(), "(no error)");	/* reported once */
	/* A range that spans base and file fails too; the base alone reads. */
	ck_assert_int_eq(image_read(img, buf, DELTA_UNIT, off - 512), -EIO);
	assert_range(0, 50 * DELTA_UNIT);
}
END_TEST

/* The base changed size (or was rewritten): every base read fails; a
 * chmod (ctime only) is not a change. */
START_TEST(test_base_changed)
{
	unsigned char buf[4096];
	int fd;

	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(chmod(base_path, 0400), 0);
	assert_range(0, 8192);
	fd = open(base_path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);
	hb_error("(no error)");
	ck_assert_int_eq(image_read(img, buf, sizeof buf, 0), -EIO);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), base_path));
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "changed size"));
	/* A guest write that needs a read-modify-write of the base fails too. */
	ck_assert_int_eq(image_write(img, buf, 10, 4096 * 3 + 5), -EIO);
}
END_TEST

/* ---- image_map_file ---------------------------------------------------------- */

START_TEST(test_map_file_unaligned)
{
	int fd, id = adopt_pattern_file(64 * 1024, &fd);
	uint64_t off = 100 * DELTA_UNIT + 300, len = 10 * DELTA_UNIT, pos = 1234;

	ck_assert_int_eq(image_map_file(img, off, len, id, pos), 0);
	shadow_map(off, len, pos);
	assert_range(off - 2048, (size_t)len + 4096);
	/* Head and tail units are copied (they mix base and file bytes); the
	 * nine whole units between are mapped to the file. */
	ck_assert_int_eq(synth_kind(99), '-');
	ck_assert_int_eq(synth_kind(100), 'm');
	for (uint64_t u = 101; u < 110; u++) {
		struct delta_src src;
		ck_assert_int_eq(synth_kind(u), 'f');
		ck_assert_int_eq(delta_lookup(img->synth, u, &src), 1);
		ck_assert_int_eq(src.fd, fd);
		ck_assert_uint_eq(src.pos, pos + (u * DELTA_UNIT - off));
	}
	ck_assert_int_eq(synth_kind(110), 'm');
	ck_assert_int_eq(synth_kind(111), '-');

	/* Aligned head, unaligned tail; and the other way round. */
	ck_assert_int_eq(image_map_file(img, 200 * DELTA_UNIT, 2 * DELTA_UNIT + 1, id, 0), 0);
	shadow_map(200 * DELTA_UNIT, 2 * DELTA_UNIT + 1, 0);
	ck_assert_int_eq(synth_kind(200), 'f');
	ck_assert_int_eq(synth_kind(201), 'f');
	ck_assert_int_eq(synth_kind(202), 'm');
	ck_assert_int_eq(image_map_file(img, 300 * DELTA_UNIT - 1, 2 * DELTA_UNIT + 1, id, 7), 0);
	shadow_map(300 * DELTA_UNIT - 1, 2 * DELTA_UNIT + 1, 7);
	ck_assert_int_eq(synth_kind(299), 'm');
	ck_assert_int_eq(synth_kind(300), 'f');
	ck_assert_int_eq(synth_kind(301), 'f');
	ck_assert_int_eq(synth_kind(302), '-');
	assert_image();
	assert_base_untouched();
}
END_TEST

START_TEST(test_map_file_no_whole_unit)
{
	int fd, id = adopt_pattern_file(8 * 1024, &fd);

	/* Inside one unit. */
	ck_assert_int_eq(image_map_file(img, 10 * DELTA_UNIT + 100, 500, id, 3), 0);
	shadow_map(10 * DELTA_UNIT + 100, 500, 3);
	/* Across one boundary, no whole unit: both halves copied. */
	ck_assert_int_eq(image_map_file(img, 20 * DELTA_UNIT + 1000, 1000, id, 4000), 0);
	shadow_map(20 * DELTA_UNIT + 1000, 1000, 4000);
	ck_assert_int_eq(synth_kind(10), 'm');
	ck_assert_int_eq(synth_kind(20), 'm');
	ck_assert_int_eq(synth_kind(21), 'm');
	/* Nothing at all. */
	ck_assert_int_eq(image_map_file(img, 30 * DELTA_UNIT, 0, id, 0), 0);
	ck_assert_int_eq(synth_kind(30), '-');
	/* Into the partial last unit. */
	ck_assert_int_eq(image_map_file(img, BASE_SIZE - 2000, 2000, id, 0), 0);
	shadow_map(BASE_SIZE - 2000, 2000, 0);
	assert_image();
	assert_base_untouched();
}
END_TEST

START_TEST(test_map_file_refused)
{
	int fd, id = adopt_pattern_file(4096, &fd);

	ck_assert_int_eq(image_map_file(img, BASE_SIZE - 10, 11, id, 0), -EINVAL);
	ck_assert_int_eq(image_map_file(img, 0, 1024, id + 1, 0), -EINVAL);
	ck_assert_int_eq(image_map_file(img, 0, 1024, -1, 0), -EINVAL);
	ck_assert_uint_eq(delta_units(img->synth), 0);
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(image_map_file(img, 0, 1024, id, 0), -EINVAL);
	assert_image();
}
END_TEST

/* ---- image_segments ---------------------------------------------------------- */

START_TEST(test_segments_untouched)
{
	struct image_seg segs[8];

	/* One segment of the base fd, whatever the alignment. */
	ck_assert_int_eq(image_segments(img, 5, 100000, segs, 8), 1);
	ck_assert_int_eq(segs[0].fd, img->base_fd);
	ck_assert_uint_eq(segs[0].pos, 5);
	ck_assert_uint_eq(segs[0].len, 100000);
	ck_assert_ptr_null(segs[0].mem);
	/* Cut at the end of the image. */
	ck_assert_int_eq(image_segments(img, BASE_SIZE - 1500, 1 << 20, segs, 8), 1);
	ck_assert_uint_eq(segs[0].pos, BASE_SIZE - 1500);
	ck_assert_uint_eq(segs[0].len, 1500);
	ck_assert_int_eq(image_segments(img, BASE_SIZE, 100, segs, 8), 0);
	ck_assert_int_eq(image_segments(img, 0, 0, segs, 8), 0);
}
END_TEST

START_TEST(test_segments_mixed)
{
	struct image_seg segs[8];
	int fd, id = adopt_pattern_file(16 * 1024, &fd);
	size_t total = 0;
	unsigned char *buf;
	int n;

	rng_state = 7;
	/* base [9] | mem [10..13] | base [14] | file [15..18] | base ... */
	write_both(10 * DELTA_UNIT, 4 * DELTA_UNIT);
	ck_assert_int_eq(image_map_file(img, 15 * DELTA_UNIT, 4 * DELTA_UNIT, id, 2048), 0);
	shadow_map(15 * DELTA_UNIT, 4 * DELTA_UNIT, 2048);

	n = image_segments(img, 9 * DELTA_UNIT + 1, 11 * DELTA_UNIT, segs, 8);
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(segs[0].fd, img->base_fd);
	ck_assert_uint_eq(segs[0].pos, 9 * DELTA_UNIT + 1);
	ck_assert_uint_eq(segs[0].len, DELTA_UNIT - 1);
	ck_assert_int_lt(segs[1].fd, 0);
	ck_assert_ptr_nonnull(segs[1].mem);
	ck_assert_uint_eq(segs[1].len, 4 * DELTA_UNIT);	/* merged memory units */
	ck_assert_int_eq(memcmp(segs[1].mem, shadow + 10 * DELTA_UNIT, 4 * DELTA_UNIT), 0);
	ck_assert_int_eq(segs[2].fd, img->base_fd);
	ck_assert_uint_eq(segs[2].pos, 14 * DELTA_UNIT);
	ck_assert_uint_eq(segs[2].len, DELTA_UNIT);
	ck_assert_int_eq(segs[3].fd, fd);
	ck_assert_uint_eq(segs[3].pos, 2048);
	ck_assert_uint_eq(segs[3].len, 4 * DELTA_UNIT);	/* merged file units */
	ck_assert_int_eq(segs[4].fd, img->base_fd);
	ck_assert_uint_eq(segs[4].pos, 19 * DELTA_UNIT);
	ck_assert_uint_eq(segs[4].len, DELTA_UNIT + 1);
	for (int i = 0; i < n; i++)
		total += segs[i].len;
	ck_assert_uint_eq(total, 11 * DELTA_UNIT);

	/* A full list stops early; the caller loops from there. */
	n = image_segments(img, 9 * DELTA_UNIT + 1, 11 * DELTA_UNIT, segs, 2);
	ck_assert_int_eq(n, 2);
	ck_assert_uint_eq(segs[0].len + segs[1].len, 5 * DELTA_UNIT - 1);

	/* Segments read back as the image. */
	n = image_segments(img, 9 * DELTA_UNIT + 1, 11 * DELTA_UNIT, segs, 8);
	buf = malloc(11 * DELTA_UNIT);
	ck_assert_ptr_nonnull(buf);
	total = 0;
	for (int i = 0; i < n; i++) {
		if (segs[i].mem)
			memcpy(buf + total, segs[i].mem, segs[i].len);
		else
			ck_assert_int_eq(hb_pread_full(segs[i].fd, buf + total, segs[i].len,
						       segs[i].pos), (ssize_t)segs[i].len);
		total += segs[i].len;
	}
	ck_assert_int_eq(memcmp(buf, shadow + 9 * DELTA_UNIT + 1, 11 * DELTA_UNIT), 0);
	free(buf);
}
END_TEST

/* After the freeze, a cow unit over a synth unit over the base: the
 * topmost wins, and neighbouring cow units merge as the others do. */
START_TEST(test_segments_layers)
{
	struct image_seg segs[8];
	int n;

	rng_state = 8;
	write_both(10 * DELTA_UNIT, 3 * DELTA_UNIT);
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	write_both(11 * DELTA_UNIT, DELTA_UNIT);
	n = image_segments(img, 10 * DELTA_UNIT, 3 * DELTA_UNIT, segs, 8);
	ck_assert_int_eq(n, 3);
	for (int i = 0; i < n; i++) {
		ck_assert_ptr_nonnull(segs[i].mem);
		ck_assert_uint_eq(segs[i].len, DELTA_UNIT);
		ck_assert_int_eq(memcmp(segs[i].mem, shadow + (10 + i) * DELTA_UNIT, DELTA_UNIT), 0);
	}
	assert_image();
}
END_TEST

/* ---- after image_freeze ------------------------------------------------------- */

START_TEST(test_freeze_writes_to_cow)
{
	struct delta_src src;
	unsigned char before[DELTA_UNIT];
	uint64_t synth_units;

	rng_state = 3;
	write_both(10 * DELTA_UNIT, 2 * DELTA_UNIT);
	synth_units = delta_units(img->synth);
	ck_assert_uint_eq(synth_units, 2);
	ck_assert_int_eq(delta_lookup(img->synth, 10, &src), 1);
	memcpy(before, src.mem, DELTA_UNIT);

	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_ptr_nonnull(img->cow);
	write_both(10 * DELTA_UNIT + 5, 10);		/* over a synth unit */
	write_both(500 * DELTA_UNIT + 1000, 1000);	/* over base units */
	write_both(BASE_SIZE - 3, 3);			/* the partial last unit */
	assert_image();
	/* The build layer is as it was; the writes are in cow. */
	ck_assert_uint_eq(delta_units(img->synth), synth_units);
	ck_assert_int_eq(delta_lookup(img->synth, 10, &src), 1);
	ck_assert_int_eq(memcmp(src.mem, before, DELTA_UNIT), 0);
	ck_assert_uint_eq(delta_units(img->cow), 4);
	/* A guest write of the base's own bytes is still a guest write. */
	ck_assert_int_eq(image_write(img, orig + 700 * DELTA_UNIT, DELTA_UNIT, 700 * DELTA_UNIT),
			 DELTA_UNIT);
	ck_assert_uint_eq(delta_units(img->cow), 5);
	assert_image();
	assert_base_untouched();
}
END_TEST

START_TEST(test_freeze_readonly)
{
	rng_state = 4;
	write_both(3 * DELTA_UNIT, 100);
	ck_assert_int_eq(image_freeze(img, 0, 1), 0);
	ck_assert_int_eq(image_write(img, "abc", 3, 0), -EROFS);
	ck_assert_int_eq(image_write(img, "abc", 3, 3 * DELTA_UNIT), -EROFS);
	ck_assert_uint_eq(delta_units(img->cow), 0);
	assert_image();
	assert_base_untouched();
}
END_TEST

START_TEST(test_freeze_mem_limit)
{
	unsigned char buf[DELTA_UNIT];

	rng_state = 5;
	ck_assert_int_eq(image_freeze(img, 2 * DELTA_UNIT, 0), 0);
	write_both(0, 1);			/* unit 0 */
	write_both(5 * DELTA_UNIT, 1);		/* unit 5: the limit */
	write_both(5 * DELTA_UNIT + 7, 1000);	/* unit 5 again: in place */
	memset(buf, 0x5a, sizeof buf);
	ck_assert_int_eq(image_write(img, buf, 1, 9 * DELTA_UNIT), -ENOSPC);
	ck_assert_int_eq(image_write(img, buf, DELTA_UNIT, 9 * DELTA_UNIT), -ENOSPC);
	ck_assert_uint_eq(delta_units(img->cow), 2);
	ck_assert_uint_eq(delta_mem_bytes(img->cow), 2 * DELTA_UNIT);
	assert_image();
}
END_TEST

/* A write that fills the limit midway reports what it wrote, as write(2)
 * does; the next one gets the error. */
START_TEST(test_freeze_mem_limit_partial)
{
	unsigned char buf[3 * DELTA_UNIT];

	ck_assert_int_eq(image_freeze(img, 2 * DELTA_UNIT, 0), 0);
	memset(buf, 0x77, sizeof buf);
	/* Units 4 (its last 24 bytes), 5 (whole), 6 (no room). */
	ck_assert_int_eq(image_write(img, buf, 24 + DELTA_UNIT + 100, 5 * DELTA_UNIT - 24),
			 24 + DELTA_UNIT);
	memcpy(shadow + 5 * DELTA_UNIT - 24, buf, 24 + DELTA_UNIT);
	ck_assert_int_eq(image_write(img, buf, 100, 6 * DELTA_UNIT), -ENOSPC);
	assert_image();
}
END_TEST

/* ---- image_attach_cow ---------------------------------------------------------- */

static const unsigned char id_a[32] = "image identity A...............";
static const unsigned char id_b[32] = "image identity B...............";

static void reopen_frozen(void)
{
	image_close(img);
	img = NULL;
	ck_assert_int_eq(image_open(&img, base_path, PARTITION_AUTO), 0);
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
}

static off_t file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

#define COW_HEADER 4096
#define COW_RECORD (8 + DELTA_UNIT)

START_TEST(test_cow_survives_reopen)
{
	rng_state = 6;
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), -EINVAL);	/* not frozen */
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	ck_assert_int_eq(file_size(cow_path), COW_HEADER);
	write_both(0, 1);
	write_both(1023, 2);			/* units 0 and 1 */
	write_both(7 * DELTA_UNIT + 3, 1025);	/* units 7, 8 */
	write_both(BASE_SIZE - 1, 1);		/* the partial last unit */
	ck_assert_int_eq(file_size(cow_path), COW_HEADER + 5 * COW_RECORD);
	write_both(7 * DELTA_UNIT, 10);		/* in place: no new record */
	ck_assert_int_eq(file_size(cow_path), COW_HEADER + 5 * COW_RECORD);
	ck_assert_uint_eq(delta_mem_bytes(img->cow), 0);
	ck_assert_int_eq(image_flush(img), 0);
	assert_image();

	reopen_frozen();
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	ck_assert_uint_eq(delta_units(img->cow), 5);
	assert_image();
	/* Written again after the reopen: in place, and new units appended. */
	write_both(8 * DELTA_UNIT, 5);
	write_both(100 * DELTA_UNIT, 5);
	ck_assert_int_eq(file_size(cow_path), COW_HEADER + 6 * COW_RECORD);
	reopen_frozen();
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	assert_image();
	assert_base_untouched();
}
END_TEST

START_TEST(test_cow_other_id)
{
	unsigned char before[DIGEST_LEN], after[DIGEST_LEN];

	rng_state = 9;
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	write_both(3 * DELTA_UNIT, 10);
	hash_file(cow_path, before);

	reopen_frozen();
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_b), -EEXIST);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), cow_path));
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "another image"));
	hash_file(cow_path, after);
	ck_assert_int_eq(memcmp(before, after, DIGEST_LEN), 0);
}
END_TEST

/* One image at a time per cow file: a second attach waits for the first
 * to let go (the daemon of the last mount, still syncing), and is refused
 * when it does not within the wait. */
static void *close_later(void *arg)
{
	usleep(300 * 1000);
	image_close(arg);
	return NULL;
}

START_TEST(test_cow_busy)
{
	struct image *other = NULL;
	pthread_t t;

	setenv("HB_COW_LOCK_WAIT", "1", 1);
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	ck_assert_int_eq(image_open(&other, base_path, PARTITION_AUTO), 0);
	ck_assert_int_eq(image_freeze(other, 0, 0), 0);
	ck_assert_int_eq(image_attach_cow(other, cow_path, id_a), -EBUSY);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "in use"));
	image_close(other);
	/* Released while the second one waits: it goes on. */
	setenv("HB_COW_LOCK_WAIT", "3", 1);
	ck_assert_int_eq(pthread_create(&t, NULL, close_later, img), 0);
	img = NULL;
	ck_assert_int_eq(image_open(&img, base_path, PARTITION_AUTO), 0);
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	pthread_join(t, NULL);
	unsetenv("HB_COW_LOCK_WAIT");
}
END_TEST

/* A read-only image reads the saved writes with a shared lock: two of
 * them at once, and never a byte written, nor a file created. */
START_TEST(test_cow_readonly)
{
	struct image *other = NULL;
	unsigned char before[DIGEST_LEN], after[DIGEST_LEN];
	unsigned char buf[DELTA_UNIT];

	rng_state = 13;
	ck_assert_int_eq(image_freeze(img, 0, 1), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);	/* nothing saved */
	ck_assert_int_eq(access(cow_path, F_OK), -1);
	reopen_frozen();
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	write_both(5 * DELTA_UNIT, 100);
	image_close(img);
	img = NULL;
	hash_file(cow_path, before);
	ck_assert_int_eq(chmod(cow_path, 0400), 0);
	ck_assert_int_eq(image_open(&img, base_path, PARTITION_AUTO), 0);
	ck_assert_int_eq(image_freeze(img, 0, 1), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	ck_assert_int_eq(image_open(&other, base_path, PARTITION_AUTO), 0);
	ck_assert_int_eq(image_freeze(other, 0, 1), 0);
	ck_assert_int_eq(image_attach_cow(other, cow_path, id_a), 0);
	assert_image();
	ck_assert_int_eq(image_read(other, buf, DELTA_UNIT, 5 * DELTA_UNIT), DELTA_UNIT);
	ck_assert_int_eq(memcmp(buf, shadow + 5 * DELTA_UNIT, DELTA_UNIT), 0);
	ck_assert_int_eq(image_write(other, buf, 10, 0), -EROFS);
	image_close(other);
	hash_file(cow_path, after);
	ck_assert_int_eq(memcmp(before, after, DIGEST_LEN), 0);
}
END_TEST

/* A cow file anyone could have planted is refused: a symbolic link, one
 * writable by group or others, one owned by someone else (as root).  A
 * new one is created 0600 whatever the umask. */
START_TEST(test_cow_planted)
{
	char link[200];
	struct stat st;
	mode_t mask;

	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	mask = umask(0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	umask(mask);
	ck_assert_int_eq(stat(cow_path, &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	reopen_frozen();
	snprintf(link, sizeof link, "%s/link.cow", tmpdir);
	ck_assert_int_eq(symlink(cow_path, link), 0);
	ck_assert_int_eq(image_attach_cow(img, link, id_a), -ELOOP);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "symbolic link"));
	ck_assert_int_eq(chmod(cow_path, 0620), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), -EPERM);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "writable by group or others"));
	ck_assert_int_eq(chmod(cow_path, 0602), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), -EPERM);
	ck_assert_int_eq(chmod(cow_path, 0600), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(cow_path, 65534, 65534), 0);
		ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), -EPERM);
		ck_assert_ptr_nonnull(strstr(hb_last_error(), "not to you"));
		ck_assert_int_eq(chown(cow_path, 0, 0), 0);
	}
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
}
END_TEST

/* The same identity on a base of another size is another image too. */
START_TEST(test_cow_other_size)
{
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	image_close(img);
	img = NULL;
	cu_run("truncate -s +1024 '%s'", base_path);
	ck_assert_int_eq(image_open(&img, base_path, PARTITION_AUTO), 0);
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), -EEXIST);
}
END_TEST

START_TEST(test_cow_not_a_cow_file)
{
	unsigned char before[DIGEST_LEN], after[DIGEST_LEN];
	char dir[160];

	cu_run("printf 'just some file\\n' > '%s'", cow_path);
	hash_file(cow_path, before);
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), -EINVAL);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "not a hackbackfs cow file"));
	/* A file as long as a header, with the wrong magic. */
	cu_run("head -c 8192 /dev/urandom > '%s'", cow_path);
	hash_file(cow_path, before);
	reopen_frozen();
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), -EINVAL);
	hash_file(cow_path, after);
	ck_assert_int_eq(memcmp(before, after, DIGEST_LEN), 0);
	/* A directory. */
	snprintf(dir, sizeof dir, "%s/adir", tmpdir);
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	reopen_frozen();
	ck_assert_int_lt(image_attach_cow(img, dir, id_a), 0);
}
END_TEST

/* A crash in the middle of an append leaves a torn last record: it is
 * dropped on reopen, and the next append takes its place. */
START_TEST(test_cow_torn_record)
{
	unsigned char junk[600];
	int fd;

	rng_state = 10;
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	write_both(2 * DELTA_UNIT, 100);
	write_both(4 * DELTA_UNIT, 100);
	image_close(img);
	img = NULL;
	/* Half a record naming unit 6, with bytes that must not show. */
	memset(junk, 0xab, sizeof junk);
	memset(junk, 0, 8);
	junk[0] = 6;
	fd = open(cow_path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);

	ck_assert_int_eq(image_open(&img, base_path, PARTITION_AUTO), 0);
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	ck_assert_uint_eq(delta_units(img->cow), 2);
	assert_image();
	write_both(9 * DELTA_UNIT, 3);
	ck_assert_int_eq(file_size(cow_path), COW_HEADER + 3 * COW_RECORD);
	reopen_frozen();
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	ck_assert_uint_eq(delta_units(img->cow), 3);
	assert_image();
}
END_TEST

/* A record that names a unit past the end of the image is refused. */
START_TEST(test_cow_corrupt_record)
{
	unsigned char rec[COW_RECORD];
	uint64_t unit = BASE_SIZE / DELTA_UNIT + 1;
	int fd;

	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	memset(rec, 0, sizeof rec);
	for (int i = 0; i < 8; i++)
		rec[i] = (unsigned char)(unit >> (8 * i));
	fd = open(cow_path, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, rec, sizeof rec), (ssize_t)sizeof rec);
	close(fd);
	reopen_frozen();
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), -EINVAL);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), "corrupt"));
}
END_TEST

/* A refused attach must leave the refused file alone: the image keeps its
 * guest writes in memory, never in another image's cow file. */
START_TEST(test_cow_refused_leaves_file_alone)
{
	unsigned char before[DIGEST_LEN], after[DIGEST_LEN];

	rng_state = 11;
	cu_run("head -c 8192 /dev/urandom > '%s'", cow_path);
	hash_file(cow_path, before);
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), -EINVAL);
	write_both(0, 10);	/* the image is still usable, writes in memory */
	assert_range(0, 4096);
	hash_file(cow_path, after);
	ck_assert_msg(memcmp(before, after, DIGEST_LEN) == 0,
		      "a write after a refused image_attach_cow() went into the refused file");
}
END_TEST

/* A cow file that cannot grow (a full disk; here RLIMIT_FSIZE, which a
 * Slurm job inherits from the shell that submitted it): writes of new units
 * fail with -ENOSPC -- no SIGXFSZ kills the daemon, no EFBIG reaches the
 * guest --, units already in the file are rewritten in place, and what
 * was written before stays, also after a reopen. */
START_TEST(test_cow_cannot_grow)
{
	struct rlimit rl = { COW_HEADER + 3 * COW_RECORD + 500, RLIM_INFINITY };
	static const uint64_t offs[] = { 0, 5 * DELTA_UNIT, 9 * DELTA_UNIT,
					 20 * DELTA_UNIT, 21 * DELTA_UNIT + 7, 5 * DELTA_UNIT + 100 };
	static const size_t lens[] = { 10, 10, 10, DELTA_UNIT, 10, 500 };
	static const ssize_t want[] = { 10, 10, 10, -ENOSPC, -ENOSPC, 500 };
	unsigned char buf[DELTA_UNIT];
	ssize_t got[HB_ARRAY_SIZE(offs)];
	int lim, unlim;

	rng_state = 12;
	ck_assert_int_eq(image_freeze(img, 0, 0), 0);
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	/* No ck_assert under the limit: Check's own messages go to a file. */
	lim = setrlimit(RLIMIT_FSIZE, &rl);
	for (size_t i = 0; i < HB_ARRAY_SIZE(offs); i++) {
		random_bytes(buf, lens[i]);
		got[i] = image_write(img, buf, lens[i], offs[i]);
		if (got[i] > 0)
			memcpy(shadow + offs[i], buf, (size_t)got[i]);
	}
	got[0] = got[0] == want[0] && image_flush(img) == 0 ? got[0] : -1;
	rl.rlim_cur = RLIM_INFINITY;
	unlim = setrlimit(RLIMIT_FSIZE, &rl);
	ck_assert_int_eq(lim, 0);
	ck_assert_int_eq(unlim, 0);
	for (size_t i = 0; i < HB_ARRAY_SIZE(offs); i++)
		ck_assert_msg(got[i] == want[i], "write %zu: %zd, want %zd", i, got[i], want[i]);
	assert_image();
	reopen_frozen();
	ck_assert_int_eq(image_attach_cow(img, cow_path, id_a), 0);
	ck_assert_uint_eq(delta_units(img->cow), 3);
	assert_image();
	write_both(20 * DELTA_UNIT, 10);	/* room again: appended */
	ck_assert_int_eq(file_size(cow_path), COW_HEADER + 4 * COW_RECORD);
}
END_TEST

static Suite *image_suite(void)
{
	Suite *s = suite_create("image");
	TCase *rd = tcase_create("read");
	TCase *wr = tcase_create("write");
	TCase *map = tcase_create("map_file");
	TCase *seg = tcase_create("segments");
	TCase *frz = tcase_create("freeze");
	TCase *cow = tcase_create("cow_file");
	TCase *all[] = { rd, wr, map, seg, frz, cow };

	for (size_t i = 0; i < HB_ARRAY_SIZE(all); i++) {
		tcase_add_unchecked_fixture(all[i], make_rootdir, remove_rootdir);
		tcase_add_checked_fixture(all[i], setup, teardown);
	}
	tcase_add_test(rd, test_read_base);
	tcase_add_test(rd, test_open_refuses);
	tcase_add_test(rd, test_source_changed);
	tcase_add_test(rd, test_base_changed);
	suite_add_tcase(s, rd);

	tcase_set_timeout(wr, 60);
	tcase_add_test(wr, test_write_odd_sizes);
	tcase_add_test(wr, test_write_random);
	tcase_add_test(wr, test_write_same_as_base);
	suite_add_tcase(s, wr);

	tcase_add_test(map, test_map_file_unaligned);
	tcase_add_test(map, test_map_file_no_whole_unit);
	tcase_add_test(map, test_map_file_refused);
	suite_add_tcase(s, map);

	tcase_add_test(seg, test_segments_untouched);
	tcase_add_test(seg, test_segments_mixed);
	tcase_add_test(seg, test_segments_layers);
	suite_add_tcase(s, seg);

	tcase_add_test(frz, test_freeze_writes_to_cow);
	tcase_add_test(frz, test_freeze_readonly);
	tcase_add_test(frz, test_freeze_mem_limit);
	tcase_add_test(frz, test_freeze_mem_limit_partial);
	suite_add_tcase(s, frz);

	tcase_add_test(cow, test_cow_survives_reopen);
	tcase_add_test(cow, test_cow_other_id);
	tcase_add_test(cow, test_cow_other_size);
	tcase_add_test(cow, test_cow_busy);
	tcase_add_test(cow, test_cow_readonly);
	tcase_add_test(cow, test_cow_planted);
	tcase_add_test(cow, test_cow_not_a_cow_file);
	tcase_add_test(cow, test_cow_torn_record);
	tcase_add_test(cow, test_cow_corrupt_record);
	tcase_add_test(cow, test_cow_refused_leaves_file_alone);
	tcase_add_test(cow, test_cow_cannot_grow);
	suite_add_tcase(s, cow);
	return s;
}

int main(void)
{
	return cu_main("check_image", image_suite(), "mke2fs truncate dd head");
}
