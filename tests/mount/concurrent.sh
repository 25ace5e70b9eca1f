#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/concurrent.sh -- the multithreaded daemon answers concurrent
# reads correctly: four processes, 200 reads each, at random offsets and
# sizes (512 bytes .. 1 MiB), half of them straddling the edges of the
# regions the injection changed (where a read mixes base bytes and delta
# bytes), some running into the end of the image.  Two readers use
# O_DIRECT (every read goes to the daemon), two read through the page cache
# and drop it every few reads.  Every byte must equal a reference copy
# taken from a second, independent mount of the same inputs.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires mke2fs sfdisk cmp

base=$tmp/base.img
ov=$tmp/ov
make_base ext4 "$base" mbr
make_overlay "$ov"
mkdir "$tmp/mnt" "$tmp/refmnt"

# The reference: read sequentially from a mount of its own, so that the
# mount under test starts with a cold page cache.
mount_hb "$base" "$ov" "$tmp/refmnt"
cp "$tmp/refmnt/hack-back" "$tmp/ref.img" || fail "cp of the reference failed"
unmount_hb "$tmp/refmnt"
[ "$(stat -c %s "$tmp/ref.img")" = "$(stat -c %s "$base")" ] || fail "reference copy has the wrong size"
cmp -s "$tmp/ref.img" "$base" && fail "the reference equals BASE: nothing was injected?"

mount_hb "$base" "$ov" "$tmp/mnt"

cat >"$tmp/reader.py" <<'EOF'
import mmap, os, random, sys
img, ref, base, seed, direct = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
rng = random.Random(seed)
U = 4096
with open(ref, "rb") as f:
    r = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
with open(base, "rb") as f:
    b = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
size = len(r)
# Edges of the regions where the image differs from BASE, in 4 KiB units.
edges, prev = [], False
for u in range(0, size, U):
    d = r[u:u + U] != b[u:u + U]
    if d != prev:
        edges.append(u)
        prev = d
if not edges:
    sys.exit("reader %d: image equals base" % seed)
fd = os.open(img, os.O_RDONLY | (os.O_DIRECT if direct else 0))
bad = 0
for i in range(200):
    n = rng.choice([512, 4096, 65536, 1 << 20, rng.randint(512, 1 << 20)])
    k = rng.random()
    if k < 0.5:        # straddle an injected region's edge
        e = rng.choice(edges)
        off = max(0, e - rng.randint(1, n))
    elif k < 0.55:     # run into the end of the image
        off = size - rng.randint(1, n)
    else:
        off = rng.randrange(0, size)
    if rng.random() < 0.5:
        off &= ~511    # sector-aligned, as gem5 reads
    got = os.pread(fd, n, off)
    want = r[off:off + n]
    if got != want:
        bad += 1
        first = next((j for j in range(min(len(got), len(want))) if got[j] != want[j]), min(len(got), len(want)))
        print("reader %d: read %d of %d bytes at %d: %d bytes back, first difference at +%d"
              % (seed, i, n, off, len(got), first), file=sys.stderr)
        if bad >= 5:
            break
    if not direct and i % 10 == 9:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
sys.exit(1 if bad else 0)
EOF

pids=
for seed in 1 2 3 4; do
	direct=$((seed % 2))
	python3 "$tmp/reader.py" "$tmp/mnt/hack-back" "$tmp/ref.img" "$base" "$seed" "$direct" &
	pids="$pids $!"
done
for p in $pids; do
	wait "$p" || check_failed "reader $p saw wrong bytes"
done
[ "$failures" -eq 0 ] || fail "$failures of 4 concurrent readers saw wrong bytes"
echo "ok: 4 concurrent readers x 200 random reads match the reference"

# And the whole image once more, cold.
drop_cache "$tmp/mnt/hack-back"
cmp "$tmp/mnt/hack-back" "$tmp/ref.img" || fail "the whole image differs from the reference afterwards"
unmount_hb "$tmp/mnt"
echo "ok: whole image still matches"
