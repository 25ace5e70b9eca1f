/* SPDX-License-Identifier: BSD-3-Clause */
/* check_delta.c -- unit tests for src/delta.c.
 *
 * The delta is a leaf: no image, no file system.  Unit contents are made
 * by fill() from the unit number and a "generation", so that any unit can
 * be checked against what the last writer put there without keeping a
 * copy.  File mappings use a temporary file with a known pattern
 * (pattern_byte(): the byte at offset o), so a lookup's fd and pos can
 * be checked by reading through them.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkutil.h"
#include "delta.h"
#include "util.h"

#define FILE_UNITS 64u

static struct delta *d;
static char tmpfile_path[64];
static int tmp_fd = -1;		/* the pattern file, not yet given to d */

/* DELTA_UNIT bytes that name unit and gen. */
static void fill(unsigned char *buf, uint64_t unit, unsigned gen)
{
	for (unsigned i = 0; i < DELTA_UNIT; i++)
		buf[i] = (unsigned char)(unit * 131 + gen * 7 + i * 13 + (unit >> 8));
	memcpy(buf, &unit, sizeof unit);
	memcpy(buf + sizeof unit, &gen, sizeof gen);
}

static unsigned char pattern_byte(uint64_t off)
{
	return (unsigned char)(off * 31 + (off >> 10) * 7 + 1);
}

static void setup(void)
{
	unsigned char buf[DELTA_UNIT];

	d = delta_new(0);
	ck_assert_ptr_nonnull(d);
	snprintf(tmpfile_path, sizeof tmpfile_path, "/tmp/check_delta.XXXXXX");
	tmp_fd = mkstemp(tmpfile_path);
	ck_assert_int_ge(tmp_fd, 0);
	unlink(tmpfile_path);
	for (uint64_t u = 0; u < FILE_UNITS; u++) {
		for (unsigned i = 0; i < DELTA_UNIT; i++)
			buf[i] = pattern_byte(u * DELTA_UNIT + i);
		ck_assert_int_eq(hb_pwrite_full(tmp_fd, buf, DELTA_UNIT, u * DELTA_UNIT), DELTA_UNIT);
	}
}

static void teardown(void)
{
	delta_free(d);
	d = NULL;
	if (tmp_fd >= 0)
		close(tmp_fd);
	tmp_fd = -1;
}

/* Hand the pattern file to d (which then owns it); returns its id. */
static int add_pattern_file(void)
{
	int fd = dup(tmp_fd);
	int id;

	ck_assert_int_ge(fd, 0);
	id = delta_add_file(d, fd);
	ck_assert_int_ge(id, 0);
	ck_assert_int_eq(delta_file_fd(d, id), fd);
	return id;
}

/* unit must be a memory unit holding fill(unit, gen). */
static void assert_mem(uint64_t unit, unsigned gen)
{
	unsigned char want[DELTA_UNIT];
	struct delta_src src;

	ck_assert_msg(delta_lookup(d, unit, &src) == 1, "unit %llu missing",
		      (unsigned long long)unit);
	ck_assert_msg(src.mem != NULL, "unit %llu is not in memory", (unsigned long long)unit);
	fill(want, unit, gen);
	ck_assert_msg(memcmp(src.mem, want, DELTA_UNIT) == 0, "unit %llu: wrong bytes (gen %u)",
		      (unsigned long long)unit, gen);
}

/* unit must map to fd at pos, and reading there gives the pattern. */
static void assert_file(uint64_t unit, int fd, uint64_t pos)
{
	unsigned char got[DELTA_UNIT];
	struct delta_src src;

	ck_assert_int_eq(delta_lookup(d, unit, &src), 1);
	ck_assert_ptr_null(src.mem);
	ck_assert_int_eq(src.fd, fd);
	ck_assert_uint_eq(src.pos, pos);
	ck_assert_int_eq(hb_pread_full(src.fd, got, DELTA_UNIT, src.pos), DELTA_UNIT);
	for (unsigned i = 0; i < DELTA_UNIT; i++)
		ck_assert_uint_eq(got[i], pattern_byte(pos + i));
}

/* ---- memory units -------------------------------------------------------- */

START_TEST(test_empty)
{
	struct delta_src src;

	ck_assert_int_eq(delta_lookup(d, 0, &src), 0);
	ck_assert_int_eq(delta_lookup(d, 12345, &src), 0);
	ck_assert_int_eq(delta_lookup(d, UINT64_MAX - 1, &src), 0);
	ck_assert_uint_eq(delta_units(d), 0);
	ck_assert_uint_eq(delta_mem_bytes(d), 0);
	ck_assert_int_eq(delta_file_fd(d, 0), -1);
	ck_assert_int_eq(delta_file_fd(d, -1), -1);
}
END_TEST

