/* SPDX-License-Identifier: BSD-3-Clause */
/* export.c -- gem5 CowDiskImage file from a built image (see export.h).
 *
 * One pass over the units the build wrote, in ascending order
 * (image_foreach_built(): the delta's iterator, no copy of the delta, no
 * per-unit memory), each compared sector by sector with the base's bytes
 * that the image hands along; a sector goes out only when its bytes
 * differ, so a unit the injection rewrote with the base's own bytes costs
 * gem5 nothing.  The image checks the overlay files and BASE after every
 * read, as for a mount: one changed during the export fails it, and no
 * FILE is left.  Records stream through a small buffer; N is written into
 * the header at the end, once known.  Memory: the buffer and the iterator's
 * sorted table keys, whatever the delta's size.
 *
 * Never a half-written FILE: both files are outfiles (outfile.h), FILE.json
 * published first, so that a FILE in place always has its description.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "export.h"
#include "json.h"
#include "outfile.h"
#include "util.h"

#define COW_MAGIC "COWDISK!"
#define TRAILER_MAGIC "HBTRAIL1"
#define FLAG_FULL_FINGERPRINT 1u

static void header(unsigned char h[EXPORT_HEADER_LEN], uint64_t n)
{
	memcpy(h, COW_MAGIC, 8);
	hb_put_le(h + 8, 1, 4);	/* major */
	hb_put_le(h + 12, 0, 4);	/* minor */
	hb_put_le(h + 16, n, 8);
}

struct table {
	struct outfile *o;
	uint64_t n;
};

/* image_foreach_built()'s callback: the sectors of one unit that differ
 * from the base. */
static int export_unit(uint64_t off, const unsigned char *bytes, const unsigned char *base,
		       size_t len, void *arg)
{
	struct table *t = arg;
	unsigned char rec[8];

	/* A partial last sector is dropped, as gem5's RawDiskImage does. */
	for (size_t s = 0; s + EXPORT_SECTOR <= len; s += EXPORT_SECTOR) {
		int w;
		if (memcmp(bytes + s, base + s, EXPORT_SECTOR) == 0)
			continue;
		hb_put_le(rec, (off + s) / EXPORT_SECTOR, 8);
		if ((w = outfile_write(t->o, rec, sizeof rec)) < 0 ||
		    (w = outfile_write(t->o, bytes + s, EXPORT_SECTOR)) < 0)
			return w;
		t->n++;
	}
	return 0;
}

static int write_table(const struct build *b, struct outfile *o, uint64_t *n)
{
	unsigned char h[EXPORT_HEADER_LEN];
	struct table t = { .o = o };
	int r;

	header(h, 0);	/* N once known */
	if ((r = outfile_write(o, h, sizeof h)) < 0)
		return r;
	r = image_foreach_built(b->img, export_unit, &t);
	*n = t.n;
	return r;
}

static int write_trailer(const struct build *b, struct outfile *o, uint64_t n)
{
	unsigned char t[EXPORT_TRAILER_LEN];

	memcpy(t, TRAILER_MAGIC, 8);
	hb_put_le(t + 8, EXPORT_TRAILER_LEN, 4);
	hb_put_le(t + 12, b->with.full_hash ? FLAG_FULL_FINGERPRINT : 0, 4);
	hb_put_le(t + 16, n, 8);
	hb_put_le(t + 24, image_size(b->img), 8);
	memcpy(t + 32, b->base_fp, DIGEST_LEN);
	memcpy(t + 64, b->ov.digest, DIGEST_LEN);
	memcpy(t + 96, b->layout, DIGEST_LEN);
	memcpy(t + 128, b->digest, DIGEST_LEN);
	return outfile_write(o, t, sizeof t);
}

