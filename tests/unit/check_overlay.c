/* SPDX-License-Identifier: BSD-3-Clause */
/* check_overlay.c -- unit tests for src/overlay.c.
 *
 * Each test builds its overlay trees in a fresh temporary directory
 * (files, symlinks, hard links, fifos, sockets, devices) and checks the
 * scanned list: order, fields, refusals and their messages, and that the
 * digest moves when, and only when, something that reaches the image does.
 */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <dlfcn.h>
#include <stddef.h>
#endif

#include "checkutil.h"
#include "digest.h"
#include "overlay.h"
#include "util.h"

static char tmpdir[64];
static struct overlay ov;

#ifdef __GLIBC__
/* Linux file systems cannot hold a name longer than 255 bytes, but CIFS
 * or NTFS can hand out longer ones (255 UTF-16 units).  This readdir64
 * (what readdir is with 64-bit offsets) overrides glibc's in this program
 * and, while long_name is set, renames the entry "victim" to it. */
static const char *long_name;

struct dirent64 *readdir64(DIR *dp)
{
	static struct dirent64 *(*real)(DIR *);
	static union {
		struct dirent64 d;
		char buf[sizeof(struct dirent64) + 512];
	} fake;
	struct dirent64 *de;

	if (real == NULL)
		real = (struct dirent64 *(*)(DIR *))dlsym(RTLD_NEXT, "readdir64");
	de = real(dp);
	if (de && long_name && strcmp(de->d_name, "victim") == 0) {
		memcpy(&fake.d, de, offsetof(struct dirent64, d_name));
		snprintf(fake.buf + offsetof(struct dirent64, d_name),
			 sizeof fake.buf - offsetof(struct dirent64, d_name), "%s", long_name);
		return &fake.d;
	}
	return de;
}
#endif

static void setup(void)
{
	hb_error_quiet(1);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/check_overlay.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	overlay_init(&ov);
}

static void teardown(void)
{
	overlay_free(&ov);
	cu_run("rm -rf '%s'", tmpdir);
}

/* tmpdir/REL, in a static buffer (one of a few, for nested calls). */
static const char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *P(const char *fmt, ...)
{
	static char bufs[4][1024];
	static int next;
	char rel[768];
	char *b = bufs[next++ % 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof rel, fmt, ap);
	va_end(ap);
	snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, rel);
	return b;
}

static void mkdir_p(const char *path)
{
	char cmd[1200];

	snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
	ck_assert_int_eq(system(cmd), 0);
}

