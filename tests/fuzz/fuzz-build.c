/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-build.c -- fuzz target: the whole build over a mutated base image.
 *
 * The input is the base file (small ext2/3/4 images, bare or partitioned,
 * made by seeds.sh).  Each run probes it, opens its file system, injects a
 * fixed small overlay (overlay.sh: new and replaced files, a mapped file,
 * symlinks, a hard link, deep directories, a name in an htree directory)
 * and closes it: the same pipeline as tests/lib/synth.  An input of even size
 * is padded with zeros to a whole MiB (see below).  A refusal must come
 * with a message.  Whether an accepted image passes `e2fsck -fn' is
 * checked over the corpus afterwards (build-check.sh runs tests/lib/synth with
 * the same overlay and epoch), not per input: e2fsck costs more than a run.
 *
 * For that check, with HB_FUZZ_OUT=FILE in the environment (replay driver
 * only, one input), a refusal exits 1 after its message and an accepted
 * image is written to FILE with the file system's byte offset on stdout.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "image.h"
#include "inject.h"
#include "overlay.h"
#include "util.h"

#ifndef HB_FUZZ_SRCDIR
#define HB_FUZZ_SRCDIR "."
#endif
#define FUZZ_EPOCH 1700000000	/* build-check.sh passes the same --epoch */

static struct overlay ov;
static int verbose;	/* print messages (and so never clear them) */

/* HB_FUZZ_OUT: the image to FILE, the offset on stdout, exit 0. */
static void write_out(struct image *img, const char *out)
{
	static unsigned char buf[1 << 16];
	FILE *f = fopen(out, "w");

	for (uint64_t off = 0; f && off < image_size(img); off += sizeof buf) {
		ssize_t n = image_read(img, buf, sizeof buf, off);
		if (n <= 0 || fwrite(buf, 1, (size_t)n, f) != (size_t)n)
			break;
	}
	if (!f || ferror(f) || fclose(f) != 0) {
		perror(out);
		exit(2);
	}
	printf("%llu\n", (unsigned long long)image_partition(img)->offset);
	exit(0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[512], cmd[1200];

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof dir, "%s/overlay", fuzz_workdir());
	snprintf(cmd, sizeof cmd, "sh '%s/tests/fuzz/overlay.sh' '%s'", HB_FUZZ_SRCDIR, dir);
	fuzz_sh(cmd);
	overlay_init(&ov);
	if (overlay_add_dir(&ov, dir) < 0 || overlay_finish(&ov) < 0)
		abort();
	verbose = getenv("HB_FUZZ_VERBOSE") || getenv("HB_FUZZ_OUT");
	hb_error_quiet(!verbose);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inject_opts opts = { .epoch = FUZZ_EPOCH };
	struct image *img;
	char path[64];
	int fd = fuzz_memfd(data, size, path, sizeof path);
	int r;

	/* libFuzzer's mutations shrink inputs: most would be refused as
	 * truncated before reaching libext2fs.  Zeros up to the next MiB give
	 * the seeds their sizes back -- for inputs of even size; odd sizes run
	 * as they are, so that truncated images stay covered. */
	if (size % 2 == 0 && ftruncate(fd, (off_t)((size + (1 << 20) - 1) & ~(size_t)((1 << 20) - 1))) < 0)
		abort();

	if (!verbose)
		hb_error("%s", "");	/* quiet: only records "no message yet" */
	r = image_open(&img, path, PARTITION_AUTO);
	if (r == 0) {
		r = inject_overlay(img, &ov, &opts);
		if (r == 0)
			r = image_freeze(img, 0, 1);
		if (r == 0 && getenv("HB_FUZZ_OUT"))
			write_out(img, getenv("HB_FUZZ_OUT"));
		image_close(img);
	}
	if (r < 0 && getenv("HB_FUZZ_OUT"))
		exit(1);
	FUZZ_ASSERT(r <= 0);
	FUZZ_ASSERT(r == 0 || hb_last_error()[0] != '\0');
	close(fd);
	return 0;
}