/* FILE.json: the manifest with a "cow" member in front. */
static int write_json(const struct build *b, struct outfile *o, const struct export_result *res)
{
	CLEANUP_FREE char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	struct json j;
	int r;

	if (!f)
		return -ENOMEM;
	__fsetlocking(f, FSETLOCKING_BYCALLER);
	json_init(&j, f);
	json_object_begin(&j, NULL, JSON_BLOCK);
	json_object_begin(&j, "cow", JSON_INLINE);
	json_string(&j, "format", "gem5 CowDiskImage 1.0");
	json_string(&j, "trailer", TRAILER_MAGIC);
	json_uint(&j, "sectors", res->sectors);
	json_uint(&j, "file_bytes", res->file_bytes);
	json_uint(&j, "gem5_table_bytes", res->table_bytes);
	json_end(&j);
	build_describe(b, &j);
	json_end(&j);
	r = json_done(&j);
	if (fclose(f) != 0)
		return -ENOMEM;
	return r < 0 ? r : outfile_write(o, text, len);
}

/* Refuse to rename over BASE itself. */
static int check_not_base(const struct build *b, const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && image_is_base(b->img, &st)) {
		hb_error("%s is the base image: choose another output file", path);
		return -EINVAL;
	}
	return 0;
}

int export_check_path(const char *path)
{
	return outfile_check(path, "--export-cow");
}

int export_cow(const struct build *b, const char *path, struct export_result *res)
{
	CLEANUP_FREE char *json_path = NULL;
	struct outfile *cow = NULL, *json = NULL;
	unsigned char h[EXPORT_HEADER_LEN];
	int r;

	memset(res, 0, sizeof *res);
	if (asprintf(&json_path, "%s.json", path) < 0) {
		json_path = NULL;
		return -ENOMEM;
	}
	if ((r = check_not_base(b, path)) < 0 || (r = check_not_base(b, json_path)) < 0)
		return r;

	hb_info("exporting the delta (%" PRIu64 " units) to %s", image_built_units(b->img), path);
	if ((r = outfile_open(&cow, path, 0666)) < 0)
		goto out;
	if ((r = write_table(b, cow, &res->sectors)) < 0 ||
	    (r = write_trailer(b, cow, res->sectors)) < 0)
		goto out;
	header(h, res->sectors);
	if ((r = outfile_pwrite(cow, h, sizeof h, 0)) < 0)
		goto out;
	res->file_bytes = outfile_size(cow);
	res->table_bytes = res->sectors * EXPORT_GEM5_ENTRY_BYTES;
	if ((r = outfile_finish(cow)) < 0)
		goto out;

	if ((r = outfile_open(&json, json_path, 0666)) < 0 || (r = write_json(b, json, res)) < 0 ||
	    (r = outfile_finish(json)) < 0)
		goto out;
	/* The description first: a FILE in place always has its own. */
	if ((r = outfile_publish(json, 0)) < 0)
		goto out;
	if ((r = outfile_publish(cow, 0)) < 0) {
		unlink(json_path);
		goto out;
	}
	hb_info("%s: %" PRIu64 " sectors, %" PRIu64 " bytes", path, res->sectors, res->file_bytes);

out:
	outfile_close(cow, NULL);
	outfile_close(json, NULL);
	return r;
}

void export_print(FILE *f, const struct export_result *res)
{
	fprintf(f, "sectors %" PRIu64 "\n", res->sectors);
	fprintf(f, "file_bytes %" PRIu64 "\n", res->file_bytes);
	fprintf(f, "gem5_table_bytes %" PRIu64 "\n", res->table_bytes);
	if (res->table_bytes > EXPORT_WARN_TABLE_BYTES)
		fprintf(stderr,
			"%s: warning: gem5 will hold this table in memory, about %" PRIu64
			" MiB (%" PRIu64 " sectors at ~%u bytes), in every simulation and every "
			"checkpoint; above %llu MiB the FUSE mount serves the same image better\n",
			HB_PROGRAM, res->table_bytes >> 20, res->sectors, EXPORT_GEM5_ENTRY_BYTES,
			EXPORT_WARN_TABLE_BYTES >> 20);
}
