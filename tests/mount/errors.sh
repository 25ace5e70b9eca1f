#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/errors.sh -- bad input to the mount (invariant 5): for each
# case hackbackfs must exit non-zero (not by a signal), print the expected
# error line, leave nothing mounted (mountpoint -q and /proc/self/mountinfo)
# and no daemon behind, and leave BASE byte-identical (its size and times
# after each case, its SHA-256 at the end).
#
# Cases: a missing base, a directory as base, random bytes, zeros, vfat, a
# journal needing recovery; a missing overlay, a file as overlay, a fifo
# in the overlay, an overlay larger than the free space; a missing mount
# point, a file as mount point, a non-empty one, one already mounted; an
# unknown -o option, partition=7, owner=abc, epoch=x, cow_limit=abc,
# name=a/b, owner with keep_owner, a missing restore script, too many
# arguments, too few, umask=8, umask=+022, umask=' 022', cow_limit='5 '; numbers out of range for where they go
# (owner=-1:-1, owner=4294967296:0, owner=+7:+8, cow_limit=16777216T,
# cow_limit=1iB, epoch past 2446, epoch=3000000000 on 128-byte inodes, a
# malformed or too large SOURCE_DATE_EPOCH; partition=200 reaches the
# probe); --digests of a bad base, without an overlay
# and with an unknown option; a gzip-compressed base and a truncated one.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires mke2fs sfdisk debugfs mkfifo

base=$tmp/base.img
ov=$tmp/ov
mnt=$tmp/mnt
make_base ext4 "$base" mbr
mkdir -p "$ov/etc" "$mnt"
echo harmless >"$ov/etc/motd"
base_sum=$(sha256_of "$base")

cases=0

# refuse NAME 'REGEX' [--mnt DIR] [--watch FILE] -- ARGS...: run hackbackfs
# ARGS and check the refusal; REGEX (grep -E) must match stderr.  DIR is
# the mount point to watch (default $mnt), FILE a base to watch (default
# $base).
refuse()
{
	_name=$1 _re=$2 _m=$mnt _w=$base
	shift 2
	while [ "$1" != -- ]; do
		case $1 in
		--mnt) _m=$2 ;;
		--watch) _w=$2 ;;
		*) fail "refuse: bad argument '$1'" ;;
		esac
		shift 2
	done
	shift
	cases=$((cases + 1))
	# Size and times per case (a write moves mtime and ctime); the bytes
	# of every base are hashed once more at the end.
	_sum=
	[ ! -f "$_w" ] || _sum=$(stat -c '%s %y %z' "$_w")
	_rc=0
	"$HB" "$@" >"$tmp/stdout" 2>"$tmp/stderr" </dev/null || _rc=$?
	_why=
	if [ "$_rc" -eq 0 ]; then
		_why="exit status 0"
	elif [ "$_rc" -gt 125 ]; then
		_why="exit status $_rc (a signal?)"
	fi
	grep -qE -e "$_re" "$tmp/stderr" || _why="$_why${_why:+; }stderr does not match /$_re/"
	[ "$(wc -l <"$tmp/stderr")" -eq 1 ] || _why="$_why${_why:+; }$(wc -l <"$tmp/stderr") lines on stderr, want 1"
	if [ -d "$_m" ] && is_mounted "$_m"; then
		_why="$_why${_why:+; }$_m is mounted"
		fusermount3 -u -z "$_m"
	fi
	if awk -v m="$_m" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; then
		_why="$_why${_why:+; }$_m in /proc/self/mountinfo"
	fi
	if _p=$(hb_daemon_pid "$_m"); then
		_why="$_why${_why:+; }a hackbackfs is left running (pid $_p)"
		echo "$_p" >>"$tmp/hb.pids"
	fi
	[ -z "$_sum" ] || [ "$(stat -c '%s %y %z' "$_w")" = "$_sum" ] || _why="$_why${_why:+; }BASE WAS MODIFIED"
	if [ -z "$_why" ]; then
		echo "PASS $_name: $(head -n 1 "$tmp/stderr")"
	else
		check_failed "$_name: $_why"
		sed 's/^/    stderr: /' "$tmp/stderr"
	fi
}

# ---- bases ----------------------------------------------------------------------
refuse "missing base" "^hackbackfs: base image $tmp/nope\\.img: No such file or directory$" \
	-- "$tmp/nope.img" "$ov" "$mnt"
