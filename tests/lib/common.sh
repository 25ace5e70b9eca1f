# SPDX-License-Identifier: BSD-3-Clause
# tests/lib/common.sh -- shared helpers for the shell tests.  Source it:
#
#	. "${top_srcdir:-.}/tests/lib/common.sh"
#
# What it gives a test.  Messages and results, the same in every test
# (tests/guest too):
#   say MSG               "TEST: MSG" on stderr
#   fail MSG              "TEST: FAIL: MSG" on stderr, exit 1
#   skip REASON           "TEST: SKIP: REASON", exit 77 (automake's SKIP);
#                         1 instead after a failed check
#   check_failed MSG      "TEST: FAIL: MSG" on stderr, counted in $failures,
#                         and the test goes on; at exit a test that would
#                         pass or skip (0, 77) exits 1 instead when
#                         $failures is not 0
#   finish                exit now: "FAILED" and 1 if a check failed,
#                         else "PASS" and 0
#   bad MSG               in a case of a table-driven test ($cname; the
#                         case runs in a subshell that ends with
#                         [ "$case_bad" = 0 ] and is then counted as one
#                         check): "    CASE: MSG", the case fails, goes on
#   requires TOOL...      skip when a tool is missing
#   requires_root         the same for root (loop devices, kernel mounts)
#   $tmp                  a private temporary directory, removed on exit
#   on_exit CMD           run CMD at exit (last registered runs first),
#                         before $tmp is removed: umount, losetup -d
#   make_base KIND OUT [LAYOUT]
#                         a base image built now with mke2fs -d
#   base_offset LAYOUT    byte offset of the file system in such a base
#   make_overlay OUT      the standard overlay directory
#   base_tree             the directory every base is made from
#   expected_tree BASETREE OVERLAY OUT [keep]
#                         what the image's file system must look like
#   apply_overlay OVERLAY DIR
#                         one more overlay on such a tree
#   tree_listing DIR      canonical listing of a tree (for diff)
#   kernel_checks         can_mount=yes|no for the loop-mount checks
#   debugfs_run / debugfs_cat / debugfs_stat IMAGE ...
#                         look inside an image (FILE?offset=N) without root
#   can_kernel_mount, kernel_listing FILE OFFSET SIZE KIND LIST [NAME...],
#   release_loops         the same through a read-only kernel mount (root)
#
# Fixtures are made at test time and never checked in.  Everything here is
# POSIX sh: `make check' runs the tests with $(SHELL), which may be dash.
# Set HB_KEEP_TMP=1 to keep $tmp for a post-mortem.

set -eu
export LC_ALL=C

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$(pwd)}"
SYNTH=$top_builddir/tests/lib/synth
HB_TEST=$(basename "$0" .sh)
failures=0

say()
{
	printf '%s: %s\n' "$HB_TEST" "$*" >&2
}

fail()
{
	failures=$((failures + 1))
	say "FAIL: $*"
	exit 1
}

skip()
{
	echo "$HB_TEST: SKIP: $*"
	exit 77
}

check_failed()
{
	failures=$((failures + 1))
	say "FAIL: $*"
}

bad()
{
	echo "    $cname: $*"
	case_bad=1
}

finish()
{
	if [ "$failures" -ne 0 ]; then
		say "FAILED: $failures check(s)"
		exit 1
	fi
	say "PASS"
	exit 0
}

requires()
{
	for _tool; do
		command -v "$_tool" >/dev/null 2>&1 || skip "'$_tool' not found"
	done
}

requires_root()
{
	[ "$(id -u)" -eq 0 ] || skip "needs root"
}

requires_synth()
{
	# A missing helper is a build failure, not a reason to skip.
	[ -x "$SYNTH" ] || fail "$SYNTH not built (run make first)"
}

# ---- temporary directory and cleanup ------------------------------------

_hb_cleanup=
on_exit()
{
	_hb_cleanup="$*
$_hb_cleanup"
}

