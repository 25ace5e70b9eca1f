#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tools/oldlibs.sh -- build hackbackfs against older libraries, built from
# their upstream sources, and run the unit and mount tests with that build:
# how the README's table of tested library versions was made, for the next
# person to repeat (CI reaches only Debian's archive, which has no RHEL 8).
#
#   tools/oldlibs.sh [-w WORKDIR] [-k] SRCDIR...
#
# Each SRCDIR is an unpacked upstream source tree, recognised by its
# content: libfuse (meson.build and lib/fuse.c; built with meson and
# ninja; one older than 3.3 is not built against but loaded instead of
# the 3.3 one with LD_PRELOAD, to check that /dev/fd/N is refused), e2fsprogs (lib/ext2fs; --enable-elf-shlibs, libext2fs and
# libcom_err only: libblkid stays util-linux's, as on RHEL) or OpenSSL
# (Configure and crypto/; ./config shared no-tests, the libraries only).
# E.g. RHEL/Rocky 8's:
#
#   git --git-dir=LIBFUSE.git archive --prefix=libfuse-3.3.0/ fuse-3.3.0 | tar x
#   git --git-dir=E2FSPROGS.git archive --prefix=e2fsprogs-1.45.6/ v1.45.6 | tar x
#   git --git-dir=OPENSSL.git archive --prefix=openssl-1.1.1k/ OpenSSL_1_1_1k | tar x
#   tools/oldlibs.sh libfuse-3.3.0 e2fsprogs-1.45.6 [openssl-1.1.1k] [libfuse-3.2.6]
#
# They are installed into WORKDIR/prefix (default WORKDIR: a new directory
# under $TMPDIR), and hackbackfs is built from a clean copy of this tree's
# tracked files with `./configure --enable-werror`, PKG_CONFIG_PATH on the
# prefix and an rpath to it (DT_RPATH, which also covers the libraries'
# own dependencies such as libcom_err).  Not LD_LIBRARY_PATH: the system's
# mke2fs, e2fsck and debugfs that the tests run would load the old
# libraries too.  Then: which library each of them resolves to (ldd), the
# versions configure found, the unit tests, the mount tests and
# tests/image/bigdir.sh (whose htree directories hash the names with what
# libext2fs has) with make check TESTS=..., and, when the tree's own build
# ./hackbackfs exists, whether both builds export the same bytes
# (--export-cow of one base and overlay).  Needs root for the mount tests, as make check does.
#
# The library builds are cached in WORKDIR by source directory and are not
# rebuilt when WORKDIR is given again.  -k keeps WORKDIR (default: kept only
# on failure, or when -w names it).
set -eu

say() { printf 'oldlibs: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

usage() { sed -n '7p' "$0" | sed 's/^# *//' >&2; exit 2; }

work= keep=0
while getopts w:kh o; do
	case $o in
	w) work=$OPTARG; keep=1 ;;
	k) keep=1 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage

top=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "$work" ]; then
	work=$(mktemp -d "${TMPDIR:-/tmp}/hackbackfs-oldlibs.XXXXXX")
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)
prefix=$work/prefix
mkdir -p "$prefix"
ok=0
finish() { [ "$ok" = 1 ] && [ "$keep" = 0 ] && rm -rf "$work" || say "work dir kept: $work"; }
trap finish EXIT
trap 'exit 130' INT TERM
jobs=${JOBS:-2}

# ---- the libraries ----------------------------------------------------------
# run LOG CMD...: CMD's output goes to LOG, its tail to stderr on failure.
run() {
	_log=$1
	shift
	"$@" >>"$_log" 2>&1 || { tail -n 30 "$_log" >&2; die "failed: $* (log: $_log)"; }
}

build_libfuse() {
	_b=$work/build-$1
	_log=$work/$1.log
	command -v meson >/dev/null && command -v ninja >/dev/null ||
		die "libfuse needs meson and ninja (apt-get install meson ninja-build)"
	rm -rf "$_b"
	# --sysconfdir=/etc: its fusermount3 reads /etc/fuse.conf, as a
	# distribution's does (the tests set user_allow_other there), not
	# the prefix's copy.
	run "$_log" meson setup "$_b" "$2" --prefix="$prefix" --libdir=lib --buildtype=release \
		--sysconfdir=/etc -Dexamples=false -Dudevrulesdir="$prefix/lib/udev/rules.d"
	run "$_log" nice ninja -C "$_b" -j "$jobs"
	# Into a staging directory: without DESTDIR, libfuse's install
	# helper registers an init script on this machine (update-rc.d).
	# As root it leaves fusermount3 setuid root, as a package would.
	run "$_log" env DESTDIR="$work/stage-$1" ninja -C "$_b" install
	cp -a "$work/stage-$1$prefix/." "$prefix/"
}

