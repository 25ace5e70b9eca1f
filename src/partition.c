/* SPDX-License-Identifier: BSD-3-Clause */
/* partition.c -- find the ext2/3/4 file system inside a base image.
 *
 * Two kinds of libblkid probe, both on the caller's open fd (libblkid
 * only reads through it):
 *
 *   1. a partitions probe over the whole file: is there an MBR ("dos") or
 *      GPT table, and which partitions does it list;
 *   2. a superblocks probe restricted to one byte range (a partition, or
 *      the whole file): what TYPE of file system starts there.
 *
 * A dos or gpt table with at least one partition makes the base a disk;
 * otherwise the whole file must be the file system.  With PARTITION_AUTO
 * the single ext2/3/4 partition is chosen; with a number that one is
 * checked; PARTITION_WHOLE skips the table.  Whatever is chosen must end
 * inside the file: a truncated image would otherwise read as zeros past
 * its end (or as short reads, which gem5 turns into a panic).
 *
 * Sub-ranges are clipped to the file when probing, so that a truncated
 * partition still gets a type in messages; the end check then refuses it.
 * The file system itself must fit too: its superblock's block count is
 * compared with the range it lives in, since a bare file system cut short
 * by an interrupted copy has no partition table to betray it.
 *
 * Before any of this, the first bytes are matched against the magic
 * numbers of the formats users most often mistake for a raw disk (the
 * compressed images gem5-resources publishes, QEMU's and VirtualBox's
 * disk formats): each gets a message that names the format and the
 * command that turns it into a raw image, instead of "no file system".
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <blkid.h>

#include "partition.h"
#include "util.h"

#define SECTOR 512

/* What probe_fstype() found in a byte range. */
enum found { FOUND_NOTHING, FOUND_TYPE, FOUND_AMBIGUOUS };

/* One usable partition from the table. */
struct part {
	int number;
	uint64_t offset, size;	/* bytes */
	int extended;		/* dos extended container: holds no fs */
	char uuid[40];		/* PARTUUID: GPT entry GUID, dos SSSSSSSS-PP */
	enum found found;
	char type[32];		/* TYPE from libblkid when found == FOUND_TYPE */
};

static int is_ext(const char *type)
{
	return strcmp(type, "ext2") == 0 || strcmp(type, "ext3") == 0 ||
	       strcmp(type, "ext4") == 0;
}

/* Copy src into dst[size], cut short if need be (snprintf would warn). */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

static void blkid_free_probe_ptr(blkid_probe *pr)
{
	if (*pr)
		blkid_free_probe(*pr);
}
#define CLEANUP_PROBE __attribute__((cleanup(blkid_free_probe_ptr)))

/* Identify the file system in [off, off + len) of fd.  Returns 0 and sets
 * *found (and type when FOUND_TYPE), or -EIO after reporting. */
static int probe_fstype(int fd, const char *path, const char *what,
			uint64_t off, uint64_t len, enum found *found, char type[32])
{
	CLEANUP_PROBE blkid_probe pr = blkid_new_probe();
	const char *val;
	size_t vlen;
	int r;

	*found = FOUND_NOTHING;
	type[0] = '\0';
	if (len == 0)
		return 0;
	if (pr == NULL) {
		hb_error("%s: cannot create a libblkid probe", path);
		return -ENOMEM;
	}
	if (blkid_probe_set_device(pr, fd, (blkid_loff_t)off, (blkid_loff_t)len) != 0 ||
	    blkid_probe_enable_partitions(pr, 0) != 0 ||
	    blkid_probe_enable_superblocks(pr, 1) != 0 ||
	    blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE) != 0) {
		hb_error("%s%s: cannot set up the file system probe", path, what);
		return -EIO;
	}
	r = blkid_do_safeprobe(pr);
	if (r == -2) {
		*found = FOUND_AMBIGUOUS;
		return 0;
	}
	if (r < 0) {
		hb_error("%s%s: read error while probing for a file system", path, what);
		return -EIO;
	}
	if (r == 1)
		return 0;
	if (blkid_probe_lookup_value(pr, "TYPE", &val, &vlen) == 0 && val[0] != '\0') {
		*found = FOUND_TYPE;
		copy_str(type, 32, val);
	}
	return 0;
}

/* "xfs", "an extended partition", "no file system signature found", ...
 * for messages about a range that is not ext2/3/4. */
static const char *describe(const struct part *p)
{
	if (p->extended)
		return "an extended partition";
	switch (p->found) {
	case FOUND_TYPE:
		return p->type;
	case FOUND_AMBIGUOUS:
		return "ambiguous (several file system signatures)";
	case FOUND_NOTHING:
		break;
	}
	return "unrecognized (no file system signature)";
}

