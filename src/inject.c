/* SPDX-License-Identifier: BSD-3-Clause */
/* inject.c -- write an overlay into the image's file system (inject.h).
 *
 * libext2fs does the file system work; every block it writes goes through
 * e2io into the image's delta.  This file decides what to write:
 *
 *   directory  created if missing (mkdir), an existing one is kept as it
 *              is: overlay directories are containers, and /tmp keeps 1777
 *   file       an existing non-directory at the path is unlinked (its inode
 *              freed when that was its last link), a new inode is written;
 *              data blocks that are all zero become holes, so the result
 *              depends only on the content, not on how the host stores it
 *   symlink    the same replacement rule; the target is stored verbatim
 *   hard link  a second name for the inode of the group's first file
 *
 * Paths are resolved inside the image, following the image's own symlinks
 * (merged-usr: sbin/m5 lands in /usr/sbin/m5).  The root is a chroot: ".."
 * at the root is the root, an absolute target starts at the root, so no
 * path can leave the image.  The last component of a file or symlink is
 * never followed: a symlink there is replaced.
 *
 * Data of large files is mapped, not copied: each allocated block's image
 * range is mapped to the host file (image_map_file).  Small files and the
 * partial last block of every file are copied (zero-padded), so that no
 * byte of an allocated block is left showing what the base had there.
 *
 * The base's metadata is untrusted input: e2check refuses a file system
 * the injection must not write to (a journal to replay, errors recorded,
 * corrupt structures) right after it is opened, and checks every inode
 * reached through a directory of the base before it is used.
 *
 * Determinism: fs->now is the epoch option, i_generation is 0, blocks and
 * inodes are allocated by libext2fs's goal-based allocator in overlay
 * order, and nothing reads the clock or a random source.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ext2fs/ext2fs.h>

#include "digest.h"
#include "dirbuild.h"
#include "e2check.h"
#include "e2io.h"
#include "inject.h"
#include "util.h"

#define MAP_THRESHOLD (64 * 1024)	/* files at least this big are mapped */
#define MAX_SYMLINKS 40			/* like the kernel's MAXSYMLINKS */

struct injector {
	ext2_filsys fs;
	struct image *img;
	const struct overlay *ov;
	const struct inject_opts *opts;
	ext2_ino_t *inos;		/* inode written for each entry */
	uint64_t blocks_free_at_start;
	struct e2check *check;		/* the base's metadata checks (e2check.h) */
	struct dirbuild *dirs;		/* names of the directories touched (dirbuild.h) */
	int fds_warned;			/* said that large files are copied */
	/* The host directory of the last file opened, held open: the files of
	 * one directory come one after another, and opening each by its name
	 * in there skips the walk of the whole path (host_dir NULL: none). */
	char *host_dir;
	size_t host_dir_len;
	int host_dir_fd;
	unsigned char *buf;		/* write_data's chunk buffer, kept */
	struct digest *dg;		/* write_data's digest, reset per file */
};

/* One error line for a libext2fs failure while handling path. */
static int fs_error(struct injector *in, const char *path, const char *what, errcode_t err)
{
	if (err == EXT2_ET_BLOCK_ALLOC_FAIL || err == EXT2_ET_INODE_ALLOC_FAIL ||
	    err == EXT2_ET_DIR_NO_SPACE || err == ENOSPC) {
		hb_error("overlay does not fit in the file system of %s: it holds %" PRIu64
			 " MiB of file data, %" PRIu64 " MiB were free (ran out at %s)",
			 image_base_path(in->img), (in->ov->total_file_bytes + (1 << 20) - 1) >> 20,
			 (in->blocks_free_at_start * in->fs->blocksize) >> 20, path);
		return -ENOSPC;
	}
	hb_error("%s: %s: %s", path, what, error_message(err));
	return -EIO;
}

/* ---- path resolution inside the image ---------------------------------- */

static errcode_t read_symlink(ext2_filsys fs, ext2_ino_t ino, char *buf, size_t size)
{
	struct ext2_inode inode;
	errcode_t err = ext2fs_read_inode(fs, ino, &inode);
	size_t len;

	if (err)
		return err;
	len = EXT2_I_SIZE(&inode);
	if (len >= size)
		return EXT2_ET_FILE_TOO_BIG;
	if (ext2fs_is_fast_symlink(&inode)) {
		memcpy(buf, inode.i_block, len);
	} else if (inode.i_flags & EXT4_INLINE_DATA_FL) {
		size_t got = size;
		err = ext2fs_inline_data_get(fs, ino, &inode, buf, &got);
		if (err)
			return err;
	} else {
		ext2_file_t f;
		unsigned int got = 0;
		err = ext2fs_file_open(fs, ino, 0, &f);
		if (err)
			return err;
		err = ext2fs_file_read(f, buf, (unsigned int)len, &got);
		ext2fs_file_close(f);
		if (err)
			return err;
		if (got != len)
			return EXT2_ET_SHORT_READ;
	}
	buf[len] = '\0';
	return 0;
}

