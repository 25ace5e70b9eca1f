/* SPDX-License-Identifier: BSD-3-Clause */
/* fusefs.c -- the FUSE front end (see fusefs.h).
 *
 * The namespace is fixed: "/", "/NAME" (the disk image, as large as the
 * base) and "/NAME.json" (the manifest).  Nothing in it ever changes
 * except through this mount, so the kernel may cache everything: the
 * image is opened with keep_cache, attributes and entries never time out.
 *
 * gem5 reads one 512-byte sector per call through std::fstream; what makes
 * that fast is the kernel page cache and readahead in front of us, with
 * large requests (libfuse negotiates 1 MiB, max_pages 256).  Every read
 * is image_read() into libfuse's buffer, which checks afterwards that the
 * files it read from have not changed (see hb_read and image.h).
 *
 * Errors found while serving (a base changed behind the mount) go to
 * stderr in the foreground and to syslog once the daemon has detached,
 * since libfuse points the daemon's stderr at /dev/null.
 */
#include "config.h"

#define FUSE_USE_VERSION 35
#include <fuse.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusefs.h"
#include "mount.h"
#include "readahead.h"
#include "runmode.h"
#include "util.h"

struct fusefs {
	struct fuse *fuse;
	struct fusefs_config cfg;
	struct build *b;	/* set by fusefs_serve() */
	char *json_name;	/* NAME.json */
	uid_t uid;
	gid_t gid;
	int guard;		/* mnt_guard()'s descriptor, or -1 */
	mode_t image_mode;	/* permission bits served, see serve_mode() */
	mode_t json_mode;
};

enum node { NODE_NONE, NODE_ROOT, NODE_IMAGE, NODE_JSON };

/* What fi->fh points to: one per open(). */
struct open_file {
	enum node node;
	struct ra_stream ra;	/* this opener's sequential stream */
};

static struct open_file *open_file(const struct fuse_file_info *fi)
{
	return (struct open_file *)(uintptr_t)fi->fh;
}

static struct fusefs *ctx(void)
{
	return fuse_get_context()->private_data;
}

static enum node lookup(const struct fusefs *fs, const char *path)
{
	if (strcmp(path, "/") == 0)
		return NODE_ROOT;
	if (path[0] == '/' && strcmp(path + 1, fs->cfg.name) == 0)
		return NODE_IMAGE;
	if (path[0] == '/' && strcmp(path + 1, fs->json_name) == 0)
		return NODE_JSON;
	return NODE_NONE;
}

/* With nullpath_ok, libfuse builds no path for an operation on an open
 * file (a lock, a walk and an allocation per read): PATH is NULL then, and
 * FI says which file.  The kernel passes FI to getattr for regular files
 * only, and our one directory is the root. */
static enum node node_of(const struct fusefs *fs, const char *path, struct fuse_file_info *fi,
			 enum node dir)
{
	if (path)
		return lookup(fs, path);
	return fi ? open_file(fi)->node : dir;
}

static void *hb_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	struct fusefs *fs = ctx();

	cfg->kernel_cache = 1;
	cfg->entry_timeout = cfg->attr_timeout = 86400.0;
	cfg->negative_timeout = 86400.0;
	cfg->use_ino = 1;
	cfg->nullpath_ok = 1;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	/* Moving spliced pages into our page cache takes them from the base
	 * file's and drops the readahead marker with them: the kernel then
	 * restarts every readahead window at 16 KiB (measured in bench/). */
	conn->want &= ~FUSE_CAP_SPLICE_MOVE;
	/* The kernel keeps the smaller of this and the mount's read_ahead_kb,
	 * which mnt_read_ahead() has set before this INIT is answered: ask
	 * for no less. */
	conn->max_readahead = HB_READ_AHEAD_KB_MAX * 1024u;
	return fs;
}

