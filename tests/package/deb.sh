#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The Debian package, end to end, as CI does it: build it from a clean copy
# of the tree (dpkg-buildpackage -us -uc -b), lintian without errors, the
# same files as `make install', install it with apt-get, run the example
# with the installed program and the installed overlay (by its name,
# hack-back: mount, e2fsck -fn, unmount), check that the installed overlay
# has the source tree's digest, then purge the package and check that
# every file it had is gone.
#
# Installs /usr/bin/hackbackfs on this machine for the duration of the test
# (the other tests run the build tree's program by path) and purges it at
# the end, also on failure.
. "${top_srcdir:-.}/tests/lib/common.sh"
requires dpkg-buildpackage dpkg-deb dpkg-query lintian apt-get git tar \
	fusermount3 e2fsck mke2fs sfdisk debugfs
requires_root
[ -c /dev/fuse ] || skip "no /dev/fuse"
# The top of a git checkout (not, say, make distcheck's unpacked tarball,
# which may sit inside one).
[ "$(git -C "$top_srcdir" rev-parse --show-toplevel 2>/dev/null)" = "$(cd "$top_srcdir" && pwd -P)" ] ||
	skip "$top_srcdir is not the top of a git checkout (make distcheck?): the package is built from a clean copy of one"
st=$(dpkg-query -W -f '${db:Status-Status}' hackbackfs 2>/dev/null) || st=
case $st in
"" | not-installed | config-files) ;;
*) skip "the hackbackfs package is here already ($st): not replacing it (apt-get remove --purge hackbackfs)" ;;
esac
[ ! -e /usr/bin/hackbackfs ] || skip "/usr/bin/hackbackfs exists and is no package's: not overwriting it"

# Whatever happens, the package does not stay installed.
purge()
{
	if dpkg-query -W -f '${db:Status-Status}' hackbackfs 2>/dev/null | grep -qv '^not-installed$'; then
		apt-get remove --purge -y hackbackfs >"$tmp/purge-on-exit.log" 2>&1 ||
			echo "$HB_TEST: could not purge hackbackfs, see $tmp/purge-on-exit.log" >&2
	fi
}
on_exit purge
on_exit '! mountpoint -q "$tmp/ex/mnt" 2>/dev/null || fusermount3 -u "$tmp/ex/mnt"'

# ---- build from a clean copy: the tracked files only, as they are in the
# work tree (a build tree's configure, objects or .deb cannot leak in).
src=$tmp/hackbackfs
mkdir "$src"
(cd "$top_srcdir" && git ls-files -z | tar --null -T - -cf -) | (cd "$src" && tar -xf -) ||
	fail "cannot copy the tracked files of $top_srcdir"
