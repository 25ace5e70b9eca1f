#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/readahead.sh -- the mount's readahead window (-o read_ahead_kb,
# bench/seq-limit.sh says why): as root the mount gets BASE's disk's window
# by default when that is larger than the kernel's 128 KiB for FUSE; an
# explicit N is set exactly (0 turns readahead off); a bad value is one
# error line and no mount; the bytes served are the same whatever the
# window.  (A user's explicit -o read_ahead_kb is refused in user.sh.)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires_root
requires mke2fs sfdisk findmnt sha256sum

make_base ext4 "$tmp/base.img" mbr
make_overlay "$tmp/ov"
mnt=$tmp/mnt
mkdir "$mnt"

# bdi_ra MNT: read_ahead_kb of the mount's backing device.
bdi_ra()
{
	_mm=$(findmnt -no MAJ:MIN -M "$1" | tr -d ' ')
	[ -n "$_mm" ] || fail "findmnt: no device for $1"
	cat "/sys/class/bdi/$_mm/read_ahead_kb"
}

# What the default should give: the window of the disk under BASE (the
# parent disk's for a partition) when it is larger than 128; else 128.
mm=$(findmnt -no MAJ:MIN -T "$tmp/base.img" | tr -d ' ')
disk_ra=$(cat "/sys/dev/block/$mm/queue/read_ahead_kb" 2>/dev/null ||
	cat "/sys/dev/block/$mm/../queue/read_ahead_kb" 2>/dev/null ||
	cat "/sys/class/bdi/$mm/read_ahead_kb" 2>/dev/null) || disk_ra=0
want=128
[ "$disk_ra" -le 128 ] || want=$disk_ra
[ "$want" -le 65536 ] || want=65536

mount_hb -o ro "$tmp/base.img" "$tmp/ov" "$mnt"
got=$(bdi_ra "$mnt")
[ "$got" = "$want" ] || fail "default window: read_ahead_kb=$got, want $want (BASE's disk: $disk_ra)"
sum=$(sha256_of "$mnt/hack-back")
unmount_hb "$mnt"
echo "ok: default window $got KiB (BASE's disk has $disk_ra)"

for kb in 1024 0 16384; do
	mount_hb -o ro,read_ahead_kb=$kb "$tmp/base.img" "$tmp/ov" "$mnt"
	got=$(bdi_ra "$mnt")
	[ "$got" = "$kb" ] || fail "-o read_ahead_kb=$kb: the mount has $got"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	[ "$(sha256_of "$mnt/hack-back")" = "$sum" ] || fail "-o read_ahead_kb=$kb serves other bytes"
	unmount_hb "$mnt"
	echo "ok: -o read_ahead_kb=$kb set, same bytes"
done

for bad in x -1 65537 1k; do
	rc=0
	"$HB" -o ro,read_ahead_kb=$bad "$tmp/base.img" "$tmp/ov" "$mnt" 2>"$tmp/err" || rc=$?
	[ "$rc" -eq 1 ] || fail "-o read_ahead_kb=$bad: exit $rc, want 1"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "read_ahead_kb.*'$bad'" "$tmp/err" ||
		fail "-o read_ahead_kb=$bad: stderr: $(cat "$tmp/err")"
	! is_mounted "$mnt" || fail "-o read_ahead_kb=$bad left a mount"
done
echo "ok: bad values refused with one line, nothing mounted"
