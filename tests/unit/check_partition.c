/* SPDX-License-Identifier: BSD-3-Clause */
/* check_partition.c -- unit tests for src/partition.c.
 *
 * Every image is made here, in a temporary directory: sfdisk writes the
 * MBR or GPT table into a sparse file, mke2fs -E offset=... puts an ext
 * file system inside a partition, and mkswap (on a scratch file, copied
 * in with dd) stands for "some other file system".  Without those tools
 * the whole program is skipped (exit 77).
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkutil.h"
#include "partition.h"
#include "util.h"

#define MiB (1024ULL * 1024)

static char tmpdir[64];
static char img[128];

static void setup(void)
{
	hb_error_quiet(1);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/check_partition.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(img, sizeof img, "%s/disk.img", tmpdir);
}

static void teardown(void)
{
	cu_run("rm -rf '%s'", tmpdir);
}

/* A sparse file of size MiB with the sfdisk script (empty: no table). */
static void make_disk(unsigned mib, const char *script)
{
	cu_run("truncate -s %uM '%s'", mib, img);
	if (script)
		cu_run("printf '%s' | sfdisk -q '%s' >/dev/null", script, img);
}

/* An ext file system of kib KiB at byte offset off. */
static void mkfs_at(const char *type, uint64_t off, unsigned kib)
{
	cu_run("mke2fs -q -F -t %s -E offset=%llu '%s' %uk >/dev/null 2>&1",
	    type, (unsigned long long)off, img, kib);
}

/* A swap signature (not ext) of kib KiB at byte offset off.  (No mkswap
 * -q: util-linux 2.36, Debian 11's, has none.) */
static void mkswap_at(uint64_t off, unsigned kib)
{
	cu_run("cd '%s' && truncate -s %uk swap && mkswap swap >/dev/null 2>&1 && "
	    "dd if=swap of='%s' bs=1024 seek=%llu conv=notrunc status=none && rm swap",
	    tmpdir, kib, img, (unsigned long long)(off / 1024));
}

static int probe(int which, struct partition *p)
{
	int fd = open(img, O_RDONLY);
	int r;

	ck_assert_int_ge(fd, 0);
	memset(p, 0x55, sizeof *p);
	hb_error("(no error)");
	r = partition_probe(fd, img, which, p);
	close(fd);
	return r;
}

/* The last error names the image and contains what. */
static void assert_error(const char *what)
{
	const char *msg = hb_last_error();

	ck_assert_msg(strstr(msg, img) != NULL, "error does not name the base: %s", msg);
	ck_assert_msg(strstr(msg, what) != NULL, "error lacks \"%s\": %s", what, msg);
}

START_TEST(test_bare_ext4)
{
	struct partition p;

	make_disk(8, NULL);
	mkfs_at("ext4", 0, 8192);
	ck_assert_int_eq(probe(PARTITION_AUTO, &p), 0);
	ck_assert_uint_eq(p.offset, 0);
	ck_assert_uint_eq(p.size, 8 * MiB);
	ck_assert_int_eq(p.number, 0);
	ck_assert_str_eq(p.table, "");
	ck_assert_str_eq(p.fstype, "ext4");

	ck_assert_int_eq(probe(PARTITION_WHOLE, &p), 0);
	ck_assert_uint_eq(p.offset, 0);
	ck_assert_uint_eq(p.size, 8 * MiB);
	ck_assert_str_eq(p.fstype, "ext4");

	/* A number asks for a table that is not there. */
	ck_assert_int_eq(probe(1, &p), -ENOENT);
	assert_error("no partition 1");
}
END_TEST

START_TEST(test_bare_ext2)
{
	struct partition p;

	make_disk(4, NULL);
	mkfs_at("ext2", 0, 4096);
	ck_assert_int_eq(probe(PARTITION_AUTO, &p), 0);
	ck_assert_str_eq(p.fstype, "ext2");
	ck_assert_str_eq(p.table, "");
}
END_TEST