[ ! -e "$src/configure" ] || fail "the clean copy has a configure script: is it tracked?"
echo "== dpkg-buildpackage -us -uc -b in a clean copy ($(git -C "$top_srcdir" ls-files | wc -l) files)"
start=$(date +%s)
# Not the outer make's job server or variables.
if ! (cd "$src" && unset MAKEFLAGS MFLAGS MAKELEVEL top_srcdir top_builddir &&
	DEB_BUILD_OPTIONS=parallel=2 nice dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
	tail -n 40 "$tmp/build.log"
	fail "dpkg-buildpackage failed"
fi
echo "built in $(($(date +%s) - start)) s:"
grep -E '^(PASS|FAIL|SKIP|ERROR|# )' "$tmp/build.log" | sed 's/^/  build: /'
set -- "$tmp"/hackbackfs_*.deb
[ $# -eq 1 ] && [ -f "$1" ] || fail "want one hackbackfs_*.deb in $tmp, have: $*"
deb=$1
dpkg-deb -I "$deb" | sed -n 's/^ \(Package\|Version\|Depends\):/  &/p'
dpkg-deb -f "$deb" Depends | grep -q 'fuse3' || fail "the package does not depend on fuse3"

# ---- lintian: no errors; the warnings are printed.
echo "== lintian $(basename "$deb")"
rc=0
lintian --fail-on error --display-info "$deb" >"$tmp/lintian.out" 2>&1 || rc=$?
sed 's/^/  /' "$tmp/lintian.out"
! grep -q '^E: ' "$tmp/lintian.out" || fail "lintian reports errors"
[ "$rc" -eq 0 ] || fail "lintian exited with $rc"
echo "lintian: 0 errors, $(grep -c '^W: ' "$tmp/lintian.out") warnings, $(grep -c '^I: ' "$tmp/lintian.out") notes"

# ---- the package holds what `make install' installs (the package adds
# copyright and changelog, and compresses the man page and large docs).
(cd "$src" && unset MAKEFLAGS MFLAGS MAKELEVEL && make install DESTDIR="$tmp/mi") \
	>"$tmp/make-install.log" 2>&1 || { tail "$tmp/make-install.log"; fail "make install failed"; }
dpkg-deb -x "$deb" "$tmp/pkg" || fail "dpkg-deb -x failed"
listing()
{
	(cd "$1" && find . -mindepth 1 \( -type d -printf '%P/ %m\n' \) -o -printf '%P %m\n') |
		sed 's/\.gz / /' |
		grep -v '^usr/share/doc/hackbackfs/\(copyright\|changelog\) ' | sort
}
listing "$tmp/mi" >"$tmp/mi.list"
listing "$tmp/pkg" >"$tmp/pkg.list"
diff -u "$tmp/mi.list" "$tmp/pkg.list" ||
	fail "the package and make install install different files or modes (-: make install, +: package)"
echo "make install and the package: the same $(wc -l <"$tmp/pkg.list") paths and modes"

# ---- install it, the way an admin does.
echo "== apt-get install ./$(basename "$deb")"
(cd "$tmp" && apt-get install -y -o DPkg::Lock::Timeout=120 "./$(basename "$deb")") \
	>"$tmp/apt.log" 2>&1 || { tail "$tmp/apt.log"; fail "apt-get install failed"; }
dpkg -L hackbackfs | sort >"$tmp/dpkg-L"
hb=/usr/bin/hackbackfs
[ -x $hb ] || fail "$hb not installed"
"$hb" --version
[ "$("$hb" --overlay-dir)" = /usr/share/hackbackfs/overlays ] ||
	fail "installed --overlay-dir says $("$hb" --overlay-dir)"
[ -f /usr/share/hackbackfs/overlays/hack-back/root/.bashrc ] &&
	[ -f /usr/share/hackbackfs/contrib/gem5/hack_back.py ] &&
	[ -f /usr/share/man/man1/hackbackfs.1.gz ] || fail "overlay, contrib or man page not installed"

# ---- the example with the installed program and the installed overlay,
# by name; no source tree is given to it.
echo "== tools/example.sh with $hb and the overlay hack-back"
sh "$src/tools/example.sh" "$hb" "$tmp/no-source-tree" "$tmp/ex" hack-back >"$tmp/example.log" 2>&1 ||
	{ cat "$tmp/example.log"; fail "the example failed with the installed package"; }
sed 's/^/  /' "$tmp/example.log"
grep -q '^example: OK$' "$tmp/example.log" || fail "the example did not finish"
# example.sh runs under set -e: e2fsck -fn exited 0 if it got this far
grep -q '^Pass 5: ' "$tmp/example.log" || fail "no e2fsck -fn in the example"
! mountpoint -q "$tmp/ex/mnt" || fail "the example left $tmp/ex/mnt mounted"

# The example's image is the installed overlay's: hack-back resolved to it.
cd "$tmp/ex" || exit 1
"$hb" -v --digests -o m5=m5,restore=restore.sh base.img hack-back >by-name.d 2>by-name.err ||
	fail "--digests with hack-back: $(cat by-name.err)"
grep -q "hack-back: the installed /usr/share/hackbackfs/overlays/hack-back" by-name.err ||
	fail "hack-back was not resolved to the installed overlay: $(cat by-name.err)"
"$hb" --digests -o m5=m5,restore=restore.sh base.img /usr/share/hackbackfs/overlays/hack-back >by-path.d ||
	fail "--digests with the installed path failed"
cmp -s by-name.d by-path.d || fail "hack-back and its installed path give different digests"
grep -q "^$(grep '^digest ' by-name.d)\$" "$tmp/example.log" ||
	fail "the example's image is not the one of the installed overlay"

# The installed overlay is the source tree's: names, types, modes, owners
# and content give the same overlay digest.  dpkg clamps mtimes to the
# changelog's date and this version's digest still hashes mtimes, so the
# copy of the source overlay takes the installed files' mtimes first.
cp -a "$src/overlays/hack-back" "$tmp/src-ov"
(cd /usr/share/hackbackfs/overlays/hack-back && find . -mindepth 1) | while IFS= read -r p; do
	[ -e "$tmp/src-ov/$p" ] || [ -L "$tmp/src-ov/$p" ] || fail "installed $p is not in the source overlay"
	touch -h -r "/usr/share/hackbackfs/overlays/hack-back/$p" "$tmp/src-ov/$p"
done
ov_installed=$(sed -n 's/^overlay //p' by-path.d)
ov_source=$("$hb" --digests -o m5=m5,restore=restore.sh base.img "$tmp/src-ov" | sed -n 's/^overlay //p')
[ -n "$ov_source" ] && [ "$ov_installed" = "$ov_source" ] ||
	fail "the installed overlay's digest $ov_installed is not the source tree's $ov_source"
echo "installed overlay digest = source tree's: $ov_source"
cd "$tmp" || exit 1

# ---- purge: every file of the package is gone; a directory may stay only
# when another package owns it too.
echo "== apt-get remove --purge hackbackfs"
apt-get remove --purge -y -o DPkg::Lock::Timeout=120 hackbackfs >"$tmp/remove.log" 2>&1 ||
	{ tail "$tmp/remove.log"; fail "apt-get remove --purge failed"; }
st=$(dpkg-query -W -f '${db:Status-Status}' hackbackfs 2>/dev/null) || st=not-installed
[ "$st" = not-installed ] || fail "after the purge dpkg says: $st"
left=
while IFS= read -r f; do
	[ "$f" != /. ] || continue
	if [ -d "$f" ] && [ ! -L "$f" ]; then
		dpkg -S "$f" >/dev/null 2>&1 || left="$left $f"
	elif [ -e "$f" ] || [ -L "$f" ]; then
		left="$left $f"
	fi
done <"$tmp/dpkg-L"
[ -z "$left" ] || fail "left behind after the purge:$left"
echo "purged: all $(wc -l <"$tmp/dpkg-L") paths of dpkg -L are gone (or other packages' directories)"
echo "deb: OK in $(($(date +%s) - start)) s"
