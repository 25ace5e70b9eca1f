/* SPDX-License-Identifier: BSD-3-Clause */
/* dirbuild.c -- the directories an injection reads and fills (dirbuild.h).
 *
 * One hash table holds every name of every directory the injection has
 * touched, keyed by (directory inode, name): a lookup is O(1) whatever the
 * directory's size, where ext2fs_lookup reads the directory from its first
 * block.  The table is open addressing over 32-bit indexes into an array
 * of records (hash, directory, inode, file type, name offset and length);
 * the names themselves sit end to end in one growing buffer.  A name that
 * is removed keeps its record with inode 0, so putting it back reuses it.
 * About 40 bytes a name plus the name: a million entries cost ~60 MB.
 *
 * Beside it, a small table of the directories seen, with the inode flags
 * that decide how a name is added:
 *
 *   in place   a plain block directory: the new entry goes into the slack
 *              of the last entry of the last block; when that is too
 *              small, a block is added at the end (ext2fs_bmap2 allocates
 *              it next to the previous one) and the entry fills it.  Each
 *              block written through ext2fs_write_dir_block4, which sets
 *              the checksum tail when the file system has metadata_csum.
 *   ext2fs_link   inline data, an htree index, casefolded or encrypted
 *              names, or a last block that does not read as expected.
 *
 * Slack left in earlier blocks (by a removed name) is not reused: the
 * cost of a link stays independent of the directory's size.  Everything
 * depends only on the order of the calls, so the image stays
 * deterministic.
 *
 * At the end (dirbuild_finish) a directory the injection made and filled
 * past a few blocks is rewritten as an htree from the names in the table
 * (see the section below): the linear form exists only during the build.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dirbuild.h"
#include "util.h"

#define SLOW_FLAGS (EXT4_INLINE_DATA_FL | EXT2_INDEX_FL | EXT4_CASEFOLD_FL | EXT4_ENCRYPT_FL)

struct name {
	uint64_t hash;
	ext2_ino_t dir;
	ext2_ino_t ino;		/* 0: removed */
	uint32_t off;		/* in chars */
	uint8_t len;
	uint8_t ft;		/* EXT2_FT_* (names the injection added) */
};

struct dirinfo {
	ext2_ino_t ino;
	uint32_t flags;		/* i_flags when last looked at */
	ext2_ino_t parent;	/* made: its ".." */
	int made;		/* by this injection: may become an htree */
};

/* Open addressing over indexes + 1 (0: empty slot). */
struct table {
	uint32_t *slot;
	size_t mask;		/* capacity - 1, a power of two */
};

struct dirbuild {
	ext2_filsys fs;
	struct name *names;
	size_t n_names, cap_names;
	struct table name_tab;
	char *chars;
	size_t n_chars, cap_chars;
	struct dirinfo *dirs;
	size_t n_dirs, cap_dirs;
	struct table dir_tab;
	errcode_t load_err;
	/* The tail: the last block of the directory appended to last, held
	 * here and written when another directory's turn comes, when it is
	 * full, or at dirbuild_flush(), so that a run of names into one
	 * directory reads and checksums each block once. */
	unsigned char *buf;
	ext2_ino_t hot_dir;	/* 0: buf holds nothing */
	blk64_t hot_lblk, hot_pblk;
	unsigned int hot_last;	/* offset of the block's last entry */
	int hot_dirty;
};

