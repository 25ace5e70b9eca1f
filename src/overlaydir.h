/* SPDX-License-Identifier: BSD-3-Clause */
/* overlaydir.h -- finding an overlay by name: here, or where it was installed.
 *
 * The project's overlays (hack-back) are installed by `make install' and
 * the Debian package under $(pkgdatadir)/overlays.  An overlay argument
 * that holds no '/' and is not a directory in the current directory is
 * looked up there, so `hackbackfs base.img hack-back mnt' works from
 * anywhere; a path (`overlays/hack-back', `./hack-back') or a directory
 * that exists here is always taken as given.  Leaf module.
 */
#ifndef HB_OVERLAYDIR_H
#define HB_OVERLAYDIR_H

/* The directory the overlays are installed in (HB_OVERLAY_DIR, set by
 * Makefile.am), e.g. "/usr/share/hackbackfs/overlays". */
const char *overlaydir_installed(void);

/* The directory to scan for the overlay argument name: name itself, or
 * installed_dir/name when name is a bare name (no '/', not "." or "..")
 * that is not a directory here while installed_dir/name is one.  When
 * neither is a directory, name itself, so that the scan reports it as
 * missing like any other path.  *out is malloc'd.  Returns 0 or -ENOMEM. */
int overlaydir_resolve(const char *name, const char *installed_dir, char **out);

#endif
