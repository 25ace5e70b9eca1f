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
#include <string.h>
#include <sys/stat.h>

#include "build.h"
#include "dcache.h"
#include "inject.h"
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
	if (r == 0)
		r = overlay_finish(ov);
	return r;
}

/* scan_overlays() through the caller's digest cache, unless o->nocache. */
static int scan_cached(const struct build_opts *o, struct overlay *ov)
{
	struct dcache *c = o->nocache ? NULL : dcache_open();
	unsigned long hits = 0, misses = 0;
	int r;

	ov->cache = c;
	r = scan_overlays(o, ov);
	ov->cache = NULL;
	if (c) {
		dcache_counts(c, &hits, &misses);
		hb_info("overlay files: %lu hashed, %lu from the digest cache", misses, hits);
		if (r == 0 && dcache_save(c) < 0)
			hb_info("the digest cache could not be written (it costs time only)");
		dcache_free(c);
	}
	return r;
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
	const struct partition *p = &b->img->part;
	struct digest *d;
	unsigned char slot_hash[DIGEST_LEN];
	int r;

	if ((r = digest_new(&d)) < 0)
		return r;
	digest_str(d, LAYOUT_FORMAT);
	digest_bytes(d, b->base_fp, DIGEST_LEN);
	digest_u64(d, b->img->size);
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

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when the bytes there
 * are not one: overlong forms, UTF-16 surrogates and code points past
 * U+10FFFF are not valid (RFC 3629). */
static int utf8_len(const unsigned char *p)
{
	unsigned c = p[0];
	int n;
	unsigned min, cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, min = 0x80, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, min = 0x800, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, min = 0x10000, cp = c & 0x07;
	else
		return 0;
	for (int i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;	/* also stops at the NUL */
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* A JSON string of the bytes s.  File names are bytes, not text: a byte
 * that is not part of valid UTF-8 becomes \udcXX, a lone low surrogate,
 * which no valid UTF-8 text contains -- PEP 383's "surrogateescape", so
 * that json.loads(...) then .encode("utf-8", "surrogateescape") in Python
 * gives back exactly the name's bytes, and no two names look alike. */
static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		int n = utf8_len(p);

		if (n == 0)
			fprintf(f, "\\udc%02x", *p++);
		else if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p++);
		else if (*p < 0x20)
			fprintf(f, "\\u%04x", *p++);
		else {
			fwrite(p, 1, (size_t)n, f);
			p += n;
		}
	}
	fputc('"', f);
}

static void json_hex(FILE *f, const char *key, const unsigned char d[DIGEST_LEN], const char *tail)
{
	char hex[DIGEST_HEX_LEN];

	digest_hex(d, hex);
	fprintf(f, "  \"%s\": \"%s\"%s\n", key, hex, tail);
}