static uint64_t hash_of(ext2_ino_t dir, const char *name, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ dir;	/* FNV-1a, then a final mix */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 0x100000001b3ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* Make room for one more of n entries in t; rehash with key(i). */
static int table_grow(struct table *t, size_t n, uint64_t (*key)(struct dirbuild *, uint32_t),
		      struct dirbuild *db)
{
	size_t cap = t->slot ? t->mask + 1 : 0;
	uint32_t *slot;
	size_t ncap;

	if (2 * (n + 1) <= cap)
		return 0;
	ncap = cap ? 2 * cap : 1024;
	slot = calloc(ncap, sizeof *slot);
	if (!slot)
		return -1;
	for (size_t s = 0; s < cap; s++) {
		uint32_t v = t->slot[s];
		size_t p;
		if (!v)
			continue;
		for (p = key(db, v - 1) & (ncap - 1); slot[p]; p = (p + 1) & (ncap - 1))
			;
		slot[p] = v;
	}
	free(t->slot);
	t->slot = slot;
	t->mask = ncap - 1;
	return 0;
}

static uint64_t name_key(struct dirbuild *db, uint32_t i)
{
	return db->names[i].hash;
}

static uint64_t dir_key(struct dirbuild *db, uint32_t i)
{
	return hash_of(db->dirs[i].ino, "", 0);
}

/* The record of (dir, name), or NULL; *at is its slot or the empty one. */
static struct name *name_find(struct dirbuild *db, ext2_ino_t dir, const char *name, size_t len,
			      uint64_t h, size_t *at)
{
	struct table *t = &db->name_tab;
	size_t p;

	if (!t->slot)
		return NULL;
	for (p = h & t->mask; t->slot[p]; p = (p + 1) & t->mask) {
		struct name *n = &db->names[t->slot[p] - 1];
		if (n->hash == h && n->dir == dir && n->len == len &&
		    memcmp(db->chars + n->off, name, len) == 0) {
			*at = p;
			return n;
		}
	}
	*at = p;
	return NULL;
}

/* Record dir/name -> ino; an existing record is updated only if replace. */
static errcode_t name_put(struct dirbuild *db, ext2_ino_t dir, const char *name, size_t len,
			  ext2_ino_t ino, int ft, int replace)
{
	uint64_t h = hash_of(dir, name, len);
	struct name *n;
	size_t at;

	n = name_find(db, dir, name, len, h, &at);
	if (n) {
		if (replace || n->ino == 0) {
			n->ino = ino;
			n->ft = (uint8_t)ft;
		}
		return 0;
	}
	if (db->n_names >= UINT32_MAX - 1 || db->n_chars + len > UINT32_MAX)
		return EXT2_ET_NO_MEMORY;
	if (table_grow(&db->name_tab, db->n_names, name_key, db))
		return EXT2_ET_NO_MEMORY;
	if (db->n_names == db->cap_names) {
		size_t cap = db->cap_names ? 2 * db->cap_names : 1024;
		struct name *v = realloc(db->names, cap * sizeof *v);
		if (!v)
			return EXT2_ET_NO_MEMORY;
		db->names = v;
		db->cap_names = cap;
	}
	if (db->n_chars + len > db->cap_chars) {
		size_t cap = db->cap_chars ? 2 * db->cap_chars : 16384;
		char *v;
		while (cap < db->n_chars + len)
			cap *= 2;
		v = realloc(db->chars, cap);
		if (!v)
			return EXT2_ET_NO_MEMORY;
		db->chars = v;
		db->cap_chars = cap;
	}
	memcpy(db->chars + db->n_chars, name, len);
	db->names[db->n_names] = (struct name){
		.hash = h, .dir = dir, .ino = ino, .off = (uint32_t)db->n_chars, .len = (uint8_t)len,
		.ft = (uint8_t)ft,
	};
	db->n_chars += len;
	/* the table may have been rebuilt: find the empty slot again */
	name_find(db, dir, name, len, h, &at);
	db->name_tab.slot[at] = (uint32_t)++db->n_names;
	return 0;
}

static struct dirinfo *dir_find(struct dirbuild *db, ext2_ino_t dir)
{
	struct table *t = &db->dir_tab;

	if (!t->slot)
		return NULL;
	for (size_t p = hash_of(dir, "", 0) & t->mask; t->slot[p]; p = (p + 1) & t->mask)
		if (db->dirs[t->slot[p] - 1].ino == dir)
			return &db->dirs[t->slot[p] - 1];
	return NULL;
}

static struct dirinfo *dir_add(struct dirbuild *db, ext2_ino_t dir, uint32_t flags)
{
	struct table *t;
	size_t p;

	if (table_grow(&db->dir_tab, db->n_dirs, dir_key, db))
		return NULL;
	if (db->n_dirs == db->cap_dirs) {
		size_t cap = db->cap_dirs ? 2 * db->cap_dirs : 256;
		struct dirinfo *v = realloc(db->dirs, cap * sizeof *v);
		if (!v)
			return NULL;
		db->dirs = v;
		db->cap_dirs = cap;
	}
	db->dirs[db->n_dirs] = (struct dirinfo){ .ino = dir, .flags = flags };
	t = &db->dir_tab;
	for (p = hash_of(dir, "", 0) & t->mask; t->slot[p]; p = (p + 1) & t->mask)
		;
	t->slot[p] = (uint32_t)++db->n_dirs;
	return &db->dirs[db->n_dirs - 1];
}

errcode_t dirbuild_new(ext2_filsys fs, struct dirbuild **out)
{
	struct dirbuild *db = calloc(1, sizeof *db);

	if (!db || !(db->buf = malloc(fs->blocksize))) {
		free(db);
		return EXT2_ET_NO_MEMORY;
	}
	db->fs = fs;
	*out = db;
	return 0;
}

void dirbuild_free(struct dirbuild *db)
{
	if (!db)
		return;
	free(db->names);
	free(db->name_tab.slot);
	free(db->chars);
	free(db->dirs);
	free(db->dir_tab.slot);
	free(db->buf);
	free(db);
}

static int load_name(ext2_ino_t dir, int entry, struct ext2_dir_entry *de, int offset,
		     int blocksize, char *buf, void *priv)
{
	struct dirbuild *db = priv;

	(void)entry;
	(void)offset;
	(void)blocksize;
	(void)buf;
	/* The first of two equal names (a corrupt base) is the one a
	 * lookup in the directory's order finds. */
	db->load_err = name_put(db, dir, de->name, (size_t)ext2fs_dirent_name_len(de), de->inode,
				ext2fs_dirent_file_type(de), 0);
	return db->load_err ? DIRENT_ABORT : 0;
}

/* The directory's record, reading its names at the first call. */
static errcode_t dir_get(struct dirbuild *db, ext2_ino_t dir, struct dirinfo **out)
{
	struct dirinfo *d = dir_find(db, dir);
	struct ext2_inode inode;
	errcode_t err;

	if (d) {
		*out = d;
		return 0;
	}
	err = ext2fs_read_inode(db->fs, dir, &inode);
	if (err)
		return err;
	db->load_err = 0;
	err = ext2fs_dir_iterate2(db->fs, dir, 0, NULL, load_name, db);
	if (!err)
		err = db->load_err;
	if (err)
		return err;
	d = dir_add(db, dir, inode.i_flags);
	if (!d)
		return EXT2_ET_NO_MEMORY;
	*out = d;
	return 0;
}

errcode_t dirbuild_lookup(struct dirbuild *db, ext2_ino_t dir, const char *name, size_t len,
			  ext2_ino_t *ino)
{
	struct dirinfo *d;
	struct name *n;
	size_t at;
	errcode_t err = dir_get(db, dir, &d);

	if (err)
		return err;
	n = name_find(db, dir, name, len, hash_of(dir, name, len), &at);
	if (!n || n->ino == 0)
		return EXT2_ET_FILE_NOT_FOUND;
	*ino = n->ino;
	return 0;
}

int dirbuild_known(struct dirbuild *db, ext2_ino_t dir)
{
	return dir_find(db, dir) != NULL;
}

errcode_t dirbuild_made(struct dirbuild *db, ext2_ino_t dir, ext2_ino_t parent)
{
	struct ext2_inode inode;
	errcode_t err = ext2fs_read_inode(db->fs, dir, &inode);

	struct dirinfo *d = err ? NULL : dir_add(db, dir, inode.i_flags);

	if (!err && !d)
		err = EXT2_ET_NO_MEMORY;
	if (!err) {
		d->made = 1;
		d->parent = parent;
		err = name_put(db, dir, ".", 1, dir, EXT2_FT_DIR, 1);
	}
	if (!err)
		err = name_put(db, dir, "..", 2, parent, EXT2_FT_DIR, 1);
	return err;
}

/* Fill the entry at de (rec bytes) with name -> ino. */
static void fill_entry(ext2_filsys fs, struct ext2_dir_entry *de, unsigned int rec,
		       const char *name, size_t len, ext2_ino_t ino, int ft)
{
	de->inode = ino;
	ext2fs_set_rec_len(fs, rec, de);
	ext2fs_dirent_set_name_len(de, (int)len);
	ext2fs_dirent_set_file_type(de, ext2fs_has_feature_filetype(fs->super) ? ft : 0);
	memcpy(de->name, name, len);
	memset(de->name + len, 0, rec - 8 - len);
}

errcode_t dirbuild_flush(struct dirbuild *db)
{
	errcode_t err = 0;

	if (db->hot_dirty)
		err = ext2fs_write_dir_block4(db->fs, db->hot_pblk, db->buf, 0, db->hot_dir);
	db->hot_dirty = 0;
	return err;
}

/* Where entries end in a block: before the checksum tail, if any. */
static unsigned int entries_end(ext2_filsys fs)
{
	return fs->blocksize - (ext2fs_has_feature_metadata_csum(fs->super)
				? (unsigned int)sizeof(struct ext2_dir_entry_tail) : 0);
}

/* Make dir's last block the tail.  EXT2_ET_UNIMPLEMENTED: it is not as
 * expected (a hole, a last entry short of the block's end); the caller
 * goes through ext2fs_link. */
static errcode_t load_tail(struct dirbuild *db, ext2_ino_t dir)
{
	ext2_filsys fs = db->fs;
	unsigned int end = entries_end(fs), off = 0, last = 0, rec = 0;
	struct ext2_inode inode;
	blk64_t nblk, pblk = 0;
	errcode_t err = dirbuild_flush(db);

	db->hot_dir = 0;
	if (!err)
		err = ext2fs_read_inode(fs, dir, &inode);
	if (err)
		return err;
	nblk = EXT2_I_SIZE(&inode) / fs->blocksize;
	if (nblk == 0)
		return EXT2_ET_UNIMPLEMENTED;
	err = ext2fs_bmap2(fs, dir, &inode, NULL, 0, nblk - 1, NULL, &pblk);
	if (err || pblk == 0)
		return err ? err : EXT2_ET_UNIMPLEMENTED;
	err = ext2fs_read_dir_block4(fs, pblk, db->buf, 0, dir);
	if (err)
		return err;
	while (off < end) {
		struct ext2_dir_entry *de = (struct ext2_dir_entry *)(db->buf + off);
		if (ext2fs_get_rec_len(fs, de, &rec) || rec < 12 || rec % 4 || rec > end - off)
			return EXT2_ET_UNIMPLEMENTED;
		last = off;
		off += rec;
	}
	if (off != end)
		return EXT2_ET_UNIMPLEMENTED;
	db->hot_dir = dir;
	db->hot_lblk = nblk - 1;
	db->hot_pblk = pblk;
	db->hot_last = last;
	return 0;
}

/* Append name to a plain block directory: into the slack of the tail's
 * last entry, or a new block allocated next to the tail. */
static errcode_t append(struct dirbuild *db, ext2_ino_t dir, const char *name, size_t len,
			ext2_ino_t ino, int ft)
{
	ext2_filsys fs = db->fs;
	unsigned int end = entries_end(fs), need = EXT2_DIR_REC_LEN(len), used;
	struct ext2_dir_entry *de;
	struct ext2_inode inode;
	blk64_t pblk = 0;
	errcode_t err;

	if (db->hot_dir != dir && (err = load_tail(db, dir)))
		return err;
	de = (struct ext2_dir_entry *)(db->buf + db->hot_last);
	used = de->inode ? EXT2_DIR_REC_LEN(ext2fs_dirent_name_len(de)) : 0;
	if (end - db->hot_last >= used + need) {
		if (used) {
			ext2fs_set_rec_len(fs, used, de);
			db->hot_last += used;
			de = (struct ext2_dir_entry *)(db->buf + db->hot_last);
		}
		fill_entry(fs, de, end - db->hot_last, name, len, ino, ft);
		db->hot_dirty = 1;
		return 0;
	}
	/* A new last block, allocated next to the previous one. */
	err = dirbuild_flush(db);
	db->hot_dir = 0;
	if (!err)
		err = ext2fs_read_inode(fs, dir, &inode);
	if (!err)
		err = ext2fs_bmap2(fs, dir, &inode, NULL, BMAP_ALLOC, db->hot_lblk + 1, NULL, &pblk);
	if (!err)
		err = ext2fs_inode_size_set(fs, &inode, (db->hot_lblk + 2) * fs->blocksize);
	if (!err)
		err = ext2fs_write_inode(fs, dir, &inode);
	if (err)
		return err;
	memset(db->buf, 0, fs->blocksize);
	if (end < fs->blocksize)
		ext2fs_initialize_dirent_tail(fs, EXT2_DIRENT_TAIL(db->buf, fs->blocksize));
	fill_entry(fs, (struct ext2_dir_entry *)db->buf, end, name, len, ino, ft);
	db->hot_dir = dir;
	db->hot_lblk++;
	db->hot_pblk = pblk;
	db->hot_last = 0;
	db->hot_dirty = 1;
	return 0;
}

errcode_t dirbuild_link(struct dirbuild *db, ext2_ino_t dir, const char *name, ext2_ino_t ino,
			int ft)
{
	size_t len = strlen(name);
	struct dirinfo *d;
	errcode_t err = dir_get(db, dir, &d);

	if (err)
		return err;
	err = EXT2_ET_UNIMPLEMENTED;
	if (!(d->flags & SLOW_FLAGS))
		err = append(db, dir, name, len, ino, ft);
	if (err == EXT2_ET_UNIMPLEMENTED) {
		struct ext2_inode inode;

		/* libext2fs reads the directory: it must see the tail */
		err = dirbuild_flush(db);
		db->hot_dir = 0;
		if (!err)
			err = ext2fs_link(db->fs, dir, name, ino, ft);
		if (err == EXT2_ET_DIR_NO_SPACE) {
			err = ext2fs_expand_dir(db->fs, dir);
			if (!err)
				err = ext2fs_link(db->fs, dir, name, ino, ft);
		}
		/* inline data may have become blocks */
		if (!err)
			err = ext2fs_read_inode(db->fs, dir, &inode);
		if (!err)
			d->flags = inode.i_flags;
	}
	if (!err)
		err = name_put(db, dir, name, len, ino, ft, 1);
	return err;
}

errcode_t dirbuild_unlink(struct dirbuild *db, ext2_ino_t dir, const char *name, ext2_ino_t ino)
{
	errcode_t err = dirbuild_flush(db);

	db->hot_dir = 0;
	if (!err)
		err = ext2fs_unlink(db->fs, dir, name, ino, 0);

	if (!err)
		err = name_put(db, dir, name, strlen(name), 0, 0, 1);
	return err;
}

/* ---- big directories become htrees ----------------------------------------
 *
 * A directory this injection made and filled past HTREE_MIN_BLOCKS blocks
 * is rewritten at the end as e2fsck -D would index it, so that the
 * guest's lookups in it take a few block reads rather than a scan: block
 * 0 is the dx root ("." and "..", then the root info and index entries),
 * with one level of dx nodes when the leaves outnumber the root's slots;
 * then the leaves, the names sorted by hash (the file system's default
 * hash version and seed) and packed in order.  An index entry holds the
 * first hash of its leaf, with bit 0 set when that hash continues from
 * the previous leaf (equal hashes split across two).  The directory keeps
 * its blocks: missing ones are allocated after them, spare ones freed.
 * Checksums (metadata_csum) are set by ext2fs_write_dir_block4 for leaves
 * and dx blocks alike.
 */

#define HTREE_MIN_BLOCKS 3

struct hname {
	ext2_ino_t dir;
	uint32_t hash, minor;
	uint32_t idx;		/* into db->names */
};

/* By directory, then hash, minor hash, and order of insertion. */
static int hname_cmp(const void *a, const void *b)
{
	const struct hname *x = a, *y = b;

	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	if (x->minor != y->minor)
		return x->minor < y->minor ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* count index entries at p (a dx_countlimit, then entries): the first
 * one's hash is implied (the countlimit sits there), entry k points at
 * logical block block0 + k. */
static void put_dx(unsigned char *p, unsigned int limit, size_t count, const uint32_t *hash,
		   uint32_t block0)
{
	hb_put_le(p, limit, 2);
	hb_put_le(p + 2, count, 2);
	for (size_t k = 0; k < count; k++) {
		if (k)
			hb_put_le(p + 8 * k, hash[k], 4);
		hb_put_le(p + 8 * k + 4, block0 + k, 4);
	}
}

/* Logical block lblk of dir, allocated when past its end. */
static errcode_t dir_block(ext2_filsys fs, ext2_ino_t dir, struct ext2_inode *inode, blk64_t lblk,
			   blk64_t have, blk64_t *pblk)
{
	*pblk = 0;
	return ext2fs_bmap2(fs, dir, inode, NULL, lblk < have ? 0 : BMAP_ALLOC, lblk, NULL, pblk);
}

/* Index dir (names hn[0..n), sorted) as an htree. */
static errcode_t build_htree(struct dirbuild *db, struct dirinfo *d, struct hname *hn, size_t n,
			     int hash_version)
{
	ext2_filsys fs = db->fs;
	unsigned int bs = fs->blocksize;
	int csum = ext2fs_has_feature_metadata_csum(fs->super);
	unsigned int end = entries_end(fs);
	unsigned int root_limit = (bs - 32 - (csum ? 8 : 0)) / 8;
	unsigned int node_limit = (bs - 8 - (csum ? 8 : 0)) / 8;
	struct ext2_inode inode;
	uint32_t *first = NULL;	/* per leaf: index hash */
	size_t nleaves = 0, cap = 0, nnodes = 0, i, j;
	blk64_t have, total, pblk;
	errcode_t err;

	/* Leaves: how many, and their index hashes. */
	for (i = 0, j = 0; i < n; i++) {
		unsigned int rec = EXT2_DIR_REC_LEN(db->names[hn[i].idx].len);
		if (i == 0 || j + rec > end) {
			if (nleaves == cap) {
				uint32_t *v = realloc(first, (cap = cap ? 2 * cap : 64) * sizeof *v);
				if (!v) {
					free(first);
					return EXT2_ET_NO_MEMORY;
				}
				first = v;
			}
			first[nleaves++] = hn[i].hash | (i > 0 && hn[i - 1].hash == hn[i].hash);
			j = 0;
		}
		j += rec;
	}
	if (nleaves > root_limit) {
		nnodes = (nleaves + node_limit - 1) / node_limit;
		if (nnodes > root_limit) {
			free(first);
			return 0;	/* would need a third level: stays linear */
		}
	}
	err = ext2fs_read_inode(fs, d->ino, &inode);
	if (err)
		goto out;
	have = EXT2_I_SIZE(&inode) / bs;
	total = 1 + nnodes + nleaves;

	/* Leaves, at logical blocks 1 + nnodes on. */
	{
		size_t leaf = 0;
		unsigned int off = 0, last = 0;
		memset(db->buf, 0, bs);
		for (i = 0; i <= n; i++) {
			unsigned int rec = i < n ? EXT2_DIR_REC_LEN(db->names[hn[i].idx].len) : 0;
			if (i == n || (i > 0 && off + rec > end)) {
				struct ext2_dir_entry *de = (struct ext2_dir_entry *)(db->buf + last);
				ext2fs_set_rec_len(fs, end - last, de);
				if (csum)
					ext2fs_initialize_dirent_tail(fs, EXT2_DIRENT_TAIL(db->buf, bs));
				err = dir_block(fs, d->ino, &inode, 1 + nnodes + leaf, have, &pblk);
				if (!err)
					err = ext2fs_write_dir_block4(fs, pblk, db->buf, 0, d->ino);
				if (err)
					goto out;
				leaf++;
				off = 0;
				memset(db->buf, 0, bs);
				if (i == n)
					break;
			}
			{
				const struct name *nm = &db->names[hn[i].idx];
				fill_entry(fs, (struct ext2_dir_entry *)(db->buf + off), rec,
					   db->chars + nm->off, nm->len, nm->ino, nm->ft);
				last = off;
				off += rec;
			}
		}
	}

	/* dx nodes, then the root. */
	for (size_t k = 0; k < nnodes; k++) {
		size_t from = k * node_limit, cnt = HB_MIN((size_t)node_limit, nleaves - from);
		unsigned char *p = db->buf;
		memset(p, 0, bs);
		ext2fs_set_rec_len(fs, bs, (struct ext2_dir_entry *)p);	/* an empty entry */
		put_dx(p + 8, node_limit, cnt, first + from, (uint32_t)(1 + nnodes + from));
		err = dir_block(fs, d->ino, &inode, 1 + k, have, &pblk);
		if (!err)
			err = ext2fs_write_dir_block4(fs, pblk, p, 0, d->ino);
		if (err)
			goto out;
	}
	{
		unsigned char *p = db->buf;
		struct ext2_dx_root_info *info = (struct ext2_dx_root_info *)(p + 24);
		memset(p, 0, bs);
		fill_entry(fs, (struct ext2_dir_entry *)p, 12, ".", 1, d->ino, EXT2_FT_DIR);
		fill_entry(fs, (struct ext2_dir_entry *)(p + 12), bs - 12, "..", 2, d->parent,
			   EXT2_FT_DIR);
		info->hash_version = (uint8_t)hash_version;
		info->info_length = 8;
		info->indirect_levels = nnodes ? 1 : 0;
		if (nnodes) {
			uint32_t *nh = malloc(nnodes * sizeof *nh);
			if (!nh) {
				err = EXT2_ET_NO_MEMORY;
				goto out;
			}
			for (size_t k = 0; k < nnodes; k++)
				nh[k] = first[k * node_limit];
			put_dx(p + 32, root_limit, nnodes, nh, 1);
			free(nh);
		} else {
			put_dx(p + 32, root_limit, nleaves, first, 1);
		}
		err = dir_block(fs, d->ino, &inode, 0, have, &pblk);
		if (!err)
			err = ext2fs_write_dir_block4(fs, pblk, p, 0, d->ino);
		if (err)
			goto out;
	}
	if (total < have)
		err = ext2fs_punch(fs, d->ino, &inode, NULL, total, ~0ULL);
	if (!err)
		err = ext2fs_read_inode(fs, d->ino, &inode);
	if (!err) {
		inode.i_flags |= EXT2_INDEX_FL;
		err = ext2fs_inode_size_set(fs, &inode, total * bs);
	}
	if (!err)
		err = ext2fs_write_inode(fs, d->ino, &inode);
out:
	free(first);
	return err;
}

errcode_t dirbuild_finish(struct dirbuild *db)
{
	ext2_filsys fs = db->fs;
	int version = fs->super->s_def_hash_version;
	struct hname *hn = NULL;
	size_t n = 0, i, j;
	errcode_t err = dirbuild_flush(db);

	db->hot_dir = 0;
	if (err || !ext2fs_has_feature_dir_index(fs->super))
		return err;
	/* Candidates: made here, plain blocks, past HTREE_MIN_BLOCKS. */
	for (i = 0; i < db->n_dirs; i++) {
		struct dirinfo *d = &db->dirs[i];
		struct ext2_inode inode;
		d->made = d->made && !(d->flags & SLOW_FLAGS) &&
			  !ext2fs_read_inode(fs, d->ino, &inode) && !(inode.i_flags & SLOW_FLAGS) &&
			  EXT2_I_SIZE(&inode) / fs->blocksize >= HTREE_MIN_BLOCKS;
		n += d->made;
	}
	if (n == 0)
		return 0;
	if (version <= EXT2_HASH_TEA && (fs->super->s_flags & EXT2_FLAGS_UNSIGNED_HASH))
		version += 3;	/* as the kernel and e2fsck hash on such a file system */
	n = 0;
	for (i = 0; i < db->n_names; i++) {
		const struct name *nm = &db->names[i];
		struct dirinfo *d;
		ext2_dirhash_t h, minor;
		if (nm->ino == 0 || (nm->len == 1 && db->chars[nm->off] == '.') ||
		    (nm->len == 2 && !memcmp(db->chars + nm->off, "..", 2)))
			continue;
		d = dir_find(db, nm->dir);
		if (!d || !d->made)
			continue;
		if (n % 4096 == 0) {
			struct hname *v = realloc(hn, (n + 4096) * sizeof *v);
			if (!v) {
				free(hn);
				return EXT2_ET_NO_MEMORY;
			}
			hn = v;
		}
#ifdef HAVE_EXT2FS_DIRHASH2
		err = ext2fs_dirhash2(version, db->chars + nm->off, nm->len, NULL, 0,
				      fs->super->s_hash_seed, &h, &minor);
#else
		/* e2fsprogs < 1.45.0: what ext2fs_dirhash2() does without a charset */
		err = ext2fs_dirhash(version, db->chars + nm->off, nm->len,
				     fs->super->s_hash_seed, &h, &minor);
#endif
		if (err) {
			free(hn);
			return err;
		}
		hn[n++] = (struct hname){ .dir = nm->dir, .hash = h, .minor = minor, .idx = (uint32_t)i };
	}
	/* One sort: by directory (names of a directory are not contiguous
	 * in the table), then by hash. */
	qsort(hn, n, sizeof *hn, hname_cmp);
	for (i = 0; i < n && !err; i = j) {
		ext2_ino_t dir = hn[i].dir;
		for (j = i; j < n && hn[j].dir == dir; j++)
			;
		err = build_htree(db, dir_find(db, dir), hn + i, j - i, fs->super->s_def_hash_version);
	}
	free(hn);
	return err;
}