START_TEST(test_put_lookup)
{
	static const uint64_t units[] = { 0, 1, 2, 1023, 1024, 4096, 1ULL << 32, UINT64_MAX - 1 };
	unsigned char buf[DELTA_UNIT];
	struct delta_src src;

	for (size_t i = 0; i < HB_ARRAY_SIZE(units); i++) {
		fill(buf, units[i], 1);
		ck_assert_int_eq(delta_put(d, units[i], buf), 0);
	}
	/* The delta copied the bytes: the caller's buffer is its own. */
	memset(buf, 0xee, sizeof buf);
	for (size_t i = 0; i < HB_ARRAY_SIZE(units); i++)
		assert_mem(units[i], 1);
	ck_assert_uint_eq(delta_units(d), HB_ARRAY_SIZE(units));
	ck_assert_uint_eq(delta_mem_bytes(d), HB_ARRAY_SIZE(units) * DELTA_UNIT);
	/* Neighbours of stored units are not stored. */
	ck_assert_int_eq(delta_lookup(d, 3, &src), 0);
	ck_assert_int_eq(delta_lookup(d, 1025, &src), 0);
	ck_assert_int_eq(delta_lookup(d, (1ULL << 32) + 1, &src), 0);
	ck_assert_int_eq(delta_lookup(d, UINT64_MAX - 2, &src), 0);
}
END_TEST

START_TEST(test_overwrite_in_place)
{
	unsigned char buf[DELTA_UNIT];
	struct delta_src before, after;

	fill(buf, 7, 1);
	ck_assert_int_eq(delta_put(d, 7, buf), 0);
	ck_assert_int_eq(delta_lookup(d, 7, &before), 1);
	fill(buf, 7, 2);
	ck_assert_int_eq(delta_put(d, 7, buf), 0);
	ck_assert_int_eq(delta_lookup(d, 7, &after), 1);
	/* Same buffer, new bytes, no new memory. */
	ck_assert_ptr_eq(before.mem, after.mem);
	assert_mem(7, 2);
	ck_assert_uint_eq(delta_units(d), 1);
	ck_assert_uint_eq(delta_mem_bytes(d), DELTA_UNIT);
}
END_TEST

/* ---- file units ---------------------------------------------------------- */

START_TEST(test_map_file)
{
	int id = add_pattern_file();
	int fd = delta_file_fd(d, id);
	struct delta_src src;

	/* Units 100..109 <- file units 3..12; units 500..501 <- an
	 * unaligned position (the delta takes any byte offset). */
	ck_assert_int_eq(delta_map(d, 100, 10, id, 3 * DELTA_UNIT), 0);
	ck_assert_int_eq(delta_map(d, 500, 2, id, 5 * DELTA_UNIT + 17), 0);
	for (uint64_t u = 100; u < 110; u++)
		assert_file(u, fd, (u - 100 + 3) * DELTA_UNIT);
	assert_file(500, fd, 5 * DELTA_UNIT + 17);
	assert_file(501, fd, 6 * DELTA_UNIT + 17);
	ck_assert_int_eq(delta_lookup(d, 99, &src), 0);
	ck_assert_int_eq(delta_lookup(d, 110, &src), 0);
	ck_assert_uint_eq(delta_units(d), 12);
	ck_assert_uint_eq(delta_mem_bytes(d), 0);
	/* count 0 maps nothing. */
	ck_assert_int_eq(delta_map(d, 900, 0, id, 0), 0);
	ck_assert_int_eq(delta_lookup(d, 900, &src), 0);
}
END_TEST

START_TEST(test_map_bad_file_id)
{
	struct delta_src src;

	ck_assert_int_eq(delta_map(d, 1, 1, 0, 0), -EINVAL);
	ck_assert_int_eq(delta_map(d, 1, 1, -1, 0), -EINVAL);
	add_pattern_file();
	ck_assert_int_eq(delta_map(d, 1, 1, 1, 0), -EINVAL);
	ck_assert_int_eq(delta_lookup(d, 1, &src), 0);
	ck_assert_uint_eq(delta_units(d), 0);
}
END_TEST

START_TEST(test_several_files)
{
	int fd2 = dup(tmp_fd);
	int a = add_pattern_file();
	int b;

	ck_assert_int_ge(fd2, 0);
	b = delta_add_file(d, fd2);
	ck_assert_int_ne(a, b);
	ck_assert_int_eq(delta_file_fd(d, b), fd2);
	ck_assert_int_eq(delta_map(d, 10, 1, a, 0), 0);
	ck_assert_int_eq(delta_map(d, 11, 1, b, DELTA_UNIT), 0);
	assert_file(10, delta_file_fd(d, a), 0);
	assert_file(11, fd2, DELTA_UNIT);
	ck_assert_int_eq(delta_file_fd(d, b + 1), -1);
}
END_TEST