/* Read the partition table.  Returns the number of partitions in *parts
 * (possibly 0 with table[0] == '\0' when there is no dos/gpt table), or a
 * negative errno after reporting.  Unsupported table types are refused. */
static int read_table(int fd, const char *path, uint64_t fsize,
		      struct part **parts, int *nparts, char table[8])
{
	CLEANUP_PROBE blkid_probe pr = blkid_new_probe();
	blkid_partlist ls;
	blkid_parttable tab;
	const char *ttype;
	int i, n;

	*parts = NULL;
	*nparts = 0;
	table[0] = '\0';
	if (pr == NULL) {
		hb_error("%s: cannot create a libblkid probe", path);
		return -ENOMEM;
	}
	if (blkid_probe_set_device(pr, fd, 0, (blkid_loff_t)fsize) != 0 ||
	    blkid_probe_enable_superblocks(pr, 0) != 0 ||
	    blkid_probe_enable_partitions(pr, 1) != 0) {
		hb_error("%s: cannot set up the partition table probe", path);
		return -EIO;
	}
	errno = 0;
	ls = blkid_probe_get_partitions(pr);
	if (ls == NULL) {
		/* NULL is both "no table" and an error; only a read error
		 * (EIO) is worth stopping for, anything else means no table. */
		if (errno == EIO) {
			hb_error("%s: read error while probing for a partition table: %s",
				 path, strerror(errno));
			return -EIO;
		}
		return 0;
	}
	tab = blkid_partlist_get_table(ls);
	n = blkid_partlist_numof_partitions(ls);
	if (tab == NULL || n <= 0)
		return 0;
	ttype = blkid_parttable_get_type(tab);
	if (ttype == NULL)
		return 0;
	if (strcmp(ttype, "dos") != 0 && strcmp(ttype, "gpt") != 0) {
		hb_error("%s has a %s partition table: only dos (MBR) and gpt are supported",
			 path, ttype);
		return -EINVAL;
	}
	copy_str(table, 8, ttype);

	*parts = calloc((size_t)n, sizeof **parts);
	if (*parts == NULL) {
		hb_error("%s: out of memory", path);
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		blkid_partition par = blkid_partlist_get_partition(ls, i);
		struct part *p = &(*parts)[*nparts];
		blkid_loff_t start, size;
		const char *uuid;

		if (par == NULL)
			continue;
		start = blkid_partition_get_start(par);
		size = blkid_partition_get_size(par);
		if (start < 0 || size <= 0)
			continue;
		p->number = blkid_partition_get_partno(par);
		p->offset = (uint64_t)start * SECTOR;
		p->size = (uint64_t)size * SECTOR;
		p->extended = blkid_partition_is_extended(par);
		/* PARTUUID; libblkid makes the dos one from the disk signature */
		uuid = blkid_partition_get_uuid(par);
		copy_str(p->uuid, sizeof p->uuid, uuid ? uuid : "");
		(*nparts)++;
	}
	return 0;
}

