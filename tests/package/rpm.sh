#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/package/rpm.sh -- the RPM package (hackbackfs.spec), as a RHEL-family
# cluster's admin builds it: `make dist` in a clean copy of the tree, then
# `rpmbuild -ta` on the tarball (--nodeps: the build dependencies are
# Debian's packages here, not RPMs; %check runs the unit tests), rpmlint
# without errors on the binary and source packages, and the binary
# package's files and modes equal to `make install`'s (as tests/package/deb.sh
# checks for the Debian package; the package adds its license file and
# rpm's /usr/lib/.build-id link to the program, and compresses the man
# page).  Nothing is installed on this machine.
. "${top_srcdir:-.}/tests/lib/common.sh"
requires rpmbuild rpmlint rpm rpm2cpio cpio git tar make autoreconf
# The top of a git checkout (not make distcheck's unpacked tarball).
[ "$(git -C "$top_srcdir" rev-parse --show-toplevel 2>/dev/null)" = "$(cd "$top_srcdir" && pwd -P)" ] ||
	skip "$top_srcdir is not the top of a git checkout (make distcheck?): the tarball is made from a clean copy of one"

# ---- make dist in a clean copy: the tracked files only.
src=$tmp/src
mkdir "$src"
(cd "$top_srcdir" && git ls-files -z | tar --null -T - -cf -) | (cd "$src" && tar -xf -) ||
	fail "cannot copy the tracked files of $top_srcdir"
start=$(date +%s)
(cd "$src" && unset MAKEFLAGS MFLAGS MAKELEVEL top_srcdir top_builddir &&
	autoreconf -fi && ./configure && make dist) >"$tmp/dist.log" 2>&1 ||
	{ tail -n 30 "$tmp/dist.log"; fail "make dist failed"; }
set -- "$src"/hackbackfs-*.tar.gz
[ $# -eq 1 ] && [ -f "$1" ] || fail "want one hackbackfs-*.tar.gz, have: $*"
tarball=$1
tar -tzf "$tarball" | grep -q '^hackbackfs-[^/]*/hackbackfs\.spec$' || fail "the tarball has no hackbackfs.spec"
echo "make dist: $(basename "$tarball") in $(($(date +%s) - start)) s"

# ---- rpmbuild -ta, everything under $tmp/rpm.  No debuginfo package:
# Debian's rpm has no find-debuginfo.
echo "== rpmbuild -ta --nodeps $(basename "$tarball")"
start=$(date +%s)
top=$tmp/rpm
(unset MAKEFLAGS MFLAGS MAKELEVEL top_srcdir top_builddir &&
	nice rpmbuild -ta --nodeps --define "_topdir $top" --define 'debug_package %{nil}' \
		--define '_smp_mflags -j2' "$tarball") >"$tmp/rpmbuild.log" 2>&1 ||
	{ tail -n 40 "$tmp/rpmbuild.log"; fail "rpmbuild failed"; }
echo "built in $(($(date +%s) - start)) s:"
grep -E '^(PASS|FAIL|SKIP|ERROR|# [A-Z]+:)' "$tmp/rpmbuild.log" | sed 's/^/  %check: /'
grep -q '^# PASS: *[1-9]' "$tmp/rpmbuild.log" || fail "%check ran no test"
set -- "$top"/RPMS/*/hackbackfs-[0-9]*.rpm
[ $# -eq 1 ] && [ -f "$1" ] || fail "want one binary hackbackfs rpm, have: $*"
rpmf=$1
set -- "$top"/SRPMS/hackbackfs-*.src.rpm
[ $# -eq 1 ] && [ -f "$1" ] || fail "want one source rpm, have: $*"
srpm=$1
rpm -qp --qf '  %{NAME} %{VERSION}-%{RELEASE} %{ARCH} %{LICENSE}\n' "$rpmf"
rpm -qp --requires "$rpmf" | grep -qx 'fuse3' || fail "the package does not require fuse3"
for r in fuse3-devel e2fsprogs-devel openssl-devel libblkid-devel check-devel; do
	rpm -qp --requires "$srpm" | grep -q "^$r\( \|$\)" || fail "the source package does not BuildRequire $r"
done

# ---- rpmlint: no errors; the warnings are printed.
echo "== rpmlint"
rc=0
rpmlint -r "$src/hackbackfs.rpmlintrc" "$rpmf" "$srpm" >"$tmp/rpmlint.out" 2>&1 || rc=$?
sed 's/^/  /' "$tmp/rpmlint.out"
errors=$(sed -n 's/.* \([0-9]*\) errors*, .*/\1/p' "$tmp/rpmlint.out" | tail -n 1)
[ -n "$errors" ] || fail "no summary line from rpmlint (status $rc)"
[ "$errors" = 0 ] || fail "rpmlint reports $errors errors"
! grep -q ': E: ' "$tmp/rpmlint.out" || fail "rpmlint reports errors"

# ---- the package holds what `make install' installs, with the same modes.
(cd "$src" && unset MAKEFLAGS MFLAGS MAKELEVEL top_srcdir top_builddir &&
	./configure --prefix=/usr && nice make -j2 && make install DESTDIR="$tmp/mi") >"$tmp/make-install.log" 2>&1 ||
	{ tail "$tmp/make-install.log"; fail "make install failed"; }
mkdir "$tmp/pkg"
(cd "$tmp/pkg" && rpm2cpio "$rpmf" | cpio -idm --quiet) || fail "cannot unpack $rpmf"
listing()
{
	(cd "$1" && find . -mindepth 1 \( -type d -printf '%P/ %m\n' \) -o -printf '%P %m\n') |
		sed 's/\.\(gz\|bz2\|xz\) / /' |
		grep -v -e '^usr/share/licenses/' -e '^usr/lib/ ' -e '^usr/lib/\.build-id/' | sort
}
listing "$tmp/mi" >"$tmp/mi.list"
listing "$tmp/pkg" >"$tmp/pkg.list"
diff -u "$tmp/mi.list" "$tmp/pkg.list" ||
	fail "the package and make install install different files or modes (-: make install, +: package)"
# And the package owns every one of its files and directories but the
# system's own (/usr/bin, /usr/share/man/man1, ...).
rpm -qlp "$rpmf" | grep -q '^/usr/share/hackbackfs/overlays/hack-back/root/\.bashrc$' ||
	fail "the package does not list the hack-back overlay"
echo "make install and the package: the same $(wc -l <"$tmp/pkg.list") paths and modes"