/* delta_free() closes the descriptors it was given. */
START_TEST(test_free_closes_files)
{
	int fd = dup(tmp_fd);
	struct stat st;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_ge(delta_add_file(d, fd), 0);
	delta_free(d);
	d = NULL;
	ck_assert_int_eq(fstat(fd, &st), -1);
	ck_assert_int_eq(errno, EBADF);
}
END_TEST

/* ---- remapping ----------------------------------------------------------- */

START_TEST(test_remap_memory_to_file)
{
	unsigned char buf[DELTA_UNIT];
	int id = add_pattern_file();
	int fd = delta_file_fd(d, id);

	for (uint64_t u = 20; u < 30; u++) {
		fill(buf, u, 1);
		ck_assert_int_eq(delta_put(d, u, buf), 0);
	}
	/* Map over the middle of the memory run and past its end. */
	ck_assert_int_eq(delta_map(d, 25, 10, id, 0), 0);
	for (uint64_t u = 20; u < 25; u++)
		assert_mem(u, 1);
	for (uint64_t u = 25; u < 35; u++)
		assert_file(u, fd, (u - 25) * DELTA_UNIT);
	ck_assert_uint_eq(delta_units(d), 15);
}
END_TEST

START_TEST(test_remap_file_to_memory)
{
	unsigned char buf[DELTA_UNIT];
	int id = add_pattern_file();
	int fd = delta_file_fd(d, id);

	ck_assert_int_eq(delta_map(d, 40, 4, id, 0), 0);
	fill(buf, 41, 3);
	ck_assert_int_eq(delta_put(d, 41, buf), 0);
	assert_file(40, fd, 0);
	assert_mem(41, 3);
	assert_file(42, fd, 2 * DELTA_UNIT);
	/* ... and back: memory again written in place after a remap to a file. */
	ck_assert_int_eq(delta_map(d, 41, 1, id, 9 * DELTA_UNIT), 0);
	assert_file(41, fd, 9 * DELTA_UNIT);
	fill(buf, 41, 4);
	ck_assert_int_eq(delta_put(d, 41, buf), 0);
	assert_mem(41, 4);
	ck_assert_uint_eq(delta_units(d), 4);
}
END_TEST

START_TEST(test_remap_file_to_file)
{
	int id = add_pattern_file();
	int fd = delta_file_fd(d, id);

	ck_assert_int_eq(delta_map(d, 0, 8, id, 0), 0);
	ck_assert_int_eq(delta_map(d, 4, 8, id, 32 * DELTA_UNIT), 0);
	for (uint64_t u = 0; u < 4; u++)
		assert_file(u, fd, u * DELTA_UNIT);
	for (uint64_t u = 4; u < 12; u++)
		assert_file(u, fd, (32 + u - 4) * DELTA_UNIT);
	ck_assert_uint_eq(delta_units(d), 12);
}
END_TEST

/* Long runs are kept as extents: memory put over them wins, a run over
 * existing slots updates them, an overlapping run remaps unit by unit, and
 * delta_units() counts every unit once whichever map holds it. */
START_TEST(test_extents)
{
	unsigned char buf[DELTA_UNIT];
	int id = add_pattern_file();
	int fd = delta_file_fd(d, id);
	int seen = 0;

	fill(buf, 205, 1);
	ck_assert_int_eq(delta_put(d, 205, buf), 0);	/* a slot before the run */
	ck_assert_int_eq(delta_map(d, 200, 40, id, 0), 0);
	assert_file(205, fd, 5 * DELTA_UNIT);		/* the slot was updated */
	ck_assert_uint_eq(delta_units(d), 40);
	fill(buf, 210, 2);
	ck_assert_int_eq(delta_put(d, 210, buf), 0);	/* memory over the extent */
	assert_mem(210, 2);
	assert_file(209, fd, 9 * DELTA_UNIT);
	assert_file(211, fd, 11 * DELTA_UNIT);
	ck_assert_uint_eq(delta_units(d), 40);
	ck_assert_int_eq(delta_map(d, 100, 20, id, 40 * DELTA_UNIT), 0);	/* before */
	ck_assert_int_eq(delta_map(d, 230, 20, id, 0), 0);	/* overlaps the end */
	for (uint64_t u = 200; u < 230; u++)
		if (u != 210)
			assert_file(u, fd, (u - 200) * DELTA_UNIT);
	for (uint64_t u = 230; u < 250; u++)
		assert_file(u, fd, (u - 230) * DELTA_UNIT);
	for (uint64_t u = 100; u < 120; u++)
		assert_file(u, fd, (40 + u - 100) * DELTA_UNIT);
	ck_assert_int_eq(delta_lookup(d, 99, &(struct delta_src){ 0 }), 0);
	ck_assert_int_eq(delta_lookup(d, 120, &(struct delta_src){ 0 }), 0);
	ck_assert_int_eq(delta_lookup(d, 250, &(struct delta_src){ 0 }), 0);
	ck_assert_uint_eq(delta_units(d), 20 + 50);
	for (uint64_t u = 0; u < 300; u++)
		seen += delta_lookup(d, u, &(struct delta_src){ 0 });
	ck_assert_int_eq(seen, 70);
}
END_TEST

