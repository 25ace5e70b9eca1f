#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Never serve bytes that changed behind the mount (invariant 6).  Under a
# real mount:
#   1. an overlay file that is served by reference is overwritten in place;
#      after the page cache is dropped, reads of its range fail with EIO,
#      a range of the base still reads the old bytes, the new bytes appear
#      nowhere, and the daemon reports once, naming the file;
#   2. the same for BASE overwritten in place (a range of the mapped
#      overlay file still reads).
# Reads are O_DIRECT so that each one asks the daemon for exactly its range.
. "${top_srcdir:-.}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"
requires dd grep sha256sum

make_base ext4 "$tmp/base.img"
ov=$tmp/ov
mkdir -p "$ov/data"
# 2 MiB in 4 KiB blocks, each starting with its own marker, so that its
# place in the image can be found by content.
python3 -c '
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(512):
        f.write(("OLD-BLOCK-%06d " % i).encode().ljust(4096, b"o"))' "$ov/data/big.bin"
base_sum=$(sha256_of "$tmp/base.img")
mnt=$tmp/mnt
mkdir -p "$mnt"

# offset_of MARKER: byte offset of MARKER in the served image.
offset_of()
{
	grep -abo -m1 "$1" "$mnt/hack-back" | cut -d: -f1
}
# dread OFFSET LEN OUT: O_DIRECT read; exit status of dd.
dread()
{
	dd if="$mnt/hack-back" of="$3" iflag=direct,skip_bytes,count_bytes bs=4096 \
		skip="$1" count="$2" status=none 2>"$tmp/dd.err"
}
expect_eio()
{
	if dread "$1" 4096 "$tmp/got"; then
		fail "$2: read at $1 succeeded after the change"
	fi
	grep -q 'Input/output error' "$tmp/dd.err" || fail "$2: want EIO, got: $(cat "$tmp/dd.err")"
	! grep -q NEW-BYTES "$tmp/got" 2>/dev/null || fail "$2: new bytes were served"
	echo "ok: $2: read at $1 fails with EIO"
}
expect_old()
{
	dread "$1" 4096 "$tmp/got" || fail "$2: read at $1 failed: $(cat "$tmp/dd.err")"
	cmp -s "$tmp/got" "$3" || fail "$2: read at $1 does not give the old bytes"
	echo "ok: $2: read at $1 gives the old bytes"
}
reports()
{
	grep -c "$1.*since the image was built" "$tmp/hb.err" || true
}

# ---- 1: an overlay file -------------------------------------------------------
mount_hb_fg -o ro "$tmp/base.img" "$ov" "$mnt"
ov_off=$(offset_of OLD-BLOCK-000100)
[ -n "$ov_off" ] || fail "overlay block 100 not found in the image"
free_off=$(( $(stat -c %s "$tmp/base.img") - 65536 ))	# untouched base bytes
dread "$ov_off" 4096 "$tmp/ov-old" || fail "reading the overlay range failed"
dread "$free_off" 4096 "$tmp/base-old" || fail "reading the base range failed"

printf 'NEW-BYTES-%s' "$(head -c 4000 /dev/zero | tr '\0' n)" |
	dd of="$ov/data/big.bin" bs=4096 seek=100 conv=notrunc status=none
drop_cache "$mnt/hack-back"
expect_eio "$ov_off" "overlay file changed"
expect_eio "$((ov_off - 4096 * 50))" "overlay file changed (another block of it)"
expect_old "$free_off" "overlay file changed" "$tmp/base-old"
cat "$mnt/hack-back" >"$tmp/whole" 2>/dev/null && fail "a whole read succeeded after the change"
! grep -q NEW-BYTES "$tmp/whole" || fail "a whole read served the new bytes"
[ "$(reports "$ov/data/big.bin")" -eq 1 ] ||
	fail "want one report naming $ov/data/big.bin, got: $(cat "$tmp/hb.err")"
echo "ok: reported once: $(cat "$tmp/hb.err")"
unmount_hb "$mnt"

# ---- 2: BASE -----------------------------------------------------------------
python3 -c '
import sys
with open(sys.argv[1], "wb") as f:
    for i in range(512):
        f.write(("OLD-BLOCK-%06d " % i).encode().ljust(4096, b"o"))' "$ov/data/big.bin"
mount_hb_fg -o ro "$tmp/base.img" "$ov" "$mnt"
ov_off=$(offset_of OLD-BLOCK-000100)
dread "$ov_off" 4096 "$tmp/ov-old" || fail "reading the overlay range failed"
dread "$free_off" 4096 "$tmp/base-old" || fail "reading the base range failed"
printf 'NEW-BYTES' | dd of="$tmp/base.img" bs=1 seek="$free_off" conv=notrunc status=none
drop_cache "$mnt/hack-back"
expect_eio "$free_off" "base changed"
expect_old "$ov_off" "base changed" "$tmp/ov-old"
[ "$(reports "$tmp/base.img")" -eq 1 ] ||
	fail "want one report naming $tmp/base.img, got: $(cat "$tmp/hb.err")"
echo "ok: reported once: $(grep base.img "$tmp/hb.err")"

# A harmless chmod of BASE (ctime moves, content does not) is no change.
unmount_hb "$mnt"
base_sum=$(sha256_of "$tmp/base.img")
mount_hb_fg -o ro "$tmp/base.img" "$ov" "$mnt"
chmod 0444 "$tmp/base.img"
drop_cache "$mnt/hack-back"
expect_old "$ov_off" "base chmod" "$tmp/ov-old"
dread "$free_off" 4096 "$tmp/got" || fail "base chmod: read of the base failed"
unmount_hb "$mnt"
[ "$(sha256_of "$tmp/base.img")" = "$base_sum" ] || fail "the daemon changed BASE"
echo "stale: all cases passed"