/* Resolve path (relative to dir) to a directory inside the image, following
 * symlinks in every component, confined to the image root.  shown is the overlay path
 * for messages.  Returns 0 with *out, -ENOENT when a component is missing
 * (no message), or another negative errno with a message. */
static int resolve(struct injector *in, ext2_ino_t dir, const char *path,
		   const char *shown, int *links, ext2_ino_t *out)
{
	ext2_filsys fs = in->fs;
	char comp[EXT2_NAME_LEN + 1];
	const char *p = path;

	while (*p) {
		const char *end = strchrnul(p, '/');
		size_t len = (size_t)(end - p);
		struct ext2_inode inode;
		ext2_ino_t ino;
		errcode_t err;

		if (len == 0 || (len == 1 && p[0] == '.')) {
			p = *end ? end + 1 : end;
			continue;
		}
		if (len > EXT2_NAME_LEN) {
			hb_error("%s: a name in the path is longer than %d bytes", shown, EXT2_NAME_LEN);
			return -ENAMETOOLONG;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		err = dirbuild_lookup(in->dirs, dir, comp, len, &ino);
		if (err == EXT2_ET_FILE_NOT_FOUND)
			return -ENOENT;
		if (err) {
			hb_error("%s: looking up %s: %s", shown, comp, error_message(err));
			return -EIO;
		}
		if (dirbuild_known(in->dirs, ino)) {
			/* a directory read or made before, checked then */
			dir = ino;
			p = *end ? end + 1 : end;
			continue;
		}
		if (e2check_inode(in->check, ino, shown) < 0)
			return -EINVAL;
		err = ext2fs_read_inode(fs, ino, &inode);
		if (err) {
			hb_error("%s: reading inode %u: %s", shown, ino, error_message(err));
			return -EIO;
		}
		if (LINUX_S_ISLNK(inode.i_mode)) {
			char target[4096];
			int r;
			if (++*links > MAX_SYMLINKS) {
				hb_error("%s: too many levels of symbolic links in the image", shown);
				return -ELOOP;
			}
			err = read_symlink(fs, ino, target, sizeof target);
			if (err) {
				hb_error("%s: reading symlink %s in the image: %s", shown, comp,
					 error_message(err));
				return -EIO;
			}
			r = resolve(in, target[0] == '/' ? EXT2_ROOT_INO : dir, target, shown,
				    links, &ino);
			if (r < 0)
				return r;
			err = ext2fs_read_inode(fs, ino, &inode);
			if (err)
				return fs_error(in, shown, "reading inode", err);
		}
		if (!LINUX_S_ISDIR(inode.i_mode)) {
			hb_error("overlay path %s runs through %.*s, which is not a directory in the image",
				 shown, (int)(end - path), path);
			return -ENOTDIR;
		}
		dir = ino;
		p = *end ? end + 1 : end;
	}
	*out = dir;
	return 0;
}

/* ---- inode helpers -------------------------------------------------------- */

/* The *_extra word of an ext4 time stamp: nanoseconds << 2, and in the low
 * two bits the epoch bits that carry seconds past 2038 (ext4's encoding:
 * the bits above the signed 32-bit value). */
static uint32_t time_extra(int64_t sec, long nsec)
{
	uint32_t ebits = (uint32_t)(((uint64_t)sec - (uint64_t)(int64_t)(int32_t)sec) >> 32) & 3;

	return ((uint32_t)nsec << 2) | ebits;
}

/* Owner, mode, times of an injected inode. */
static void set_attrs(struct injector *in, const struct overlay_entry *e,
		      struct ext2_inode_large *inode, uint16_t type)
{
	uid_t uid = in->opts->keep_owner ? e->uid : in->opts->uid;
	gid_t gid = in->opts->keep_owner ? e->gid : in->opts->gid;

	inode->i_mode = (uint16_t)(type | (e->mode & 07777));
	inode->i_uid = (uint16_t)uid;
	ext2fs_set_i_uid_high(*inode, uid >> 16);
	inode->i_gid = (uint16_t)gid;
	ext2fs_set_i_gid_high(*inode, gid >> 16);
	/* Content-addressed by default: no time stamp comes from the host,
	 * so a copy of the overlay gives the same bytes. */
	int64_t msec = in->opts->keep_mtime ? e->mtime_sec : in->opts->epoch;
	long mnsec = in->opts->keep_mtime ? e->mtime_nsec : 0;

	inode->i_atime = inode->i_ctime = (uint32_t)in->opts->epoch;
	inode->i_mtime = (uint32_t)msec;
	inode->i_generation = 0;
	if (EXT2_INODE_SIZE(in->fs->super) > EXT2_GOOD_OLD_INODE_SIZE &&
	    inode->i_extra_isize >= 24) {
		inode->i_mtime_extra = time_extra(msec, mnsec);
		inode->i_atime_extra = inode->i_ctime_extra = time_extra(in->opts->epoch, 0);
		inode->i_crtime = (uint32_t)in->opts->epoch;
		inode->i_crtime_extra = time_extra(in->opts->epoch, 0);
	}
}

static errcode_t read_large(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *inode)
{
	memset(inode, 0, sizeof *inode);
	return ext2fs_read_inode_full(fs, ino, (struct ext2_inode *)inode, sizeof *inode);
}

static errcode_t write_large(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *inode)
{
	return ext2fs_write_inode_full(fs, ino, (struct ext2_inode *)inode, sizeof *inode);
}

/* Unlink name (inode ino) from dir; free the inode if that was its last link. */
static int remove_name(struct injector *in, const char *path, ext2_ino_t dir,
		       const char *name, ext2_ino_t ino)
{
	ext2_filsys fs = in->fs;
	struct ext2_inode_large inode;
	errcode_t err;

	err = dirbuild_unlink(in->dirs, dir, name, ino);
	if (!err)
		err = read_large(fs, ino, &inode);
	if (err)
		return fs_error(in, path, "removing the existing file", err);
	if (inode.i_links_count > 1) {
		inode.i_links_count--;
		err = write_large(fs, ino, &inode);
		return err ? fs_error(in, path, "removing the existing file", err) : 0;
	}
	if (ext2fs_inode_has_valid_blocks2(fs, (struct ext2_inode *)&inode)) {
		err = ext2fs_punch(fs, ino, (struct ext2_inode *)&inode, NULL, 0, ~0ULL);
		if (err)
			return fs_error(in, path, "freeing the existing file's blocks", err);
	}
	err = ext2fs_free_ext_attr(fs, ino, &inode);
	if (err)
		return fs_error(in, path, "freeing the existing file's attributes", err);
	inode.i_links_count = 0;
	inode.i_dtime = (uint32_t)in->opts->epoch;
	err = write_large(fs, ino, &inode);
	if (err)
		return fs_error(in, path, "freeing the existing file", err);
	ext2fs_inode_alloc_stats2(fs, ino, -1, 0);
	return 0;
}

/* ---- file data -------------------------------------------------------------- */

/* Open the host file path (O_RDONLY, not through a final symlink) by its
 * name in its directory, held open for the next files of that directory. */
static int open_host(struct injector *in, const char *path)
{
	const int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW;
	const char *slash = strrchr(path, '/');
	size_t len = slash ? (size_t)(slash - path) : 0;

	if (!slash || len == 0)
		return open(path, flags);
	if (!in->host_dir || in->host_dir_len != len || memcmp(in->host_dir, path, len) != 0) {
		char *dir = strndup(path, len);
		int fd;

		if (!dir)
			return open(path, flags);
		fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0) {
			free(dir);
			return open(path, flags);	/* and its error */
		}
		if (in->host_dir)
			close(in->host_dir_fd);
		free(in->host_dir);
		in->host_dir = dir;
		in->host_dir_len = len;
		in->host_dir_fd = fd;
	}
	return openat(in->host_dir_fd, slash + 1, flags);
}