START_TEST(test_mbr_gem5_layout)
{
	struct partition p;

	/* The Packer image: MBR, one ext4 partition at sector 2048. */
	make_disk(16, "label: dos\\nlabel-id: 0x5eed0a17\\nstart=2048, size=28672, type=83\\n");
	mkfs_at("ext4", MiB, 14 * 1024);
	ck_assert_int_eq(probe(PARTITION_AUTO, &p), 0);
	ck_assert_uint_eq(p.offset, MiB);
	ck_assert_uint_eq(p.size, 28672 * 512ULL);
	ck_assert_int_eq(p.number, 1);
	ck_assert_str_eq(p.table, "dos");
	ck_assert_str_eq(p.fstype, "ext4");
	/* root=PARTUUID= of an MBR disk: the disk signature and the number. */
	ck_assert_str_eq(p.uuid, "5eed0a17-01");

	ck_assert_int_eq(probe(1, &p), 0);
	ck_assert_uint_eq(p.offset, MiB);
	ck_assert_int_eq(p.number, 1);

	ck_assert_int_eq(probe(3, &p), -ENOENT);
	assert_error("has no partition 3 (it has 1)");

	/* The whole disk is not a file system. */
	ck_assert_int_eq(probe(PARTITION_WHOLE, &p), -EINVAL);
	assert_error("not ext2/3/4");
}
END_TEST

START_TEST(test_mbr_swap_then_ext)
{
	struct partition p;

	make_disk(16, "label: dos\\nstart=2048, size=8192, type=82\\n"
		      "start=10240, size=20480, type=83\\n");
	mkswap_at(2048 * 512, 4096);
	mkfs_at("ext3", 10240 * 512, 10240);

	ck_assert_int_eq(probe(PARTITION_AUTO, &p), 0);
	ck_assert_int_eq(p.number, 2);
	ck_assert_uint_eq(p.offset, 10240 * 512ULL);
	ck_assert_uint_eq(p.size, 20480 * 512ULL);
	ck_assert_str_eq(p.fstype, "ext3");

	ck_assert_int_eq(probe(2, &p), 0);
	ck_assert_int_eq(p.number, 2);

	ck_assert_int_eq(probe(1, &p), -EINVAL);
	assert_error("partition 1 is swap, not ext2/3/4");

	ck_assert_int_eq(probe(7, &p), -ENOENT);
	assert_error("has no partition 7 (it has 1, 2)");
}
END_TEST

START_TEST(test_mbr_two_ext)
{
	struct partition p;

	make_disk(16, "label: dos\\nstart=2048, size=8192\\nstart=10240, size=8192\\n");
	mkfs_at("ext4", 2048 * 512, 4096);
	mkfs_at("ext4", 10240 * 512, 4096);

	ck_assert_int_eq(probe(PARTITION_AUTO, &p), -EINVAL);
	assert_error("has 2 ext2/3/4 partitions (1, 2)");
	ck_assert_msg(strstr(hb_last_error(), "partition=N") != NULL, "%s", hb_last_error());

	ck_assert_int_eq(probe(2, &p), 0);
	ck_assert_int_eq(p.number, 2);
	ck_assert_uint_eq(p.offset, 10240 * 512ULL);
	ck_assert_int_eq(probe(1, &p), 0);
	ck_assert_int_eq(p.number, 1);
	ck_assert_uint_eq(p.offset, 2048 * 512ULL);
}
END_TEST

START_TEST(test_mbr_no_ext)
{
	struct partition p;

	/* One swap, one partition with nothing in it. */
	make_disk(16, "label: dos\\nstart=2048, size=8192, type=82\\nstart=10240, size=8192\\n");
	mkswap_at(2048 * 512, 4096);

	ck_assert_int_eq(probe(PARTITION_AUTO, &p), -EINVAL);
	assert_error("no ext2/3/4 file system found");
	ck_assert_msg(strstr(hb_last_error(), "1: swap") != NULL, "%s", hb_last_error());

	ck_assert_int_eq(probe(2, &p), -EINVAL);
	assert_error("partition 2 is unrecognized");
}
END_TEST

START_TEST(test_mbr_logical)
{
	struct partition p;

	/* An extended partition holding logical partition 5. */
	make_disk(16, "label: dos\\nstart=2048, size=26624, type=5\\n"
		      "start=4096, size=20480, type=83\\n");
	mkfs_at("ext4", 4096 * 512, 10240);

	ck_assert_int_eq(probe(PARTITION_AUTO, &p), 0);
	ck_assert_int_eq(p.number, 5);
	ck_assert_uint_eq(p.offset, 4096 * 512ULL);

	ck_assert_int_eq(probe(1, &p), -EINVAL);
	assert_error("partition 1 is an extended partition");
}
END_TEST