mkdir "$tmp/dir.img"
refuse "base is a directory" "^hackbackfs: base image $tmp/dir\\.img is not a regular file" \
	-- "$tmp/dir.img" "$ov" "$mnt"
head -c 8M /dev/urandom >"$tmp/random.img"
refuse "random bytes" "^hackbackfs: .*random\\.img: no ext2/3/4 file system found" --watch "$tmp/random.img" \
	-- "$tmp/random.img" "$ov" "$mnt"
truncate -s 8M "$tmp/zero.img"
refuse "zeros" "^hackbackfs: .*zero\\.img: no ext2/3/4 file system found" --watch "$tmp/zero.img" \
	-- "$tmp/zero.img" "$ov" "$mnt"
if command -v mkfs.vfat >/dev/null 2>&1; then
	mkfs.vfat -C "$tmp/vfat.img" 16384 >/dev/null || fail "mkfs.vfat failed"
	refuse "vfat" "^hackbackfs: .*vfat\\.img is vfat, not ext2/3/4" --watch "$tmp/vfat.img" \
		-- "$tmp/vfat.img" "$ov" "$mnt"
else
	echo "SKIP vfat: mkfs.vfat not found"
fi
cp "$base" "$tmp/journal.img"
debugfs -w -R 'feature needs_recovery' "$tmp/journal.img?offset=$(base_offset mbr)" >/dev/null 2>&1 ||
	fail "debugfs could not set needs_recovery"
journal_sum=$(sha256_of "$tmp/journal.img")
refuse "journal needs recovery" "^hackbackfs: .*journal\\.img: the file system's journal needs recovery" \
	--watch "$tmp/journal.img" -- "$tmp/journal.img" "$ov" "$mnt"

# ---- overlays -------------------------------------------------------------------
refuse "missing overlay" "^hackbackfs: $tmp/no-ov: overlay directory: No such file or directory" \
	-- "$base" "$tmp/no-ov" "$mnt"
echo file >"$tmp/ov-file"
refuse "overlay is a file" "^hackbackfs: $tmp/ov-file: overlay is not a directory" \
	-- "$base" "$tmp/ov-file" "$mnt"
refuse "empty overlay name" "^hackbackfs: overlay list '$ov:' has an empty directory name" \
	-- "$base" "$ov:" "$mnt"
mkdir -p "$tmp/ov-fifo/etc"
mkfifo "$tmp/ov-fifo/etc/pipe"
refuse "fifo in overlay" "^hackbackfs: .*etc/pipe: is a fifo" \
	-- "$base" "$tmp/ov-fifo" "$mnt"
mkdir -p "$tmp/ov-big/data"
head -c $(((BASE_FS_MB + 8) * 1048576)) /dev/zero | tr '\0' x >"$tmp/ov-big/data/huge"
refuse "overlay too big" "^hackbackfs: overlay does not fit in the file system of .*base\\.img" \
	-- "$base" "$tmp/ov-big" "$mnt"
rm -rf "$tmp/ov-big"

# ---- mount points ---------------------------------------------------------------
refuse "missing mount point" "bad mount point .$tmp/no-mnt.: No such file or directory" --mnt "$tmp/no-mnt" \
	-- "$base" "$ov" "$tmp/no-mnt"
echo file >"$tmp/mnt-file"
refuse "mount point is a file" "^hackbackfs: mount point $tmp/mnt-file is not a directory" --mnt "$tmp/mnt-file" \
	-- "$base" "$ov" "$tmp/mnt-file"
mkdir -p "$tmp/mnt-full"
echo x >"$tmp/mnt-full/x"
refuse "mount point not empty" "^hackbackfs: mount point $tmp/mnt-full is not empty" --mnt "$tmp/mnt-full" \
	-- "$base" "$ov" "$tmp/mnt-full"
