#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The release tarball is complete and builds on its own: every file git
# tracks is in `make dist`'s tarball (but for the few listed below, which
# only matter to a git checkout), and automake's `make distcheck` passes:
# the unpacked tarball, its source tree read-only, configures with
# --enable-werror, builds in a directory of its own, passes its unit tests,
# installs, uninstalls leaving nothing, and cleans up leaving nothing.  The
# whole suite runs once, from the tree; distcheck runs the unit tests.
. "${top_srcdir:-.}/tests/lib/common.sh"
requires git tar make

# The make that runs this test passes its own variables (TESTS among them)
# down through MAKEFLAGS: the tarball's build must not see them.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES

git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1 ||
	skip "$top_srcdir is not a git checkout: no file list to compare with"

# Only for a checkout: CI's entry point, ignore files, an empty dir's marker.
not_shipped='^\.ci/|(^|/)\.gitignore$|^m4/\.keep$'

ver=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$top_builddir/config.h")
[ -n "$ver" ] || fail "no PACKAGE_VERSION in $top_builddir/config.h"
# shellcheck disable=SC2016  # $(UNIT_TESTS) is make's
unit=$(cd "$top_builddir" && printf 'p:\n\t@echo $(UNIT_TESTS)\n' | make -s -f Makefile -f - p)
[ -n "$unit" ] || fail "no UNIT_TESTS in $top_builddir/Makefile"
(cd "$top_builddir" && make distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-werror TESTS="$unit") \
	>"$tmp/distcheck.log" 2>&1 || { tail -40 "$tmp/distcheck.log" >&2; fail "make distcheck failed"; }
grep -E '^# (PASS|FAIL|SKIP|ERROR)' "$tmp/distcheck.log" | sed 's/^/  /'
grep -q '^# PASS: *[1-9]' "$tmp/distcheck.log" || fail "no unit test passed in distcheck's build"
grep -q '^# FAIL: *0' "$tmp/distcheck.log" || fail "unit tests failed in distcheck's build"
grep -q 'archives ready for distribution' "$tmp/distcheck.log" || fail "make distcheck did not finish"
echo "make distcheck: builds with --enable-werror from a read-only tree, unit tests pass, install, uninstall and distclean leave nothing"

mv "$top_builddir/hackbackfs-$ver.tar.gz" "$tmp/hb.tar.gz" || fail "make distcheck left no hackbackfs-$ver.tar.gz"
tar tzf "$tmp/hb.tar.gz" | sed 's|^[^/]*/||; /\/$/d; /^$/d' | sort -u >"$tmp/shipped"
git -C "$top_srcdir" ls-files | grep -Ev "$not_shipped" | sort -u >"$tmp/tracked"
comm -13 "$tmp/shipped" "$tmp/tracked" >"$tmp/missing"
if [ -s "$tmp/missing" ]; then
	sed 's/^/  not in the tarball: /' "$tmp/missing" >&2
	fail "make dist leaves out $(wc -l <"$tmp/missing") tracked file(s): add them to Makefile.am"
fi
echo "tarball: $(wc -l <"$tmp/shipped") files, every tracked file among them"
