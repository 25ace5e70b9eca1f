/* SPDX-License-Identifier: BSD-3-Clause */
/* dirbuild.h -- the directories an injection reads and fills, in bulk.
 *
 * libext2fs looks a name up and links one by scanning the whole directory
 * (ext2fs_lookup, ext2fs_link), so filling one directory with n names
 * costs n^2.  This unit keeps, for the length of one injection, the names
 * of every directory it touches in one hash table: a directory of the base
 * is read once, at its first lookup; a directory the injection made itself
 * starts with "." and ".." and is never read.  New names are appended to
 * the directory's last block, a new block is added when it is full: no
 * scan from the start.  Directories this cannot append to in place
 * (inline data, an htree index, casefolded or encrypted names) go through
 * ext2fs_link as before.
 *
 * The caller checks a directory of the base (e2check) before its first
 * lookup here.  Functions return 0 or an errcode_t (libext2fs's
 * convention: the caller reports it).
 */
#ifndef HB_DIRBUILD_H
#define HB_DIRBUILD_H

#include <ext2fs/ext2fs.h>

struct dirbuild;

errcode_t dirbuild_new(ext2_filsys fs, struct dirbuild **out);
void dirbuild_free(struct dirbuild *db);

/* Name name (len bytes) in directory dir: 0 and *ino, or
 * EXT2_ET_FILE_NOT_FOUND, or another error (reading dir). */
errcode_t dirbuild_lookup(struct dirbuild *db, ext2_ino_t dir, const char *name, size_t len,
			  ext2_ino_t *ino);

/* 1 when dir is a directory this injection has read or made (and so
 * checked before), 0 otherwise. */
int dirbuild_known(struct dirbuild *db, ext2_ino_t dir);

/* dir is a directory the injection has just made (with ext2fs_mkdir and
 * no name), child of parent: it holds "." and ".." only. */
errcode_t dirbuild_made(struct dirbuild *db, ext2_ino_t dir, ext2_ino_t parent);

/* Add name -> ino (file type ft, EXT2_FT_*) to dir; the caller has looked
 * the name up and found it absent. */
errcode_t dirbuild_link(struct dirbuild *db, ext2_ino_t dir, const char *name, ext2_ino_t ino,
			int ft);

/* Write the last directory block appended to; before libext2fs reads
 * the directories again or closes the file system. */
errcode_t dirbuild_flush(struct dirbuild *db);

/* The end of an injection: dirbuild_flush(), then every directory the
 * injection made that grew past a few blocks is rewritten as an htree
 * (where the file system has dir_index), as e2fsck -D would. */
errcode_t dirbuild_finish(struct dirbuild *db);

/* Remove name (naming ino) from dir. */
errcode_t dirbuild_unlink(struct dirbuild *db, ext2_ino_t dir, const char *name, ext2_ino_t ino);

#endif