# A second mount over a mount of ours: refused, and the first one survives.
mkdir "$tmp/mnt-busy"
mount_hb "$base" "$ov" "$tmp/mnt-busy"
first=$hb_pid
cases=$((cases + 1))
_rc=0
"$HB" "$base" "$ov" "$tmp/mnt-busy" 2>"$tmp/stderr" || _rc=$?
if [ "$_rc" -eq 0 ] || ! grep -q "mount point $tmp/mnt-busy is already mounted (fuse" "$tmp/stderr" ||
	[ "$(hb_daemon_pid "$tmp/mnt-busy")" != "$first" ] ||
	[ "$(awk -v m="$tmp/mnt-busy" '$5 == m' /proc/self/mountinfo | wc -l)" -ne 1 ]; then
	check_failed "mount over a mount: exit $_rc; $(cat "$tmp/stderr")"
else
	echo "PASS mount over a mount: $(cat "$tmp/stderr")"
fi
unmount_hb "$tmp/mnt-busy"

# ---- options ------------------------------------------------------------------------
refuse "unknown option" "^fuse: unknown option\\(s\\): \`-o bogus'$" \
	-- -o bogus "$base" "$ov" "$mnt"
refuse "partition=7" "^hackbackfs: .*base\\.img has no partition 7" \
	-- -o partition=7 "$base" "$ov" "$mnt"
refuse "partition=0" "^hackbackfs: bad value for -o partition: '0' \\(a whole number from 1 to" \
	-- -o partition=0 "$base" "$ov" "$mnt"
refuse "partition=abc" "^hackbackfs: bad value for -o partition: 'abc' \\(a whole number from 1 to" \
	-- -o partition=abc "$base" "$ov" "$mnt"
refuse "owner=abc" "^hackbackfs: bad value for -o owner: 'abc'" \
	-- -o owner=abc "$base" "$ov" "$mnt"
refuse "epoch=x" "^hackbackfs: bad value for -o epoch: 'x'" \
	-- -o epoch=x "$base" "$ov" "$mnt"
refuse "cow_limit=abc" "^hackbackfs: bad value for -o cow_limit: 'abc'" \
	-- -o cow_limit=abc "$base" "$ov" "$mnt"
refuse "name=a/b" "^hackbackfs: bad value for -o name: 'a/b'" \
	-- -o name=a/b "$base" "$ov" "$mnt"
refuse "owner with keep_owner" "^hackbackfs: -o owner and -o keep_owner exclude each other" \
	-- -o owner=1:1,keep_owner "$base" "$ov" "$mnt"
refuse "missing restore script" "^hackbackfs: restore script $tmp/no-restore\\.sh: No such file or directory" \
	-- -o "restore=$tmp/no-restore.sh" "$base" "$ov" "$mnt"
refuse "too many arguments" "^hackbackfs: too many arguments: 'extra'" \
	-- "$base" "$ov" "$mnt" extra
refuse "no mount point" "^hackbackfs: no mount point given" \
	-- "$base" "$ov"

refuse "umask=8" "^hackbackfs: bad value for -o umask: '8'" \
	-- -o umask=8 "$base" "$ov" "$mnt"
refuse "umask=+022" "^hackbackfs: bad value for -o umask: '\\+022'" \
	-- -o umask=+022 "$base" "$ov" "$mnt"
refuse "umask=' 022'" "^hackbackfs: bad value for -o umask: ' 022'" \
	-- -o "umask= 022" "$base" "$ov" "$mnt"
refuse "cow_limit='5 '" "^hackbackfs: bad value for -o cow_limit: '5 '" \
	-- -o "cow_limit=5 " "$base" "$ov" "$mnt"

# Numbers: range-checked for where they go, never wrapped, no sign.
refuse "owner=-1:-1" "^hackbackfs: bad value for -o owner: '-1:-1'" \
	-- -o owner=-1:-1 "$base" "$ov" "$mnt"
refuse "owner=4294967296:0" "^hackbackfs: bad value for -o owner: '4294967296:0'" \
	-- -o owner=4294967296:0 "$base" "$ov" "$mnt"
refuse "owner=4294967295:0" "^hackbackfs: bad value for -o owner: '4294967295:0'" \
	-- -o owner=4294967295:0 "$base" "$ov" "$mnt"
refuse "owner=+7:+8" "^hackbackfs: bad value for -o owner: '\\+7:\\+8'" \
	-- -o owner=+7:+8 "$base" "$ov" "$mnt"
refuse "cow_limit=16777216T" "^hackbackfs: bad value for -o cow_limit: '16777216T'" \
	-- -o cow_limit=16777216T "$base" "$ov" "$mnt"
