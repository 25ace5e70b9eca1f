#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Overlay files between the scan and the injection, and under a low open
# file limit:
#   - a small file changed right after it was hashed, size and mtime
#     kept: the image holds the bytes that were hashed (they are kept in
#     memory from the hashing to the injection), never the new ones under
#     the old digest, and the digests are those of the old bytes;
#   - a large file (mapped, read again by the injection) changed the same
#     way: refused with "changed while being read; try again" (its ctime
#     moved);
#   - 200 large files under `ulimit -n 64': the build stays within the
#     limit (the files past it are copied) and the image is right;
#   - -o m5=PATH where PATH is a symlink: followed.
# The window between scan and injection is opened with strace, which holds
# the hashing's close of a small file, or the injection's open of a large
# one, for a few seconds.
. "${top_srcdir:-.}/tests/lib/common.sh"
requires mke2fs sfdisk strace debugfs e2fsck
requires_synth
hb=$top_builddir/hackbackfs
export XDG_CACHE_HOME="$tmp/xdg"

make_base ext4 "$tmp/base.img"

# changed_between NAME SIZE: overlay with one file of SIZE bytes, changed
# (same size, mtime restored) while the injection's opening of it waits.
# The openats that touch the directory or the file: the scan's opendir,
# its open of f to hash it, then the injection's open of the directory
# (delayed: the third) and of f by name in it.
changed_between()
{
	_d=$tmp/ov-$1
	mkdir -p "$_d"
	head -c "$2" /dev/urandom > "$_d/f"
	touch -d @1700000000 "$_d/f"
	strace -f -P "$_d" -P "$_d/f" -e trace=openat -e inject=openat:delay_enter=4000000:when=3 \
		-o "$tmp/$1.trace" "$hb" --digests "$tmp/base.img" "$_d" \
		> "$tmp/$1.out" 2> "$tmp/$1.err" &
	_pid=$!
	_n=0
	until grep -q '^.*openat(.*/f", .*= [0-9]' "$tmp/$1.trace" 2>/dev/null; do
		_n=$((_n + 1))
		[ $_n -lt 300 ] || fail "$1: the scan never opened the file"
		sleep 0.1
	done
	sleep 1	# the scan hashes it right after the open
	printf 'X' | dd of="$_d/f" bs=1 seek=100 conv=notrunc status=none
	touch -d @1700000000 "$_d/f"
	if wait $_pid; then
		fail "$1: a file changed between scan and injection was accepted"
	fi
	grep -q 'changed while.*being read; try again' "$tmp/$1.err" ||
		fail "$1: wrong message: $(cat "$tmp/$1.err")"
	[ "$(grep -c . "$tmp/$1.err")" -eq 1 ] || fail "$1: more than one line: $(cat "$tmp/$1.err")"
	echo "ok: $1: $(cat "$tmp/$1.err")"
}
changed_between large 300000