/* Descriptors the mapped files may use: the open file limit less a reserve
 * for FUSE (/dev/fuse, cloned channels), the cow file and the guard. */
static long fd_budget(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY ||
	    rl.rlim_cur > 1L << 20)
		return 1L << 20;
	return (long)rl.rlim_cur > 64 ? (long)rl.rlim_cur - 32 : (long)rl.rlim_cur / 2;
}

static int all_zero(const unsigned char *p, size_t n)
{
	return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Allocate logical blocks [start, start + n) of a file, initialised. */
static errcode_t alloc_blocks(ext2_filsys fs, ext2_ino_t ino, struct ext2_inode_large *inode,
			      blk64_t start, blk64_t n)
{
	struct ext2_inode *i = (struct ext2_inode *)inode;

	if (i->i_flags & EXT4_EXTENTS_FL)
		return ext2fs_fallocate(fs, EXT2_FALLOCATE_FORCE_INIT, ino, i, ~0ULL, start, n);
	/* Block-mapped: ext2fs_fallocate would zero every block through the
	 * delta first; allocating one by one leaves their contents to us. */
	for (blk64_t b = start; b < start + n; b++) {
		blk64_t phys = 0;
		errcode_t err = ext2fs_bmap2(fs, ino, i, NULL, BMAP_ALLOC, b, NULL, &phys);
		if (err)
			return err;
	}
	return 0;
}

/* Make the image range of logical blocks [start, start + n) hold the
 * file's bytes: mapped to the file when file_id >= 0, else copied from
 * data (n blocks, zero-padded). */
static int place_blocks(struct injector *in, const char *path, ext2_ino_t ino,
			struct ext2_inode_large *inode, blk64_t start, blk64_t n, int file_id,
			const unsigned char *data)
{
	ext2_filsys fs = in->fs;
	uint64_t bs = fs->blocksize;
	blk64_t b = start;

	while (b < start + n) {
		blk64_t phys, next;
		blk64_t run = 1;
		uint64_t off;
		int r;
		errcode_t err = ext2fs_bmap2(fs, ino, (struct ext2_inode *)inode, NULL, 0, b, NULL, &phys);
		if (!err && phys == 0)
			err = EXT2_ET_BAD_BLOCK_NUM;	/* just allocated: cannot be a hole */
		if (err)
			return fs_error(in, path, "mapping a block", err);
		/* Extend over physically contiguous blocks. */
		while (b + run < start + n &&
		       !ext2fs_bmap2(fs, ino, (struct ext2_inode *)inode, NULL, 0, b + run, NULL, &next) &&
		       next == phys + run)
			run++;
		off = image_partition(in->img)->offset + phys * bs;
		if (file_id >= 0) {
			r = image_map_file(in->img, off, run * bs, file_id, b * bs);
		} else {
			ssize_t w = image_write(in->img, data + (b - start) * bs, run * bs, off);
			r = w < 0 ? (int)w : 0;
		}
		if (r < 0) {
			hb_error("%s: placing data at byte %" PRIu64 " of the image: %s", path, off,
				 strerror(-r));
			return r;
		}
		b += run;
	}
	return 0;
}

/* Write the content of e into inode ino: from the host file fd, checked
 * against e's digest, or from mem (bytes already hashed, or the restore
 * slot).  All-zero blocks become holes, except when dense: then every
 * block is allocated (the restore slot: its blocks must not depend on
 * its bytes). */
static int write_data(struct injector *in, const struct overlay_entry *e, int fd,
		      const unsigned char *mem, int dense, ext2_ino_t ino,
		      struct ext2_inode_large *inode)
{
	ext2_filsys fs = in->fs;
	const size_t bs = fs->blocksize;
	const size_t chunk_blocks = (1u << 20) / bs;
	uint64_t nblocks = (e->size + bs - 1) / bs;
	int file_id = -1;
	struct digest *dg = NULL;
	unsigned char *buf;
	int r = 0;

	if (!mem && e->size >= MAP_THRESHOLD) {
		/* Served by reference from now on: it must still hold the
		 * bytes the overlay digest was computed from. */
		struct stat st;
		int dupfd;

		if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != e->size ||
		    st.st_mtim.tv_sec != e->mtime_sec || st.st_mtim.tv_nsec != e->mtime_nsec ||
		    st.st_ctim.tv_sec != e->ctime_sec || st.st_ctim.tv_nsec != e->ctime_nsec) {
			hb_error("%s: %s changed while the overlay was being read; try again",
				 e->path, e->host_path);
			return -EIO;
		}
		/* One descriptor per mapped file, kept for the life of the
		 * mount: past fd_budget() the file is copied instead. */
		dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (dupfd >= 0 && dupfd >= fd_budget()) {
			close(dupfd);
			dupfd = -1;
			errno = EMFILE;
		}
		if (dupfd < 0 && errno != EMFILE && errno != ENFILE) {
			hb_error("%s: %s", e->host_path, strerror(errno));
			return -errno;
		}
		if (dupfd < 0) {
			if (!in->fds_warned)
				hb_info("too many large overlay files for the open file limit (%ld): "
					"the rest are copied into memory", (long)fd_budget());
			in->fds_warned = 1;
		} else {
			file_id = image_adopt_fd(in->img, dupfd, e->host_path);
			if (file_id < 0)
				return file_id;
		}
	}
	/* A copied file must be the bytes that were hashed. */
	if (!mem && file_id < 0) {
		if (!in->dg)
			r = digest_new(&in->dg);
		else
			r = digest_reset(in->dg);
		if (r < 0)
			return r;
		dg = in->dg;
	}
	if (!in->buf && !(in->buf = malloc(chunk_blocks * bs)))
		return -ENOMEM;
	buf = in->buf;

	for (uint64_t first = 0; first < nblocks && r == 0; first += chunk_blocks) {
		uint64_t n, want;
		ssize_t got;

		if (!mem && !dg) {
			/* A mapped file's holes read as zeros, which become
			 * holes anyway: skip them unread (a sparse file of
			 * GiBs costs its data only).  Without SEEK_DATA the
			 * whole file is data. */
			off_t d = lseek(fd, (off_t)(first * bs), SEEK_DATA);
			if (d < 0 && errno == ENXIO)
				break;
			if (d > 0 && (uint64_t)d / bs > first)
				first = (uint64_t)d / bs;
			if (first >= nblocks)
				break;
		}
		n = HB_MIN(chunk_blocks, nblocks - first);
		want = HB_MIN(n * bs, e->size - first * bs);
		got = (ssize_t)want;

		if (mem)
			memcpy(buf, mem + first * bs, want);
		else
			got = hb_pread_full(fd, buf, want, first * bs);

		if (got < 0 || (uint64_t)got != want) {
			hb_error("%s: reading %s: %s", e->path, e->host_path,
				 got < 0 ? strerror((int)-got) : "file shrank while being read");
			r = got < 0 ? (int)got : -EIO;
			break;
		}
		if (dg && (r = digest_update(dg, buf, want)) < 0)
			break;
		memset(buf + want, 0, n * bs - want);

		/* Runs of non-zero blocks: allocate, then place. */
		for (uint64_t i = 0; i < n && r == 0;) {
			uint64_t j = i;
			errcode_t err;
			if (!dense && all_zero(buf + i * bs, bs)) {
				i++;
				continue;
			}
			while (j < n && (dense || !all_zero(buf + j * bs, bs)))
				j++;
			err = alloc_blocks(fs, ino, inode, first + i, j - i);
			if (err) {
				r = fs_error(in, e->path, "allocating blocks", err);
				break;
			}
			if (file_id < 0) {
				r = place_blocks(in, e->path, ino, inode, first + i, j - i, -1, buf + i * bs);
			} else {
				/* Whole blocks are mapped; a last, partial block
				 * is copied with its zero padding. */
				uint64_t whole = (first + j) * bs > e->size ? j - 1 : j;
				if (whole > i)
					r = place_blocks(in, e->path, ino, inode, first + i, whole - i,
							 file_id, NULL);
				if (r == 0 && whole < j)
					r = place_blocks(in, e->path, ino, inode, first + whole, j - whole,
							 -1, buf + whole * bs);
			}
			i = j;
		}
	}
	if (dg && r == 0) {
		unsigned char got[DIGEST_LEN];
		r = digest_final_keep(dg, got);
		if (r < 0)
			return r;
		if (memcmp(got, e->sha256, DIGEST_LEN) != 0) {
			hb_error("%s: %s changed while being read; try again", e->path, e->host_path);
			return -EIO;
		}
	}
	return r;
}