START_TEST(test_gpt)
{
	struct partition p;

	/* Partition 1 empty, partition 2 ext4. */
	make_disk(16, "label: gpt\\nstart=2048, size=4096\\nstart=8192, size=16384, "
		      "uuid=0D1C4B7E-2A9F-4C3B-8E6D-5F4A3B2C1D0E\\n");
	mkfs_at("ext4", 8192 * 512, 8192);

	ck_assert_int_eq(probe(PARTITION_AUTO, &p), 0);
	ck_assert_str_eq(p.table, "gpt");
	/* root=PARTUUID= of a GPT disk: the entry's GUID (lower case). */
	ck_assert_str_eq(p.uuid, "0d1c4b7e-2a9f-4c3b-8e6d-5f4a3b2c1d0e");
	ck_assert_int_eq(p.number, 2);
	ck_assert_uint_eq(p.offset, 8192 * 512ULL);
	ck_assert_uint_eq(p.size, 16384 * 512ULL);
	ck_assert_str_eq(p.fstype, "ext4");

	ck_assert_int_eq(probe(1, &p), -EINVAL);
	assert_error("partition 1 is unrecognized");
	ck_assert_int_eq(probe(4, &p), -ENOENT);
	assert_error("has no partition 4 (it has 1, 2)");
}
END_TEST

/* gem5-resources' arm64 images: a FAT EFI system partition 1, ext4 partition
 * 2.  The FAT one is a file system, but not ext: auto picks partition 2. */
START_TEST(test_gpt_efi)
{
	struct partition p;

	if (system("PATH=$PATH:/usr/sbin:/sbin command -v mkfs.fat >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_gpt_efi: mkfs.fat not found (dosfstools), left out\n");
		return;
	}
	make_disk(64, "label: gpt\nstart=2048, size=65536, type=U\nstart=67584, size=32768, type=L\n");
	cu_run("PATH=$PATH:/usr/sbin:/sbin mkfs.fat -F 32 --offset 2048 '%s' 32768 >/dev/null 2>&1", img);
	mkfs_at("ext4", 67584 * 512, 16384);

	ck_assert_int_eq(probe(PARTITION_AUTO, &p), 0);
	ck_assert_str_eq(p.table, "gpt");
	ck_assert_int_eq(p.number, 2);
	ck_assert_uint_eq(p.offset, 67584 * 512ULL);
	ck_assert_str_eq(p.fstype, "ext4");

	ck_assert_int_eq(probe(1, &p), -EINVAL);
	assert_error("partition 1 is vfat, not ext2/3/4");
}
END_TEST

START_TEST(test_bare_not_ext)
{
	struct partition p;

	make_disk(4, NULL);
	mkswap_at(0, 4096);
	ck_assert_int_eq(probe(PARTITION_AUTO, &p), -EINVAL);
	assert_error("is swap, not ext2/3/4");
	ck_assert_int_eq(probe(PARTITION_WHOLE, &p), -EINVAL);
	assert_error("swap");
}
END_TEST

START_TEST(test_zeros)
{
	struct partition p;

	make_disk(4, NULL);
	ck_assert_int_eq(probe(PARTITION_AUTO, &p), -EINVAL);
	assert_error("no ext2/3/4 file system found");
}
END_TEST

START_TEST(test_empty_file)
{
	struct partition p;

	cu_run("truncate -s 0 '%s'", img);
	ck_assert_int_eq(probe(PARTITION_AUTO, &p), -EINVAL);
	assert_error("empty");
}
END_TEST

START_TEST(test_truncated)
{
	struct partition p;

	/* The table says 8 MiB from 1 MiB; the file stops at 6 MiB. */
	make_disk(16, "label: dos\\nstart=2048, size=16384, type=83\\n");
	mkfs_at("ext4", MiB, 4096);
	cu_run("truncate -s 6M '%s'", img);

	ck_assert_int_eq(probe(PARTITION_AUTO, &p), -EINVAL);
	assert_error("runs past the end of the file");
	ck_assert_int_eq(probe(1, &p), -EINVAL);
	assert_error("partition 1");
	assert_error("runs past the end");

	/* Cut before the partition even starts. */
	cu_run("truncate -s 512K '%s'", img);
	ck_assert_int_eq(probe(1, &p), -EINVAL);
	assert_error("runs past the end");
}
END_TEST