/* Write content to path (creating parents), with mode and a fixed mtime. */
static void put(const char *path, const char *content, mode_t mode)
{
	char dir[1024], *slash;
	int fd;
	struct timespec ts[2] = { { 1000000000, 0 }, { 1000000000, 123456789 } };

	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	mkdir_p(dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	ck_assert_int_eq(futimens(fd, ts), 0);
	close(fd);
}

static void scan(struct overlay *o, const char *dir)
{
	ck_assert_msg(overlay_add_dir(o, dir) == 0, "%s: %s", dir, hb_last_error());
	ck_assert_int_eq(overlay_finish(o), 0);
}

/* Scan dir into a fresh overlay and return its digest. */
static void digest_of(const char *dir, unsigned char out[DIGEST_LEN])
{
	struct overlay o;

	overlay_init(&o);
	scan(&o, dir);
	memcpy(out, o.digest, DIGEST_LEN);
	overlay_free(&o);
}

/* The digest of dir under a policy (keep_mtime, umask). */
static void digest_with(const char *dir, int keep_mtime, mode_t umask, unsigned char out[DIGEST_LEN])
{
	struct overlay o;

	overlay_init(&o);
	o.keep_mtime = keep_mtime;
	o.umask = umask;
	scan(&o, dir);
	memcpy(out, o.digest, DIGEST_LEN);
	overlay_free(&o);
}

static const struct overlay_entry *find_in(const struct overlay *o, const char *path)
{
	const struct overlay_entry *e = overlay_find(o, path);

	ck_assert_msg(e != NULL, "%s not in the overlay", path);
	return e;
}

static const struct overlay_entry *find(const char *path)
{
	const struct overlay_entry *e = overlay_find(&ov, path);

	ck_assert_msg(e != NULL, "%s not in the overlay", path);
	return e;
}

static void sha_of(const char *s, unsigned char out[DIGEST_LEN])
{
	struct digest *d;

	ck_assert_int_eq(digest_new(&d), 0);
	ck_assert_int_eq(digest_update(d, s, strlen(s)), 0);
	ck_assert_int_eq(digest_final(d, out), 0);
}

static void assert_error(const char *a, const char *b)
{
	const char *msg = hb_last_error();

	ck_assert_msg(strstr(msg, a) != NULL, "error lacks \"%s\": %s", a, msg);
	if (b)
		ck_assert_msg(strstr(msg, b) != NULL, "error lacks \"%s\": %s", b, msg);
}

START_TEST(test_sorted_parents_first)
{
	const char *want[] = { "a", "a-b", "a/b", "a/b/y", "a/z", "b", "b/c", "c.txt" };
	size_t i;

	put(P("ov/b/c"), "1", 0644);
	put(P("ov/a-b"), "2", 0644);
	put(P("ov/a/z"), "3", 0644);
	put(P("ov/a/b/y"), "4", 0644);
	put(P("ov/c.txt"), "5", 0644);
	scan(&ov, P("ov"));

	ck_assert_uint_eq(ov.n, HB_ARRAY_SIZE(want));
	for (i = 0; i < ov.n; i++) {
		const char *path = ov.entries[i].path, *slash = strrchr(path, '/');

		ck_assert_str_eq(path, want[i]);
		ck_assert(path[0] != '/');
		if (i > 0)
			ck_assert_int_lt(strcmp(ov.entries[i - 1].path, path), 0);
		if (slash) {
			/* The parent is an earlier entry. */
			char parent[256];
			const struct overlay_entry *pe;

			snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
			pe = overlay_find(&ov, parent);
			ck_assert_ptr_nonnull(pe);
			ck_assert_int_eq(pe->type, OVERLAY_DIR);
			ck_assert(pe < &ov.entries[i]);
		}
	}
	ck_assert_ptr_null(overlay_find(&ov, "nope"));
	ck_assert_ptr_null(overlay_find(&ov, ""));
	ck_assert_ptr_null(overlay_find(&ov, "a/"));
}
END_TEST

START_TEST(test_file_fields)
{
	const struct overlay_entry *e;
	unsigned char sha[DIGEST_LEN];

	put(P("ov/root/.bashrc"), "m5 checkpoint\n", 04750);
	put(P("ov/empty"), "", 0600);
	scan(&ov, P("ov"));

	e = find("root/.bashrc");
	ck_assert_int_eq(e->type, OVERLAY_FILE);
	ck_assert_uint_eq(e->size, 14);
	ck_assert_int_eq(e->mode, 04750);
	ck_assert_int_eq(e->uid, getuid());
	ck_assert_int_eq(e->gid, getgid());
	ck_assert_int_eq(e->mtime_sec, 1000000000);
	ck_assert_int_eq(e->mtime_nsec, 123456789);
	ck_assert_int_eq(e->link_leader, -1);
	ck_assert_str_eq(e->host_path, P("ov/root/.bashrc"));
	ck_assert_ptr_null(e->target);
	sha_of("m5 checkpoint\n", sha);
	ck_assert_mem_eq(e->sha256, sha, DIGEST_LEN);

	e = find("empty");
	ck_assert_uint_eq(e->size, 0);
	sha_of("", sha);
	ck_assert_mem_eq(e->sha256, sha, DIGEST_LEN);

	e = find("root");
	ck_assert_int_eq(e->type, OVERLAY_DIR);
	ck_assert_ptr_null(e->host_path);

	ck_assert_uint_eq(ov.total_file_bytes, 14);
}
END_TEST

START_TEST(test_symlinks_verbatim_not_followed)
{
	const struct overlay_entry *e;

	put(P("ov/d/inside"), "x", 0644);
	put(P("outside/secret"), "do not read", 0644);
	mkdir_p(P("ov/sbin"));
	ck_assert_int_eq(symlink("../d//./inside", P("ov/rel")), 0);
	ck_assert_int_eq(symlink("/nonexistent/target", P("ov/dangling")), 0);
	ck_assert_int_eq(symlink(P("outside"), P("ov/todir")), 0);
	ck_assert_int_eq(symlink("d", P("ov/dlink")), 0);
	ck_assert_int_eq(symlink(P("outside/secret"), P("ov/sbin/tofile")), 0);
	scan(&ov, P("ov"));

	e = find("rel");
	ck_assert_int_eq(e->type, OVERLAY_SYMLINK);
	ck_assert_str_eq(e->target, "../d//./inside");
	ck_assert_uint_eq(e->size, strlen("../d//./inside"));
	ck_assert_int_eq(e->link_leader, -1);

	e = find("dangling");
	ck_assert_str_eq(e->target, "/nonexistent/target");

	/* Links to directories are not descended into. */
	e = find("todir");
	ck_assert_int_eq(e->type, OVERLAY_SYMLINK);
	ck_assert_ptr_null(overlay_find(&ov, "todir/secret"));
	ck_assert_int_eq(find("dlink")->type, OVERLAY_SYMLINK);
	ck_assert_ptr_null(overlay_find(&ov, "dlink/inside"));

	/* Links to files stay links: nothing of the target is read. */
	e = find("sbin/tofile");
	ck_assert_int_eq(e->type, OVERLAY_SYMLINK);
	ck_assert_str_eq(e->target, P("outside/secret"));
	ck_assert_uint_eq(ov.total_file_bytes, 1);
	ck_assert_uint_eq(ov.n, 8);	/* d d/inside dangling dlink rel sbin sbin/tofile todir */
}
END_TEST

START_TEST(test_hard_links)
{
	const struct overlay_entry *f, *g, *c, *d;

	put(P("ov/a/f"), "linked content", 0755);
	mkdir_p(P("ov/b"));
	ck_assert_int_eq(link(P("ov/a/f"), P("ov/b/g")), 0);
	ck_assert_int_eq(link(P("ov/a/f"), P("ov/c")), 0);
	put(P("ov/d"), "linked content", 0755);
	/* A link leaving the overlay changes nothing inside. */
	put(P("elsewhere/x"), "outside", 0644);
	ck_assert_int_eq(link(P("elsewhere/x"), P("ov/e")), 0);
	scan(&ov, P("ov"));

	f = find("a/f");
	g = find("b/g");
	c = find("c");
	d = find("d");
	ck_assert_int_eq(f->link_leader, -1);
	ck_assert_int_eq(g->link_leader, f - ov.entries);
	ck_assert_int_eq(c->link_leader, f - ov.entries);
	ck_assert_int_eq(d->link_leader, -1);
	ck_assert_int_eq(find("e")->link_leader, -1);
	ck_assert_mem_eq(f->sha256, g->sha256, DIGEST_LEN);
	ck_assert_mem_eq(f->sha256, c->sha256, DIGEST_LEN);
	ck_assert_uint_eq(g->size, 14);
	/* a/f once, d, e */
	ck_assert_uint_eq(ov.total_file_bytes, 14 + 14 + 7);
}
END_TEST

START_TEST(test_hard_link_leader_is_first_in_sorted_order)
{
	/* Created in the opposite order of the sorted one. */
	put(P("ov/z"), "q", 0644);
	ck_assert_int_eq(link(P("ov/z"), P("ov/m")), 0);
	ck_assert_int_eq(link(P("ov/z"), P("ov/a")), 0);
	scan(&ov, P("ov"));
	ck_assert_str_eq(ov.entries[0].path, "a");
	ck_assert_int_eq(ov.entries[0].link_leader, -1);
	ck_assert_int_eq(find("m")->link_leader, 0);
	ck_assert_int_eq(find("z")->link_leader, 0);
	ck_assert_uint_eq(ov.total_file_bytes, 1);
}
END_TEST

START_TEST(test_refuse_fifo)
{
	put(P("ov/ok"), "x", 0644);
	mkdir_p(P("ov/run"));
	ck_assert_int_eq(mkfifo(P("ov/run/pipe"), 0644), 0);
	ck_assert_int_eq(overlay_add_dir(&ov, P("ov")), -EINVAL);
	assert_error(P("ov/run/pipe"), "fifo");
	ck_assert_uint_eq(ov.n, 0);	/* nothing half-added */
}
END_TEST

START_TEST(test_refuse_socket)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	mkdir_p(P("ov"));
	ck_assert_int_ge(s, 0);
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", P("ov/sock"));
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
	ck_assert_int_eq(overlay_add_dir(&ov, P("ov")), -EINVAL);
	assert_error(P("ov/sock"), "socket");
	close(s);
}
END_TEST