/* ---- entries ------------------------------------------------------------------ */

/* Split e->path into its parent directory inode and last name. */
static int parent_of(struct injector *in, const struct overlay_entry *e,
		     ext2_ino_t *dir, const char **name)
{
	const char *slash = strrchr(e->path, '/');
	char parent[4096];
	int links = 0;
	int r;

	if (!slash) {
		*dir = EXT2_ROOT_INO;
		*name = e->path;
		return 0;
	}
	if ((size_t)(slash - e->path) >= sizeof parent) {
		hb_error("%s: path too long", e->path);
		return -ENAMETOOLONG;
	}
	memcpy(parent, e->path, (size_t)(slash - e->path));
	parent[slash - e->path] = '\0';
	*name = slash + 1;
	r = resolve(in, EXT2_ROOT_INO, parent, e->path, &links, dir);
	if (r == -ENOENT) {
		hb_error("%s: parent directory missing in the image", e->path);
		return -EIO;	/* the overlay lists parents first: a bug if reached */
	}
	return r;
}

/* Look name up in dir without following it.  0: absent; 1: present. */
static int existing(struct injector *in, const struct overlay_entry *e, ext2_ino_t dir,
		    const char *name, ext2_ino_t *ino, struct ext2_inode *inode)
{
	errcode_t err = dirbuild_lookup(in->dirs, dir, name, strlen(name), ino);

	if (err == EXT2_ET_FILE_NOT_FOUND)
		return 0;
	if (!err && !dirbuild_known(in->dirs, *ino) && e2check_inode(in->check, *ino, e->path) < 0)
		return -EINVAL;
	if (!err)
		err = ext2fs_read_inode(in->fs, *ino, inode);
	if (err)
		return fs_error(in, e->path, "looking up the existing entry", err);
	return 1;
}