/* ---- growth ---------------------------------------------------------------- */

/* Tens of thousands of units, interleaving memory and file units, in an
 * order that is neither ascending nor clustered: every rehash must keep
 * every unit and its source. */
START_TEST(test_growth)
{
	const uint64_t n = 50000;
	unsigned char buf[DELTA_UNIT];
	int id = add_pattern_file();
	int fd = delta_file_fd(d, id);
	struct delta_src src;
	uint64_t mem = 0;

	for (uint64_t i = 0; i < n; i++) {
		uint64_t u = (i * 7919) % n * 3;	/* a permutation, spaced by 3 */
		if (u % 2 == 0) {
			fill(buf, u, 1);
			ck_assert_int_eq(delta_put(d, u, buf), 0);
			mem++;
		} else {
			ck_assert_int_eq(delta_map(d, u, 1, id, (u % FILE_UNITS) * DELTA_UNIT), 0);
		}
		/* Spot-check early units while the table keeps growing. */
		if (i % 4096 == 4095) {
			ck_assert_int_eq(delta_lookup(d, 0, &src), 1);
			ck_assert_uint_eq(delta_units(d), i + 1);
		}
	}
	ck_assert_uint_eq(delta_units(d), n);
	ck_assert_uint_eq(delta_mem_bytes(d), mem * DELTA_UNIT);
	for (uint64_t u = 0; u < 3 * n; u++) {
		if (u % 3 != 0) {
			ck_assert_int_eq(delta_lookup(d, u, &src), 0);
			continue;
		}
		if (u % 2 == 0) {
			assert_mem(u, 1);
		} else {
			ck_assert_int_eq(delta_lookup(d, u, &src), 1);
			ck_assert_ptr_null(src.mem);
			ck_assert_int_eq(src.fd, fd);
			ck_assert_uint_eq(src.pos, (u % FILE_UNITS) * DELTA_UNIT);
		}
	}
	/* Overwriting after the growth still happens in place. */
	fill(buf, 0, 9);
	ck_assert_int_eq(delta_put(d, 0, buf), 0);
	assert_mem(0, 9);
	ck_assert_uint_eq(delta_mem_bytes(d), mem * DELTA_UNIT);
}
END_TEST

/* One delta_map() call of many units grows the table mid-call. */
START_TEST(test_growth_one_big_map)
{
	const uint64_t n = 200000;	/* a 200 MiB file, unit by unit */
	int id = add_pattern_file();
	struct delta_src src;

	ck_assert_int_eq(delta_map(d, 1000, n, id, 0), 0);
	ck_assert_uint_eq(delta_units(d), n);
	ck_assert_uint_eq(delta_mem_bytes(d), 0);
	for (uint64_t u = 1000; u < 1000 + n; u += 997) {
		ck_assert_int_eq(delta_lookup(d, u, &src), 1);
		ck_assert_uint_eq(src.pos, (u - 1000) * DELTA_UNIT);
	}
	ck_assert_int_eq(delta_lookup(d, 1000 + n - 1, &src), 1);
	ck_assert_uint_eq(src.pos, (n - 1) * DELTA_UNIT);
	ck_assert_int_eq(delta_lookup(d, 999, &src), 0);
	ck_assert_int_eq(delta_lookup(d, 1000 + n, &src), 0);
}
END_TEST

/* Pointers to memory units stay valid while the delta grows: readers may
 * hold them (delta.c: "chunks that never move"). */
START_TEST(test_mem_pointers_stable)
{
	unsigned char buf[DELTA_UNIT];
	struct delta_src first;

	fill(buf, 5, 1);
	ck_assert_int_eq(delta_put(d, 5, buf), 0);
	ck_assert_int_eq(delta_lookup(d, 5, &first), 1);
	for (uint64_t u = 100; u < 100 + 5000; u++) {
		fill(buf, u, 1);
		ck_assert_int_eq(delta_put(d, u, buf), 0);
	}
	fill(buf, 5, 1);
	ck_assert_int_eq(memcmp(first.mem, buf, DELTA_UNIT), 0);
	assert_mem(5, 1);
	{
		struct delta_src now;
		ck_assert_int_eq(delta_lookup(d, 5, &now), 1);
		ck_assert_ptr_eq(now.mem, first.mem);
	}
}
END_TEST

/* ---- memory limit ------------------------------------------------------ */