START_TEST(test_refuse_devices)
{
	mkdir_p(P("ov/dev"));
	if (mknod(P("ov/dev/null"), S_IFCHR | 0666, makedev(1, 3)) != 0) {
		ck_assert_int_eq(errno, EPERM);	/* not root: nothing to test */
		return;
	}
	ck_assert_int_eq(overlay_add_dir(&ov, P("ov")), -EINVAL);
	assert_error(P("ov/dev/null"), "character device");
	ck_assert_int_eq(unlink(P("ov/dev/null")), 0);
	ck_assert_int_eq(mknod(P("ov/dev/loop"), S_IFBLK | 0660, makedev(7, 0)), 0);
	ck_assert_int_eq(overlay_add_dir(&ov, P("ov")), -EINVAL);
	assert_error(P("ov/dev/loop"), "block device");
}
END_TEST

START_TEST(test_long_names)
{
	char name[300], dest[320];

	/* 255 bytes is the limit, and fine. */
	memset(name, 'n', sizeof name);
	name[255] = '\0';
	put(P("ov/d/%s", name), "ok", 0644);
	scan(&ov, P("ov"));
	ck_assert_uint_eq(ov.n, 2);
	put(P("m5"), "m5", 0755);
	snprintf(dest, sizeof dest, "sbin/%s", name);
	ck_assert_int_eq(overlay_add_file(&ov, dest, P("m5"), 0), 0);

	/* One more byte, in an image path. */
	name[255] = 'n';
	name[256] = '\0';
	snprintf(dest, sizeof dest, "sbin/%s/m5", name);
	ck_assert_int_eq(overlay_add_file(&ov, dest, P("m5"), 0), -EINVAL);
	assert_error(name, "255");
	ck_assert_uint_eq(ov.n, 4);

#ifdef __GLIBC__
	/* And the scan, through the readdir64 above. */
	overlay_free(&ov);
	put(P("ov/d/victim"), "x", 0644);
	long_name = name;
	ck_assert_int_eq(overlay_add_dir(&ov, P("ov")), -EINVAL);
	long_name = NULL;
	assert_error(P("ov/d/%s", name), "255");
	ck_assert_uint_eq(ov.n, 0);
	scan(&ov, P("ov"));
	ck_assert_ptr_nonnull(overlay_find(&ov, "d/victim"));
#endif
}
END_TEST