static int inject_dir(struct injector *in, const struct overlay_entry *e, ext2_ino_t dir,
		      const char *name, ext2_ino_t *out)
{
	ext2_filsys fs = in->fs;
	struct ext2_inode_large inode;
	struct ext2_inode old;
	ext2_ino_t ino;
	errcode_t err;
	int r = existing(in, e, dir, name, &ino, &old);

	if (r < 0)
		return r;
	if (r == 1) {
		int links = 0;
		if (LINUX_S_ISDIR(old.i_mode)) {
			*out = ino;
			return 0;
		}
		if (!LINUX_S_ISLNK(old.i_mode)) {
			hb_error("overlay directory %s would replace a file of the image", e->path);
			return -EEXIST;
		}
		/* A symlink in the image, e.g. /sbin -> usr/sbin: follow it. */
		r = resolve(in, dir, name, e->path, &links, &ino);
		if (r == -ENOENT)
			hb_error("overlay directory %s: the image's symlink there is dangling", e->path);
		if (r < 0)
			return r == -ENOENT ? -EIO : r;
		*out = ino;
		return 0;
	}

	/* Made without a name (ext2fs_mkdir would look it up and link it
	 * with a scan of dir), then linked here. */
	err = ext2fs_new_inode(fs, dir, LINUX_S_IFDIR | 0755, NULL, &ino);
	if (!err)
		err = ext2fs_mkdir(fs, dir, ino, NULL);
	if (!err)
		err = dirbuild_made(in->dirs, ino, dir);
	if (!err)
		err = dirbuild_link(in->dirs, dir, name, ino, EXT2_FT_DIR);
	if (!err)
		err = read_large(fs, ino, &inode);
	if (err)
		return fs_error(in, e->path, "creating directory", err);
	set_attrs(in, e, &inode, LINUX_S_IFDIR);
	err = write_large(fs, ino, &inode);
	if (err)
		return fs_error(in, e->path, "creating directory", err);
	*out = ino;
	return 0;
}

