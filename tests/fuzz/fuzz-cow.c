/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-cow.c -- fuzz target: the cow file reader (-o cow=FILE, "HBCOW001").
 *
 * The input is a cow file left by an earlier run (or by anyone).  The image
 * is a fixed 128 KiB ext2 base made once; the identity the target attaches
 * with is 32 bytes of 'Z', which the seed files (seeds.sh) carry, so that
 * the fuzzer starts past the header check.  An accepted file must then
 * serve every byte of the image, take a whole and a partial unit write,
 * and read them back.  The input is written to a real file of mode 0600
 * (a memfd's /proc/self/fd/N is a symbolic link of mode 0777, which
 * cow_open() refuses before reading a byte).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "image.h"
#include "util.h"

#define BASE_KIB 128	/* seeds.sh writes this size into its headers */

static char base[512];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char cmd[700];

	(void)argc;
	(void)argv;
	snprintf(base, sizeof base, "%s/cow-base.img", fuzz_workdir());
	snprintf(cmd, sizeof cmd, "mke2fs -q -F -t ext2 -b 1024 -N 16 -E root_owner=0:0 '%s' %d >/dev/null",
		 base, BASE_KIB);
	fuzz_sh(cmd);
	hb_error_quiet(getenv("HB_FUZZ_VERBOSE") == NULL);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[BASE_KIB * 1024];
	unsigned char id[32], unit[DELTA_UNIT];
	struct image *img;
	char path[600];
	int r;

	if (image_open(&img, base, PARTITION_AUTO) < 0 || image_freeze(img, 0, 0) < 0)
		abort();
	snprintf(path, sizeof path, "%s/cow.fuzz", fuzz_workdir());
	fuzz_write_file(path, data, size);
	memset(id, 'Z', sizeof id);
	hb_error("%s", "");
	r = image_attach_cow(img, path, id);
	FUZZ_ASSERT(r <= 0);
	if (r < 0) {
		FUZZ_ASSERT(hb_last_error()[0] != '\0');
	} else {
		FUZZ_ASSERT(image_read(img, buf, sizeof buf, 0) == (ssize_t)sizeof buf);
		memset(unit, 0xc3, sizeof unit);
		FUZZ_ASSERT(image_write(img, unit, sizeof unit, 7 * DELTA_UNIT) == DELTA_UNIT);
		FUZZ_ASSERT(image_write(img, unit, 100, 3 * DELTA_UNIT + 1000) == 100);
		FUZZ_ASSERT(image_flush(img) == 0);
		FUZZ_ASSERT(image_read(img, buf, sizeof buf, 0) == (ssize_t)sizeof buf);
		FUZZ_ASSERT(memcmp(buf + 7 * DELTA_UNIT, unit, DELTA_UNIT) == 0);
		FUZZ_ASSERT(memcmp(buf + 3 * DELTA_UNIT + 1000, unit, 100) == 0);
	}
	image_close(img);
	return 0;
}