/* The file system itself is larger than what holds it. */
START_TEST(test_fs_larger_than_container)
{
	struct partition p;

	/* Bare: an 8 MiB ext4 cut to 5 MiB. */
	make_disk(8, NULL);
	mkfs_at("ext4", 0, 8192);
	ck_assert_int_eq(probe(PARTITION_AUTO, &p), 0);
	ck_assert_uint_eq(p.fs_size, 8 * MiB);
	ck_assert_int_gt(p.fs_wtime, 0);
	cu_run("truncate -s 5M '%s'", img);
	ck_assert_int_eq(probe(PARTITION_AUTO, &p), -EINVAL);
	assert_error("8388608 bytes");
	assert_error("holds only 5242880");

	/* MBR: a 6 MiB ext4 in a 4 MiB partition. */
	make_disk(16, "label: dos\\nstart=2048, size=8192, type=83\\n");
	mkfs_at("ext4", MiB, 6144);
	ck_assert_int_eq(probe(1, &p), -EINVAL);
	assert_error("partition 1 is 6291456 bytes");
	assert_error("holds only 4194304");
}
END_TEST

/* Formats mistaken for raw disks, told by their magic bytes. */
START_TEST(test_foreign_formats)
{
	static const struct {
		const char *bytes;	/* printf format */
		unsigned off;
		const char *name, *fix;
	} cases[] = {
		{ "\\037\\213\\010", 0, "gzip", "gunzip -k" },
		{ "\\375""7zXZ", 0, "xz", "unxz -k" },
		{ "\\050\\265\\057\\375", 0, "zstd", "unzstd" },
		{ "BZh9", 0, "bzip2", "bunzip2 -k" },
		{ "QFI\\373", 0, "qcow", "qemu-img convert -O raw" },
		{ "KDMV", 0, "VMDK", "qemu-img convert -O raw" },
		{ "\\177\\020\\332\\276", 64, "VDI", "qemu-img convert -O raw" },
		{ "vhdxfile", 0, "VHDX", "qemu-img convert -O raw" },
	};
	struct partition p;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		/* An ext4 behind the magic would otherwise be found. */
		make_disk(8, NULL);
		mkfs_at("ext4", 0, 8192);
		cu_run("printf '%s' | dd of='%s' bs=1 seek=%u conv=notrunc status=none",
		    cases[i].bytes, img, cases[i].off);
		ck_assert_int_eq(probe(PARTITION_AUTO, &p), -EINVAL);
		assert_error(cases[i].name);
		assert_error(cases[i].fix);
		assert_error("not a raw disk image");
	}
}
END_TEST

START_TEST(test_base_not_modified)
{
	struct partition p;
	char cmd[512];

	make_disk(16, "label: dos\\nstart=2048, size=28672, type=83\\n");
	mkfs_at("ext4", MiB, 14 * 1024);
	cu_run("sha256sum '%s' > '%s/sum'", img, tmpdir);
	ck_assert_int_eq(probe(PARTITION_AUTO, &p), 0);
	snprintf(cmd, sizeof cmd, "cd / && sha256sum -c --status '%s/sum'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

static Suite *partition_suite(void)
{
	Suite *s = suite_create("partition");
	TCase *bare = tcase_create("bare");
	TCase *dos = tcase_create("dos");
	TCase *gpt = tcase_create("gpt");

	tcase_add_checked_fixture(bare, setup, teardown);
	tcase_add_test(bare, test_bare_ext4);
	tcase_add_test(bare, test_bare_ext2);
	tcase_add_test(bare, test_bare_not_ext);
	tcase_add_test(bare, test_zeros);
	tcase_add_test(bare, test_empty_file);
	tcase_add_test(bare, test_foreign_formats);
	suite_add_tcase(s, bare);

	tcase_add_checked_fixture(dos, setup, teardown);
	tcase_set_timeout(dos, 30);
	tcase_add_test(dos, test_mbr_gem5_layout);
	tcase_add_test(dos, test_mbr_swap_then_ext);
	tcase_add_test(dos, test_mbr_two_ext);
	tcase_add_test(dos, test_mbr_no_ext);
	tcase_add_test(dos, test_mbr_logical);
	tcase_add_test(dos, test_truncated);
	tcase_add_test(dos, test_fs_larger_than_container);
	tcase_add_test(dos, test_base_not_modified);
	suite_add_tcase(s, dos);

	tcase_add_checked_fixture(gpt, setup, teardown);
	tcase_add_test(gpt, test_gpt);
	tcase_add_test(gpt, test_gpt_efi);
	suite_add_tcase(s, gpt);
	return s;
}

int main(void)
{
	return cu_main("check_partition", partition_suite(), "sfdisk mke2fs mkswap truncate dd");
}
