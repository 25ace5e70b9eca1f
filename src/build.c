/* SPDX-License-Identifier: BSD-3-Clause */
/* build.c -- probe, scan, inject, identify (see build.h).
 *
 * Order matters for determinism and for layout stability: the overlay's
 * entries are injected first, in sorted order, and the restore slot last,
 * so that nothing the slot holds can move any other inode or block.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <sys/stat.h>

#include "build.h"
#include "dcache.h"
#include "inject.h"
#include "json.h"
#include "overlaydir.h"
#include "util.h"

#define LAYOUT_FORMAT "hackbackfs layout v2"
#define IMAGE_FORMAT "hackbackfs image v2"

/* Read the restore script into a slot-sized buffer with its header. */
static int make_slot(const char *path, unsigned char **out)
{
	unsigned char *slot = calloc(1, RESTORE_SLOT_SIZE);
	CLEANUP_CLOSE int fd = -1;
	struct stat st;
	size_t len = 0;
	char hdr[RESTORE_SLOT_HEADER + 1];

	if (!slot)
		return -ENOMEM;
	if (path) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			int r = -errno;
			hb_error("restore script %s: %s", path, strerror(errno));
			free(slot);
			return r;
		}
		if (!S_ISREG(st.st_mode)) {
			hb_error("restore script %s is not a regular file", path);
			free(slot);
			return -EINVAL;
		}
		if ((uint64_t)st.st_size > RESTORE_SLOT_SIZE - RESTORE_SLOT_HEADER) {
			hb_error("restore script %s is %jd bytes; the restore slot holds at most %u",
				 path, (intmax_t)st.st_size, RESTORE_SLOT_SIZE - RESTORE_SLOT_HEADER);
			free(slot);
			return -EFBIG;
		}
		len = (size_t)st.st_size;
		if (hb_pread_full(fd, slot + RESTORE_SLOT_HEADER, len, 0) != (ssize_t)len) {
			hb_error("restore script %s: short read", path);
			free(slot);
			return -EIO;
		}
	}
	snprintf(hdr, sizeof hdr, "%-63s\n", "");
	memcpy(hdr, "hackback-restore-slot 1 ", 24);
	{
		char num[24];
		int n = snprintf(num, sizeof num, "%zu", len);
		memcpy(hdr + 24, num, (size_t)n);
	}
	memcpy(slot, hdr, RESTORE_SLOT_HEADER);
	*out = slot;
	return 0;
}

static int scan_overlays(const struct build_opts *o, struct overlay *ov)
{
	CLEANUP_FREE char *list = strdup(o->overlays);
	char *dir, *next;
	int r = 0;

	if (!list)
		return -ENOMEM;
	/* "A:B": an empty name ("", "A::B", "A:") is a mistake, most likely
	 * an unset shell variable, not "no overlay". */
	for (dir = list; dir && r == 0; dir = next) {
		next = strchr(dir, ':');
		if (next)
			*next++ = '\0';
		if (*dir == '\0') {
			hb_error("overlay list '%s' has an empty directory name", o->overlays);
			return -EINVAL;
		}
		CLEANUP_FREE char *path = NULL;
		r = overlaydir_resolve(dir, overlaydir_installed(), &path);
		if (r == 0)
			r = overlay_add_dir(ov, path);
	}
	if (r == 0 && o->m5)
		r = overlay_add_file(ov, M5_PATH, o->m5, 0755);
	return r;
}

/* The digest cache, its counts said and saved when the hashing is over. */
static void cache_done(struct dcache *c, int save)
{
	unsigned long hits = 0, misses = 0;

	if (c == NULL)
		return;
	dcache_counts(c, &hits, &misses);
	/* A small file is read for the injection whether its digest is
	 * cached or not (overlay.h, OVERLAY_KEEP_MAX): the cache spares the
	 * reading of the larger ones. */
	hb_info("overlay files: %lu hashed, %lu from the digest cache (files under %d KiB are "
		"read for the injection either way)", misses, hits, OVERLAY_KEEP_MAX / 1024);
	if (save && dcache_save(c) < 0)
		hb_info("the digest cache could not be written (it costs time only)");
	dcache_free(c);
}

/* The time stamp of everything injected.  By default it depends on BASE
 * alone (its file system's last write time), never on the overlay's
 * mtimes: those change with every copy of the overlay. */
