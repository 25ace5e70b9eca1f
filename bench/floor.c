/* SPDX-License-Identifier: BSD-3-Clause */
/* floor.c -- the smallest FUSE server that can serve a disk image: the
 * round-trip floor that bench/read.sh compares hackbackfs with.
 *
 *     floor [FUSE options] BASE MNT       (serves MNT/img, read-only)
 *
 * libfuse's low-level API, one regular file, every read answered by one
 * pread() of BASE into a buffer and one reply; kernel caching on, as
 * hackbackfs has it.  Nothing else: whatever hackbackfs spends beyond
 * this is its own.  Not installed; built by bench/read.sh.
 */
#define FUSE_USE_VERSION 35
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int base_fd = -1;
static off_t base_size;

static void fill_stat(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = base_size;
	}
}

static void fl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;

	if (parent != FUSE_ROOT_ID || strcmp(name, "img") != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	memset(&e, 0, sizeof e);
	e.ino = 2;
	e.attr_timeout = e.entry_timeout = 86400.0;
	fill_stat(2, &e.attr);
	fuse_reply_entry(req, &e);
}

static void fl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;

	(void)fi;
	fill_stat(ino, &st);
	fuse_reply_attr(req, &st, 86400.0);
}

static void fl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino != 2) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void fl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	char *buf = malloc(size ? size : 1);
	ssize_t n;

	(void)ino;
	(void)fi;
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = pread(base_fd, buf, size, off);
	if (n < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	free(buf);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = fl_lookup,
	.getattr = fl_getattr,
	.open = fl_open,
	.read = fl_read,
};

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config lc = { .clone_fd = 0, .max_idle_threads = 8 };
	struct fuse_session *se;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: floor [FUSE options] BASE MNT\n");
		return 2;
	}
	base_fd = open(argv[argc - 2], O_RDONLY);
	if (base_fd < 0 || (base_size = lseek(base_fd, 0, SEEK_END)) < 0) {
		perror(argv[argc - 2]);
		return 1;
	}
	for (int i = 0; i < argc - 2; i++)
		fuse_opt_add_arg(&args, argv[i]);
	se = fuse_session_new(&args, &ops, sizeof ops, NULL);
	if (!se || fuse_session_mount(se, argv[argc - 1]) != 0)
		return 1;
	fuse_daemonize(0);
	fuse_set_signal_handlers(se);
	r = fuse_session_loop_mt(se, &lc);
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	return r ? 1 : 0;
}