build_e2fsprogs() {
	_b=$work/build-$1
	_log=$work/$1.log
	rm -rf "$_b"
	mkdir -p "$_b"
	# -fcommon: gcc >= 10 no longer merges tentative definitions, which
	# older e2fsprogs relied on.
	(cd "$_b" && run "$_log" "$2/configure" --prefix="$prefix" --libdir="$prefix/lib" \
		--enable-elf-shlibs --disable-libblkid --disable-libuuid --disable-uuidd \
		--disable-fsck --disable-nls --disable-fuse2fs --disable-defrag \
		CFLAGS="-O2 -fcommon")
	run "$_log" nice make -C "$_b" -j "$jobs" libs
	run "$_log" make -C "$_b" install-libs
}

build_openssl() {
	_b=$work/build-$1
	_log=$work/$1.log
	rm -rf "$_b"
	cp -a "$2" "$_b"	# OpenSSL 1.1 builds in its tree
	(cd "$_b" && run "$_log" ./config shared no-tests --prefix="$prefix" \
		--openssldir="$prefix/ssl" --libdir=lib)
	# The libraries, headers and .pc files only: OpenSSL's programs
	# carry no rpath, and an openssl in the prefix's bin, which the
	# tests put first on PATH, would not find its libcrypto.
	run "$_log" nice make -C "$_b" -j "$jobs" build_libs
	run "$_log" make -C "$_b" install_dev
}

# A libfuse older than 3.3: built in its tree's build directory, not
# installed (only its library is used, preloaded).
build_oldfuse() {
	_b=$work/build-$1
	_log=$work/$1.log
	rm -rf "$_b"
	run "$_log" meson setup "$_b" "$2" --prefix="$work/unused" --libdir=lib \
		-Dudevrulesdir="$work/unused"
	run "$_log" nice ninja -C "$_b" -j "$jobs"
}

older_fuse=
for src; do
	src=$(cd "$src" && pwd) || die "$src: no such directory"
	name=$(basename "$src")
	if [ -f "$src/meson.build" ] && [ -f "$src/lib/fuse.c" ]; then
		kind=libfuse
		v=$(sed -n "1,3s/.*version: *'\([0-9.]*\)'.*/\1/p" "$src/meson.build")
		case $v in
		3.[012].* | 3.[012])
			kind=oldfuse
			older_fuse="$older_fuse $work/build-$name/lib/libfuse3.so.$v" ;;
		esac
	elif [ -d "$src/lib/ext2fs" ]; then
		kind=e2fsprogs
	elif [ -f "$src/Configure" ] && [ -d "$src/crypto" ]; then
		kind=openssl
	else
		die "$src: neither libfuse, e2fsprogs nor OpenSSL"
	fi
	if [ -f "$work/done-$name" ]; then
		say "$kind from $name: built before"
		continue
	fi
	t0=$(date +%s)
	if [ "$kind" = oldfuse ]; then
		say "libfuse from $name: building it to preload (older than 3.3)"
	else
		say "$kind from $name: building into $prefix"
	fi
	"build_$kind" "$name" "$src"
	touch "$work/done-$name"
	say "$kind from $name: $(($(date +%s) - t0)) s"
done

# ---- hackbackfs against them ---------------------------------------------------
hb=$work/hackbackfs
rm -rf "$hb"
mkdir "$hb"
(cd "$top" && git ls-files -z | tar --null -T - -cf -) | (cd "$hb" && tar -xf -) ||
	die "cannot copy the tracked files of $top"
log=$work/hackbackfs.log
: >"$log"
t0=$(date +%s)
(
	cd "$hb"
	unset MAKEFLAGS MFLAGS MAKELEVEL top_srcdir top_builddir
	run "$log" autoreconf -fi
	run "$log" ./configure --enable-werror \
		PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
		LDFLAGS="-Wl,-rpath,$prefix/lib -Wl,--disable-new-dtags"
	run "$log" nice make -j "$jobs"
)
say "hackbackfs built in $(($(date +%s) - t0)) s"
grep -E '^checking (for (fuse3|ext2fs|libcrypto|check|close_range|glibc)|whether (EXT2_HASH_SIPHASH|EXT4_CASEFOLD_FL))' "$log" | sed 's/^/  configure: /' >&2 || true
for pc in fuse3 ext2fs com_err libcrypto check blkid; do
	printf '  %s %s\n' "$pc" "$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --modversion "$pc" 2>/dev/null || echo -)" >&2