int build_epoch(const struct build_opts *o, const struct partition *p, int64_t *epoch,
		const char **from)
{
	const char *sde = getenv("SOURCE_DATE_EPOCH");
	int64_t max = p->inode_size > 128 ? BUILD_EPOCH_MAX : BUILD_EPOCH_MAX_SMALL;

	*from = "option";
	if (o->have_epoch) {
		*epoch = o->epoch > 0 ? o->epoch : 1;
	} else if (sde && *sde) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(sde, &end, 10);
		*from = "SOURCE_DATE_EPOCH";
		if (*sde < '0' || *sde > '9' || *end || errno || v > max) {
			hb_error("SOURCE_DATE_EPOCH='%s' is not a time the image can hold (seconds "
				 "since 1970 as a plain decimal number, at most %lld%s)", sde,
				 (long long)max, p->inode_size > 128 ? "" : " on 128-byte inodes");
			return -EINVAL;
		}
		*epoch = v > 0 ? v : 1;
	} else {
		*from = "base";
		*epoch = p->fs_wtime > 0 ? p->fs_wtime : p->fs_mkfs_time > 0 ? p->fs_mkfs_time : 1;
	}
	if (*epoch > max) {
		hb_error("%s%lld: the file system's %u-byte inodes hold times up to %lld only%s",
			 o->have_epoch ? "-o epoch=" : "the time stamp from BASE's last write, ",
			 (long long)*epoch, p->inode_size, (long long)max,
			 p->inode_size > 128 ? "" : " (signed 32 bits: 2038-01-19)");
		return -EINVAL;
	}
	return 0;
}

static int identify(const struct build_opts *o, struct build *b, const unsigned char *slot)
{
	const struct partition *p = image_partition(b->img);
	struct digest *d;
	unsigned char slot_hash[DIGEST_LEN];
	int r;

	if ((r = digest_new(&d)) < 0)
		return r;
	digest_str(d, LAYOUT_FORMAT);
	digest_bytes(d, b->base_fp, DIGEST_LEN);
	digest_u64(d, image_size(b->img));
	digest_u64(d, p->offset);
	digest_u64(d, p->size);
	digest_u64(d, (uint64_t)p->number);
	digest_bytes(d, b->ov.digest, DIGEST_LEN);
	digest_u64(d, (uint64_t)o->keep_owner);
	digest_u64(d, o->keep_owner ? 0 : (uint64_t)o->uid);
	digest_u64(d, o->keep_owner ? 0 : (uint64_t)o->gid);
	digest_u64(d, (uint64_t)b->epoch);
	digest_u64(d, (uint64_t)!!o->keep_mtime);
	digest_u64(d, (uint64_t)o->umask);
	digest_str(d, RESTORE_SLOT_PATH);
	digest_u64(d, RESTORE_SLOT_SIZE);
	if ((r = digest_final(d, b->layout)) < 0)
		return r;

	if ((r = digest_new(&d)) < 0)
		return r;
	digest_update(d, slot, RESTORE_SLOT_SIZE);
	if ((r = digest_final(d, slot_hash)) < 0)
		return r;
	if ((r = digest_new(&d)) < 0)
		return r;
	digest_str(d, IMAGE_FORMAT);
	digest_bytes(d, b->layout, DIGEST_LEN);
	digest_bytes(d, slot_hash, DIGEST_LEN);
	return digest_final(d, b->digest);
}

static void hex_member(struct json *j, const char *key, const unsigned char d[DIGEST_LEN])
{
	char hex[DIGEST_HEX_LEN];

	digest_hex(d, hex);
	json_string(j, key, hex);
}

/* "0755" */
static void mode_member(struct json *j, const char *key, mode_t mode)
{
	char s[16];

	snprintf(s, sizeof s, "%04o", (unsigned)mode);
	json_string(j, key, s);
}

void build_describe(const struct build *b, struct json *j)
{
	const struct partition *p = image_partition(b->img);
	static const char *const types[] = { "dir", "file", "symlink" };

	json_string(j, "format", "hackbackfs manifest 1");
	json_string(j, "version", PACKAGE_VERSION);
	json_object_begin(j, "base", JSON_INLINE);
	json_string(j, "path", image_base_path(b->img));
	json_uint(j, "size", image_size(b->img));
	hex_member(j, "fingerprint", b->base_fp);
	json_string(j, "fingerprint_kind", b->with.full_hash ? "full" : "sampled");
	json_end(j);
	json_object_begin(j, "partition", JSON_INLINE);
	json_int(j, "number", p->number);
	json_string(j, "table", p->table);
	json_uint(j, "offset", p->offset);
	json_uint(j, "size", p->size);
	json_string(j, "fstype", p->fstype);
	json_string(j, "partuuid", p->uuid[0] ? p->uuid : NULL);
	json_end(j);
	json_row_begin(j);
	json_int(j, "epoch", b->epoch);
	json_string(j, "epoch_from", b->epoch_from);
	json_bool(j, "keep_mtime", b->with.keep_mtime);
	mode_member(j, "umask", b->with.umask);
	json_row_end(j);
	json_object_begin(j, "restore_slot", JSON_INLINE);
	json_string(j, "path", "/" RESTORE_SLOT_PATH);
	json_uint(j, "size", RESTORE_SLOT_SIZE);
	json_string(j, "script", b->with.restore);
	json_end(j);
	hex_member(j, "overlay_digest", b->ov.digest);
	hex_member(j, "layout", b->layout);
	hex_member(j, "digest", b->digest);
	json_array_begin(j, "entries", JSON_BLOCK);
	for (size_t i = 0; i < b->ov.n; i++) {
		const struct overlay_entry *e = &b->ov.entries[i];

		json_object_begin(j, NULL, JSON_INLINE);
		json_string(j, "path", e->path);
		json_string(j, "type", types[e->type]);
		mode_member(j, "mode", e->mode);
		if (e->type == OVERLAY_FILE) {
			json_uint(j, "size", e->size);
			hex_member(j, "sha256", e->sha256);
		} else if (e->type == OVERLAY_SYMLINK) {
			json_string(j, "target", e->target);
		}
		json_end(j);
	}
	json_end(j);
}