# A small file changed after its hashing read it: the close of the file
# (after the read, in a hashing thread) is held for 4 s, the file changed
# meanwhile.  Run twice: SYNTH writes the image, --digests its identity.
changed_after_hash()
{
	_tag=$1
	shift
	_d=$tmp/ov-small
	rm -rf "$_d" && mkdir -p "$_d" "$tmp/ov-old"
	head -c 4000 /dev/urandom > "$_d/f"
	touch -d @1700000000 "$_d/f"
	cp -p "$_d/f" "$tmp/ov-old/f"
	strace -f -P "$_d/f" -e trace=openat,close -e inject=close:delay_enter=4000000:when=1 \
		-o "$tmp/small-$_tag.trace" "$@" > "$tmp/small-$_tag.out" 2> "$tmp/small-$_tag.err" &
	_pid=$!
	_n=0
	until grep -q '^.*openat(.*/f", .*= [0-9]' "$tmp/small-$_tag.trace" 2>/dev/null; do
		_n=$((_n + 1))
		[ $_n -lt 300 ] || fail "small: the hashing never opened the file"
		sleep 0.1
	done
	sleep 1	# read and hashed right after the open; its close is held
	printf 'X' | dd of="$_d/f" bs=1 seek=100 conv=notrunc status=none
	touch -d @1700000000 "$_d/f"
	cmp -s "$_d/f" "$tmp/ov-old/f" && fail "small: the file did not change"
	wait $_pid || fail "small: $*: $(cat "$tmp/small-$_tag.err")"
	grep -q 'close(.*(DELAYED)' "$tmp/small-$_tag.trace" ||
		fail "small: strace did not hold the close: $(cat "$tmp/small-$_tag.trace")"
}
changed_after_hash synth "$SYNTH" --epoch 1700000000 "$tmp/base.img" "$tmp/small.img" "$tmp/ov-small"
e2fsck -fn "$tmp/small.img" > "$tmp/fsck.out" 2>&1 || fail "e2fsck: $(cat "$tmp/fsck.out")"
debugfs_cat "$tmp/small.img" f | cmp -s - "$tmp/ov-old/f" ||
	fail "small: the image does not hold the bytes that were hashed"
changed_after_hash digests "$hb" --digests "$tmp/base.img" "$tmp/ov-small"
"$hb" --digests "$tmp/base.img" "$tmp/ov-old" > "$tmp/old.d" || fail "--digests of the old bytes"
cmp -s "$tmp/small-digests.out" "$tmp/old.d" ||
	fail "small: the digests are not those of the bytes hashed"
echo "ok: a small file changed after its hashing: the image holds the bytes hashed"

# 200 large files under a low descriptor limit.
mkdir -p "$tmp/many"
i=0
while [ $i -lt 200 ]; do
	head -c 70000 /dev/urandom > "$tmp/many/f$i"
	i=$((i + 1))
done
( ulimit -n 64 && "$SYNTH" --epoch 1700000000 "$tmp/base.img" "$tmp/many.img" "$tmp/many" ) \
	2> "$tmp/many.err" || fail "200 large files under ulimit -n 64: $(cat "$tmp/many.err")"
e2fsck -fn "$tmp/many.img" > "$tmp/fsck.out" 2>&1 || fail "e2fsck: $(cat "$tmp/fsck.out")"
for i in 0 100 199; do
	debugfs_cat "$tmp/many.img" "f$i" | cmp -s - "$tmp/many/f$i" || fail "f$i differs in the image"
done
( ulimit -n 64 && "$hb" --digests "$tmp/base.img" "$tmp/many" ) > "$tmp/many.d" 2> "$tmp/many.err" ||
	fail "--digests under ulimit -n 64: $(cat "$tmp/many.err")"
"$hb" --digests "$tmp/base.img" "$tmp/many" > "$tmp/many2.d" || fail "--digests"
cmp -s "$tmp/many.d" "$tmp/many2.d" || fail "the descriptor limit changed the digests"
echo "ok: 200 large files under ulimit -n 64"

# -o m5=PATH through a symlink.
mkdir -p "$tmp/ov" "$tmp/bin"
echo hello > "$tmp/ov/hello"
head -c 100000 /dev/urandom > "$tmp/bin/m5.real"
ln -s m5.real "$tmp/bin/m5"
"$hb" --digests -o m5="$tmp/bin/m5" "$tmp/base.img" "$tmp/ov" > "$tmp/link.d" 2> "$tmp/link.err" ||
	fail "-o m5=SYMLINK: $(cat "$tmp/link.err")"
"$hb" --digests -o m5="$tmp/bin/m5.real" "$tmp/base.img" "$tmp/ov" > "$tmp/real.d" ||
	fail "-o m5=FILE failed"
cmp -s "$tmp/link.d" "$tmp/real.d" || fail "m5 through a symlink gives other digests"
echo "ok: -o m5=SYMLINK is followed"
