#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/package/bullseye.sh -- hackbackfs on an older distribution: Debian 11
# (bullseye: glibc 2.31, gcc 10, fuse3 3.10.3, e2fsprogs 1.46.2, OpenSSL
# 1.1.1, Check 0.15), as on the clusters that are not on this year's
# release.  A bullseye chroot (debootstrap, with the build dependencies)
# builds a clean copy of this tree with `./configure --enable-werror`,
# runs the unit tests there, then one real mount: the program mounts an
# image of a base made by bullseye's mke2fs with the hack-back overlay,
# e2fsck -fn passes on the mounted file and fusermount3 -u unmounts it.
#
# The chroot runs in a mount namespace of its own (unshare -m) with /proc
# and the host's /dev/fuse bound in: whatever it mounts goes away with it.
# The chroot with its packages is cached like the guest image
# ($HACKBACK_GUEST_CACHE, else tests/guest/cache in the build tree), keyed
# by the SHA-256 of the part of this script that makes it, and the suite
# and packages it names; the build tree inside it is new each run.
# Needs root, debootstrap and Debian's archive ($HACKBACK_GUEST_MIRROR,
# else http://deb.debian.org/debian).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
PATH=$PATH:/usr/sbin:/sbin
requires_root
requires debootstrap unshare chroot git tar flock mount sha256sum
[ -c /dev/fuse ] || skip "no /dev/fuse"
[ "$(git -C "$top_srcdir" rev-parse --show-toplevel 2>/dev/null)" = "$(cd "$top_srcdir" && pwd -P)" ] ||
	skip "$top_srcdir is not the top of a git checkout (make distcheck?): the chroot builds a clean copy of one"

# ---- the chroot, once per machine (and per version of this section) ---------------
SUITE=bullseye
PKGS="build-essential autoconf automake libtool pkg-config libfuse3-dev fuse3
libext2fs-dev comerr-dev libblkid-dev libssl-dev check e2fsprogs fdisk"
mirror=${HACKBACK_GUEST_MIRROR:-http://deb.debian.org/debian}
cache=${HACKBACK_GUEST_CACHE:-$top_builddir/tests/guest/cache}
# The key: what makes the chroot (this section of the script), so that an
# edit of the build steps below reuses it.
key=$(sed -n '/^# ---- the chroot/,/^# ---- a clean copy/p' "$0" | sha256sum | cut -c1-16)
root=$cache/$SUITE-$key
mkdir -p "$cache"
exec 9>"$cache/.lock-$SUITE"
flock 9
if [ -f "$root.done" ]; then
	echo "chroot: cached $root"
else
	t0=$(date +%s)
	rm -rf --one-file-system "$root"
	# A cut-short debootstrap leaves its mounts in the tree: never let
	# the removal cross into them.
	on_exit '[ -f "$root.done" ] || { awk -v r="$root/" "index(\$2, r) == 1 { print \$2 }" /proc/mounts |
		sort -r | while read -r m; do umount -l "$m"; done; rm -rf --one-file-system "$root"; }'
	echo "chroot: debootstrap $SUITE from $mirror"
	debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
		{ tail -n 30 "$tmp/debootstrap.log"; fail "debootstrap $SUITE failed"; }
	t1=$(date +%s)
	echo "chroot: debootstrap took $((t1 - t0)) s; installing the build dependencies"
	echo "deb $mirror $SUITE main" >"$root/etc/apt/sources.list"
	# shellcheck disable=SC2086  # a list of packages
	unshare -m --propagation private sh -c '
		mount -t proc proc "$1/proc" && shift && r=$1 && shift &&
		chroot "$r" sh -c "apt-get update && apt-get install -y --no-install-recommends \"\$@\" && apt-get clean" sh "$@"
	' sh "$root" "$root" $PKGS >"$tmp/apt.log" 2>&1 ||
		{ tail -n 30 "$tmp/apt.log"; fail "apt-get install in the chroot failed"; }
	touch "$root.done"
	echo "chroot: packages installed in $(($(date +%s) - t1)) s"
fi
flock -u 9
for p in libc6 gcc-10 libfuse3-dev libext2fs-dev libssl-dev check; do
	printf '%s %s\n' "$p" "$(chroot "$root" dpkg-query -W -f '${Version}' "$p" 2>/dev/null)"
done | sed 's/^/  bullseye: /'