START_TEST(test_bad_overlay_dir)
{
	ck_assert_int_eq(overlay_add_dir(&ov, P("missing")), -ENOENT);
	assert_error(P("missing"), NULL);
	put(P("file"), "x", 0644);
	ck_assert_int_eq(overlay_add_dir(&ov, P("file")), -ENOTDIR);
	assert_error(P("file"), "not a directory");

	/* The root may be given through a symlink (but nothing below). */
	put(P("real/f"), "x", 0644);
	ck_assert_int_eq(symlink(P("real"), P("via")), 0);
	scan(&ov, P("via"));
	ck_assert_uint_eq(ov.n, 1);
	ck_assert_str_eq(ov.entries[0].path, "f");
}
END_TEST

START_TEST(test_empty_overlay)
{
	unsigned char a[DIGEST_LEN], zero[DIGEST_LEN] = { 0 };

	mkdir_p(P("ov"));
	scan(&ov, P("ov"));
	ck_assert_uint_eq(ov.n, 0);
	ck_assert_uint_eq(ov.total_file_bytes, 0);
	ck_assert_mem_ne(ov.digest, zero, DIGEST_LEN);
	memcpy(a, ov.digest, DIGEST_LEN);
	overlay_free(&ov);
	ck_assert_int_eq(overlay_finish(&ov), 0);
	ck_assert_mem_eq(ov.digest, a, DIGEST_LEN);
}
END_TEST

static void touch(const char *path, time_t sec)
{
	struct timespec ts[2] = { { sec, 0 }, { sec, 0 } };

	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
}

/* A tree for the digest tests, with every kind of entry. */
static void digest_tree(const char *root)
{
	char cmd[1200];

	put(P("%s/etc/motd", root), "hello\n", 0644);
	put(P("%s/sbin/m5", root), "\177ELF...", 0755);
	ck_assert_int_eq(symlink("m5", P("%s/sbin/m5link", root)), 0);
	ck_assert_int_eq(link(P("%s/sbin/m5", root), P("%s/sbin/m5hard", root)), 0);
	/* Pin symlink and directory mtimes (hashed with keep_mtime). */
	touch(P("%s/sbin/m5link", root), 1400000000);
	snprintf(cmd, sizeof cmd, "find '%s' -type d -exec touch -d @1500000000 {} +",
		 P("%s", root));
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_digest_stable)
{
	unsigned char a[DIGEST_LEN], b[DIGEST_LEN];
	char cmd[1200];

	digest_tree("ov");
	digest_of(P("ov"), a);
	digest_of(P("ov"), b);
	ck_assert_mem_eq(a, b, DIGEST_LEN);

	/* A copy elsewhere (cp -a keeps links, modes and times) is the same
	 * overlay: host paths and inode numbers are not hashed. */
	snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", P("ov"), P("copy"));
	ck_assert_int_eq(system(cmd), 0);
	digest_of(P("copy"), b);
	ck_assert_mem_eq(a, b, DIGEST_LEN);
}
END_TEST

/* -o umask: the bits are cleared from files and directories (not
 * symlinks) before hashing, so group-writable and not agree. */
START_TEST(test_umask)
{
	unsigned char a[DIGEST_LEN], b[DIGEST_LEN];
	struct overlay o;

	digest_tree("ov");
	overlay_init(&o);
	o.umask = 022;
	scan(&o, P("ov"));
	memcpy(a, o.digest, DIGEST_LEN);
	ck_assert_uint_eq(find_in(&o, "etc/motd")->mode, 0644);
	overlay_free(&o);
	ck_assert_int_eq(chmod(P("ov/etc/motd"), 0666), 0);
	ck_assert_int_eq(chmod(P("ov/etc"), 0777), 0);
	overlay_init(&o);
	o.umask = 022;
	scan(&o, P("ov"));
	memcpy(b, o.digest, DIGEST_LEN);
	ck_assert_uint_eq(find_in(&o, "etc/motd")->mode, 0644);
	ck_assert_uint_eq(find_in(&o, "etc")->mode & 0777, 0755);
	ck_assert_uint_eq(find_in(&o, "sbin/m5link")->mode & 0777, 0777);
	overlay_free(&o);
	ck_assert_mem_eq(a, b, DIGEST_LEN);
	digest_of(P("ov"), b);		/* no umask: the modes count */
	ck_assert_mem_ne(a, b, DIGEST_LEN);
}
END_TEST