_hb_exit()
{
	_status=$?
	set +e
	# A failed check fails the test whatever ends it: neither a pass (0)
	# nor a later skip (77) may hide it.
	case $_status in
	0) [ "$failures" -eq 0 ] || _status=1 ;;
	77) [ "$failures" -eq 0 ] ||
		{ say "FAILED: $failures check(s) before the skip"; _status=1; } ;;
	esac
	eval "$_hb_cleanup"
	if [ -n "${HB_KEEP_TMP:-}" ]; then
		echo "$HB_TEST: kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
	exit "$_status"
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hackbackfs-$HB_TEST.XXXXXX")
# The per-user digest cache is the test's own, not the caller's: a test
# must not depend on what the user mounted before (a cache of a million
# files is loaded whole).  Tests of the cache itself set their own.
export XDG_CACHE_HOME="$tmp/xdg-cache"
trap _hb_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sha256_of()
{
	sha256sum "$1" | cut -d' ' -f1
}

# ---- bases ----------------------------------------------------------------

# Size of the file system in a base made by make_base, in MiB.  The
# standard overlay (about 26 MiB of data) must fit with room to spare.
: "${BASE_FS_MB:=64}"
# shellcheck disable=SC2034  # used by the tests that source this
BASE_KINDS="ext2 ext3 ext4 ext4-nocsum ext4-inline"
# shellcheck disable=SC2034
BASE_LAYOUTS="bare mbr gpt"
BASE_TIME=@1600000000		# every time stamp in the base tree

# The tree that every base holds, built once per test in $tmp/basetree:
# a small merged-usr system (sbin, bin, lib are symlinks into usr), a few
# files and symlinks, and big/ with 5100 entries so that e2fsck -D indexes
# it (htree).  Prints the directory.
base_tree()
{
	_t=$tmp/basetree
	if [ ! -d "$_t" ]; then
		mkdir -p "$_t.new"
		(
			cd "$_t.new"
			mkdir -p etc usr/bin usr/sbin usr/lib usr/share/doc/hb \
				home/user big data
			mkdir -m 0700 root
			ln -s usr/sbin sbin
			ln -s usr/bin bin
			ln -s usr/lib lib
			echo base-host >etc/hostname
			printf 'root:x:0:0:root:/root:/bin/sh\n' >etc/passwd
			printf 'LABEL=root / ext4 defaults 0 1\n' >etc/fstab
			ln -s /usr/share/zoneinfo/Etc/UTC etc/localtime
			printf '#!/bin/sh\necho hello\n' >usr/bin/hello
			chmod 0755 usr/bin/hello
			head -c 150000 /dev/urandom >usr/sbin/init
			chmod 0755 usr/sbin/init
			head -c 300000 /dev/urandom >usr/lib/libhb.so.1.0
			ln -s libhb.so.1.0 usr/lib/libhb.so.1
			printf 'base documentation\n' >usr/share/doc/hb/README
			printf 'PS1=base\n' >root/.bashrc
			printf 'export PATH=/usr/bin\n' >root/.profile
			chmod 0600 root/.bashrc root/.profile
			printf 'user file\n' >home/user/notes
			[ "$(id -u)" -ne 0 ] || chown -R 1000:1000 home/user
			head -c 40000 /dev/urandom >data/keep.bin
			head -c 3000000 /dev/urandom >data/replaced.bin
			seq -f "big/entry-%05g-with-a-longer-name" 0 5099 | xargs touch
			echo 'not empty' >big/entry-00042-with-a-longer-name
			find . -exec touch -h -d "$BASE_TIME" {} +
		) || fail "cannot build the base tree"
		mv "$_t.new" "$_t"
	fi
	echo "$_t"
}

# Byte offset of the file system inside a base of this layout.
base_offset()
{
	case $1 in
	bare) echo 0 ;;
	mbr | gpt200) echo 1048576 ;;	# sector 2048, as gem5's images
	gpt) echo 2097152 ;;	# partition 2, after a 1 MiB BIOS boot partition
	*) fail "base_offset: unknown layout '$1'" ;;
	esac
}