static int manifest(const struct build_opts *o, struct build *b)
{
	const struct partition *p = &b->img->part;
	FILE *f = open_memstream(&b->manifest, &b->manifest_len);
	static const char *const types[] = { "dir", "file", "symlink" };

	if (!f)
		return -ENOMEM;
	fprintf(f, "{\n  \"format\": \"hackbackfs manifest 1\",\n  \"version\": \"%s\",\n", PACKAGE_VERSION);
	fprintf(f, "  \"base\": {\"path\": ");
	json_str(f, b->img->base_path);
	fprintf(f, ", \"size\": %" PRIu64 ", \"fingerprint\": ", b->img->size);
	{
		char hex[DIGEST_HEX_LEN];
		digest_hex(b->base_fp, hex);
		fprintf(f, "\"%s\", \"fingerprint_kind\": \"%s\"},\n", hex, o->full_hash ? "full" : "sampled");
	}
	fprintf(f, "  \"partition\": {\"number\": %d, \"table\": \"%s\", \"offset\": %" PRIu64
		   ", \"size\": %" PRIu64 ", \"fstype\": \"%s\", \"partuuid\": ",
		p->number, p->table, p->offset, p->size, p->fstype);
	if (p->uuid[0])
		json_str(f, p->uuid);
	else
		fputs("null", f);
	fputs("},\n", f);
	fprintf(f, "  \"epoch\": %" PRId64 ", \"epoch_from\": \"%s\", \"keep_mtime\": %s, "
		   "\"umask\": \"%04o\",\n", b->epoch, b->epoch_from,
		o->keep_mtime ? "true" : "false", (unsigned)o->umask);
	fprintf(f, "  \"restore_slot\": {\"path\": \"/%s\", \"size\": %u, \"script\": ",
		RESTORE_SLOT_PATH, RESTORE_SLOT_SIZE);
	if (o->restore)
		json_str(f, o->restore);
	else
		fputs("null", f);
	fputs("},\n", f);
	json_hex(f, "overlay_digest", b->ov.digest, ",");
	json_hex(f, "layout", b->layout, ",");
	json_hex(f, "digest", b->digest, ",");
	fputs("  \"entries\": [\n", f);
	for (size_t i = 0; i < b->ov.n; i++) {
		const struct overlay_entry *e = &b->ov.entries[i];
		fputs("    {\"path\": ", f);
		json_str(f, e->path);
		fprintf(f, ", \"type\": \"%s\", \"mode\": \"%04o\"", types[e->type], (unsigned)e->mode);
		if (e->type == OVERLAY_FILE) {
			char hex[DIGEST_HEX_LEN];
			digest_hex(e->sha256, hex);
			fprintf(f, ", \"size\": %" PRIu64 ", \"sha256\": \"%s\"", e->size, hex);
		} else if (e->type == OVERLAY_SYMLINK) {
			fputs(", \"target\": ", f);
			json_str(f, e->target);
		}
		fprintf(f, "}%s\n", i + 1 < b->ov.n ? "," : "");
	}
	fputs("  ]\n}\n", f);
	return fclose(f) == 0 ? 0 : -ENOMEM;
}

int build_image(const struct build_opts *o, struct build *b)
{
	CLEANUP_FREE unsigned char *slot = NULL;
	struct inject_opts io;
	int r;

	memset(b, 0, sizeof *b);
	overlay_init(&b->ov);
	b->ov.keep_mtime = o->keep_mtime;
	b->ov.umask = o->umask;
	r = image_open(&b->img, o->base, o->partition);
	if (r < 0)
		return r;
	hb_info("%s: %s file system at offset %" PRIu64, o->base, b->img->part.fstype,
		b->img->part.offset);
	if (o->full_hash)
		hb_info("hashing all of %s (%" PRIu64 " MiB)", o->base, b->img->size >> 20);
	r = digest_base_fingerprint(b->img->base_fd, b->img->size, o->full_hash, b->base_fp);
	if (r < 0) {
		hb_error("%s: fingerprint: %s", o->base, strerror(-r));
		goto fail;
	}
	if ((r = scan_cached(o, &b->ov)) < 0)
		goto fail;
	if ((r = make_slot(o->restore, &slot)) < 0)
		goto fail;
	if ((r = build_epoch(o, &b->img->part, &b->epoch, &b->epoch_from)) < 0)
		goto fail;
	hb_info("injecting %zu overlay entries (%" PRIu64 " MiB of file data)", b->ov.n,
		b->ov.total_file_bytes >> 20);

	io = (struct inject_opts){
		.keep_owner = o->keep_owner, .uid = o->uid, .gid = o->gid, .epoch = b->epoch,
		.keep_mtime = o->keep_mtime,
		.slot_path = RESTORE_SLOT_PATH, .slot_data = slot, .slot_size = RESTORE_SLOT_SIZE,
	};
	if ((r = inject_overlay(b->img, &b->ov, &io)) < 0)
		goto fail;
	if ((r = identify(o, b, slot)) < 0 || (r = manifest(o, b)) < 0) {
		hb_error("computing the image's identity: %s", strerror(-r));
		goto fail;
	}
	return 0;

fail:
	build_free(b);
	return r;
}

void build_free(struct build *b)
{
	image_close(b->img);
	b->img = NULL;
	overlay_free(&b->ov);
	free(b->manifest);
	b->manifest = NULL;
}