/* Probe the file system type of every non-extended partition. */
static int probe_parts(int fd, const char *path, uint64_t fsize, struct part *parts, int n)
{
	char what[32];
	int i, r;

	for (i = 0; i < n; i++) {
		struct part *p = &parts[i];
		uint64_t len;

		if (p->extended || p->offset >= fsize)
			continue;
		len = HB_MIN(p->size, fsize - p->offset);
		snprintf(what, sizeof what, " partition %d", p->number);
		r = probe_fstype(fd, path, what, p->offset, len, &p->found, p->type);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Append ", N" (or "N" first) to a list in buf. */
static void list_add(char *buf, size_t size, int number)
{
	size_t len = strlen(buf);

	snprintf(buf + len, size - len, "%s%d", len ? ", " : "", number);
}

/* Little-endian fields of the ext2/3/4 superblock (1024 bytes at 1024). */
#define EXT_SB_OFFSET 1024
#define EXT_SB_SIZE 1024
/* Read the file system's own idea of its size and times into out; refuse
 * a file system that is larger than the range it lives in. */
static int check_fs_size(int fd, const char *path, const struct part *p, struct partition *out)
{
	unsigned char sb[EXT_SB_SIZE];
	uint64_t blocks, log_bs;
	ssize_t got;

	got = hb_pread_full(fd, sb, sizeof sb, p->offset + EXT_SB_OFFSET);
	if (got != (ssize_t)sizeof sb || hb_get_le(sb + 0x38, 2) != 0xEF53) {
		hb_error("%s: cannot read the %s superblock", path, p->type);
		return -EIO;
	}
	log_bs = hb_get_le(sb + 0x18, 4);
	blocks = hb_get_le(sb + 0x04, 4);
	if (hb_get_le(sb + 0x60, 4) & 0x80)	/* INCOMPAT_64BIT */
		blocks |= hb_get_le(sb + 0x150, 4) << 32;
	if (log_bs > 6 || blocks > (UINT64_MAX >> (10 + log_bs))) {
		hb_error("%s: the %s superblock is corrupt (block size 2^%llu KiB, %llu blocks)",
			 path, p->type, (unsigned long long)log_bs, (unsigned long long)blocks);
		return -EINVAL;
	}
	out->fs_size = blocks << (10 + log_bs);
	if (out->fs_size > p->size) {
		if (p->number)
			hb_error("%s: the %s file system in partition %d is %llu bytes, but the "
				 "partition holds only %llu: is the image truncated?",
				 path, p->type, p->number, (unsigned long long)out->fs_size,
				 (unsigned long long)p->size);
		else
			hb_error("%s: the %s file system is %llu bytes, but the file holds only "
				 "%llu: is the image truncated?", path, p->type,
				 (unsigned long long)out->fs_size, (unsigned long long)p->size);
		return -EINVAL;
	}
	out->fs_wtime = (int64_t)(hb_get_le(sb + 0x30, 4) | hb_get_le(sb + 0x274, 1) << 32);
	out->fs_mkfs_time = (int64_t)(hb_get_le(sb + 0x108, 4) | hb_get_le(sb + 0x276, 1) << 32);
	/* Revision 0 has fixed 128-byte inodes and no s_inode_size. */
	out->inode_size = hb_get_le(sb + 0x4C, 4) == 0 ? 128 : (unsigned)hb_get_le(sb + 0x58, 2);
	return 0;
}

static int fill(int fd, const char *path, uint64_t fsize, const struct part *p,
		const char *table, struct partition *out)
{
	if (p->offset + p->size > fsize || p->offset + p->size < p->offset) {
		hb_error("%s partition %d (bytes %llu..%llu) runs past the end of the file "
			 "(%llu bytes): is the image truncated?",
			 path, p->number, (unsigned long long)p->offset,
			 (unsigned long long)(p->offset + p->size),
			 (unsigned long long)fsize);
		return -EINVAL;
	}
	memset(out, 0, sizeof *out);
	out->offset = p->offset;
	out->size = p->size;
	out->number = p->number;
	copy_str(out->table, sizeof out->table, table);
	copy_str(out->uuid, sizeof out->uuid, p->uuid);
	copy_str(out->fstype, sizeof out->fstype, p->type);
	return check_fs_size(fd, path, p, out);
}

/* A format that is not a raw disk, told by its magic bytes. */
struct foreign {
	uint64_t off;
	const char *magic;
	size_t len;
	const char *name;
	const char *fix;	/* printf format with the path twice */
};

static const struct foreign foreign_formats[] = {
	{ 0, "\x1f\x8b", 2, "a gzip-compressed file", "gunzip -k %s (or zcat %s > BASE.img)" },
	{ 0, "\xfd" "7zXZ\0", 6, "an xz-compressed file", "unxz -k %s (or xzcat %s > BASE.img)" },
	{ 0, "\x28\xb5\x2f\xfd", 4, "a zstd-compressed file", "unzstd %s (or zstdcat %s > BASE.img)" },
	{ 0, "BZh", 3, "a bzip2-compressed file", "bunzip2 -k %s (or bzcat %s > BASE.img)" },
	{ 0, "QFI\xfb", 4, "a QEMU qcow/qcow2 image", "qemu-img convert -O raw %s %s.raw" },
	{ 0, "KDMV", 4, "a VMDK image", "qemu-img convert -O raw %s %s.raw" },
	{ 0, "# Disk DescriptorFile", 21, "a VMDK descriptor", "qemu-img convert -O raw %s %s.raw" },
	{ 0x40, "\x7f\x10\xda\xbe", 4, "a VirtualBox VDI image", "qemu-img convert -O raw %s %s.raw" },
	{ 0, "vhdxfile", 8, "a VHDX image", "qemu-img convert -O raw %s %s.raw" },
};

static int check_foreign(int fd, const char *path)
{
	unsigned char head[512];
	ssize_t got = hb_pread_full(fd, head, sizeof head, 0);

	if (got < 0) {
		hb_error("%s: %s", path, strerror((int)-got));
		return (int)got;
	}
	for (size_t i = 0; i < HB_ARRAY_SIZE(foreign_formats); i++) {
		const struct foreign *f = &foreign_formats[i];
		char fix[2 * 4096 + 64];

		if (f->off + f->len > (uint64_t)got || memcmp(head + f->off, f->magic, f->len) != 0)
			continue;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(fix, sizeof fix, f->fix, path, path);
#pragma GCC diagnostic pop
		hb_error("%s is %s, not a raw disk image: convert it first with %s", path, f->name, fix);
		return -EINVAL;
	}
	return 0;
}

static int probe_whole(int fd, const char *path, uint64_t fsize, int whole_only,
		       const char *table, struct partition *out)
{
	struct part whole = { .number = 0, .offset = 0, .size = fsize };
	int r;

	r = probe_fstype(fd, path, "", 0, fsize, &whole.found, whole.type);
	if (r < 0)
		return r;
	if (whole.found == FOUND_TYPE && is_ext(whole.type))
		return fill(fd, path, fsize, &whole, "", out);
	if (whole_only)
		hb_error("%s (whole file) is %s, not ext2/3/4", path, describe(&whole));
	else if (table[0] != '\0')
		hb_error("%s: no ext2/3/4 file system found (empty %s partition table)",
			 path, table);
	else if (whole.found == FOUND_NOTHING)
		hb_error("%s: no ext2/3/4 file system found (no partition table and "
			 "no file system signature)", path);
	else
		hb_error("%s is %s, not ext2/3/4", path, describe(&whole));
	return -EINVAL;
}

int partition_probe(int fd, const char *path, int which, struct partition *out)
{
	CLEANUP_FREE struct part *parts = NULL;
	struct stat st;
	char table[8], list[256] = "";
	int i, n, r, nfound;
	struct part *chosen = NULL;
	uint64_t fsize;

	if (which < PARTITION_WHOLE) {
		hb_error("%s: invalid partition number %d", path, which);
		return -EINVAL;
	}
	if (fstat(fd, &st) != 0) {
		r = -errno;
		hb_error("%s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		hb_error("%s: not a regular file or block device", path);
		return -EINVAL;
	}
	if (S_ISBLK(st.st_mode)) {
		off_t end = lseek(fd, 0, SEEK_END);

		if (end < 0) {
			r = -errno;
			hb_error("%s: cannot get the size: %s", path, strerror(-r));
			return r;
		}
		fsize = (uint64_t)end;
	} else
		fsize = (uint64_t)st.st_size;
	if (fsize == 0) {
		hb_error("%s is empty", path);
		return -EINVAL;
	}

	if ((r = check_foreign(fd, path)) < 0)
		return r;
	if (which == PARTITION_WHOLE)
		return probe_whole(fd, path, fsize, 1, "", out);

	r = read_table(fd, path, fsize, &parts, &n, table);
	if (r < 0)
		return r;

	if (table[0] == '\0') {
		if (which == PARTITION_AUTO)
			return probe_whole(fd, path, fsize, 0, table, out);
		hb_error("%s has no partition %d (it has no partition table)", path, which);
		return -ENOENT;
	}
	if (n == 0) {
		if (which == PARTITION_AUTO)
			return probe_whole(fd, path, fsize, 0, table, out);
		hb_error("%s has no partition %d (its %s partition table is empty)",
			 path, which, table);
		return -ENOENT;
	}

	if (which > 0) {
		for (i = 0; i < n; i++)
			if (parts[i].number == which)
				chosen = &parts[i];
		if (chosen == NULL) {
			for (i = 0; i < n; i++)
				list_add(list, sizeof list, parts[i].number);
			hb_error("%s has no partition %d (it has %s)", path, which, list);
			return -ENOENT;
		}
		r = probe_parts(fd, path, fsize, chosen, 1);
		if (r < 0)
			return r;
		if (chosen->offset >= fsize)
			return fill(fd, path, fsize, chosen, table, out);	/* refuses */
		if (chosen->extended || chosen->found != FOUND_TYPE || !is_ext(chosen->type)) {
			hb_error("%s partition %d is %s, not ext2/3/4", path, which,
				 describe(chosen));
			return -EINVAL;
		}
		return fill(fd, path, fsize, chosen, table, out);
	}

	/* PARTITION_AUTO on a disk: exactly one ext2/3/4 partition. */
	r = probe_parts(fd, path, fsize, parts, n);
	if (r < 0)
		return r;
	nfound = 0;
	for (i = 0; i < n; i++) {
		if (!parts[i].extended && parts[i].found == FOUND_TYPE && is_ext(parts[i].type)) {
			list_add(list, sizeof list, parts[i].number);
			chosen = &parts[i];
			nfound++;
		}
	}
	if (nfound == 1)
		return fill(fd, path, fsize, chosen, table, out);
	if (nfound > 1) {
		hb_error("%s has %d ext2/3/4 partitions (%s): choose one with -o partition=N",
			 path, nfound, list);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		size_t len = strlen(list);

		snprintf(list + len, sizeof list - len, "%s%d: %s", len ? ", " : "",
			 parts[i].number,
			 parts[i].offset >= fsize ? "past the end of the file" : describe(&parts[i]));
	}
	hb_error("%s: no ext2/3/4 file system found (%s partitions: %s)", path, table, list);
	return -EINVAL;
}