# The bare file system of one kind, built once per test: prints its path.
_base_fs()
{
	_bf=$tmp/basefs-$1.img
	[ -f "$_bf" ] && { echo "$_bf"; return 0; }
	_tree=$(base_tree)
	case $1 in
	ext2) _opts="-t ext2 -b 1024" ;;
	ext3) _opts="-t ext3 -b 4096 -N 16384" ;;
	ext4) _opts="-t ext4 -b 4096 -N 16384" ;;
	ext4-nocsum) _opts="-t ext4 -b 4096 -N 16384 -O ^metadata_csum" ;;
	ext4-inline) _opts="-t ext4 -b 4096 -N 16384 -O inline_data" ;;
	*) fail "make_base: unknown kind '$1'" ;;
	esac
	rm -f "$_bf.new"
	truncate -s "${BASE_FS_MB}M" "$_bf.new"
	# shellcheck disable=SC2086  # $_opts is a list of options
	mke2fs -q -F $_opts -L "hb-$1" -d "$_tree" "$_bf.new" >&2 ||
		fail "make_base: mke2fs $_opts failed"
	# -D builds the htree index of big/; exit 1 only says it optimised.
	_rc=0
	e2fsck -fyD "$_bf.new" >"$tmp/e2fsck-D.log" 2>&1 || _rc=$?
	[ "$_rc" -le 1 ] || { cat "$tmp/e2fsck-D.log" >&2; fail "make_base: e2fsck -fyD: $_rc"; }
	e2fsck -fn "$_bf.new" >"$tmp/e2fsck-D.log" 2>&1 ||
		{ cat "$tmp/e2fsck-D.log" >&2; fail "make_base: fixture not clean"; }
	debugfs -R 'htree big' "$_bf.new" 2>/dev/null | grep -q 'Root node dump' ||
		fail "make_base: big/ is not htree-indexed"
	mv "$_bf.new" "$_bf"
	echo "$_bf"
}

# make_base KIND OUT [LAYOUT]: KIND is one of $BASE_KINDS, LAYOUT one of
# $BASE_LAYOUTS (default bare).  The file system is $BASE_FS_MB MiB; it is
# made once per kind and copied into each layout.
make_base()
{
	_kind=$1 _out=$2 _layout=${3:-bare}
	_fs=$(_base_fs "$_kind") || exit 1
	rm -f "$_out"
	_sectors=$((BASE_FS_MB * 2048))
	case $_layout in
	bare)
		cp --sparse=always "$_fs" "$_out" || fail "make_base: cp"
		return 0
		;;
	mbr)
		truncate -s "$((BASE_FS_MB + 1))M" "$_out"
		printf 'label: dos\nunit: sectors\nstart=2048, size=%d, type=83\n' \
			"$_sectors" | sfdisk -q --no-reread --no-tell-kernel "$_out" >/dev/null
		;;
	gpt)
		# p1: an empty BIOS boot partition; p2: the file system; the
		# last MiB leaves room for the backup GPT.
		truncate -s "$((BASE_FS_MB + 3))M" "$_out"
		printf 'label: gpt\nunit: sectors\nstart=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649\nstart=4096, size=%d, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' \
			"$_sectors" | sfdisk -q --no-reread --no-tell-kernel "$_out" >/dev/null
		;;
	gpt200)
		# a table of 256 entries, the file system in entry 200 alone
		# (GPT numbers past the classic 128 entries)
		truncate -s "$((BASE_FS_MB + 2))M" "$_out"
		printf 'label: gpt\ntable-length: 256\nunit: sectors\n\n%s200 : start=2048, size=%d, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' \
			"$_out" "$_sectors" | sfdisk -q --no-reread --no-tell-kernel "$_out" >/dev/null
		;;
	*) fail "make_base: unknown layout '$_layout'" ;;
	esac || fail "make_base: sfdisk $_layout failed"
	dd if="$_fs" of="$_out" bs=1M seek=$(($(base_offset "$_layout") / 1048576)) \
		conv=notrunc,sparse status=none || fail "make_base: dd failed"
}

