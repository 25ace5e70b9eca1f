/* SPDX-License-Identifier: BSD-3-Clause */
/* e2check.c -- keep malformed metadata away from libext2fs (e2check.h).
 *
 * libext2fs trusts much of what it reads: a base with a group descriptor
 * pointing outside the file system, a directory whose extent tree runs past
 * the end, or a dirent naming a free inode makes it read and write wild
 * blocks, loop, or crash.  A crash inside libext2fs is a crash of
 * hackbackfs, so these checks refuse such bases first, with one message
 * naming what is wrong: the superblock (a journal to replay, errors
 * recorded, an unclean unmount) and group descriptors once after opening
 * (check_fs, behind e2check_open), and every inode the injection
 * reaches through a directory before anything uses it (e2check_inode: the
 * directories it walks, the symlinks it follows, the files it replaces).
 * They do not replace e2fsck: they cover what the injection touches, at a
 * cost that grows with the overlay, not with the base.
 *
 * The context holds the file system, the base's name for messages, the
 * size of its partition, and `meta': a bitmap of every block of the file
 * system's own structures (superblocks, descriptors, bitmaps, inode
 * tables), built once by map_metadata, so that an inode claiming one of
 * them is refused in O(log n) (an rbtree bitmap: a few runs per group).
 * The writer (inject.c) never sees these internals; it only asks.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2check.h"
#include "util.h"

struct e2check {
	ext2_filsys fs;
	const char *base;		/* BASE's name, for messages */
	uint64_t fs_bytes;		/* bytes of the partition holding fs */
	ext2fs_block_bitmap meta;	/* the file system's own blocks (map_metadata) */
};

/* One error line for a libext2fs failure while checking shown. */
static int read_error(struct e2check *c, const char *shown, const char *what, errcode_t err)
{
	(void)c;
	hb_error("%s: %s: %s", shown, what, error_message(err));
	return -EIO;
}

#define MAX_EXTENTS_CHECKED 100000	/* per inode: a loop in a tree ends here */

static int corrupt(struct e2check *c, const char *what)
{
	hb_error("%s: the file system is corrupt (%s); run e2fsck on the base first",
		 c->base, what);
	return -EINVAL;
}

/* Blocks [b, b + n) are all in use in the block bitmap; else *first_free
 * (if given) is the first that is not.  A block that an inode on the
 * injection's path claims and the bitmap calls free would be given to a
 * new file too. */
static int in_use(ext2_filsys fs, blk64_t b, blk64_t n, blk64_t *first_free)
{
	blk64_t zero;

	if (ext2fs_find_first_zero_block_bitmap2(fs->block_map, b, b + n - 1, &zero) != 0)
		return 1;
	if (first_free)
		*first_free = zero;
	return 0;
}

/* What is wrong with blocks [b, b + n) of a file, or NULL: they must lie
 * inside the file system, hold none of its own structures (meta_ok: the
 * resize inode, whose blocks are the reserved descriptor blocks), and be
 * in use.  An inode that claims a superblock or an inode table would have
 * the injection write a directory or free a file over it. */
static const char *blocks_bad(struct e2check *c, blk64_t b, blk64_t n, int meta_ok)
{
	ext2_filsys fs = c->fs;

	if (n == 0 || b < fs->super->s_first_data_block || b >= ext2fs_blocks_count(fs->super) ||
	    n > ext2fs_blocks_count(fs->super) - b)
		return "a block outside the file system";
	if (!c->meta)
		return NULL;	/* the root inode, before the bitmaps are read */
	if (!meta_ok && !ext2fs_test_block_bitmap_range2(c->meta, b, (unsigned int)n))
		return "a block of the file system's own metadata";
	if (!in_use(fs, b, n, NULL))
		return "a block the block bitmap calls free";
	return NULL;
}

static int block_ok(struct e2check *c, blk64_t b)
{
	return !blocks_bad(c, b, 1, 0);
}

struct blocks_walk {
	struct e2check *c;
	int meta_ok;		/* the resize inode */
	blk64_t count;
	const char *bad;
};

static int walk_block(ext2_filsys fs, blk64_t *blocknr, e2_blkcnt_t blockcnt, blk64_t ref_blk,
		      int ref_offset, void *priv)
{
	struct blocks_walk *w = priv;

	(void)fs;
	(void)blockcnt;
	(void)ref_blk;
	(void)ref_offset;
	w->bad = ++w->count > MAX_EXTENTS_CHECKED ? "too many blocks"
						  : blocks_bad(w->c, *blocknr, 1, w->meta_ok);
	return w->bad ? BLOCK_ABORT : 0;
}