START_TEST(test_mem_limit)
{
	struct delta *lim = delta_new(4 * DELTA_UNIT);
	unsigned char buf[DELTA_UNIT];
	struct delta_src src;
	int fd = dup(tmp_fd), id;

	ck_assert_ptr_nonnull(lim);
	for (uint64_t u = 0; u < 4; u++) {
		fill(buf, u, 1);
		ck_assert_int_eq(delta_put(lim, u, buf), 0);
	}
	ck_assert_uint_eq(delta_mem_bytes(lim), 4 * DELTA_UNIT);
	/* Exactly at the limit: a fifth unit does not fit ... */
	fill(buf, 4, 1);
	ck_assert_int_eq(delta_put(lim, 4, buf), -ENOSPC);
	/* ... and leaves nothing behind. */
	ck_assert_int_eq(delta_lookup(lim, 4, &src), 0);
	ck_assert_uint_eq(delta_units(lim), 4);
	ck_assert_uint_eq(delta_mem_bytes(lim), 4 * DELTA_UNIT);
	/* Overwriting a unit already held needs no new memory. */
	fill(buf, 2, 5);
	ck_assert_int_eq(delta_put(lim, 2, buf), 0);
	ck_assert_int_eq(delta_lookup(lim, 2, &src), 1);
	ck_assert_int_eq(memcmp(src.mem, buf, DELTA_UNIT), 0);
	/* File mappings are not memory and are not limited. */
	ck_assert_int_ge(fd, 0);
	id = delta_add_file(lim, fd);
	ck_assert_int_ge(id, 0);
	ck_assert_int_eq(delta_map(lim, 100, 1000, id, 0), 0);
	ck_assert_uint_eq(delta_units(lim), 1004);
	ck_assert_int_eq(delta_put(lim, 4, buf), -ENOSPC);
	delta_free(lim);
}
END_TEST

/* A limit that is not a multiple of the unit: whole units below it only. */
START_TEST(test_mem_limit_unaligned)
{
	struct delta *lim = delta_new(3 * DELTA_UNIT - 1);
	unsigned char buf[DELTA_UNIT];

	ck_assert_ptr_nonnull(lim);
	memset(buf, 1, sizeof buf);
	ck_assert_int_eq(delta_put(lim, 0, buf), 0);
	ck_assert_int_eq(delta_put(lim, 1, buf), 0);
	ck_assert_int_eq(delta_put(lim, 2, buf), -ENOSPC);
	ck_assert_uint_eq(delta_units(lim), 2);
	delta_free(lim);
}
END_TEST

/* A memory unit replaced by a file mapping gives its memory back to
 * nobody (delta.c says so); putting it again must still fail cleanly at
 * the limit rather than corrupt anything. */
START_TEST(test_mem_limit_after_remap)
{
	struct delta *lim = delta_new(2 * DELTA_UNIT);
	unsigned char buf[DELTA_UNIT];
	struct delta_src src;
	int fd = dup(tmp_fd), id;

	ck_assert_ptr_nonnull(lim);
	ck_assert_int_ge(fd, 0);
	id = delta_add_file(lim, fd);
	memset(buf, 2, sizeof buf);
	ck_assert_int_eq(delta_put(lim, 0, buf), 0);
	ck_assert_int_eq(delta_put(lim, 1, buf), 0);
	ck_assert_int_eq(delta_map(lim, 1, 1, id, 0), 0);
	ck_assert_int_eq(delta_put(lim, 1, buf), -ENOSPC);
	/* Still the mapping, untouched by the failed put. */
	ck_assert_int_eq(delta_lookup(lim, 1, &src), 1);
	ck_assert_ptr_null(src.mem);
	ck_assert_int_eq(src.fd, fd);
	ck_assert_uint_eq(src.pos, 0);
	delta_free(lim);
}
END_TEST

/* ---- foreach ----------------------------------------------------------------- */

struct walk {
	uint64_t units[64];
	int mem[64];
	int n;
	int stop_after;		/* return 42 after this many calls, 0 = never */
};

static int record(uint64_t unit, const struct delta_src *src, void *arg)
{
	struct walk *w = arg;

	ck_assert_int_lt(w->n, 64);
	w->units[w->n] = unit;
	w->mem[w->n] = src->mem != NULL;
	w->n++;
	return w->stop_after && w->n == w->stop_after ? 42 : 0;
}