static int hb_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fusefs *fs = ctx();
	struct build *b = fs->b;

	memset(st, 0, sizeof *st);
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_mtime = st->st_ctime = st->st_atime = (time_t)b->epoch;
	switch (node_of(fs, path, fi, NODE_NONE)) {
	case NODE_ROOT:
		st->st_ino = 1;
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	case NODE_IMAGE:
		st->st_ino = 2;
		st->st_mode = S_IFREG | fs->image_mode;
		st->st_nlink = 1;
		st->st_size = (off_t)image_size(b->img);
		st->st_blksize = 4096;
		st->st_blocks = (blkcnt_t)((image_size(b->img) + 511) / 512);
		return 0;
	case NODE_JSON:
		st->st_ino = 3;
		st->st_mode = S_IFREG | fs->json_mode;
		st->st_nlink = 1;
		st->st_size = (off_t)b->manifest_len;
		return 0;
	default:
		return -ENOENT;
	}
}

static int hb_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	struct fusefs *fs = ctx();

	(void)off;
	(void)fi;	/* libfuse's directory handle, not an open_file */
	(void)flags;
	if (node_of(fs, path, NULL, NODE_ROOT) != NODE_ROOT)
		return -ENOTDIR;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, fs->cfg.name, NULL, 0, 0);
	fill(buf, fs->json_name, NULL, 0, 0);
	return 0;
}

/* The kernel checks the mode itself (default_permissions); this is for a
 * mount the caller made (/dev/fd/N), whose options are not ours.  Group
 * means the caller's primary group only: a member through a supplementary
 * group is refused, never wrongly let in. */
static int may_open(const struct fusefs *fs, enum node n, int writing, int reading)
{
	const struct fuse_context *c = fuse_get_context();
	mode_t mode = n == NODE_IMAGE ? fs->image_mode : fs->json_mode;
	mode_t bits;

	if (c->uid == 0 || c->uid == fs->uid)
		return 1;
	bits = c->gid == fs->gid ? (mode >> 3) & 7 : mode & 7;
	return (!reading || (bits & 4)) && (!writing || (bits & 2));
}

static int hb_open(const char *path, struct fuse_file_info *fi)
{
	struct fusefs *fs = ctx();
	enum node n = lookup(fs, path);
	int writing = (fi->flags & O_ACCMODE) != O_RDONLY;

	if (n == NODE_NONE)
		return -ENOENT;
	if (n == NODE_ROOT)
		return -EISDIR;
	if (writing && (n == NODE_JSON || image_readonly(fs->b->img)))
		return n == NODE_JSON ? -EACCES : -EROFS;
	if (!may_open(fs, n, writing, (fi->flags & O_ACCMODE) != O_WRONLY))
		return -EACCES;
	if (fi->flags & O_TRUNC)
		return -EPERM;
	struct open_file *of = calloc(1, sizeof *of);
	if (!of)
		return -ENOMEM;
	of->node = n;
	ra_init(&of->ra);
	fi->keep_cache = 1;
	fi->fh = (uint64_t)(uintptr_t)of;
	return 0;
}

static int hb_release(const char *path, struct fuse_file_info *fi)
{
	struct open_file *of = open_file(fi);

	(void)path;
	ra_destroy(&of->ra);
	free(of);
	return 0;
}

/* Reads are answered from memory, not spliced from the base's descriptor:
 * a splice hands the kernel references to the base file's pages, which a
 * write to the base could still change after the check that follows every
 * read (image.h), and bench/ measured no gain from it once splice *move*
 * was off. */
static int hb_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct fusefs *fs = ctx();
	uint64_t ra_off, ra_len;
	ssize_t r;

	(void)path;
	if (off < 0)
		return -EINVAL;
	if (open_file(fi)->node == NODE_JSON) {
		if ((uint64_t)off >= fs->b->manifest_len)
			return 0;
		size = HB_MIN(size, fs->b->manifest_len - (size_t)off);
		memcpy(buf, fs->b->manifest + off, size);
		return (int)size;
	}
	/* A sequential reader: have the files behind the next stretch read
	 * before the kernel asks for it (readahead.h). */
	if (ra_next(&open_file(fi)->ra, (uint64_t)off, size, image_size(fs->b->img), &ra_off, &ra_len))
		image_readahead(fs->b->img, ra_off, ra_len);
	r = image_read(fs->b->img, buf, size, (uint64_t)off);
	return (int)r;
}

