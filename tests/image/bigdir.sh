#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Directories filled in bulk (src/dirbuild.c), on every kind of base:
# a new directory of 3000 names (many blocks, appended in place, then
# indexed as an htree where the file system has dir_index), 300 names
# added to a plain directory of the base, 200 to an htree directory of the
# base (big/, through ext2fs_link), a file of the base replaced (unlink,
# then the name again).  The image must pass e2fsck -fn, list every name
# once with debugfs, and (as root) a read-only kernel mount must find
# names picked across the directories.
. "${top_srcdir:-.}/tests/lib/common.sh"
requires mke2fs sfdisk debugfs e2fsck dumpe2fs
requires_synth
kernel_checks

ov=$tmp/ov
mkdir -p "$ov/many" "$ov/etc" "$ov/big"
i=0
while [ $i -lt 3000 ]; do
	# names of varied lengths, so entries of every size meet block ends
	n=$(printf 'n%0*d' $((i % 40 + 1)) $i)
	echo $i > "$ov/many/$n"
	i=$((i + 1))
done
i=0
while [ $i -lt 300 ]; do echo $i > "$ov/etc/added-$i"; i=$((i + 1)); done
i=0
while [ $i -lt 200 ]; do echo $i > "$ov/big/added-$i"; i=$((i + 1)); done
echo replaced > "$ov/etc/hostname"
picks="many/n$(printf '%0*d' 1 0) many/$(ls "$ov/many" | sed -n 1777p) many/$(ls "$ov/many" | tail -n 1)
etc/added-299 etc/hostname big/added-150 big/entry-05000-with-a-longer-name"

for kind in $BASE_KINDS; do
	make_base "$kind" "$tmp/base.img"
	"$SYNTH" --epoch 1700000000 "$tmp/base.img" "$tmp/out.img" "$ov" 2> "$tmp/synth.err" ||
		fail "$kind: synth: $(cat "$tmp/synth.err")"
	e2fsck -fn "$tmp/out.img" > "$tmp/fsck.out" 2>&1 || fail "$kind: e2fsck: $(cat "$tmp/fsck.out")"
	debugfs -R "ls -p /many" "$tmp/out.img" 2>/dev/null | grep -c . > "$tmp/count" || true
	[ "$(cat "$tmp/count")" -eq 3002 ] || fail "$kind: /many lists $(cat "$tmp/count") entries, not 3002"
	for d in etc big; do
		got=$(debugfs -R "ls -p /$d" "$tmp/out.img" 2>/dev/null | grep -c '/added-')
		want=$(ls "$ov/$d" | grep -c '^added-')
		[ "$got" -eq "$want" ] || fail "$kind: /$d has $got added names, not $want"
	done
	[ "$(debugfs_cat "$tmp/out.img" etc/hostname)" = replaced ] || fail "$kind: etc/hostname not replaced"
	# A directory the injection made and filled is indexed where the
	# file system has dir_index.
	if dumpe2fs -h "$tmp/out.img" 2>/dev/null | grep -q '^Filesystem features:.*dir_index'; then
		debugfs -R "htree /many" "$tmp/out.img" 2>/dev/null | grep -q 'Root node dump' ||
			fail "$kind: /many is not an htree"
	fi
	if [ "$can_mount" = yes ]; then
		# shellcheck disable=SC2086
		err=$(kernel_listing "$tmp/out.img" 0 $((BASE_FS_MB << 20)) "$kind" "$tmp/list" $picks) ||
			fail "$kind: kernel: $err"
	fi
	echo "ok: $kind"
done