# ---- a clean copy of the tree, built and tested inside ------------------------
# Each run has its own directory in the chroot (several builds trees may
# share the cache).
b=$(mktemp -d "$root/tmp/hackbackfs-build.XXXXXX")
on_exit 'rm -rf --one-file-system "$b"'
mkdir "$b/src"
(cd "$top_srcdir" && git ls-files -z | tar --null -T - -cf -) | (cd "$b/src" && tar -xf -) ||
	fail "cannot copy the tracked files of $top_srcdir"
inner=${b#"$root"}
cat >"$b/run.sh" <<'EOF'
set -eu
cd "$1/src"
echo "== autoreconf, configure --enable-werror, make"
autoreconf -fi >../build.log 2>&1 && ./configure --enable-werror >>../build.log 2>&1 &&
	make -j2 >>../build.log 2>&1 || { tail -n 40 ../build.log; echo "build failed"; exit 1; }
grep -E '^checking (for (fuse3|ext2fs|libcrypto|check|close_range|glibc)|whether (EXT2_HASH_SIPHASH|EXT4_CASEFOLD_FL))' ../build.log || true
./hackbackfs --version
echo "== unit tests"
tests=$(printf 'p:\n\t@echo $(UNIT_TESTS)\n' | make -s -f Makefile -f - p)
[ -n "$tests" ] || { echo "no unit tests (Check not found?)"; exit 1; }
rc=0
make check TESTS="$tests" >../check.log 2>&1 || rc=$?
grep -E '^(PASS|FAIL|SKIP|ERROR|XPASS|# [A-Z]+:)' ../check.log || tail -n 40 ../check.log
[ $rc = 0 ] || { tail -n 60 tests/unit/*.log; exit 1; }
echo "== a real mount"
w=$1/mount
mkdir -p "$w/tree/etc" "$w/mnt"
echo bullseye-base >"$w/tree/etc/hostname"
truncate -s 64M "$w/base.img"
mke2fs -q -F -t ext4 -d "$w/tree" "$w/base.img"
sum=$(sha256sum <"$w/base.img")
# In the foreground of a background job: its pid is ours to wait for (a
# pgrep would see other daemons of this machine through /proc).
./hackbackfs -f -o m5=/bin/true "$w/base.img" overlays/hack-back "$w/mnt" 2>../daemon.log &
pid=$!
i=0
while [ ! -e "$w/mnt/hack-back" ] && kill -0 $pid 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$w/mnt/hack-back" ] || { cat ../daemon.log; kill $pid 2>/dev/null; echo "no mount"; exit 1; }
st=0
e2fsck -fn "$w/mnt/hack-back" || st=1
debugfs -R 'cat /root/.bashrc' "$w/mnt/hack-back" 2>/dev/null | cmp - overlays/hack-back/root/.bashrc ||
	{ echo "/root/.bashrc in the image is not the overlay's"; st=1; }
fusermount3 -u "$w/mnt" || { echo "fusermount3 -u failed"; kill $pid; st=1; }
wait $pid || { cat ../daemon.log; echo "hackbackfs exited $?"; st=1; }
[ $st = 0 ] || exit 1
[ "$(sha256sum <"$w/base.img")" = "$sum" ] || { echo "BASE was modified"; exit 1; }
echo "ok: mounted, e2fsck -fn clean, /root/.bashrc injected, unmounted, BASE unchanged"
EOF
echo "== building in the $SUITE chroot ($(git -C "$top_srcdir" ls-files | wc -l) files)"
t0=$(date +%s)
rc=0
# The host's /dev/fuse over the chroot's node; proc for libfuse's and
# fusermount3's view of the mounts.  Nothing is shared back (private).
# Check's 4 s per unit test is short for a niced run on a busy machine.
unshare -m --propagation private sh -c '
	mount -t proc proc "$1/proc" && touch "$1/dev/fuse" && mount --bind /dev/fuse "$1/dev/fuse" &&
	exec chroot "$1" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C \
		CK_TIMEOUT_MULTIPLIER="${CK_TIMEOUT_MULTIPLIER:-3}" \
		nice sh "$2/run.sh" "$2"
' sh "$root" "$inner" 2>&1 || rc=$?
echo "chroot build, unit tests and mount: $(($(date +%s) - t0)) s"
[ "$rc" = 0 ] || fail "the $SUITE build or its tests failed (status $rc)"