static int hb_write(const char *path, const char *buf, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fusefs *fs = ctx();
	ssize_t r;

	(void)path;
	if (open_file(fi)->node != NODE_IMAGE)
		return -EACCES;
	r = image_write(fs->b->img, buf, size, (uint64_t)off);
	return r < 0 ? (int)r : (int)r;
}

static int hb_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
	(void)path;
	(void)datasync;
	(void)fi;
	return image_flush(ctx()->b->img);
}

static int hb_flush(const char *path, struct fuse_file_info *fi)
{
	(void)path;
	(void)fi;
	return 0;	/* the cow file is flushed on fsync and at unmount */
}

static int hb_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
	struct fusefs *fs = ctx();

	if (node_of(fs, path, fi, NODE_NONE) == NODE_IMAGE && (uint64_t)size == image_size(fs->b->img))
		return 0;
	return -EPERM;	/* a disk image keeps its size */
}

static int hb_statfs(const char *path, struct statvfs *sv)
{
	struct fusefs *fs = ctx();

	(void)path;
	memset(sv, 0, sizeof *sv);
	sv->f_bsize = sv->f_frsize = 4096;
	sv->f_blocks = (image_size(fs->b->img) + fs->b->manifest_len + 4095) / 4096;
	sv->f_files = 3;
	sv->f_namemax = 255;
	return 0;
}

/* Extended attributes of the image: its identity, as hex SHA-256. */
static const unsigned char *image_digest(const struct build *b)
{
	return b->digest;
}

static const unsigned char *image_layout(const struct build *b)
{
	return b->layout;
}

static const struct {
	const char *name;
	const unsigned char *(*value)(const struct build *b);
} xattrs[] = {
	{ "user.hackback.digest", image_digest },
	{ "user.hackback.layout", image_layout },
};

static int hb_getxattr(const char *path, const char *name, char *value, size_t size)
{
	struct fusefs *fs = ctx();
	char hex[DIGEST_HEX_LEN];

	if (lookup(fs, path) != NODE_IMAGE)
		return -ENODATA;
	for (size_t i = 0; i < HB_ARRAY_SIZE(xattrs); i++) {
		if (strcmp(name, xattrs[i].name) != 0)
			continue;
		digest_hex(xattrs[i].value(fs->b), hex);
		if (size == 0)
			return DIGEST_HEX_LEN - 1;
		if (size < DIGEST_HEX_LEN - 1)
			return -ERANGE;
		memcpy(value, hex, DIGEST_HEX_LEN - 1);
		return DIGEST_HEX_LEN - 1;
	}
	return -ENODATA;
}

static int hb_listxattr(const char *path, char *list, size_t size)
{
	struct fusefs *fs = ctx();
	size_t need = 0;

	if (lookup(fs, path) != NODE_IMAGE)
		return 0;
	for (size_t i = 0; i < HB_ARRAY_SIZE(xattrs); i++)
		need += strlen(xattrs[i].name) + 1;
	if (size == 0)
		return (int)need;
	if (size < need)
		return -ERANGE;
	for (size_t i = 0; i < HB_ARRAY_SIZE(xattrs); i++) {
		size_t len = strlen(xattrs[i].name) + 1;
		memcpy(list, xattrs[i].name, len);
		list += len;
	}
	return (int)need;
}

static void hb_destroy(void *data)
{
	struct fusefs *fs = data;

	if (fs->b && fs->b->img)
		image_flush(fs->b->img);
}

static const struct fuse_operations hb_ops = {
	.init = hb_init,
	.destroy = hb_destroy,
	.getattr = hb_getattr,
	.readdir = hb_readdir,
	.open = hb_open,
	.release = hb_release,
	.read = hb_read,
	.write = hb_write,
	.flush = hb_flush,
	.fsync = hb_fsync,
	.truncate = hb_truncate,
	.statfs = hb_statfs,
	.getxattr = hb_getxattr,
	.listxattr = hb_listxattr,
};

int fusefs_new(struct fusefs **out, const struct fusefs_config *cfg, struct fuse_args *args)
{
	struct fusefs *fs = calloc(1, sizeof *fs);

	if (!fs)
		return -ENOMEM;
	fs->cfg = *cfg;
	fs->guard = -1;
	fs->uid = getuid();
	fs->gid = getgid();
	if (asprintf(&fs->json_name, "%s.json", cfg->name) < 0) {
		free(fs);
		return -ENOMEM;
	}
	fs->fuse = fuse_new(args, &hb_ops, sizeof hb_ops, fs);
	if (!fs->fuse) {
		/* libfuse has printed its own line (e.g. an unknown option). */
		fusefs_free(fs);
		return -EINVAL;
	}
	*out = fs;
	return 0;
}