START_TEST(test_digest_sensitive)
{
	unsigned char ref[DIGEST_LEN], x[DIGEST_LEN];
	char cmd[1200];

	digest_tree("ov");
	digest_of(P("ov"), ref);

	/* Content, same size, same mtime. */
	put(P("ov/etc/motd"), "hellO\n", 0644);
	touch(P("ov/etc"), 1500000000);
	digest_of(P("ov"), x);
	ck_assert_mem_ne(ref, x, DIGEST_LEN);
	put(P("ov/etc/motd"), "hello\n", 0644);
	touch(P("ov/etc"), 1500000000);
	digest_of(P("ov"), x);
	ck_assert_mem_eq(ref, x, DIGEST_LEN);

	/* Mode. */
	ck_assert_int_eq(chmod(P("ov/etc/motd"), 0600), 0);
	digest_of(P("ov"), x);
	ck_assert_mem_ne(ref, x, DIGEST_LEN);
	ck_assert_int_eq(chmod(P("ov/etc/motd"), 0644), 0);
	digest_of(P("ov"), x);
	ck_assert_mem_eq(ref, x, DIGEST_LEN);

	/* Mtime of a file, of a directory: not content, so no change... */
	touch(P("ov/etc/motd"), 1000000001);
	touch(P("ov/etc"), 1500000001);
	digest_of(P("ov"), x);
	ck_assert_mem_eq(ref, x, DIGEST_LEN);
	/* ... unless keep_mtime puts them in the image. */
	{
		unsigned char k1[DIGEST_LEN], k2[DIGEST_LEN];

		digest_with(P("ov"), 1, 0, k1);
		ck_assert_mem_ne(ref, k1, DIGEST_LEN);
		touch(P("ov/etc/motd"), 1000000000);
		digest_with(P("ov"), 1, 0, k2);
		ck_assert_mem_ne(k1, k2, DIGEST_LEN);
	}
	put(P("ov/etc/motd"), "hello\n", 0644);
	touch(P("ov/etc"), 1500000000);
	digest_of(P("ov"), x);
	ck_assert_mem_eq(ref, x, DIGEST_LEN);

	/* Name. */
	ck_assert_int_eq(rename(P("ov/etc/motd"), P("ov/etc/motD")), 0);
	touch(P("ov/etc"), 1500000000);
	digest_of(P("ov"), x);
	ck_assert_mem_ne(ref, x, DIGEST_LEN);
	ck_assert_int_eq(rename(P("ov/etc/motD"), P("ov/etc/motd")), 0);
	touch(P("ov/etc"), 1500000000);
	digest_of(P("ov"), x);
	ck_assert_mem_eq(ref, x, DIGEST_LEN);

	/* Symlink target (same link mtime). */
	ck_assert_int_eq(unlink(P("ov/sbin/m5link")), 0);
	ck_assert_int_eq(symlink("m6", P("ov/sbin/m5link")), 0);
	touch(P("ov/sbin/m5link"), 1400000000);
	touch(P("ov/sbin"), 1500000000);
	digest_of(P("ov"), x);
	ck_assert_mem_ne(ref, x, DIGEST_LEN);
	ck_assert_int_eq(unlink(P("ov/sbin/m5link")), 0);
	ck_assert_int_eq(symlink("m5", P("ov/sbin/m5link")), 0);
	touch(P("ov/sbin/m5link"), 1400000000);
	touch(P("ov/sbin"), 1500000000);
	digest_of(P("ov"), x);
	ck_assert_mem_eq(ref, x, DIGEST_LEN);

	/* A hard link becomes an independent copy: same bytes and metadata
	 * for every entry, but the link leader differs. */
	snprintf(cmd, sizeof cmd, "cd '%s' && cp -p m5 m5.tmp && mv m5.tmp m5hard",
		 P("ov/sbin"));
	ck_assert_int_eq(system(cmd), 0);
	touch(P("ov/sbin"), 1500000000);
	digest_of(P("ov"), x);
	ck_assert_mem_ne(ref, x, DIGEST_LEN);

	/* A new empty file. */
	snprintf(cmd, sizeof cmd, "cd '%s' && rm m5hard && ln m5 m5hard", P("ov/sbin"));
	ck_assert_int_eq(system(cmd), 0);
	touch(P("ov/sbin"), 1500000000);
	digest_of(P("ov"), x);
	ck_assert_mem_eq(ref, x, DIGEST_LEN);
	put(P("ov/etc/new"), "", 0644);
	touch(P("ov/etc"), 1500000000);
	digest_of(P("ov"), x);
	ck_assert_mem_ne(ref, x, DIGEST_LEN);
}
END_TEST

START_TEST(test_later_dir_wins)
{
	const struct overlay_entry *e;
	unsigned char sha[DIGEST_LEN];
	size_t i;

	put(P("one/x"), "first", 0644);
	put(P("one/only1"), "1", 0644);
	put(P("one/d/a"), "a", 0644);
	ck_assert_int_eq(symlink("t1", P("one/l")), 0);
	put(P("two/x"), "second!", 0600);
	put(P("two/only2"), "2", 0644);
	put(P("two/d/b"), "b", 0644);
	put(P("two/l"), "now a file", 0644);	/* a file replaces a symlink */
	ck_assert_int_eq(chmod(P("two/d"), 0700), 0);

	ck_assert_int_eq(overlay_add_dir(&ov, P("one")), 0);
	ck_assert_int_eq(overlay_add_dir(&ov, P("two")), 0);
	ck_assert_int_eq(overlay_finish(&ov), 0);

	ck_assert_uint_eq(ov.n, 7);	/* d d/a d/b l only1 only2 x */
	for (i = 1; i < ov.n; i++)
		ck_assert_int_lt(strcmp(ov.entries[i - 1].path, ov.entries[i].path), 0);
	e = find("x");
	sha_of("second!", sha);
	ck_assert_mem_eq(e->sha256, sha, DIGEST_LEN);
	ck_assert_uint_eq(e->size, 7);
	ck_assert_int_eq(e->mode, 0600);
	ck_assert_str_eq(e->host_path, P("two/x"));
	find("only1");
	find("only2");
	find("d/a");
	find("d/b");
	ck_assert_int_eq(find("d")->mode, 0700);
	e = find("l");
	ck_assert_int_eq(e->type, OVERLAY_FILE);
	ck_assert_ptr_null(e->target);
}
END_TEST