/* The extent tree of ino: well-formed nodes, leaves inside the file
 * system, in logical order. */
static int check_extents(struct e2check *c, ext2_ino_t ino, struct ext2_inode *inode,
			 const char *shown)
{
	ext2_extent_handle_t h;
	struct ext2fs_extent ex;
	blk64_t next_lblk = 0;
	const char *bad = NULL;
	errcode_t err;
	int n = 0, r = 0;

	err = ext2fs_extent_header_verify(inode->i_block, sizeof inode->i_block);
	if (!err)
		err = ext2fs_extent_open2(c->fs, ino, inode, &h);
	if (err) {
		hb_error("%s: the extent tree of inode %u is corrupt (%s); run e2fsck on the base "
			 "first", shown, ino, error_message(err));
		return -EINVAL;
	}
	for (err = ext2fs_extent_get(h, EXT2_EXTENT_ROOT, &ex); !err;
	     err = ext2fs_extent_get(h, EXT2_EXTENT_NEXT, &ex)) {
		if (++n > MAX_EXTENTS_CHECKED) {
			err = EXT2_ET_EXTENT_HEADER_BAD;
			break;
		}
		/* An index entry's e_len is the logical span below it; its
		 * block is the one node at e_pblk. */
		bad = ex.e_len == 0 ? "an empty extent"
			: blocks_bad(c, ex.e_pblk, ex.e_flags & EXT2_EXTENT_FLAGS_LEAF ? ex.e_len : 1, 0);
		if (bad)
			break;
		if (ex.e_flags & EXT2_EXTENT_FLAGS_LEAF) {
			if (ex.e_lblk < next_lblk) {
				err = EXT2_ET_EXTENT_NOT_FOUND;
				break;
			}
			next_lblk = ex.e_lblk + ex.e_len;
		}
	}
	ext2fs_extent_free(h);
	if (bad || err != EXT2_ET_EXTENT_NO_NEXT) {
		hb_error("%s: the extent tree of inode %u is corrupt (%s); run e2fsck on the base "
			 "first", shown, ino, bad ? bad : error_message(err));
		r = -EINVAL;
	}
	return r;
}

/* A directory's first block, which ext2fs_lookup and ext2fs_link read
 * first: "." naming the directory itself, then "..", then for an htree
 * directory the root of its index.  A zeroed first block would have the
 * link put a new name where "." belongs. */
static int check_dir_head(struct e2check *c, ext2_ino_t ino, struct ext2_inode *inode,
			  const char *shown)
{
	ext2_filsys fs = c->fs;
	unsigned int bs = fs->blocksize, dot_len, dotdot_len;
	blk64_t pblk;
	unsigned char *buf, *dd;
	errcode_t err;
	int ok;

	err = ext2fs_bmap2(fs, ino, inode, NULL, 0, 0, NULL, &pblk);
	if (err || !block_ok(c, pblk)) {
		hb_error("%s: directory inode %u has no valid first block; run e2fsck on the base "
			 "first", shown, ino);
		return -EINVAL;
	}
	buf = malloc(bs);
	if (!buf)
		return -ENOMEM;
	err = io_channel_read_blk64(fs->io, pblk, 1, buf);
	if (err) {
		free(buf);
		return read_error(c, shown, "reading a directory", err);
	}
	/* inode (4), rec_len (2), name_len (1), file type (1), name */
	dot_len = (unsigned int)hb_get_le(buf + 4, 2);
	dd = buf + dot_len;
	ok = hb_get_le(buf, 4) == ino && buf[6] == 1 && buf[8] == '.' &&
	     dot_len >= 12 && dot_len % 4 == 0 && dot_len <= bs - 12;
	if (ok) {
		dotdot_len = (unsigned int)hb_get_le(dd + 4, 2);
		ok = hb_get_le(dd, 4) >= EXT2_ROOT_INO &&
		     hb_get_le(dd, 4) <= fs->super->s_inodes_count && dd[6] == 2 &&
		     dd[8] == '.' && dd[9] == '.' && dotdot_len >= 12 && dotdot_len % 4 == 0 &&
		     dotdot_len <= bs - dot_len;
	}
	if (!ok) {
		hb_error("%s: directory inode %u does not begin with \".\" and \"..\"; run e2fsck "
			 "on the base first", shown, ino);
	} else if (inode->i_flags & EXT2_INDEX_FL) {
		/* "." (12 bytes) and ".." (to the end of the block), then the
		 * root info and the count/limit of the root's entries. */
		struct ext2_dx_root_info *info = (struct ext2_dx_root_info *)(buf + 24);
		struct ext2_dx_countlimit *cl = (struct ext2_dx_countlimit *)(buf + 24 + 8);

		ok = dot_len == 12 && dotdot_len == bs - 12 && info->reserved_zero == 0 &&
		     info->info_length == 8 &&
		     info->indirect_levels < (ext2fs_has_feature_largedir(fs->super) ? 3 : 2) &&
		     info->hash_version <= EXT2_HASH_SIPHASH &&
		     ext2fs_le16_to_cpu(cl->limit) <= (bs - 32) / 8 &&
		     ext2fs_le16_to_cpu(cl->count) != 0 &&
		     ext2fs_le16_to_cpu(cl->count) <= ext2fs_le16_to_cpu(cl->limit);
		if (!ok)
			hb_error("%s: the index of directory inode %u is corrupt; run e2fsck on the "
				 "base first", shown, ino);
	}
	free(buf);
	return ok ? 0 : -EINVAL;
}