/* Clear the way for a new file or symlink at dir/name. */
static int make_room(struct injector *in, const struct overlay_entry *e, ext2_ino_t dir,
		     const char *name)
{
	struct ext2_inode old;
	ext2_ino_t ino;
	int r = existing(in, e, dir, name, &ino, &old);

	if (r <= 0)
		return r;
	if (LINUX_S_ISDIR(old.i_mode)) {
		hb_error("overlay %s %s would replace a directory of the image",
			 e->type == OVERLAY_SYMLINK ? "symlink" : "file", e->path);
		return -EISDIR;
	}
	return remove_name(in, e->path, dir, name, ino);
}

/* A regular file from e->host_path, or from mem (e->size bytes; dense:
 * stored with every block allocated, see write_data). */
static int inject_file(struct injector *in, const struct overlay_entry *e, ext2_ino_t dir,
		       const char *name, const unsigned char *mem, int dense, ext2_ino_t *out)
{
	ext2_filsys fs = in->fs;
	struct ext2_inode_large inode;
	ext2_ino_t ino;
	errcode_t err;
	int fd, r;

	r = make_room(in, e, dir, name);
	if (r < 0)
		return r;

	if (e->link_leader >= 0) {
		ino = in->inos[e->link_leader];	/* leaders come first */
		err = dirbuild_link(in->dirs, dir, name, ino, EXT2_FT_REG_FILE);
		if (!err)
			err = read_large(fs, ino, &inode);
		if (!err) {
			inode.i_links_count++;
			err = write_large(fs, ino, &inode);
		}
		if (err)
			return fs_error(in, e->path, "adding a hard link", err);
		*out = ino;
		return 0;
	}

	fd = mem ? -1 : open_host(in, e->host_path);
	if (!mem && fd < 0) {
		r = -errno;
		hb_error("%s: %s", e->host_path, strerror(errno));
		return r;
	}
	err = ext2fs_new_inode(fs, dir, LINUX_S_IFREG | 0644, NULL, &ino);
	if (!err)
		err = dirbuild_link(in->dirs, dir, name, ino, EXT2_FT_REG_FILE);
	if (err) {
		if (fd >= 0)
			close(fd);
		return fs_error(in, e->path, "creating file", err);
	}
	ext2fs_inode_alloc_stats2(fs, ino, +1, 0);

	memset(&inode, 0, sizeof inode);
	set_attrs(in, e, &inode, LINUX_S_IFREG);
	inode.i_links_count = 1;
	if (ext2fs_has_feature_extents(fs->super)) {
		ext2_extent_handle_t h;
		err = ext2fs_extent_open2(fs, ino, (struct ext2_inode *)&inode, &h);
		if (!err)
			ext2fs_extent_free(h);
	}
	if (!err)
		err = ext2fs_write_new_inode(fs, ino, (struct ext2_inode *)&inode);
	if (!err)
		err = read_large(fs, ino, &inode);
	if (err) {
		if (fd >= 0)
			close(fd);
		return fs_error(in, e->path, "creating file", err);
	}
	r = write_data(in, e, fd, mem, dense, ino, &inode);
	if (fd >= 0)
		close(fd);
	if (r < 0)
		return r;
	/* The allocations updated our copy of the inode (block map, i_blocks)
	 * but do not always write it: it is the current one. */
	err = ext2fs_inode_size_set(fs, (struct ext2_inode *)&inode, e->size);
	if (!err) {
		set_attrs(in, e, &inode, LINUX_S_IFREG);
		err = write_large(fs, ino, &inode);
	}
	if (err)
		return fs_error(in, e->path, "writing inode", err);
	*out = ino;
	return 0;
}