START_TEST(test_no_links_across_dirs)
{
	/* one/a and two/b are the same host inode, but two overlay
	 * directories are independent sources: no hard link between them. */
	put(P("one/a"), "same", 0644);
	put(P("one/a2"), "x", 0644);
	ck_assert_int_eq(link(P("one/a"), P("one/c")), 0);
	mkdir_p(P("two"));
	ck_assert_int_eq(link(P("one/a"), P("two/b")), 0);
	ck_assert_int_eq(link(P("one/a2"), P("two/a2")), 0);
	ck_assert_int_eq(overlay_add_dir(&ov, P("one")), 0);
	ck_assert_int_eq(overlay_add_dir(&ov, P("two")), 0);
	ck_assert_int_eq(overlay_finish(&ov), 0);

	ck_assert_int_eq(find("a")->link_leader, -1);
	ck_assert_int_eq(find("b")->link_leader, -1);
	ck_assert_int_eq(find("c")->link_leader, find("a") - ov.entries);
	ck_assert_int_eq(find("a2")->link_leader, -1);
	ck_assert_uint_eq(ov.total_file_bytes, 4 + 4 + 1);
}
END_TEST

START_TEST(test_dir_file_conflict)
{
	unsigned char before[DIGEST_LEN];

	put(P("one/x/inner"), "1", 0644);
	put(P("one/y"), "1", 0644);
	put(P("two/x"), "a file where a directory was", 0644);
	put(P("two/z"), "1", 0644);
	put(P("three/y/inner"), "a directory where a file was", 0644);

	ck_assert_int_eq(overlay_add_dir(&ov, P("one")), 0);
	ck_assert_int_eq(overlay_finish(&ov), 0);
	memcpy(before, ov.digest, DIGEST_LEN);

	ck_assert_int_eq(overlay_add_dir(&ov, P("two")), -EINVAL);
	assert_error(P("two/x"), "directory");
	ck_assert_int_eq(overlay_add_dir(&ov, P("three")), -EINVAL);
	assert_error(P("three/y"), "directory");

	/* Refused directories left nothing behind. */
	ck_assert_uint_eq(ov.n, 3);
	ck_assert_ptr_null(overlay_find(&ov, "z"));
	ck_assert_int_eq(overlay_finish(&ov), 0);
	ck_assert_mem_eq(ov.digest, before, DIGEST_LEN);
}
END_TEST

START_TEST(test_add_file)
{
	const struct overlay_entry *e;
	unsigned char sha[DIGEST_LEN];

	put(P("m5"), "m5 binary", 0640);
	ck_assert_int_eq(overlay_add_file(&ov, "/sbin//m5/", P("m5"), 0), 0);
	ck_assert_int_eq(overlay_add_file(&ov, "usr/local/bin/m5", P("m5"), 04711), 0);
	ck_assert_int_eq(overlay_finish(&ov), 0);

	ck_assert_uint_eq(ov.n, 6);	/* sbin sbin/m5 usr usr/local usr/local/bin ...m5 */
	e = find("sbin/m5");
	ck_assert_int_eq(e->type, OVERLAY_FILE);
	ck_assert_int_eq(e->mode, 0640);
	ck_assert_int_eq(e->uid, 0);
	ck_assert_int_eq(e->gid, 0);
	ck_assert_int_eq(e->mtime_sec, 1000000000);
	ck_assert_uint_eq(e->size, 9);
	ck_assert_str_eq(e->host_path, P("m5"));
	sha_of("m5 binary", sha);
	ck_assert_mem_eq(e->sha256, sha, DIGEST_LEN);
	/* Same host inode twice, but explicit files are never hard links. */
	ck_assert_int_eq(e->link_leader, -1);
	ck_assert_int_eq(find("usr/local/bin/m5")->link_leader, -1);
	ck_assert_uint_eq(ov.total_file_bytes, 18);

	ck_assert_int_eq(find("usr/local/bin/m5")->mode, 04711);
	e = find("usr/local");
	ck_assert_int_eq(e->type, OVERLAY_DIR);
	ck_assert_int_eq(e->mode, 0755);
	ck_assert_int_eq(e->uid, 0);
	ck_assert_int_eq(e->mtime_sec, 1000000000);
	ck_assert_int_eq(e->mtime_nsec, 123456789);
}
END_TEST

