#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/cow-full.sh -- -o cow=FILE on a file system that fills up (a 1 MiB
# tmpfs): guest writes fail with ENOSPC, never EIO; nothing written before
# is lost, also after a remount; writes over units already in the file
# still work; the mount stays up and reads go on.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"
requires_root
requires mke2fs sfdisk

base=$tmp/base.img
ov=$tmp/ov
mnt=$tmp/mnt
full=$tmp/full
make_base ext4 "$base" mbr
make_overlay "$ov"
base_sum=$(sha256_of "$base")
size=$(stat -c %s "$base")
mkdir "$mnt" "$full"
mount -t tmpfs -o size=1M tmpfs "$full" || skip "cannot mount a tmpfs here"
on_exit "umount -l '$full'"
cow=$full/guest.cow

mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
cp --sparse=always "$mnt/hack-back" "$tmp/ref.img"
cat >"$tmp/fill.py" <<'EOF'
import errno, hashlib, os, sys
img, log, region = sys.argv[1], sys.argv[2], int(sys.argv[3])
def data(i):
    return hashlib.sha256(b"%d" % i).digest() * 128
fd = os.open(img, os.O_RDWR)
lf = open(log, "w", buffering=1)
i = 0
while True:
    try:
        # A short write is what write(2) does when part fits: the rest
        # is written again, as dd would, and that gets the error.
        done = 0
        while done < 4096:
            done += os.pwrite(fd, data(i)[done:], region + i * 4096 + done)
        os.fsync(fd)
    except OSError as e:
        if e.errno != errno.ENOSPC:
            sys.exit("write %d failed with %s, not ENOSPC" % (i, os.strerror(e.errno)))
        break
    lf.write("%d\n" % i)
    i += 1
    if i > 100000:
        sys.exit("no ENOSPC after 400 MB on a 1 MiB tmpfs")
if i < 100:
    sys.exit("ENOSPC after only %d writes" % i)
# Rewriting a unit that is in the cow file already needs no space.
os.pwrite(fd, data(0) [::-1], region)
os.fsync(fd)
# A second new write fails the same way, and the mount is up.
try:
    os.pwrite(fd, data(i), region + i * 4096)
    os.fsync(fd)
    sys.exit("a write after ENOSPC succeeded on a full tmpfs")
except OSError as e:
    if e.errno != errno.ENOSPC:
        sys.exit("second write after full: %s, not ENOSPC" % os.strerror(e.errno))
print(i)
EOF
cat >"$tmp/verify.py" <<'EOF'
import hashlib, os, sys
img, ref, log, region = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def data(i):
    return hashlib.sha256(b"%d" % i).digest() * 128
fd = os.open(img, os.O_RDONLY)
rf = os.open(ref, os.O_RDONLY)
n = [int(l) for l in open(log)]
for i in n:
    want = data(i)[::-1] if i == 0 else data(i)
    if os.pread(fd, 4096, region + i * 4096) != want:
        sys.exit("acknowledged write %d lost" % i)
k = len(n)
if os.pread(fd, 4096 * 8, region + k * 4096) != os.pread(rf, 4096 * 8, region + k * 4096):
    sys.exit("the failed writes changed bytes")
if os.pread(fd, 1 << 20, 0) != os.pread(rf, 1 << 20, 0):
    sys.exit("the start of the image changed")
EOF
region=$((size / 2))
n=$(python3 "$tmp/fill.py" "$mnt/hack-back" "$tmp/acked" "$region") || fail "filling up: $n"
echo "$HB_TEST: ENOSPC after $n writes of 4 KiB"
is_mounted "$mnt" || fail "the mount went away after ENOSPC"
drop_cache "$mnt/hack-back"
python3 "$tmp/verify.py" "$mnt/hack-back" "$tmp/ref.img" "$tmp/acked" "$region" ||
	fail "after ENOSPC, before the remount"
unmount_hb "$mnt"
mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
python3 "$tmp/verify.py" "$mnt/hack-back" "$tmp/ref.img" "$tmp/acked" "$region" ||
	fail "after the remount"
unmount_hb "$mnt"
[ "$(sha256_of "$base")" = "$base_sum" ] || fail "BASE changed"