START_TEST(test_foreach_order)
{
	static const uint64_t put_order[] = { 900, 3, 1ULL << 40, 77, 0, 5000, 12 };
	static const uint64_t sorted[] = { 0, 3, 12, 20, 21, 22, 77, 900, 5000, 1ULL << 40 };
	unsigned char buf[DELTA_UNIT];
	struct walk w = { .n = 0 };
	int id = add_pattern_file();

	ck_assert_int_eq(delta_foreach(d, record, &w), 0);
	ck_assert_int_eq(w.n, 0);
	for (size_t i = 0; i < HB_ARRAY_SIZE(put_order); i++) {
		fill(buf, put_order[i], 1);
		ck_assert_int_eq(delta_put(d, put_order[i], buf), 0);
	}
	ck_assert_int_eq(delta_map(d, 20, 3, id, 0), 0);
	ck_assert_int_eq(delta_foreach(d, record, &w), 0);
	ck_assert_int_eq(w.n, (int)HB_ARRAY_SIZE(sorted));
	for (int i = 0; i < w.n; i++) {
		ck_assert_uint_eq(w.units[i], sorted[i]);
		ck_assert_int_eq(w.mem[i], !(sorted[i] >= 20 && sorted[i] <= 22));
	}
}
END_TEST

START_TEST(test_foreach_stop)
{
	unsigned char buf[DELTA_UNIT];
	struct walk w = { .n = 0, .stop_after = 3 };

	for (uint64_t u = 10; u > 0; u--) {
		fill(buf, u, 1);
		ck_assert_int_eq(delta_put(d, u, buf), 0);
	}
	ck_assert_int_eq(delta_foreach(d, record, &w), 42);
	ck_assert_int_eq(w.n, 3);
	ck_assert_uint_eq(w.units[0], 1);
	ck_assert_uint_eq(w.units[1], 2);
	ck_assert_uint_eq(w.units[2], 3);
}
END_TEST

/* The source handed to fn is the same as a lookup's. */
static int check_src(uint64_t unit, const struct delta_src *src, void *arg)
{
	struct delta_src want;

	(void)arg;
	ck_assert_int_eq(delta_lookup(d, unit, &want), 1);
	ck_assert_ptr_eq(src->mem, want.mem);
	if (!src->mem) {
		ck_assert_int_eq(src->fd, want.fd);
		ck_assert_uint_eq(src->pos, want.pos);
	}
	return 0;
}

START_TEST(test_foreach_sources)
{
	unsigned char buf[DELTA_UNIT];
	int id = add_pattern_file();

	for (uint64_t u = 0; u < 3000; u += 2) {
		fill(buf, u, 1);
		ck_assert_int_eq(delta_put(d, u, buf), 0);
	}
	ck_assert_int_eq(delta_map(d, 1, 1500, id, 0), 0);	/* every odd one, some evens */
	ck_assert_int_eq(delta_foreach(d, check_src, NULL), 0);
}
END_TEST

/* The iterator against lookups: extents only, then extents with table
 * units before, inside, at both ends of and after them. */
static void assert_walk_is_lookup(uint64_t lo, uint64_t hi)
{
	struct delta_iter *it;
	struct delta_src src, want;
	uint64_t unit, prev = 0, n = 0, present = 0;

	ck_assert_int_eq(delta_iter_new(d, &it), 0);
	while (delta_iter_next(it, &unit, &src)) {
		ck_assert_msg(n == 0 || unit > prev, "unit %llu after %llu",
			      (unsigned long long)unit, (unsigned long long)prev);
		ck_assert_int_eq(delta_lookup(d, unit, &want), 1);
		ck_assert_ptr_eq(src.mem, want.mem);
		if (!src.mem) {
			ck_assert_int_eq(src.fd, want.fd);
			ck_assert_uint_eq(src.pos, want.pos);
		}
		prev = unit;
		n++;
	}
	ck_assert_int_eq(delta_iter_next(it, &unit, &src), 0);	/* stays at the end */
	delta_iter_free(it);
	for (uint64_t u = lo; u < hi; u++)
		present += (uint64_t)delta_lookup(d, u, &want);
	ck_assert_uint_eq(n, present);
	ck_assert_uint_eq(n, delta_units(d));
}

START_TEST(test_iter_extents_and_slots)
{
	unsigned char buf[DELTA_UNIT];
	struct delta_iter *it;
	struct delta_src src;
	uint64_t unit;
	int id = add_pattern_file();

	ck_assert_int_eq(delta_iter_new(d, &it), 0);
	ck_assert_int_eq(delta_iter_next(it, &unit, &src), 0);	/* empty */
	delta_iter_free(it);

	ck_assert_int_eq(delta_map(d, 100, 16, id, 0), 0);
	ck_assert_int_eq(delta_map(d, 200, 10, id, 16 * DELTA_UNIT), 0);
	ck_assert_int_eq(delta_map(d, 116, 8, id, 26 * DELTA_UNIT), 0);	/* touches the first */
	assert_walk_is_lookup(0, 400);

	static const uint64_t put[] = { 5, 100, 107, 115, 116, 150, 199, 200, 209, 210, 390 };
	for (size_t i = 0; i < HB_ARRAY_SIZE(put); i++) {
		fill(buf, put[i], 2);
		ck_assert_int_eq(delta_put(d, put[i], buf), 0);
	}
	assert_walk_is_lookup(0, 400);
	/* a table unit remapped by an extent over it keeps answering first */
	ck_assert_int_eq(delta_map(d, 300, 12, id, 34 * DELTA_UNIT), 0);
	fill(buf, 305, 3);
	ck_assert_int_eq(delta_put(d, 305, buf), 0);
	assert_walk_is_lookup(0, 400);
}
END_TEST