refuse "cow_limit=1iB" "^hackbackfs: bad value for -o cow_limit: '1iB'" \
	-- -o cow_limit=1iB "$base" "$ov" "$mnt"
refuse "cow_limit=-1" "^hackbackfs: bad value for -o cow_limit: '-1'" \
	-- -o cow_limit=-1 "$base" "$ov" "$mnt"
refuse "epoch=+5" "^hackbackfs: bad value for -o epoch: '\\+5'" \
	-- -o epoch=+5 "$base" "$ov" "$mnt"
refuse "epoch=15032385536" "^hackbackfs: bad value for -o epoch: '15032385536'" \
	-- -o epoch=15032385536 "$base" "$ov" "$mnt"
refuse "partition=200" "^hackbackfs: .*base\\.img has no partition 200" \
	-- -o partition=200 "$base" "$ov" "$mnt"
refuse "read_ahead_kb= 5" "^hackbackfs: bad value for -o read_ahead_kb: ' 5'" \
	-- -o "read_ahead_kb= 5" "$base" "$ov" "$mnt"
# 128-byte inodes hold signed 32-bit times: 2038 and no later.
mke2fs -q -F -t ext2 -I 128 "$tmp/small-inodes.img" 4M
refuse "epoch=3000000000 on 128-byte inodes" "^hackbackfs: -o epoch=3000000000: the file system's 128-byte inodes hold times up to 2147483647 only" \
	--watch "$tmp/small-inodes.img" -- -o epoch=3000000000 "$tmp/small-inodes.img" "$ov" "$mnt"
"$HB" --digests -o epoch=3000000000 "$base" "$ov" >/dev/null 2>"$tmp/stderr" ||
	fail "epoch=3000000000 on 256-byte inodes refused: $(cat "$tmp/stderr")"
SOURCE_DATE_EPOCH=17179869184
export SOURCE_DATE_EPOCH
refuse "SOURCE_DATE_EPOCH=17179869184" "^hackbackfs: SOURCE_DATE_EPOCH='17179869184' is not a time the image can hold" \
	-- "$base" "$ov" "$mnt"
SOURCE_DATE_EPOCH=12abc
refuse "SOURCE_DATE_EPOCH=12abc" "^hackbackfs: SOURCE_DATE_EPOCH='12abc' is not a time the image can hold" \
	-- "$base" "$ov" "$mnt"
SOURCE_DATE_EPOCH=-5
refuse "SOURCE_DATE_EPOCH=-5" "^hackbackfs: SOURCE_DATE_EPOCH='-5' is not a time the image can hold" \
	-- "$base" "$ov" "$mnt"
unset SOURCE_DATE_EPOCH

# ---- bases the guest could not read ----------------------------------------------------
gzip -c "$base" >"$tmp/base.img.gz"
refuse "gzip-compressed base" "^hackbackfs: .*base\.img\.gz is a gzip-compressed file, not a raw disk image: convert it first with gunzip -k" \
	--watch "$tmp/base.img.gz" -- "$tmp/base.img.gz" "$ov" "$mnt"
head -c $((BASE_FS_MB * 1048576 / 2)) "$base" >"$tmp/cut.img"
refuse "truncated base" "^hackbackfs: .*cut\.img partition 1 .* runs past the end of the file" \
	--watch "$tmp/cut.img" -- "$tmp/cut.img" "$ov" "$mnt"

# ---- --digests ------------------------------------------------------------------------
refuse "--digests with an unknown option" "^fuse: unknown option\\(s\\): \`-o no_such_option'$" \
	-- --digests -o no_such_option "$base" "$ov"
refuse "--digests of a bad base" "^hackbackfs: .*random\\.img: no ext2/3/4 file system found" --watch "$tmp/random.img" \
	-- --digests "$tmp/random.img" "$ov"
refuse "--digests without overlay" "^hackbackfs: --digests takes BASE and OVERLAY" \
	-- --digests "$base"
[ ! -s "$tmp/stdout" ] || fail "--digests printed digests for a refused input"

[ "$(sha256_of "$base")" = "$base_sum" ] || fail "BASE was modified"
[ "$(sha256_of "$tmp/journal.img")" = "$journal_sum" ] || fail "the base with a journal to recover was modified"
echo "$cases cases, $failures failed"
[ "$failures" -eq 0 ] || fail "$failures of $cases refusals were wrong"
