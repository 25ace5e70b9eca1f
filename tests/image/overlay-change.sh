#!/bin/sh
# Overlay files between the scan and the injection, and under a low open
# file limit:
#   - a small file (copied) changed after it was hashed, size and mtime
#     kept: refused with "changed while being read; try again", never
#     injected under the old digest;
#   - a large file (mapped) changed the same way: refused too (its ctime
#     moved);
#   - 200 large files under `ulimit -n 64': the build stays within the
#     limit (the files past it are copied) and the image is right;
#   - -o m5=PATH where PATH is a symlink: followed.
# The window between scan and injection is opened with strace, which holds
# the injection's open of the file for a few seconds.
# SPDX-License-Identifier: BSD-3-Clause
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
changed_between small 4000
changed_between large 300000

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