static int inject_symlink(struct injector *in, const struct overlay_entry *e, ext2_ino_t dir,
			  const char *name, ext2_ino_t *out)
{
	ext2_filsys fs = in->fs;
	struct ext2_inode_large inode;
	ext2_ino_t ino;
	errcode_t err;
	int r = make_room(in, e, dir, name);

	if (r < 0)
		return r;
	if (strlen(e->target) >= fs->blocksize) {
		hb_error("overlay symlink %s: target longer than the block size (%u bytes)",
			 e->path, fs->blocksize);
		return -ENAMETOOLONG;
	}
	err = ext2fs_new_inode(fs, dir, LINUX_S_IFLNK | 0755, NULL, &ino);
	if (!err)
		err = ext2fs_symlink(fs, dir, ino, NULL, e->target);
	if (!err)
		err = dirbuild_link(in->dirs, dir, name, ino, EXT2_FT_SYMLINK);
	if (!err)
		err = read_large(fs, ino, &inode);
	if (err)
		return fs_error(in, e->path, "creating symlink", err);
	set_attrs(in, e, &inode, LINUX_S_IFLNK);
	inode.i_mode = LINUX_S_IFLNK | 0777;
	err = write_large(fs, ino, &inode);
	if (err)
		return fs_error(in, e->path, "creating symlink", err);
	*out = ino;
	return 0;
}

/* The restore slot, after every overlay entry: missing parents are made
 * like mkdir -p, then the slot file is written densely from memory. */
static int inject_slot(struct injector *in)
{
	const struct inject_opts *o = in->opts;
	struct overlay_entry e = {
		.type = OVERLAY_DIR, .mode = 0755, .mtime_sec = o->epoch, .link_leader = -1,
	};
	char path[4096];
	ext2_ino_t dir = EXT2_ROOT_INO, ino;
	char *p, *slash;
	int r;

	if (strlen(o->slot_path) >= sizeof path)
		return -ENAMETOOLONG;
	strcpy(path, o->slot_path);
	e.path = path;
	for (p = path; (slash = strchr(p, '/')); p = slash + 1) {
		*slash = '\0';
		r = inject_dir(in, &e, dir, p, &ino);
		*slash = '/';
		if (r < 0)
			return r;
		dir = ino;
	}
	e.type = OVERLAY_FILE;
	e.mode = 0644;
	e.size = o->slot_size;
	return inject_file(in, &e, dir, p, o->slot_data, 1, &ino);
}

/* The progress line: entries injected, and files hashed while the hashing
 * threads are ahead. */