/* Written twice: once to count, then into a buffer of exactly that size
 * (a memory stream would double its buffer as it grows: at 100k entries
 * that is tens of MiB left in the heap for the life of the mount). */
static int describe_to(struct build *b, FILE *f)
{
	struct json j;
	int r;

	/* The stream is this thread's alone: stdio's per-call locking was a
	 * tenth of a 100k-file build. */
	__fsetlocking(f, FSETLOCKING_BYCALLER);
	json_init(&j, f);
	json_object_begin(&j, NULL, JSON_BLOCK);
	build_describe(b, &j);
	json_end(&j);
	r = json_done(&j);
	if (r == 0 && (fflush(f) != 0 || ferror(f)))
		r = -EIO;
	return r;
}

static ssize_t count_write(void *cookie, const char *buf, size_t n)
{
	(void)buf;
	*(size_t *)cookie += n;
	return (ssize_t)n;
}

static int manifest(struct build *b)
{
	size_t len = 0;
	FILE *f = fopencookie(&len, "w", (cookie_io_functions_t){ .write = count_write });
	int r;

	if (!f)
		return -ENOMEM;
	r = describe_to(b, f);
	fclose(f);
	if (r < 0)
		return r;
	if (!(b->manifest = malloc(len + 1)))
		return -ENOMEM;
	if (!(f = fmemopen(b->manifest, len + 1, "w")))
		return -ENOMEM;
	r = describe_to(b, f);
	if (r == 0 && ftell(f) != (long)len)
		r = -EIO;
	fclose(f);
	b->manifest_len = len;
	return r;
}

int build_image(const struct build_opts *o, struct build *b)
{
	CLEANUP_FREE unsigned char *slot = NULL;
	struct dcache *cache = NULL;
	struct inject_opts io;
	int r;

	memset(b, 0, sizeof *b);
	overlay_init(&b->ov);
	b->with.full_hash = o->full_hash;
	b->with.keep_mtime = o->keep_mtime;
	b->with.umask = o->umask;
	if (o->restore && !(b->with.restore = strdup(o->restore))) {
		hb_error("%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	b->ov.keep_mtime = o->keep_mtime;
	b->ov.umask = o->umask;
	r = image_open(&b->img, o->base, o->partition);
	if (r < 0)
		return r;
	hb_info("%s: %s file system at offset %" PRIu64, o->base, image_partition(b->img)->fstype,
		image_partition(b->img)->offset);
	if (o->full_hash)
		hb_info("hashing all of %s (%" PRIu64 " MiB)", o->base, image_size(b->img) >> 20);
	r = image_base_fingerprint(b->img, o->full_hash, b->base_fp);
	if (r < 0) {
		hb_error("%s: fingerprint: %s", o->base, strerror(-r));
		goto fail;
	}
	/* The files are hashed while they are injected (overlay_start):
	 * the digest cache serves both until overlay_end(). */
	cache = o->nocache ? NULL : dcache_open();
	b->ov.cache = cache;
	if ((r = scan_overlays(o, &b->ov)) < 0 || (r = overlay_start(&b->ov)) < 0)
		goto fail;
	if ((r = make_slot(o->restore, &slot)) < 0)
		goto fail;
	if ((r = build_epoch(o, image_partition(b->img), &b->epoch, &b->epoch_from)) < 0)
		goto fail;
	hb_info("injecting %zu overlay entries (%" PRIu64 " MiB of file data)", b->ov.n,
		b->ov.total_file_bytes >> 20);

	io = (struct inject_opts){
		.keep_owner = o->keep_owner, .uid = o->uid, .gid = o->gid, .epoch = b->epoch,
		.keep_mtime = o->keep_mtime,
		.slot_path = RESTORE_SLOT_PATH, .slot_data = slot, .slot_size = RESTORE_SLOT_SIZE,
	};
	if ((r = inject_overlay(b->img, &b->ov, &io)) < 0 || (r = overlay_end(&b->ov)) < 0)
		goto fail;
	b->ov.cache = NULL;
	cache_done(cache, 1);
	cache = NULL;
	if ((r = identify(o, b, slot)) < 0 || (r = manifest(b)) < 0) {
		hb_error("computing the image's identity: %s", strerror(-r));
		goto fail;
	}
	return 0;

fail:
	build_free(b);	/* stops the hashing before the cache goes */
	cache_done(cache, 0);
	return r;
}

void build_free(struct build *b)
{
	image_close(b->img);
	b->img = NULL;
	overlay_free(&b->ov);
	free(b->manifest);
	b->manifest = NULL;
	free(b->with.restore);
	b->with.restore = NULL;
}
