#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The version comes from one place, configure.ac's AC_INIT: configure's
# PACKAGE_VERSION, `hackbackfs --version', debian/changelog and the RPM
# spec (Version, and its newest %changelog entry) must all say the same.
# (Change the version in configure.ac, then add a debian/changelog entry
# with dch -v VERSION and a hackbackfs.spec %changelog entry.)
. "${top_srcdir:-.}/tests/lib/common.sh"
hb=$top_builddir/hackbackfs

ac=$(sed -n 's/^AC_INIT(\[hackbackfs\], *\[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
[ -n "$ac" ] || fail "no version in configure.ac's AC_INIT"
conf=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
[ -n "$conf" ] || fail "no PACKAGE_VERSION in $top_builddir/config.h"
prog=$("$hb" --version | sed -n 's/^hackbackfs \([^ ]*\).*/\1/p')
[ -n "$prog" ] || fail "hackbackfs --version printed: $("$hb" --version)"
if command -v dpkg-parsechangelog >/dev/null 2>&1; then
	deb=$(dpkg-parsechangelog -l "$top_srcdir/debian/changelog" -S Version) ||
		fail "dpkg-parsechangelog cannot read debian/changelog"
	how=dpkg-parsechangelog
else
	# the first line: "hackbackfs (VERSION) DIST; urgency=..."
	deb=$(sed -n '1s/^hackbackfs (\([^)]*\)).*/\1/p' "$top_srcdir/debian/changelog")
	how="the first line (no dpkg-parsechangelog here)"
fi
# A native package's version is the upstream version; a Debian revision
# (-N) or an epoch (N:) would not be part of it.
deb_up=$(printf '%s\n' "$deb" | sed 's/^[0-9]*://; s/-[^-]*$//')

spec=$(sed -n 's/^Version: *//p' "$top_srcdir/hackbackfs.spec")
# the first entry after %changelog: "* DATE NAME <MAIL> - VERSION-RELEASE"
spec_log=$(sed -n '/^%changelog/,$s/^\* .* - \([^ ]*\)-[^- ]*$/\1/p' "$top_srcdir/hackbackfs.spec" | head -n 1)

echo "configure.ac $ac, config.h $conf, --version $prog, debian/changelog $deb ($how), hackbackfs.spec $spec (%changelog $spec_log)"
[ "$conf" = "$ac" ] || fail "config.h says $conf, configure.ac $ac: rerun autoreconf and configure"
[ "$prog" = "$ac" ] || fail "hackbackfs --version says $prog, configure.ac $ac"
[ "$deb_up" = "$ac" ] || fail "debian/changelog says $deb, configure.ac $ac"
[ "$deb" = "$deb_up" ] || fail "debian/changelog version $deb is not native (source format 3.0 (native))"
[ "$spec" = "$ac" ] || fail "hackbackfs.spec says Version: $spec, configure.ac $ac"
[ "$spec_log" = "$ac" ] || fail "hackbackfs.spec's newest %changelog entry is for ${spec_log:-no version}, configure.ac says $ac"
echo "version: $ac everywhere"
