#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The release tarball is complete and builds on its own: every file git
# tracks is in `make dist`'s tarball (but for the few listed below, which
# only matter to a git checkout), and the unpacked tarball configures with
# --enable-werror, builds, and passes its unit tests in a build directory
# of its own.  A short distcheck: the whole suite runs once, from the tree.
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
(cd "$top_builddir" && make -s dist-gzip >/dev/null 2>"$tmp/dist.err") ||
	{ cat "$tmp/dist.err" >&2; fail "make dist failed"; }
mv "$top_builddir/hackbackfs-$ver.tar.gz" "$tmp/hb.tar.gz" || fail "make dist made no hackbackfs-$ver.tar.gz"
tarball=$tmp/hb.tar.gz

tar tzf "$tarball" | sed 's|^[^/]*/||; /\/$/d; /^$/d' | sort -u >"$tmp/shipped"
git -C "$top_srcdir" ls-files | grep -Ev "$not_shipped" | sort -u >"$tmp/tracked"
comm -13 "$tmp/shipped" "$tmp/tracked" >"$tmp/missing"
if [ -s "$tmp/missing" ]; then
	sed 's/^/  not in the tarball: /' "$tmp/missing" >&2
	fail "make dist leaves out $(wc -l <"$tmp/missing") tracked file(s): add them to Makefile.am"
fi
echo "tarball: $(wc -l <"$tmp/shipped") files, every tracked file among them"

mkdir "$tmp/src" "$tmp/build"
tar xzf "$tarball" -C "$tmp/src"
src=$tmp/src/hackbackfs-$ver
cd "$tmp/build"
"$src/configure" -q --enable-werror >"$tmp/configure.log" 2>&1 ||
	{ tail -20 "$tmp/configure.log" >&2; fail "the tarball does not configure"; }
make -s -j2 >"$tmp/make.log" 2>&1 ||
	{ tail -30 "$tmp/make.log" >&2; fail "the tarball does not build with --enable-werror"; }
# shellcheck disable=SC2016  # $(UNIT_TESTS) is make's
unit=$(printf 'p:\n\t@echo $(UNIT_TESTS)\n' | make -s -f Makefile -f - p)
[ -n "$unit" ] || fail "no UNIT_TESTS in the tarball's Makefile"
make -s check TESTS="$unit" >"$tmp/check.log" 2>&1 ||
	{ tail -30 "$tmp/check.log" >&2; fail "the tarball's unit tests fail"; }
grep -E '^# (PASS|FAIL|SKIP|ERROR)' "$tmp/check.log" | sed 's/^/  /'
grep -q '^# PASS: *[1-9]' "$tmp/check.log" || fail "no unit test passed in the tarball's build"
grep -q '^# FAIL: *0' "$tmp/check.log" || fail "unit tests failed in the tarball's build"
echo "the tarball builds with --enable-werror and passes its unit tests"
