/* SPDX-License-Identifier: BSD-3-Clause */
/* tests/lib/fdmount.c -- mount FUSE the way a container runtime does, then hand
 * the descriptor to a server as /dev/fd/N (tests/mount/dev-fd.sh; needs root).
 *
 *     fdmount DIR PROG [ARGS...]
 *
 * Opens /dev/fuse, mounts it on DIR with mount(2) (fd=N, rootmode=40000,
 * user_id and group_id of the caller), then executes PROG with every
 * argument "@FD@" replaced by "/dev/fd/N".  The descriptor stays open
 * across exec; the mount stays until somebody unmounts DIR.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

int main(int argc, char *argv[])
{
	char opts[128], path[32];
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: fdmount DIR PROG [ARGS...]\n");
		return 2;
	}
	fd = open("/dev/fuse", O_RDWR);
	if (fd < 0) {
		perror("fdmount: /dev/fuse");
		return 1;
	}
	snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=%u,group_id=%u", fd,
		 (unsigned)getuid(), (unsigned)getgid());
	if (mount("hackbackfs", argv[1], "fuse.hackbackfs", MS_NOSUID | MS_NODEV, opts) < 0) {
		perror("fdmount: mount");
		return 1;
	}
	snprintf(path, sizeof path, "/dev/fd/%d", fd);
	for (int i = 3; i < argc; i++)
		if (strcmp(argv[i], "@FD@") == 0)
			argv[i] = path;
	execvp(argv[2], argv + 2);
	perror("fdmount: exec");
	umount2(argv[1], MNT_DETACH);
	return 127;
}