START_TEST(test_add_file_over_dir)
{
	const struct overlay_entry *e;
	unsigned char sha[DIGEST_LEN], before[DIGEST_LEN];

	put(P("ov/sbin/m5"), "old m5", 0755);
	put(P("ov/etc/hosts"), "x", 0644);
	ck_assert_int_eq(chmod(P("ov/sbin"), 0700), 0);
	ck_assert_int_eq(symlink("/usr/bin", P("ov/bin")), 0);
	put(P("new-m5"), "new m5!", 0755);

	ck_assert_int_eq(overlay_add_dir(&ov, P("ov")), 0);
	ck_assert_int_eq(overlay_add_file(&ov, "sbin/m5", P("new-m5"), 0), 0);
	ck_assert_int_eq(overlay_finish(&ov), 0);
	memcpy(before, ov.digest, DIGEST_LEN);

	ck_assert_uint_eq(ov.n, 5);
	e = find("sbin/m5");
	sha_of("new m5!", sha);
	ck_assert_mem_eq(e->sha256, sha, DIGEST_LEN);
	ck_assert_str_eq(e->host_path, P("new-m5"));
	/* An existing parent keeps its own metadata. */
	ck_assert_int_eq(find("sbin")->mode, 0700);

	/* Refusals change nothing. */
	ck_assert_int_eq(overlay_add_file(&ov, "etc", P("new-m5"), 0), -EINVAL);
	assert_error("etc", "directory");
	ck_assert_int_eq(overlay_add_file(&ov, "etc/hosts/x", P("new-m5"), 0), -EINVAL);
	assert_error("etc/hosts", "not a directory");
	ck_assert_int_eq(overlay_add_file(&ov, "bin/m5", P("new-m5"), 0), -EINVAL);
	assert_error("bin", "symlink");
	ck_assert_int_eq(overlay_add_file(&ov, "a/../b", P("new-m5"), 0), -EINVAL);
	assert_error("a/../b", "..");
	ck_assert_int_eq(overlay_add_file(&ov, "//", P("new-m5"), 0), -EINVAL);
	ck_assert_int_eq(overlay_add_file(&ov, "x", P("missing"), 0), -ENOENT);
	assert_error(P("missing"), NULL);
	ck_assert_int_eq(overlay_add_file(&ov, "x", P("ov"), 0), -EINVAL);
	assert_error(P("ov"), "not a regular file");
	ck_assert_uint_eq(ov.n, 5);
	ck_assert_int_eq(overlay_finish(&ov), 0);
	ck_assert_mem_eq(ov.digest, before, DIGEST_LEN);
}
END_TEST

START_TEST(test_add_file_changes_digest)
{
	unsigned char a[DIGEST_LEN];

	put(P("ov/etc/motd"), "x", 0644);
	put(P("script"), "#!/bin/sh\n", 0755);
	scan(&ov, P("ov"));
	memcpy(a, ov.digest, DIGEST_LEN);
	ck_assert_int_eq(overlay_add_file(&ov, "root/restore.sh", P("script"), 0), 0);
	ck_assert_int_eq(overlay_finish(&ov), 0);
	ck_assert_mem_ne(a, ov.digest, DIGEST_LEN);
}
END_TEST

/* ---- hashing while a consumer takes the files (overlay_start) ---------- */

/* n small files "s/fNNNNN" with distinct contents, a large one, an empty
 * one and a hard link to a small one. */
static void many_files(const char *top, int n)
{
	char path[1024], buf[64];

	snprintf(path, sizeof path, "%s/s", top);
	mkdir_p(path);
	for (int i = 0; i < n; i++) {
		int fd, len = snprintf(buf, sizeof buf, "small file %d\n", i * 7919);

		snprintf(path, sizeof path, "%s/s/f%05d", top, i);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, buf, (size_t)len), len);
		close(fd);
	}
	cu_run("head -c %d /dev/urandom > '%s/large' && : > '%s/empty' && ln '%s/s/f00003' '%s/link'",
	       OVERLAY_KEEP_MAX + 1000, top, top, top, top);
}

/* Every file taken in order: a small one comes with its bytes, which are
 * the file's and hash to its digest; a large one and a hard link's later
 * name without.  More files than the window: the threads wait for the
 * consumer.  The digest is overlay_finish()'s. */
START_TEST(test_take_kept_bytes)
{
	unsigned char want[DIGEST_LEN], got[DIGEST_LEN];
	struct digest *d;
	size_t small = 0;

	many_files(P("ov"), 3 * OVERLAY_WINDOW);
	digest_of(P("ov"), want);
	ck_assert_int_eq(digest_new(&d), 0);
	ck_assert_int_eq(overlay_add_dir(&ov, P("ov")), 0);
	ck_assert_int_eq(overlay_start(&ov), 0);
	for (size_t i = 0; i < ov.n; i++) {
		const struct overlay_entry *e = &ov.entries[i];
		const unsigned char *bytes;
		char content[OVERLAY_KEEP_MAX];
		ssize_t len;
		int fd;

		if (e->type != OVERLAY_FILE)
			continue;
		ck_assert_int_eq(overlay_take(&ov, i, &bytes), 0);
		if (e->link_leader >= 0 || e->size >= OVERLAY_KEEP_MAX) {
			ck_assert_msg(bytes == NULL, "%s: kept", e->path);
			continue;
		}
		ck_assert_msg(bytes != NULL, "%s: not kept", e->path);
		fd = open(e->host_path, O_RDONLY);
		ck_assert_int_ge(fd, 0);
		len = read(fd, content, sizeof content);
		close(fd);
		ck_assert_int_eq(len, (ssize_t)e->size);
		ck_assert_mem_eq(bytes, content, e->size);
		ck_assert_int_eq(digest_update(d, bytes, e->size), 0);
		ck_assert_int_eq(digest_final_keep(d, got), 0);
		ck_assert_mem_eq(got, e->sha256, DIGEST_LEN);
		ck_assert_int_eq(digest_reset(d), 0);
		small++;
	}
	digest_free(d);
	ck_assert_uint_eq(small, 3 * OVERLAY_WINDOW + 1);	/* and the empty one */
	ck_assert_int_eq(overlay_end(&ov), 0);
	ck_assert_mem_eq(ov.digest, want, DIGEST_LEN);
	ck_assert_ptr_null(ov.hashing);
}
END_TEST

