/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzz-probe.c -- fuzz target: the partition probe over arbitrary bytes
 * (MBR, GPT, bare file systems).
 *
 * The input is the whole base file.  Every selection the command line can
 * make is tried; whatever the probe accepts must lie inside the file and be
 * ext2/3/4, and a refusal must come with a message.
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "fuzz.h"
#include "partition.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	hb_error_quiet(1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int which[] = { PARTITION_AUTO, PARTITION_WHOLE, 1, 2, 5 };
	char path[64];
	int fd = fuzz_memfd(data, size, path, sizeof path);

	for (size_t i = 0; i < HB_ARRAY_SIZE(which); i++) {
		struct partition p;
		int r;

		memset(&p, 0xa5, sizeof p);
		hb_error("%s", "");
		r = partition_probe(fd, "fuzz", which[i], &p);
		if (r < 0) {
			FUZZ_ASSERT(hb_last_error()[0] != '\0');
			continue;
		}
		FUZZ_ASSERT(r == 0);
		FUZZ_ASSERT(p.size > 0 && p.offset <= size && p.size <= size - p.offset);
		FUZZ_ASSERT(!strcmp(p.fstype, "ext2") || !strcmp(p.fstype, "ext3") ||
			    !strcmp(p.fstype, "ext4"));
		FUZZ_ASSERT(memchr(p.table, '\0', sizeof p.table) != NULL);
		FUZZ_ASSERT(which[i] <= 0 || p.number == which[i]);
	}
	close(fd);
	return 0;
}