done
# Every library of the prefix must be the one loaded; the rest is the system's.
ldd "$hb/hackbackfs" >"$work/ldd.txt"
sed 's/^/  ldd: /' "$work/ldd.txt" >&2
for l in "$prefix"/lib/lib*.so.*; do
	[ -e "$l" ] || continue
	soname=$(basename "$l" | sed 's/\(\.so\.[0-9]*\).*/\1/')
	if grep -q "^[[:space:]]*$soname " "$work/ldd.txt"; then
		grep "^[[:space:]]*$soname " "$work/ldd.txt" | grep -qF "=> $prefix/lib/" ||
			die "$soname is not loaded from $prefix/lib"
	fi
done
"$hb/hackbackfs" --version >&2

# ---- the tests ---------------------------------------------------------------
tests=$(cd "$hb" && printf 'print-tests:\n\t@echo $(UNIT_TESTS) $(filter-out %%/stress.sh %%/cow-full.sh,$(MOUNT_TESTS)) $(filter %%/bigdir.sh,$(IMAGE_TESTS))\n' |
	make -s -f Makefile -f - print-tests)
# The tests' fusermount3 is the prefix's, when libfuse was built here.
# Check's 4 s per test is short on a busy machine, and speed is not what
# this measures.
say "make check: $(echo "$tests" | wc -w) tests, fusermount3: $(PATH=$prefix/bin:$PATH command -v fusermount3)"
t0=$(date +%s)
rc=0
(cd "$hb" && unset MAKEFLAGS MFLAGS MAKELEVEL top_srcdir top_builddir &&
	PATH=$prefix/bin:$PATH CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-5} \
		nice make check TESTS="$tests") >"$work/check.log" 2>&1 || rc=$?
grep -E '^(PASS|FAIL|SKIP|XFAIL|XPASS|ERROR|# [A-Z]+:)' "$work/check.log" | sed 's/^/  /' >&2
say "make check: $(($(date +%s) - t0)) s"
[ "$rc" = 0 ] || die "make check failed (logs: $hb/tests/{unit,mount,image}/*.log)"

# ---- the same bytes as the tree's own build ----------------------------------------
ref=${HB_REF:-$top/hackbackfs}
if [ -x "$ref" ] && command -v mke2fs >/dev/null; then
	d=$work/same
	rm -rf "$d"
	mkdir -p "$d/tree/etc" "$d/ov/sbin" "$d/ov/etc"
	echo base >"$d/tree/etc/hostname"
	head -c 300000 /dev/urandom >"$d/ov/sbin/m5"
	echo injected >"$d/ov/etc/hostname"
	truncate -s 32M "$d/base.img"
	mke2fs -q -F -t ext4 -d "$d/tree" "$d/base.img"
	"$ref" --export-cow "$d/ref.cow" "$d/base.img" "$d/ov" >"$d/ref.out"
	"$hb/hackbackfs" --export-cow "$d/old.cow" "$d/base.img" "$d/ov" >"$d/old.out"
	cmp "$d/ref.cow" "$d/old.cow" || die "the two builds export different bytes"
	say "same bytes: $ref and the old-library build export the same $(stat -c %s "$d/ref.cow")-byte COW file ($(sed -n 's/^digest //p' "$d/ref.out"))"
else
	say "no $ref: the comparison with the tree's own build is left out"
fi
# ---- /dev/fd/N refused by a libfuse older than 3.3 -----------------------------
# Such a libfuse resolves /dev/fd/N to /dev/fuse and mounts over it: run
# in a mount namespace of its own, so that a failure cannot cover this
# machine's /dev/fuse.
for lib in $older_fuse; do
	command -v unshare >/dev/null && [ -c /dev/fuse ] && [ "$(id -u)" = 0 ] ||
		{ say "$lib: the /dev/fd/N check needs root, unshare and /dev/fuse: left out"; continue; }
	d=$work/fd
	rm -rf "$d"
	mkdir -p "$d/tree" "$d/ov/etc"
	echo x >"$d/ov/etc/x"
	truncate -s 32M "$d/base.img"
	mke2fs -q -F -t ext4 -d "$d/tree" "$d/base.img"
	rc=0
	LD_PRELOAD=$lib unshare -m --propagation private sh -c '
		"$1" --version >&2
		# In the foreground, ended by timeout if it does not refuse.
		timeout 10 "$1" -f "$2/base.img" "$2/ov" /dev/fd/5 5<>/dev/fuse 2>"$2/err"' \
		sh "$hb/hackbackfs" "$d" || rc=$?
	[ "$rc" != 0 ] && [ "$(wc -l <"$d/err")" = 1 ] && grep -q 'needs libfuse >= 3.3' "$d/err" ||
		die "$lib: /dev/fd/N not refused (status $rc): $(cat "$d/err")"
	say "refused with $(basename "$lib"): $(cat "$d/err")"
done
ok=1
say "ok"
