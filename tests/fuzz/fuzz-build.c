/* fuzz-build.c -- fuzz target: the whole build over a mutated base image.
 *
 * The input is the base file (small ext2/3/4 images, bare or partitioned,
 * made by seeds.sh).  Each run probes it, opens its file system, injects a
 * fixed small overlay (overlay.sh: new and replaced files, a mapped file,
 * symlinks, a hard link, deep directories, a name in an htree directory)
 * and closes it: the same pipeline as tests/synth.  A refusal must come
 * with a message.  Whether an accepted image passes `e2fsck -fn' is
 * checked over the corpus afterwards (build-check.sh runs tests/synth with
 * the same overlay and epoch), not per input: e2fsck costs more than a run.
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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[512];

	(void)argc;
	(void)argv;
	snprintf(dir, sizeof dir, "%s/overlay", fuzz_workdir());
	fuzz_sh("sh '%s/tests/fuzz/overlay.sh' '%s'", HB_FUZZ_SRCDIR, dir);
	overlay_init(&ov);
	if (overlay_add_dir(&ov, dir) < 0 || overlay_finish(&ov) < 0)
		abort();
	hb_error_quiet(getenv("HB_FUZZ_VERBOSE") == NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct inject_opts opts = { .epoch = FUZZ_EPOCH };
	struct image *img;
	char path[64];
	int fd = fuzz_memfd(data, size, path, sizeof path);
	int r;

	hb_error("%s", "");
	r = image_open(&img, path, PARTITION_AUTO);
	if (r == 0) {
		r = inject_overlay(img, &ov, &opts);
		if (r == 0)
			r = image_freeze(img, 0, 1);
		image_close(img);
	}
	FUZZ_ASSERT(r <= 0);
	FUZZ_ASSERT(r == 0 || hb_last_error()[0] != '\0');
	close(fd);
	return 0;
}