static void progress(const struct overlay *ov, size_t i, double start)
{
	uint64_t bytes;
	size_t hashed = overlay_hashed(ov, &bytes);
	double rate = i / (hb_now() - start + 1e-9);

	if (ov->hashing)
		hb_progress("injecting: %zu/%zu entries, %.0f entries/s; hashed %zu files, "
			    "%.1f MiB", i, ov->n, rate, hashed, (double)bytes / 1048576.0);
	else
		hb_progress("injecting: %zu/%zu entries, %.0f entries/s", i, ov->n, rate);
}

/* ---- opening the file system ------------------------------------------ */

/* Open the image's file system for writing; e2check_open() then decides
 * whether the injection may use it. */
static int open_fs(struct image *img, ext2_filsys *out)
{
	char name[64];
	errcode_t err;

	initialize_ext2_error_table();	/* readable error_message()s */
	e2io_name(img, name, sizeof name);
	err = ext2fs_open2(name, NULL, EXT2_FLAG_RW | EXT2_FLAG_64BITS, 0, 0, e2io_manager, out);
	if (err == EXT2_ET_UNSUPP_FEATURE || err == EXT2_ET_RO_UNSUPP_FEATURE) {
		hb_error("%s: the file system has features this libext2fs cannot write (%s)",
			 image_base_path(img), error_message(err));
		return -ENOTSUP;
	}
	if (err) {
		hb_error("%s: cannot open the ext2/3/4 file system at offset %" PRIu64 ": %s",
			 image_base_path(img), image_partition(img)->offset, error_message(err));
		return -EINVAL;
	}
	return 0;
}

int inject_overlay(struct image *img, struct overlay *ov, const struct inject_opts *opts)
{
	struct injector in = { .img = img, .ov = ov, .opts = opts };
	errcode_t err;
	double start;
	int r;

	if (opts->epoch < 1) {
		/* libext2fs reads fs->now == 0 as "use the clock". */
		hb_error("inject: the epoch must be at least 1 (got %" PRId64 ")", opts->epoch);
		return -EINVAL;
	}
	r = open_fs(img, &in.fs);
	if (r < 0)
		return r;
	in.fs->now = (time_t)opts->epoch;
	r = e2check_open(in.fs, image_base_path(img), image_partition(img)->size, &in.check);
	in.blocks_free_at_start = ext2fs_free_blocks_count(in.fs->super);
	if (r == 0 && dirbuild_new(in.fs, &in.dirs))
		r = -ENOMEM;
	in.inos = calloc(ov->n ? ov->n : 1, sizeof *in.inos);
	if (!in.inos && r == 0)
		r = -ENOMEM;
	start = hb_now();
	for (size_t i = 0; i < ov->n && r == 0; i++) {
		const struct overlay_entry *e = &ov->entries[i];
		const unsigned char *kept = NULL;
		const char *name;
		ext2_ino_t dir;

		if ((i & 255) == 0 && hb_progress_due())
			progress(ov, i, start);
		/* Hashed by now, its bytes in memory if it is small. */
		if (e->type == OVERLAY_FILE && (r = overlay_take(ov, i, &kept)) < 0)
			break;
		r = parent_of(&in, e, &dir, &name);
		if (r < 0)
			break;
		switch (e->type) {
		case OVERLAY_DIR: r = inject_dir(&in, e, dir, name, &in.inos[i]); break;
		case OVERLAY_FILE: r = inject_file(&in, e, dir, name, kept, 0, &in.inos[i]); break;
		case OVERLAY_SYMLINK: r = inject_symlink(&in, e, dir, name, &in.inos[i]); break;
		}
	}
	hb_progress_end();
	if (r == 0)
		hb_info("injected %zu entries in %.2f s", ov->n, hb_now() - start);
	if (r == 0 && opts->slot_path)
		r = inject_slot(&in);
	if (in.host_dir)
		close(in.host_dir_fd);
	free(in.host_dir);
	free(in.buf);
	digest_free(in.dg);
	free(in.inos);
	e2check_free(in.check);
	if (r < 0) {
		dirbuild_free(in.dirs);
		ext2fs_free(in.fs);	/* abandoned: nothing reached the base */
		return r;
	}
	err = dirbuild_finish(in.dirs);
	dirbuild_free(in.dirs);
	if (!err)
		err = ext2fs_close_free(&in.fs);
	else
		ext2fs_free(in.fs);
	if (err) {
		hb_error("%s: writing the file system's metadata: %s", image_base_path(img),
			 error_message(err));
		return err == EXT2_ET_BLOCK_ALLOC_FAIL ? -ENOSPC : -EIO;
	}
	return 0;
}