/* The body of check_inode(), for any inode number in range. */
static int check_inode_at(struct e2check *c, ext2_ino_t ino, const char *shown)
{
	ext2_filsys fs = c->fs;
	struct ext2_inode inode;
	const char *bad;
	uint16_t type;
	errcode_t err;

	if (!ext2fs_test_inode_bitmap2(fs->inode_map, ino)) {
		hb_error("%s: a directory entry names inode %u, which is free; run e2fsck on the "
			 "base first", shown, ino);
		return -EINVAL;
	}
	err = ext2fs_read_inode(fs, ino, &inode);
	if (err)
		return read_error(c, shown, "reading inode", err);
	type = inode.i_mode & LINUX_S_IFMT;
	if (inode.i_links_count == 0 || inode.i_dtime != 0 ||
	    (type != LINUX_S_IFDIR && type != LINUX_S_IFREG && type != LINUX_S_IFLNK &&
	     type != LINUX_S_IFCHR && type != LINUX_S_IFBLK && type != LINUX_S_IFIFO &&
	     type != LINUX_S_IFSOCK)) {
		hb_error("%s: inode %u is not a live file (mode %06o, %u links); run e2fsck on "
			 "the base first", shown, ino, inode.i_mode, inode.i_links_count);
		return -EINVAL;
	}
	bad = ext2fs_file_acl_block(fs, &inode) ?
		blocks_bad(c, ext2fs_file_acl_block(fs, &inode), 1, 0) : NULL;
	if (bad) {
		hb_error("%s: the extended attribute block of inode %u is corrupt (%s); run e2fsck "
			 "on the base first", shown, ino, bad);
		return -EINVAL;
	}
	if ((inode.i_flags & EXT4_EXTENTS_FL) && !ext2fs_has_feature_extents(fs->super))
		return corrupt(c, "an inode uses extents, the file system has none");
	if ((inode.i_flags & EXT4_INLINE_DATA_FL) && !ext2fs_has_feature_inline_data(fs->super))
		return corrupt(c, "an inode has inline data, the file system has none");
	if ((inode.i_flags & EXT4_INLINE_DATA_FL) && (inode.i_flags & EXT4_EXTENTS_FL))
		return corrupt(c, "an inode has both inline data and extents");
	if (type == LINUX_S_IFDIR && !(inode.i_flags & EXT4_INLINE_DATA_FL) &&
	    (EXT2_I_SIZE(&inode) == 0 || EXT2_I_SIZE(&inode) % fs->blocksize != 0))
		return corrupt(c, "a directory's size is not a whole number of blocks");
	if (type == LINUX_S_IFLNK && (EXT2_I_SIZE(&inode) == 0 || EXT2_I_SIZE(&inode) >= 4096))
		return corrupt(c, "a symlink's length is out of range");
	if (!ext2fs_inode_has_valid_blocks2(fs, &inode))
		return 0;
	if (inode.i_flags & EXT4_EXTENTS_FL) {
		int r = check_extents(c, ino, &inode, shown);
		if (r < 0)
			return r;
	} else {
		struct blocks_walk w = { .c = c, .meta_ok = ino == EXT2_RESIZE_INO };
		err = ext2fs_block_iterate3(fs, ino, BLOCK_FLAG_READ_ONLY, NULL, walk_block, &w);
		if (err || w.bad) {
			hb_error("%s: the block map of inode %u is corrupt (%s); run e2fsck on the "
				 "base first", shown, ino, w.bad ? w.bad : error_message(err));
			return -EINVAL;
		}
	}
	if (type == LINUX_S_IFDIR && !(inode.i_flags & EXT4_INLINE_DATA_FL))
		return check_dir_head(c, ino, &inode, shown);
	return 0;
}

