/* SPDX-License-Identifier: BSD-3-Clause */
/* partition.h -- find the ext2/3/4 file system inside a base image.
 *
 * A base is a bare file system, or a disk with an MBR or GPT partition
 * table (gem5 images: one ext4 partition at sector 2048).  libblkid reads
 * the table and identifies the file system; nothing else here knows about
 * partitions.  Leaf module: includes no other module of hackbackfs.
 */
#ifndef HB_PARTITION_H
#define HB_PARTITION_H

#include <stdint.h>

/* Which partition to use. */
#define PARTITION_AUTO 0	/* the single ext2/3/4 one, or the bare fs */
#define PARTITION_WHOLE (-1)	/* the whole file is the file system */

struct partition {
	uint64_t offset;	/* bytes from the start of the base file */
	uint64_t size;		/* bytes */
	int number;		/* 1-based partition number, 0 for the whole file */
	char table[8];		/* "dos", "gpt" or "" for a bare file system */
	char fstype[8];		/* "ext2", "ext3" or "ext4" */
	char uuid[40];		/* PARTUUID (GPT entry GUID, dos SSSSSSSS-PP), "" if none */
	uint64_t fs_size;	/* bytes the file system says it spans (<= size) */
	int64_t fs_wtime;	/* superblock's last write time (0: never set) */
	int64_t fs_mkfs_time;	/* superblock's creation time (0: not recorded) */
	unsigned inode_size;	/* bytes of an inode (128: 32-bit times only) */
};

/* Probe the open base file (fd, whose name is path, used in messages).
 * which is PARTITION_AUTO, PARTITION_WHOLE, or a partition number >= 1.
 * Returns 0 and fills *out, or reports one error with hb_error() and
 * returns a negative errno:
 *   -ENOENT  partition number does not exist ("BASE has no partition 3
 *            (it has 1, 2)")
 *   -EINVAL  not ext2/3/4 ("BASE partition 1 is xfs, not ext2/3/4";
 *            "BASE: no ext2/3/4 file system found"), or AUTO and several
 *            ext partitions ("... has 2 ext2/3/4 partitions (1, 2): choose
 *            one with -o partition=N"), or the chosen partition runs past
 *            the end of the file ("BASE partition 1 (bytes A..B) runs past
 *            the end of the file (N bytes)"), or the file system is larger
 *            than its partition or file ("BASE: the ext4 file system is N
 *            bytes but its partition holds only M"), or BASE is in a
 *            format gem5 cannot read as a raw disk (gzip, xz, zstd, bzip2,
 *            qcow, qcow2, VMDK, VDI, VHDX: "BASE is a gzip-compressed file,
 *            not a raw disk image: gunzip -k BASE"; detected by magic
 *            bytes, never by the file name)
 *   -EIO     read errors.
 * libblkid reads fd with lseek and read: its file position moves. */
int partition_probe(int fd, const char *path, int which, struct partition *out);

#endif