START_TEST(test_iter_many)
{
	unsigned char buf[DELTA_UNIT];
	int id = add_pattern_file();

	for (uint64_t u = 0; u < 3000; u += 3) {
		fill(buf, u, 1);
		ck_assert_int_eq(delta_put(d, u, buf), 0);
	}
	for (uint64_t u = 4000; u < 8000; u += 50)
		ck_assert_int_eq(delta_map(d, u, 20, id, 0), 0);
	ck_assert_int_eq(delta_map(d, 1000, 900, id, 0), 0);
	assert_walk_is_lookup(0, 9000);
}
END_TEST

/* The unit's bytes as a lookup gives them: mem_len bytes, then zeros. */
static void unit_bytes(const struct delta *dd, uint64_t unit, unsigned char out[DELTA_UNIT])
{
	struct delta_src src;

	ck_assert_int_eq(delta_lookup(dd, unit, &src), 1);
	ck_assert_ptr_nonnull(src.mem);
	ck_assert_uint_ge(src.mem_len, 1);
	ck_assert_uint_le(src.mem_len, DELTA_UNIT);
	memcpy(out, src.mem, src.mem_len);
	memset(out + src.mem_len, 0, DELTA_UNIT - src.mem_len);
}

/* Units ending in zeros are stored short, read back whole, grow, shrink
 * and free their room for the next short unit; without
 * delta_allow_short() every unit is whole. */
START_TEST(test_short_units)
{
	static const unsigned lens[] = { 0, 1, 15, 16, 17, 200, 511, 512, 513, 1000, DELTA_UNIT };
	struct delta *s = delta_new(0);
	unsigned char buf[DELTA_UNIT], got[DELTA_UNIT];
	struct delta_src src;
	uint64_t mem;

	ck_assert_ptr_nonnull(s);
	delta_allow_short(s);
	for (size_t i = 0; i < HB_ARRAY_SIZE(lens); i++) {
		fill(buf, i, 1);
		memset(buf + lens[i], 0, DELTA_UNIT - lens[i]);
		ck_assert_int_eq(delta_put(s, i, buf), 0);
	}
	for (size_t i = 0; i < HB_ARRAY_SIZE(lens); i++) {
		fill(buf, i, 1);
		memset(buf + lens[i], 0, DELTA_UNIT - lens[i]);
		unit_bytes(s, i, got);
		ck_assert_int_eq(memcmp(got, buf, DELTA_UNIT), 0);
		ck_assert_int_eq(delta_lookup(s, i, &src), 1);
		if (lens[i] <= 512)
			ck_assert_uint_le(src.mem_len, 512);
		else
			ck_assert_uint_eq(src.mem_len, DELTA_UNIT);
	}
	mem = delta_mem_bytes(s);
	ck_assert_uint_lt(mem, 5 * DELTA_UNIT);

	/* unit 1 (1 byte) grows past the short limit, then shrinks: it stays
	 * whole; unit 5 (200) shrinks in place, then grows within its room */
	fill(buf, 1, 2);
	ck_assert_int_eq(delta_put(s, 1, buf), 0);
	unit_bytes(s, 1, got);
	ck_assert_int_eq(memcmp(got, buf, DELTA_UNIT), 0);
	memset(buf + 3, 0, DELTA_UNIT - 3);
	ck_assert_int_eq(delta_put(s, 1, buf), 0);
	unit_bytes(s, 1, got);
	ck_assert_int_eq(memcmp(got, buf, DELTA_UNIT), 0);
	ck_assert_int_eq(delta_lookup(s, 1, &src), 1);
	ck_assert_uint_eq(src.mem_len, DELTA_UNIT);

	fill(buf, 5, 3);
	memset(buf + 20, 0, DELTA_UNIT - 20);
	ck_assert_int_eq(delta_put(s, 5, buf), 0);
	unit_bytes(s, 5, got);
	ck_assert_int_eq(memcmp(got, buf, DELTA_UNIT), 0);
	fill(buf, 5, 4);
	memset(buf + 100, 0, DELTA_UNIT - 100);
	ck_assert_int_eq(delta_put(s, 5, buf), 0);
	unit_bytes(s, 5, got);
	ck_assert_int_eq(memcmp(got, buf, DELTA_UNIT), 0);

	/* unit 2 (15 bytes: one grain) moves to a longer short unit; its
	 * grain is reused by the next one-grain unit */
	mem = delta_mem_bytes(s);
	fill(buf, 2, 5);
	memset(buf + 300, 0, DELTA_UNIT - 300);
	ck_assert_int_eq(delta_put(s, 2, buf), 0);
	unit_bytes(s, 2, got);
	ck_assert_int_eq(memcmp(got, buf, DELTA_UNIT), 0);
	ck_assert_uint_eq(delta_mem_bytes(s), mem - 16 + 304);
	fill(buf, 50, 1);
	memset(buf + 10, 0, DELTA_UNIT - 10);
	ck_assert_int_eq(delta_put(s, 50, buf), 0);
	ck_assert_uint_eq(delta_mem_bytes(s), mem + 304);
	unit_bytes(s, 50, got);
	ck_assert_int_eq(memcmp(got, buf, DELTA_UNIT), 0);
	for (size_t i = 0; i < HB_ARRAY_SIZE(lens); i++) {
		if (i == 1 || i == 2 || i == 5)
			continue;
		fill(buf, i, 1);
		memset(buf + lens[i], 0, DELTA_UNIT - lens[i]);
		unit_bytes(s, i, got);
		ck_assert_int_eq(memcmp(got, buf, DELTA_UNIT), 0);
	}

	/* many short units over several arena chunks, walked in order */
	for (uint64_t u = 1000; u < 12000; u++) {
		memset(buf, 0, sizeof buf);
		memcpy(buf, &u, sizeof u);
		buf[u % 500] = 0xff;
		ck_assert_int_eq(delta_put(s, u, buf), 0);
	}
	for (uint64_t u = 1000; u < 12000; u++) {
		memset(buf, 0, sizeof buf);
		memcpy(buf, &u, sizeof u);
		buf[u % 500] = 0xff;
		unit_bytes(s, u, got);
		ck_assert_int_eq(memcmp(got, buf, DELTA_UNIT), 0);
	}
	delta_free(s);

	/* the fixture's delta keeps every unit whole */
	memset(buf, 0, sizeof buf);
	buf[0] = 1;
	ck_assert_int_eq(delta_put(d, 7, buf), 0);
	ck_assert_int_eq(delta_lookup(d, 7, &src), 1);
	ck_assert_uint_eq(src.mem_len, DELTA_UNIT);
	ck_assert_uint_eq(delta_mem_bytes(d), DELTA_UNIT);
}
END_TEST

