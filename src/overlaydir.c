/* SPDX-License-Identifier: BSD-3-Clause */
/* overlaydir.c -- finding an overlay by name: here, or where it was installed.
 *
 * A local directory always wins, so that a source tree's overlay, or a
 * user's own overlay that happens to share a name with an installed one,
 * is never silently replaced by the installed copy.  Only a bare name is
 * looked up in the installed directory: a path with a '/' says where it
 * is.  The installed directory comes from the build (HB_OVERLAY_DIR) and
 * is passed in explicitly so that the unit test can use its own.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "overlaydir.h"
#include "util.h"

#ifndef HB_OVERLAY_DIR
#error "HB_OVERLAY_DIR must be defined (Makefile.am sets it from pkgdatadir)"
#endif

const char *overlaydir_installed(void)
{
	return HB_OVERLAY_DIR;
}

static int is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int overlaydir_resolve(const char *name, const char *installed_dir, char **out)
{
	char *path = NULL;

	if (*name && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
	    !is_dir(name) && installed_dir && *installed_dir) {
		if (asprintf(&path, "%s/%s", installed_dir, name) < 0)
			return -ENOMEM;
		if (is_dir(path)) {
			hb_info("overlay %s: the installed %s", name, path);
			*out = path;
			return 0;
		}
		free(path);
	}
	*out = strdup(name);
	return *out ? 0 : -ENOMEM;
}
