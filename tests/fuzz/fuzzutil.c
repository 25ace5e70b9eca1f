/* SPDX-License-Identifier: BSD-3-Clause */
/* fuzzutil.c -- helpers of the fuzz targets (fuzz.h). */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "util.h"

int fuzz_memfd(const uint8_t *data, size_t size, char *path, size_t path_len)
{
	int fd = memfd_create("hb-fuzz", MFD_CLOEXEC);

	if (fd < 0 || hb_pwrite_full(fd, data, size, 0) != (ssize_t)size) {
		perror("fuzz: memfd");
		abort();
	}
	snprintf(path, path_len, "/proc/self/fd/%d", fd);
	return fd;
}

void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || hb_pwrite_full(fd, data, size, 0) != (ssize_t)size || close(fd) < 0) {
		perror(path);
		abort();
	}
}

static char workdir[256];

static void remove_workdir(void)
{
	char cmd[300];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
	fuzz_sh(cmd);
}

const char *fuzz_workdir(void)
{
	if (!workdir[0]) {
		const char *t = getenv("TMPDIR");
		snprintf(workdir, sizeof workdir, "%s/hb-fuzz.XXXXXX", t && *t ? t : "/tmp");
		if (!mkdtemp(workdir)) {
			perror("fuzz: mkdtemp");
			abort();
		}
		atexit(remove_workdir);
	}
	return workdir;
}

void fuzz_sh(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "fuzz: command failed: %s\n", cmd);
		abort();
	}
}

void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "fuzz: %s:%d: invariant broken: %s\n", file, line, what);
	abort();
}