static Suite *delta_suite(void)
{
	Suite *s = suite_create("delta");
	TCase *mem = tcase_create("memory");
	TCase *file = tcase_create("file");
	TCase *remap = tcase_create("remap");
	TCase *grow = tcase_create("growth");
	TCase *limit = tcase_create("mem_limit");
	TCase *each = tcase_create("foreach");

	tcase_add_checked_fixture(mem, setup, teardown);
	tcase_add_test(mem, test_empty);
	tcase_add_test(mem, test_put_lookup);
	tcase_add_test(mem, test_overwrite_in_place);
	tcase_add_test(mem, test_short_units);
	suite_add_tcase(s, mem);

	tcase_add_checked_fixture(file, setup, teardown);
	tcase_add_test(file, test_map_file);
	tcase_add_test(file, test_map_bad_file_id);
	tcase_add_test(file, test_several_files);
	tcase_add_test(file, test_free_closes_files);
	suite_add_tcase(s, file);

	tcase_add_checked_fixture(remap, setup, teardown);
	tcase_add_test(remap, test_remap_memory_to_file);
	tcase_add_test(remap, test_remap_file_to_memory);
	tcase_add_test(remap, test_remap_file_to_file);
	tcase_add_test(remap, test_extents);
	suite_add_tcase(s, remap);

	tcase_add_checked_fixture(grow, setup, teardown);
	tcase_set_timeout(grow, 30);
	tcase_add_test(grow, test_growth);
	tcase_add_test(grow, test_growth_one_big_map);
	tcase_add_test(grow, test_mem_pointers_stable);
	suite_add_tcase(s, grow);

	tcase_add_checked_fixture(limit, setup, teardown);
	tcase_add_test(limit, test_mem_limit);
	tcase_add_test(limit, test_mem_limit_unaligned);
	tcase_add_test(limit, test_mem_limit_after_remap);
	suite_add_tcase(s, limit);

	tcase_add_checked_fixture(each, setup, teardown);
	tcase_add_test(each, test_foreach_order);
	tcase_add_test(each, test_foreach_stop);
	tcase_add_test(each, test_foreach_sources);
	tcase_add_test(each, test_iter_extents_and_slots);
	tcase_add_test(each, test_iter_many);
	suite_add_tcase(s, each);
	return s;
}

int main(void)
{
	return cu_main("check_delta", delta_suite(), NULL);
}
