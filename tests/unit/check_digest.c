/* SPDX-License-Identifier: BSD-3-Clause */
/* check_digest.c -- unit tests for src/digest.c.
 *
 * Known SHA-256 vectors (FIPS 180-2), the canonical encodings, hashing a
 * range of a file, and the base fingerprint: which bytes it sees, which it
 * does not (it samples), and that the full mode is a different hash.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkutil.h"
#include "digest.h"
#include "util.h"

static char tmpdir[64];

static void setup(void)
{
	hb_error_quiet(1);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/check_digest.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
	cu_run("rm -rf '%s'", tmpdir);
}

static void hash_buf(const void *buf, size_t len, char hex[DIGEST_HEX_LEN])
{
	struct digest *d;
	unsigned char out[DIGEST_LEN];

	ck_assert_int_eq(digest_new(&d), 0);
	ck_assert_int_eq(digest_update(d, buf, len), 0);
	ck_assert_int_eq(digest_final(d, out), 0);
	digest_hex(out, hex);
}

/* A file in tmpdir with len bytes of a pattern; returns an fd (O_RDWR). */
static int make_file(const char *name, uint64_t size, size_t datalen)
{
	char path[128];
	int fd, i;
	unsigned char buf[4096];

	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)size), 0);
	for (i = 0; i < (int)sizeof buf; i++)
		buf[i] = (unsigned char)(i * 7 + 1);
	while (datalen > 0) {
		size_t n = datalen < sizeof buf ? datalen : sizeof buf;

		ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
		datalen -= n;
	}
	return fd;
}

static void poke(int fd, uint64_t off, unsigned char v)
{
	ck_assert_int_eq(pwrite(fd, &v, 1, (off_t)off), 1);
}

static void fingerprint(int fd, uint64_t size, int full, unsigned char out[DIGEST_LEN])
{
	ck_assert_int_eq(digest_base_fingerprint(fd, size, full, out), 0);
}

