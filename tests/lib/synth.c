/* SPDX-License-Identifier: BSD-3-Clause */
/* synth.c -- test helper: synthesize an image and write it to a file.
 *
 *   tests/lib/synth [--partition N | --whole] [--keep-owner] [--owner UID:GID]
 *               [--epoch SECONDS] [--keep-mtime] [--file DEST=HOSTPATH]...
 *               BASE OUT [OVERLAYDIR...]
 *
 * --file adds one file as overlay_add_file() does (after the directories,
 * so it wins over them); at least one OVERLAYDIR or --file is needed.
 * Without --epoch the time stamp is the program's default (build_epoch():
 * $SOURCE_DATE_EPOCH, else BASE's last write time).  No restore
 * slot is written: the tests see exactly BASE plus the overlay.
 *
 * Runs the same pipeline as the mount (probe, scan, inject, freeze) and
 * then copies the whole image into OUT, so that the shell tests can check
 * it with e2fsck, debugfs and a kernel mount without FUSE in the way.
 *
 * OUT is written sparse: 64 KiB chunks that read as zeros are skipped and
 * the file is sized with ftruncate(), so a 1 GiB base costs a few MiB of
 * disk.  Skipping only zero chunks (instead of copying the base's holes)
 * keeps OUT's bytes independent of how the base was allocated, which is
 * what a byte-for-byte comparison of two runs wants.  OUT is created only
 * after the injection has succeeded: a refused input leaves no file.
 *
 * Errors from the engine are printed by hb_error() where they happen;
 * this program adds nothing to them and exits 1.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "image.h"
#include "inject.h"
#include "overlay.h"
#include "partition.h"
#include "util.h"

#define CHUNK (64u * 1024u)

static const char usage_text[] =
	"usage: synth [--partition N | --whole] [--keep-owner] [--owner UID:GID]\n"
	"             [--epoch SECONDS] [--keep-mtime] [--file DEST=HOSTPATH]...\n"
	"             BASE OUT [OVERLAYDIR...]\n";

static void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("synth: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage_text);
	exit(1);
}

/* Parse a decimal number in [min, max] or exit with a usage error. */
static long long parse_num(const char *s, long long min, long long max, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		usage_error("bad %s: '%s'", what, s);
	return v;
}

static void parse_owner(const char *s, struct inject_opts *opts)
{
	const char *colon = strchr(s, ':');
	char uid[32];

	if (!colon || (size_t)(colon - s) >= sizeof uid)
		usage_error("--owner wants UID:GID, not '%s'", s);
	memcpy(uid, s, (size_t)(colon - s));
	uid[colon - s] = '\0';
	opts->uid = (uid_t)parse_num(uid, 0, UINT32_MAX - 1, "uid in --owner");
	opts->gid = (gid_t)parse_num(colon + 1, 0, UINT32_MAX - 1, "gid in --owner");
}

static int all_zero(const unsigned char *buf, size_t len)
{
	return len == 0 || (buf[0] == 0 && memcmp(buf, buf + 1, len - 1) == 0);
}

/* Copy the image into out_path, skipping zero chunks.  Returns 0 or -1
 * after printing the cause. */