void fusefs_free(struct fusefs *fs)
{
	if (!fs)
		return;
	if (fs->fuse)
		fuse_destroy(fs->fuse);
	free(fs->json_name);
	free(fs);
}

/* Who may open the files, for the kernel's check (default_permissions,
 * which main.c always asks for): with -o allow_other, other users reach
 * the mount, and the image must not show them more of BASE than BASE
 * itself does, nor take their writes when BASE would not.  The owner is
 * the one who mounted (and could read BASE); group and others get BASE's
 * own bits for BASE's own group; -o ro takes every write bit away. */
static void serve_mode(struct fusefs *fs, const struct image *img)
{
	struct stat st;
	mode_t shared = 0;

	if (image_base_stat(img, &st) == 0) {
		shared = st.st_mode & 0066;
		fs->gid = st.st_gid;
	}
	fs->image_mode = 0600 | shared;
	if (image_readonly(img))
		fs->image_mode &= ~0222u;
	fs->json_mode = (fs->image_mode | 0400) & 0444;
}

int fusefs_serve(struct fusefs *fs, struct build *b)
{
	struct fuse_session *se = fuse_get_session(fs->fuse);
	int r;

	fs->b = b;
	serve_mode(fs, b->img);
	/* The build took a while: is MNT still an empty directory? */
	if (mnt_fd(fs->cfg.mountpoint) < 0 && mnt_recheck(fs->cfg.mountpoint) < 0)
		return -EIO;
	if (fuse_mount(fs->fuse, fs->cfg.mountpoint) != 0) {
		hb_error("cannot mount on %s (is fusermount3 installed and /dev/fuse usable?)",
			 fs->cfg.mountpoint);
		return -EIO;
	}
	if (fs->cfg.mnt_lock)
		mnt_unlock(fs->cfg.mnt_lock);
	if (mnt_read_ahead(fs->cfg.mountpoint, fs->cfg.read_ahead_kb, fs->cfg.base) < 0 ||
	    (fs->cfg.guard && (fs->guard = mnt_guard(fs->cfg.mountpoint)) < 0)) {
		fuse_unmount(fs->fuse);
		return -EIO;
	}
	if (fs->cfg.run) {
		if (runmode_start(fs->cfg.run, fs->fuse) < 0) {
			fuse_unmount(fs->fuse);
			return -EIO;
		}
	} else {
		if (fuse_daemonize(fs->cfg.foreground) != 0) {
			hb_error("cannot go to the background");
			fuse_unmount(fs->fuse);
			return -EIO;
		}
		if (!fs->cfg.foreground)
			hb_error_syslog(1);
		if (fuse_set_signal_handlers(se) != 0) {
			fuse_unmount(fs->fuse);
			return -EIO;
		}
	}
	if (fs->cfg.singlethread) {
		r = fuse_loop(fs->fuse);
	} else {
		struct fuse_loop_config lc = { .clone_fd = fs->cfg.clone_fd,
					       .max_idle_threads = fs->cfg.max_idle_threads };
		r = fuse_loop_mt(fs->fuse, &lc);
	}
	if (fs->cfg.run)
		runmode_loop_done(fs->cfg.run);
	else
		fuse_remove_signal_handlers(se);
	fuse_unmount(fs->fuse);
	mnt_guard_clean(fs->guard);	/* before the flush: MNT may be the next mount's */
	fs->guard = -1;
	/* libfuse returns the number of the signal that ended the loop:
	 * SIGTERM, SIGINT and SIGHUP are a clean shutdown. */
	if (r == SIGTERM || r == SIGINT || r == SIGHUP)
		r = 0;
	int fr = image_flush(b->img);
	if (fr < 0) {
		hb_error("flushing the cow file: %s", strerror(-fr));
		r = -EIO;
	}
	return r == 0 ? 0 : -EIO;
}