START_TEST(test_vectors)
{
	char hex[DIGEST_HEX_LEN];
	const char *two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	hash_buf("abc", 3, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hash_buf("", 0, hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	hash_buf(two_blocks, strlen(two_blocks), hex);
	ck_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

START_TEST(test_million_a_in_pieces)
{
	struct digest *d;
	unsigned char out[DIGEST_LEN];
	char hex[DIGEST_HEX_LEN], a[1000];
	int i;

	memset(a, 'a', sizeof a);
	ck_assert_int_eq(digest_new(&d), 0);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(digest_update(d, a, sizeof a), 0);
	ck_assert_int_eq(digest_final(d, out), 0);
	digest_hex(out, hex);
	ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
END_TEST

/* One context reused: final_keep, then reset, gives each input's own hash. */
START_TEST(test_reset_reuses)
{
	struct digest *d;
	unsigned char out[DIGEST_LEN];
	char hex[DIGEST_HEX_LEN];

	ck_assert_int_eq(digest_new(&d), 0);
	ck_assert_int_eq(digest_update(d, "ab", 2), 0);
	ck_assert_int_eq(digest_update(d, "c", 1), 0);
	ck_assert_int_eq(digest_final_keep(d, out), 0);
	digest_hex(out, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	ck_assert_int_eq(digest_reset(d), 0);
	ck_assert_int_eq(digest_final_keep(d, out), 0);
	digest_hex(out, hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	ck_assert_int_eq(digest_reset(d), 0);
	ck_assert_int_eq(digest_update(d, "abc", 3), 0);
	ck_assert_int_eq(digest_final(d, out), 0);	/* and frees it */
	digest_hex(out, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(test_u64_is_little_endian)
{
	struct digest *d;
	unsigned char a[DIGEST_LEN], b[DIGEST_LEN];
	const unsigned char le[8] = { 8, 7, 6, 5, 4, 3, 2, 1 };

	ck_assert_int_eq(digest_new(&d), 0);
	ck_assert_int_eq(digest_u64(d, 0x0102030405060708ULL), 0);
	ck_assert_int_eq(digest_final(d, a), 0);
	ck_assert_int_eq(digest_new(&d), 0);
	ck_assert_int_eq(digest_update(d, le, sizeof le), 0);
	ck_assert_int_eq(digest_final(d, b), 0);
	ck_assert_mem_eq(a, b, DIGEST_LEN);
}
END_TEST

START_TEST(test_str_is_length_prefixed)
{
	struct digest *d;
	unsigned char a[DIGEST_LEN], b[DIGEST_LEN], c[DIGEST_LEN], n[DIGEST_LEN];
	const unsigned char raw[] = { 2, 0, 0, 0, 0, 0, 0, 0, 'a', 'b', 1, 0, 0, 0, 0, 0, 0, 0, 'c' };

	ck_assert_int_eq(digest_new(&d), 0);
	ck_assert_int_eq(digest_str(d, "ab"), 0);
	ck_assert_int_eq(digest_bytes(d, "c", 1), 0);
	ck_assert_int_eq(digest_final(d, a), 0);

	ck_assert_int_eq(digest_new(&d), 0);
	ck_assert_int_eq(digest_update(d, raw, sizeof raw), 0);
	ck_assert_int_eq(digest_final(d, b), 0);
	ck_assert_mem_eq(a, b, DIGEST_LEN);

	/* The boundary moved: a different hash. */
	ck_assert_int_eq(digest_new(&d), 0);
	ck_assert_int_eq(digest_str(d, "a"), 0);
	ck_assert_int_eq(digest_str(d, "bc"), 0);
	ck_assert_int_eq(digest_final(d, c), 0);
	ck_assert_mem_ne(a, c, DIGEST_LEN);

	/* NULL and "" differ. */
	ck_assert_int_eq(digest_new(&d), 0);
	ck_assert_int_eq(digest_str(d, NULL), 0);
	ck_assert_int_eq(digest_final(d, n), 0);
	ck_assert_int_eq(digest_new(&d), 0);
	ck_assert_int_eq(digest_str(d, ""), 0);
	ck_assert_int_eq(digest_final(d, c), 0);
	ck_assert_mem_ne(n, c, DIGEST_LEN);
}
END_TEST

START_TEST(test_hex)
{
	unsigned char d[DIGEST_LEN];
	char hex[DIGEST_HEX_LEN];
	int i;

	for (i = 0; i < DIGEST_LEN; i++)
		d[i] = (unsigned char)(i * 8 + 15);
	memset(hex, 'X', sizeof hex);
	digest_hex(d, hex);
	ck_assert_uint_eq(strlen(hex), 64);
	/* i * 8 + 15: 0x0f, 0x17, ... 0xff (i = 30), 0x07 (i = 31, wrapped) */
	ck_assert_str_eq(hex, "0f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff07");
}
END_TEST

START_TEST(test_fd_range)
{
	int fd = make_file("abc", 0, 0);
	unsigned char out[DIGEST_LEN];
	char hex[DIGEST_HEX_LEN];

	ck_assert_int_eq(write(fd, "xxabcyy", 7), 7);
	ck_assert_int_eq(lseek(fd, 1, SEEK_SET), 1);
	ck_assert_int_eq(digest_fd_range(fd, 2, 3, out), 0);
	digest_hex(out, hex);
	ck_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	/* pread: the file position is left alone. */
	ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), 1);
	/* Nothing at all is the empty hash. */
	ck_assert_int_eq(digest_fd_range(fd, 7, 0, out), 0);
	digest_hex(out, hex);
	ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* Past the end of the file is an error, not a shorter hash. */
	ck_assert_int_eq(digest_fd_range(fd, 2, 6, out), -EIO);
	close(fd);
}
END_TEST

START_TEST(test_fd_range_large)
{
	/* More than one read buffer: compare with hashing in memory. */
	size_t len = (3u << 20) + 12345;
	int fd = make_file("large", 0, len);
	unsigned char *buf = malloc(len), a[DIGEST_LEN], b[DIGEST_LEN];
	struct digest *d;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, len, 0), (ssize_t)len);
	ck_assert_int_eq(digest_fd_range(fd, 0, len, a), 0);
	ck_assert_int_eq(digest_new(&d), 0);
	ck_assert_int_eq(digest_update(d, buf, len), 0);
	ck_assert_int_eq(digest_final(d, b), 0);
	ck_assert_mem_eq(a, b, DIGEST_LEN);
	free(buf);
	close(fd);
}
END_TEST

#define MiB (1ULL << 20)
#define FP_SIZE (64 * MiB)

/* Offset of sample i, as documented: 256 evenly spaced 4 KiB samples. */
static uint64_t sample_off(int i)
{
	return (FP_SIZE - 4096) * (uint64_t)i / 255;
}

START_TEST(test_fingerprint_sensitivity)
{
	int fd = make_file("base", FP_SIZE, 8 * MiB);
	unsigned char ref[DIGEST_LEN], again[DIGEST_LEN], x[DIGEST_LEN], full[DIGEST_LEN];
	/* Between two samples, past the head, before the tail. */
	uint64_t unsampled = (sample_off(100) + 4096 + sample_off(101)) / 2;
	const uint64_t sampled[] = { 0, 512, 4 * MiB - 1, FP_SIZE - 1, FP_SIZE - MiB,
				     sample_off(100), sample_off(100) + 4095, sample_off(254) };
	size_t i;

	fingerprint(fd, FP_SIZE, 0, ref);
	fingerprint(fd, FP_SIZE, 0, again);
	ck_assert_mem_eq(ref, again, DIGEST_LEN);

	for (i = 0; i < HB_ARRAY_SIZE(sampled); i++) {
		unsigned char old;

		ck_assert_int_eq(pread(fd, &old, 1, (off_t)sampled[i]), 1);
		poke(fd, sampled[i], (unsigned char)(old ^ 0x5a));
		fingerprint(fd, FP_SIZE, 0, x);
		ck_assert_msg(memcmp(ref, x, DIGEST_LEN) != 0,
			      "byte %llu changed but the fingerprint did not",
			      (unsigned long long)sampled[i]);
		poke(fd, sampled[i], old);
		fingerprint(fd, FP_SIZE, 0, x);
		ck_assert_mem_eq(ref, x, DIGEST_LEN);
	}

	/* The full mode differs from the sampled one on the same bytes ... */
	fingerprint(fd, FP_SIZE, 1, full);
	ck_assert_mem_ne(ref, full, DIGEST_LEN);
	/* ... and sees a byte the samples miss. */
	poke(fd, unsampled, 0xff);
	fingerprint(fd, FP_SIZE, 0, x);
	ck_assert_mem_eq(ref, x, DIGEST_LEN);
	fingerprint(fd, FP_SIZE, 1, x);
	ck_assert_mem_ne(full, x, DIGEST_LEN);

	/* A different size is a different base, even if only zeros grew. */
	ck_assert_int_eq(ftruncate(fd, FP_SIZE + 4096), 0);
	fingerprint(fd, FP_SIZE + 4096, 0, x);
	ck_assert_mem_ne(ref, x, DIGEST_LEN);
	close(fd);
}
END_TEST

START_TEST(test_fingerprint_small_and_short)
{
	int fd = make_file("small", 0, 100);
	unsigned char a[DIGEST_LEN], b[DIGEST_LEN], e[DIGEST_LEN];

	fingerprint(fd, 100, 0, a);
	fingerprint(fd, 100, 1, b);
	ck_assert_mem_ne(a, b, DIGEST_LEN);
	poke(fd, 50, 0);
	fingerprint(fd, 100, 0, b);
	ck_assert_mem_ne(a, b, DIGEST_LEN);
	fingerprint(fd, 0, 0, e);
	ck_assert_mem_ne(a, e, DIGEST_LEN);
	/* A size larger than the file: the bytes are not there. */
	ck_assert_int_eq(digest_base_fingerprint(fd, 200, 0, a), -EIO);
	ck_assert_int_eq(digest_base_fingerprint(fd, 200, 1, a), -EIO);
	close(fd);
}
END_TEST

static Suite *digest_suite(void)
{
	Suite *s = suite_create("digest");
	TCase *tc = tcase_create("sha256");
	TCase *tf = tcase_create("files");

	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_million_a_in_pieces);
	tcase_add_test(tc, test_reset_reuses);
	tcase_add_test(tc, test_u64_is_little_endian);
	tcase_add_test(tc, test_str_is_length_prefixed);
	tcase_add_test(tc, test_hex);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tf, setup, teardown);
	tcase_set_timeout(tf, 60);
	tcase_add_test(tf, test_fd_range);
	tcase_add_test(tf, test_fd_range_large);
	tcase_add_test(tf, test_fingerprint_sensitivity);
	tcase_add_test(tf, test_fingerprint_small_and_short);
	suite_add_tcase(s, tf);
	return s;
}

int main(void)
{
	return cu_main("check_digest", digest_suite(), NULL);
}