# ---- the overlay ------------------------------------------------------------

# Everything the standard overlay holds, one "PATH TYPE" a line, PATH as in
# the overlay (sbin/m5 lands in usr/sbin/m5 through the base's symlink).
OVERLAY_FILES="sbin/m5 bin/suid-tool root/.bashrc etc/empty.conf etc/hostname
data/sparse.img data/large.bin data/replaced.bin data/hl1 data/hl2 a/b/c/file
big/injected-file"
OVERLAY_SYMLINKS="data/rel data/abs"
OVERLAY_NEW_DIRS="a a/b a/b/c"
# Who owns the overlay's files: not root, so that forcing 0:0 shows
# (only root can give files away: otherwise the caller).
if [ "$(id -u)" -eq 0 ]; then
	OVERLAY_OWNER=1000:1000
else
	OVERLAY_OWNER=$(id -u):$(id -g)
fi
ABS_TARGET=/etc/../../../x
REL_TARGET=../etc/hostname

# The image path of an overlay path: the base's merged-usr symlinks
# resolved (sbin/m5 -> usr/sbin/m5).
image_path()
{
	case $1 in
	sbin/* | bin/* | lib/*) echo "usr/$1" ;;
	*) echo "$1" ;;
	esac
}

# make_overlay OUT: files owned by $OVERLAY_OWNER (so that forcing 0:0 shows),
# new directories too; directories that exist in the base (data/ among
# them) have the base's owner and mode.  Every file and symlink has its own mtime.
make_overlay()
{
	_o=$1
	rm -rf "$_o"
	mkdir -p "$_o"
	(
		cd "$_o"
		mkdir -p sbin bin etc big data a/b/c
		mkdir -m 0700 root
		head -c 70000 /dev/urandom >sbin/m5
		printf '#!/bin/sh\necho setuid\n' >bin/suid-tool
		printf '#!/bin/sh\n# hack-back: checkpoint, then run the restore script\n/sbin/m5 checkpoint\n' >root/.bashrc
		: >etc/empty.conf
		echo hacked-host >etc/hostname
		# 5 MiB with data at 0, 2 MiB and the very end; the rest holes.
		truncate -s 5M data/sparse.img
		printf 'head of the sparse file' | dd of=data/sparse.img conv=notrunc status=none
		printf 'middle' | dd of=data/sparse.img bs=1 seek=2097152 conv=notrunc status=none
		printf 'tail' | dd of=data/sparse.img bs=1 seek=$((5 * 1048576 - 4)) conv=notrunc status=none
		head -c 20M /dev/urandom >data/large.bin
		head -c 100000 /dev/urandom >data/replaced.bin	# was 3 MB
		printf 'one inode, two names\n' >data/hl1
		ln data/hl1 data/hl2
		echo nested >a/b/c/file
		echo 'in an htree directory' >big/injected-file
		ln -s "$REL_TARGET" data/rel
		ln -s "$ABS_TARGET" data/abs
		# shellcheck disable=SC2086  # lists of paths
		chown -h "$OVERLAY_OWNER" $OVERLAY_FILES $OVERLAY_SYMLINKS $OVERLAY_NEW_DIRS
		# after chown, which clears set-id bits
		# shellcheck disable=SC2086
		chmod 0755 sbin/m5 $OVERLAY_NEW_DIRS
		chmod 04755 bin/suid-tool
		chmod 0644 root/.bashrc etc/hostname data/hl1 data/sparse.img data/replaced.bin
		chmod 0600 etc/empty.conf
		chmod 0640 data/large.bin a/b/c/file big/injected-file
		_s=1500000000
		for _f in $OVERLAY_FILES $OVERLAY_SYMLINKS; do
			_s=$((_s + 86400 + 7))
			touch -h -d "@$_s" "$_f"
		done
		find . -type d -exec touch -d @1400000000 {} +
	) || fail "make_overlay failed"
}

# expected_tree BASETREE OVERLAY OUT [keep]: the base tree with the
# overlay applied as the image must show it: lost+found added, overlay
# paths through the base's directory symlinks resolved (tar's
# --keep-directory-symlink), owners forced to 0:0 unless "keep", and every
# overlay mtime set to $HB_EXPECT_EPOCH when that is set (the program's
# default; unset: the overlay's own mtimes, as with -o keep_mtime).
expected_tree()
{
	_base=$1 _ov=$2 _exp=$3 _keep=${4:-}
	rm -rf "$_exp"
	cp -a "$_base" "$_exp" || fail "expected_tree: cp"
	mkdir -m 0700 "$_exp/lost+found"
	if [ "$_keep" = keep ]; then
		_owner=
	else
		_owner="--owner=0 --group=0"
	fi
	# shellcheck disable=SC2086
	(cd "$_ov" && tar --format=posix --numeric-owner $_owner $(_expect_mtime) -cf - .) |
		(cd "$_exp" && tar --keep-directory-symlink --numeric-owner -xpf -) ||
		fail "expected_tree: tar"
}

_expect_mtime()
{
	[ -z "${HB_EXPECT_EPOCH:-}" ] || echo "--mtime=@$HB_EXPECT_EPOCH"
}

# apply_overlay OVERLAY DIR: one more overlay on an expected tree, as
# expected_tree does (owners 0:0).  posix format keeps nanoseconds.
apply_overlay()
{
	# shellcheck disable=SC2046
	(cd "$1" && tar --format=posix --numeric-owner --owner=0 --group=0 $(_expect_mtime) -cf - .) |
		(cd "$2" && tar --keep-directory-symlink --numeric-owner -xpf -) ||
		fail "apply_overlay: tar"
}

# One line per entry below DIR, sorted: path, type, mode, owner, and for
# non-directories size, link count, mtime and symlink target; then the
# SHA-256 of every regular file.  Directory sizes, link counts and times
# are left out: they depend on the file system, not on the content.
tree_listing()
{
	(
		cd "$1" || exit 1
		find . -mindepth 1 \( -type d -printf '%P %y %m %U:%G\n' \) -o \
			-printf '%P %y %m %U:%G size=%s nlink=%n mtime=%T@ -> %l\n' | sort
		find . -type f -print0 | sort -z | xargs -0 -r sha256sum
	)
}

# ---- looking at an image ------------------------------------------------------

# debugfs_run IMAGE CMD: debugfs's output; IMAGE may be FILE?offset=N.  The
# banner and errors go to $tmp/debugfs.err.
debugfs_run()
{
	debugfs -R "$2" "$1" 2>"$tmp/debugfs.err" || true
}

# debugfs_cat IMAGE PATH: the file's content, through debugfs dump
# (debugfs cat pads inline_data files with NULs).
debugfs_cat()
{
	rm -f "$tmp/cat.out"
	debugfs_run "$1" "dump \"/$2\" \"$tmp/cat.out\"" >/dev/null
	[ ! -f "$tmp/cat.out" ] || cat "$tmp/cat.out"
}

# debugfs_stat IMAGE PATH: one line "INODE TYPE MODE UID GID SIZE LINKS
# MTIME ATIME CTIME CRTIME TARGET" from debugfs stat (MODE in octal without
# leading zeros, times in seconds, "-" for what is absent; TARGET is a fast
# symlink's target, the only field that may hold spaces).  "missing ..."
# when PATH is not there.  The raw output stays in $tmp/stat.out.
debugfs_stat()
{
	debugfs_run "$1" "stat \"/$2\"" >"$tmp/stat.out"
	if [ ! -s "$tmp/stat.out" ]; then
		echo "missing - - - - - - - - - - -"
		return 0
	fi
	_i=$(sed -n 's/^Inode: *\([0-9]*\) *Type: *\([a-z]*\) *Mode: *\([0-7]*\).*/\1 \2 \3/p' "$tmp/stat.out")
	_u=$(sed -n 's/^User: *\([0-9]*\) *Group: *\([0-9]*\).* Size: *\([0-9]*\).*/\1 \2 \3/p' "$tmp/stat.out")
	_l=$(sed -n 's/^Links: *\([0-9]*\).*/\1/p' "$tmp/stat.out")
	_t=
	for _w in mtime atime ctime crtime; do
		_h=$(sed -n "s/^ *$_w: 0x\\([0-9a-f]*\\).*/\\1/p" "$tmp/stat.out")
		if [ -n "$_h" ]; then _t="$_t $(printf '%d' "0x$_h")"; else _t="$_t -"; fi
	done
	_d=$(sed -n 's/^Fast link dest: "\(.*\)"$/\1/p' "$tmp/stat.out")
	# shellcheck disable=SC2086
	set -- $_i
	echo "$1 $2 $(echo "$3" | sed 's/^0*//') $_u ${_l:--}$_t ${_d:--}"
}