/* Everything the injection may do with inode ino, reached as shown: read
 * it, follow it, look names up in it, link into it, free it. */
static int check_inode(struct e2check *c, ext2_ino_t ino, const char *shown)
{
	if (ino < EXT2_ROOT_INO || ino > c->fs->super->s_inodes_count ||
	    (ino < EXT2_FIRST_INO(c->fs->super) && ino != EXT2_ROOT_INO)) {
		hb_error("%s: a directory entry names inode %u, which cannot hold a file; run "
			 "e2fsck on the base first", shown, ino);
		return -EINVAL;
	}
	return check_inode_at(c, ino, shown);
}

/* Marks blocks [b, b + n), group g's `what', in c->meta, and checks that
 * the block bitmap has them in use: one it calls free is handed to the
 * injection's files, which then overwrite an inode table or a superblock. */
static int meta_range(struct e2check *c, dgrp_t g, const char *what, blk64_t b, blk64_t n)
{
	ext2_filsys fs = c->fs;
	blk64_t end = ext2fs_blocks_count(fs->super), zero;
	char why[160];

	if (b < fs->super->s_first_data_block || b >= end)
		return 0;	/* group 0's boot block, or a range ext2fs_check_desc passed */
	if (n > end - b)
		n = end - b;
	ext2fs_mark_block_bitmap_range2(c->meta, b, (unsigned int)n);
	if (!in_use(fs, b, n, &zero)) {
		snprintf(why, sizeof why, "the block bitmap calls block %llu free, part of "
			 "group %u's %s", (unsigned long long)zero, g, what);
		return corrupt(c, why);
	}
	return 0;
}

/* c->meta: every block of the file system's own structures, each of
 * them checked in use in the block bitmap. */
static int map_metadata(struct e2check *c)
{
	ext2_filsys fs = c->fs;
	struct ext2_super_block *sb = fs->super;
	blk64_t old_desc = ext2fs_has_feature_meta_bg(sb) ? sb->s_first_meta_bg
				: fs->desc_blocks + sb->s_reserved_gdt_blocks;
	__u16 type = fs->default_bitmap_type;
	errcode_t err;

	fs->default_bitmap_type = EXT2FS_BMAP64_RBTREE;	/* a few runs per group */
	err = ext2fs_allocate_block_bitmap(fs, "file system metadata", &c->meta);
	fs->default_bitmap_type = type;
	if (err)
		return read_error(c, c->base, "allocating a bitmap", err);
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		blk64_t super, old, new;

		err = ext2fs_super_and_bgd_loc2(fs, g, &super, &old, &new, NULL);
		if (err)
			return read_error(c, c->base, "locating the group descriptors", err);
		if (((super || g == 0) && meta_range(c, g, "superblock", super, 1) < 0) ||
		    (old && meta_range(c, g, "group descriptors", old, old_desc) < 0) ||
		    (new && meta_range(c, g, "group descriptors", new, 1) < 0) ||
		    meta_range(c, g, "block bitmap", ext2fs_block_bitmap_loc(fs, g), 1) < 0 ||
		    meta_range(c, g, "inode bitmap", ext2fs_inode_bitmap_loc(fs, g), 1) < 0 ||
		    meta_range(c, g, "inode table", ext2fs_inode_table_loc(fs, g),
			       fs->inode_blocks_per_group) < 0)
			return -EINVAL;
	}
	return 0;
}

/* The superblock and group descriptors, once, before anything reads the
 * bitmaps they point to; then the bitmaps and the root inode. */