static int write_image(struct image *img, const char *out_path)
{
	static unsigned char buf[CHUNK];
	CLEANUP_CLOSE int fd = -1;
	uint64_t off;

	fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "synth: %s: %s\n", out_path, strerror(errno));
		return -1;
	}
	for (off = 0; off < image_size(img); off += CHUNK) {
		size_t want = (size_t)HB_MIN((uint64_t)CHUNK, image_size(img) - off);
		ssize_t r = image_read(img, buf, want, off);

		if (r < 0) {
			fprintf(stderr, "synth: reading the image at %" PRIu64 ": %s\n",
				off, strerror((int)-r));
			return -1;
		}
		if ((size_t)r != want) {
			fprintf(stderr, "synth: short read of the image at %" PRIu64
				": %zd of %zu bytes\n", off, r, want);
			return -1;
		}
		if (all_zero(buf, want))
			continue;
		r = hb_pwrite_full(fd, buf, want, off);
		if (r < 0) {
			fprintf(stderr, "synth: %s: %s\n", out_path, strerror((int)-r));
			return -1;
		}
	}
	if (ftruncate(fd, (off_t)image_size(img)) < 0 || fsync(fd) < 0) {
		fprintf(stderr, "synth: %s: %s\n", out_path, strerror(errno));
		return -1;
	}
	if (close(fd) < 0) {
		fd = -1;
		fprintf(stderr, "synth: %s: %s\n", out_path, strerror(errno));
		return -1;
	}
	fd = -1;
	return 0;
}

/* OUT must not be BASE (or a link to it): the base is never written. */
static int same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "partition", required_argument, NULL, 'p' },
		{ "whole", no_argument, NULL, 'w' },
		{ "keep-owner", no_argument, NULL, 'k' },
		{ "owner", required_argument, NULL, 'o' },
		{ "epoch", required_argument, NULL, 'e' },
		{ "keep-mtime", no_argument, NULL, 'm' },
		{ "file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct inject_opts opts = { .keep_owner = 0, .uid = 0, .gid = 0, .epoch = 0 };
	struct image *img = NULL;
	struct overlay ov;
	const char *base, *out;
	char **files = NULL;	/* the --file arguments, DEST=HOSTPATH */
	int nfiles = 0;
	int which = PARTITION_AUTO;
	int c, i, status = 1;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			which = (int)parse_num(optarg, 1, INT_MAX, "partition number");
			break;
		case 'w':
			which = PARTITION_WHOLE;
			break;
		case 'k':
			opts.keep_owner = 1;
			break;
		case 'o':
			parse_owner(optarg, &opts);
			break;
		case 'e':
			opts.epoch = parse_num(optarg, 1, INT64_MAX, "--epoch");
			break;
		case 'm':
			opts.keep_mtime = 1;
			break;
		case 'f':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				usage_error("--file wants DEST=HOSTPATH, not '%s'", optarg);
			files = realloc(files, (size_t)(nfiles + 1) * sizeof *files);
			if (!files) {
				perror("synth");
				return 1;
			}
			files[nfiles++] = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 1;
		}
	}
	if (argc - optind < 2 || (argc - optind == 2 && nfiles == 0))
		usage_error("%s", "BASE, OUT and at least one OVERLAYDIR or --file are needed");
	base = argv[optind];
	out = argv[optind + 1];
	if (same_file(base, out))
		usage_error("OUT is BASE (%s): refusing to write it", out);

	overlay_init(&ov);
	if (image_open(&img, base, which) < 0)
		goto out;
	for (i = optind + 2; i < argc; i++)
		if (overlay_add_dir(&ov, argv[i]) < 0)
			goto out;
	for (i = 0; i < nfiles; i++) {
		char *eq = strchr(files[i], '=');

		*eq = '\0';
		if (overlay_add_file(&ov, files[i], eq + 1, 0) < 0)
			goto out;
	}
	if (overlay_start(&ov) < 0)	/* hashed while injected, as in a mount */
		goto out;
	if (opts.epoch == 0) {
		struct build_opts bo = { .have_epoch = 0 };
		const char *from;
		if (build_epoch(&bo, image_partition(img), &opts.epoch, &from) < 0)
			goto out;
	}
	if (inject_overlay(img, &ov, &opts) < 0 || overlay_end(&ov) < 0)
		goto out;
	if (image_freeze(img, 0, 1) < 0)
		goto out;
	if (write_image(img, out) < 0) {
		unlink(out);
		goto out;
	}
	status = 0;
out:
	if (img)
		image_close(img);
	overlay_free(&ov);
	free(files);
	return status;
}