# kernel_checks: can_mount=yes when the kernel mount checks can run (else
# no, and says so); loop devices are released at exit either way.
kernel_checks()
{
	can_mount=yes
	can_kernel_mount || {
		can_mount=no
		echo "$HB_TEST: not root or no loop devices: kernel mount checks skipped"
	}
	on_exit release_loops
}

# Whether a kernel mount through a loop device can be tried here.
can_kernel_mount()
{
	[ "$(id -u)" -eq 0 ] && command -v losetup >/dev/null 2>&1 &&
		command -v mount >/dev/null 2>&1 && [ -e /dev/loop-control ]
}

# Unmount $tmp/mnt and detach loop devices over files in $tmp, if a test
# died with them in use.  Register with on_exit.
release_loops()
{
	! mountpoint -q "$tmp/mnt" 2>/dev/null || umount "$tmp/mnt"
	losetup -n -O NAME,BACK-FILE -l 2>/dev/null |
		while read -r _dev _file; do
			case $_file in "$tmp"/*) losetup -d "$_dev" ;; esac
		done
}

# kernel_listing FILE OFFSET SIZE KIND LIST [NAME...]: mount the file
# system at OFFSET read-only through a loop device (ext2 with the ext2
# driver, the others as ext4 with noload), write tree_listing to LIST and
# check that every NAME is found by lookup.  On failure prints the cause
# on stdout and returns 1.
kernel_listing()
{
	_file=$1 _off=$2 _size=$3 _kind=$4 _list=$5
	shift 5
	_dev=$(losetup -r -f --show -o "$_off" --sizelimit "$_size" "$_file") ||
		{ echo "losetup failed"; return 1; }
	mkdir -p "$tmp/mnt"
	case $_kind in
	ext2) _mopt="-t ext2 -o ro" ;;
	*) _mopt="-t ext4 -o ro,noload" ;;
	esac
	_kerr=
	# shellcheck disable=SC2086
	if mount $_mopt "$_dev" "$tmp/mnt" 2>"$tmp/mount.err"; then
		tree_listing "$tmp/mnt" >"$_list" || _kerr="listing the mount failed"
		for _n; do
			[ -e "$tmp/mnt/$_n" ] || [ -L "$tmp/mnt/$_n" ] ||
				_kerr="$_kerr${_kerr:+; }kernel lookup of /$_n failed"
		done
		umount "$tmp/mnt" || _kerr="$_kerr${_kerr:+; }umount failed"
	else
		_kerr="mount $_mopt failed: $(cat "$tmp/mount.err") $(dmesg 2>/dev/null | tail -n 3)"
	fi
	losetup -d "$_dev" || _kerr="$_kerr${_kerr:+; }losetup -d $_dev failed"
	[ -z "$_kerr" ] || { echo "$_kerr"; return 1; }
}