static int check_fs(struct e2check *c)
{
	ext2_filsys fs = c->fs;
	struct ext2_super_block *sb = fs->super;
	errcode_t err;

	if (ext2fs_has_feature_journal_needs_recovery(sb)) {
		hb_error("%s: the file system's journal needs recovery (it was not unmounted "
			 "cleanly); the guest would replay it over the injected blocks -- run "
			 "e2fsck on a copy of the base, or mount and cleanly unmount it", c->base);
		return -EINVAL;
	}
	if (sb->s_state & EXT2_ERROR_FS) {
		hb_error("%s: the file system has errors recorded; run e2fsck on the base first",
			 c->base);
		return -EINVAL;
	}
	if (!(sb->s_state & EXT2_VALID_FS)) {
		hb_error("%s: the file system was not cleanly unmounted; run e2fsck on a copy "
			 "of the base, or mount and cleanly unmount it", c->base);
		return -EINVAL;
	}
	if (sb->s_last_orphan != 0)
		return corrupt(c, "orphan inodes are waiting to be freed");
	if (ext2fs_blocks_count(sb) > c->fs_bytes / fs->blocksize) {
		hb_error("%s: the file system (%llu blocks of %u bytes) is larger than the %llu "
			 "bytes it has in the file: is the image truncated?", c->base,
			 (unsigned long long)ext2fs_blocks_count(sb), fs->blocksize,
			 (unsigned long long)c->fs_bytes);
		return -EINVAL;
	}
	if (ext2fs_free_blocks_count(sb) > ext2fs_blocks_count(sb) ||
	    sb->s_free_inodes_count > sb->s_inodes_count)
		return corrupt(c, "the superblock's free counts exceed its totals");
	if (sb->s_rev_level > EXT2_GOOD_OLD_REV &&
	    (sb->s_first_ino < EXT2_GOOD_OLD_FIRST_INO || sb->s_first_ino > sb->s_inodes_count))
		return corrupt(c, "the superblock's first inode is out of range");
	err = ext2fs_check_desc(fs);
	if (err) {
		hb_error("%s: the file system's group descriptors are corrupt (%s); run e2fsck "
			 "on the base first", c->base, error_message(err));
		return -EINVAL;
	}
	for (dgrp_t g = 0; g < fs->group_desc_count; g++) {
		if (ext2fs_bg_free_blocks_count(fs, g) > sb->s_blocks_per_group ||
		    ext2fs_bg_free_inodes_count(fs, g) > sb->s_inodes_per_group ||
		    ext2fs_bg_used_dirs_count(fs, g) > sb->s_inodes_per_group)
			return corrupt(c, "a group descriptor's counts exceed the group");
	}
	/* Only now that they point inside their groups (the caller's read
	 * of them is then a no-op). */
	err = ext2fs_read_bitmaps(fs);
	if (err) {
		hb_error("%s: reading the file system's bitmaps: %s", c->base,
			 error_message(err));
		return -EIO;
	}
	if (map_metadata(c) < 0)
		return -EINVAL;
	if (check_inode(c, EXT2_ROOT_INO, "/") < 0)
		return -EINVAL;
	/* The reserved inodes the kernel uses at mount (journal) and when
	 * growing the file system (resize inode): found corrupt by the
	 * fuzzer in bases that libext2fs opens without a word. */
	if (ext2fs_has_feature_resize_inode(sb) &&
	    check_inode_at(c, EXT2_RESIZE_INO, "the resize inode") < 0)
		return -EINVAL;
	if (ext2fs_has_feature_journal(sb) && sb->s_journal_inum != 0) {
		if (sb->s_journal_inum > sb->s_inodes_count)
			return corrupt(c, "the journal inode number is out of range");
		if (check_inode_at(c, sb->s_journal_inum, "the journal inode") < 0)
			return -EINVAL;
	}
	{
		struct ext2_inode root;
		err = ext2fs_read_inode(fs, EXT2_ROOT_INO, &root);
		if (err || !LINUX_S_ISDIR(root.i_mode))
			return corrupt(c, "the root inode is not a directory");
	}
	return 0;
}

int e2check_open(ext2_filsys fs, const char *base_name, uint64_t fs_bytes, struct e2check **out)
{
	struct e2check *c = calloc(1, sizeof *c);
	int r;

	*out = NULL;
	if (!c)
		return -ENOMEM;
	c->fs = fs;
	c->base = base_name;
	c->fs_bytes = fs_bytes;
	r = check_fs(c);
	if (r < 0) {
		e2check_free(c);
		return r;
	}
	*out = c;
	return 0;
}

int e2check_inode(struct e2check *c, ext2_ino_t ino, const char *shown)
{
	return check_inode(c, ino, shown);
}

void e2check_free(struct e2check *c)
{
	if (!c)
		return;
	if (c->meta)
		ext2fs_free_block_bitmap(c->meta);
	free(c);
}