/* A file that cannot be read (gone after the scan) fails where it is
 * taken, with its name; the files before it are taken. */
START_TEST(test_take_failure)
{
	const unsigned char *bytes;

	put(P("ov/a"), "a\n", 0644);
	put(P("ov/b"), "b\n", 0644);
	put(P("ov/c"), "c\n", 0644);
	ck_assert_int_eq(overlay_add_dir(&ov, P("ov")), 0);
	ck_assert_int_eq(unlink(P("ov/b")), 0);
	ck_assert_int_eq(overlay_start(&ov), 0);
	ck_assert_str_eq(ov.entries[0].path, "a");
	ck_assert_int_eq(overlay_take(&ov, 0, &bytes), 0);
	ck_assert_mem_eq(bytes, "a\n", 2);
	ck_assert_int_eq(overlay_take(&ov, 1, &bytes), -ENOENT);
	ck_assert_ptr_nonnull(strstr(hb_last_error(), P("ov/b")));
	/* teardown frees the run */
}
END_TEST

/* Given up without a take, or ended at once: no wait on the window. */
START_TEST(test_end_without_take)
{
	unsigned char want[DIGEST_LEN];

	many_files(P("ov"), 2 * OVERLAY_WINDOW);
	digest_of(P("ov"), want);
	ck_assert_int_eq(overlay_add_dir(&ov, P("ov")), 0);
	ck_assert_int_eq(overlay_start(&ov), 0);
	ck_assert_int_eq(overlay_end(&ov), 0);
	ck_assert_mem_eq(ov.digest, want, DIGEST_LEN);
	overlay_free(&ov);
	overlay_init(&ov);
	ck_assert_int_eq(overlay_add_dir(&ov, P("ov")), 0);
	ck_assert_int_eq(overlay_start(&ov), 0);
	/* freed by teardown while the threads wait on the window */
}
END_TEST

static Suite *overlay_suite(void)
{
	Suite *s = suite_create("overlay");
	TCase *scan_tc = tcase_create("scan");
	TCase *refuse = tcase_create("refuse");
	TCase *dig = tcase_create("digest");
	TCase *merge = tcase_create("merge");
	TCase *stream = tcase_create("stream");

	tcase_add_checked_fixture(scan_tc, setup, teardown);
	tcase_add_test(scan_tc, test_sorted_parents_first);
	tcase_add_test(scan_tc, test_file_fields);
	tcase_add_test(scan_tc, test_symlinks_verbatim_not_followed);
	tcase_add_test(scan_tc, test_hard_links);
	tcase_add_test(scan_tc, test_hard_link_leader_is_first_in_sorted_order);
	tcase_add_test(scan_tc, test_empty_overlay);
	suite_add_tcase(s, scan_tc);

	tcase_add_checked_fixture(refuse, setup, teardown);
	tcase_add_test(refuse, test_refuse_fifo);
	tcase_add_test(refuse, test_refuse_socket);
	tcase_add_test(refuse, test_refuse_devices);
	tcase_add_test(refuse, test_long_names);
	tcase_add_test(refuse, test_bad_overlay_dir);
	suite_add_tcase(s, refuse);

	tcase_add_checked_fixture(dig, setup, teardown);
	tcase_add_test(dig, test_digest_stable);
	tcase_add_test(dig, test_digest_sensitive);
	tcase_add_test(dig, test_umask);
	suite_add_tcase(s, dig);

	tcase_add_checked_fixture(merge, setup, teardown);
	tcase_add_test(merge, test_later_dir_wins);
	tcase_add_test(merge, test_no_links_across_dirs);
	tcase_add_test(merge, test_dir_file_conflict);
	tcase_add_test(merge, test_add_file);
	tcase_add_test(merge, test_add_file_over_dir);
	tcase_add_test(merge, test_add_file_changes_digest);
	suite_add_tcase(s, merge);

	tcase_add_checked_fixture(stream, setup, teardown);
	tcase_add_test(stream, test_take_kept_bytes);
	tcase_add_test(stream, test_take_failure);
	tcase_add_test(stream, test_end_without_take);
	suite_add_tcase(s, stream);
	return s;
}

int main(void)
{
	return cu_main("check_overlay", overlay_suite(), NULL);
}
