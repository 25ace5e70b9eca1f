#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/stress.sh -- a mount under load, then killed (about a minute).
#
#  * 8 readers read random ranges (1 B .. 256 KiB) of MNT/hack-back for
#    STRESS_SECS seconds, dropping the file's pages now and then so that
#    the daemon answers, and compare every byte with the image read once
#    before the load (the restore slot makes the program's image differ
#    from tests/lib/synth's, so the reference is the engine's own first read;
#    basic.sh ties that to tests/lib/synth).
#  * at the same time a writer (-o cow=FILE) writes 4 KiB records into the
#    last 8 MiB of the image, fsyncs each and reads it back, logging every
#    write it starts and every one fsync acknowledged;
#  * an unmount attempted while they run must be refused (busy) with the
#    mount still serving, or be clean (the daemon exits 0);
#  * then kill -9 of the daemon while the writer writes, the dead mount
#    released, and a remount with the same cow file: every acknowledged
#    write reads back (a write in flight at the kill may read either way),
#    the rest of the image is the reference, BASE is unchanged;
#  * at the end no daemon of this test runs and nothing is mounted.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"
requires mke2fs sfdisk timeout
: "${STRESS_SECS:=25}"

base=$tmp/base.img
ov=$tmp/ov
mnt=$tmp/mnt
img=$mnt/hack-back
cow=$tmp/guest.cow
make_base ext4 "$base" mbr
make_overlay "$ov"
base_sum=$(sha256_of "$base")
size=$(stat -c %s "$base")
wregion=$((size - 8 * 1048576))
mkdir "$mnt"

mount_hb_fg -o "cow=$cow" "$base" "$ov" "$mnt"
cp --sparse=always "$img" "$tmp/ref.img" || fail "reading the image before the load failed"
cmp -s "$tmp/ref.img" "$img" || fail "two reads of the idle image differ"

# ---- the load -------------------------------------------------------------------------
cat >"$tmp/reader.py" <<'EOF'
import os, random, sys
img, ref, secs, limit, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
import time
rnd = random.Random(seed)
fd = os.open(img, os.O_RDONLY)
rf = os.open(ref, os.O_RDONLY)
end = time.monotonic() + secs
n = 0
while time.monotonic() < end:
    ln = rnd.choice([1, 511, 512, 4096, 65536, 131072, 262144, rnd.randint(1, 262144)])
    off = rnd.randrange(0, limit - ln)
    got = os.pread(fd, ln, off)
    want = os.pread(rf, ln, off)
    if got != want:
        i = next(k for k in range(min(len(got), len(want))) if got[k] != want[k]) if len(got) == len(want) else -1
        sys.exit("reader %d: %d bytes at %d differ from the reference (first at +%d, got %d bytes)" % (seed, ln, off, i, len(got)))
    n += 1
    if n % 16 == 0:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
print(n)
EOF
cat >"$tmp/writer.py" <<'EOF'
import hashlib, os, sys
img, log, region, slots = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def data(i):
    return hashlib.sha256(b"%d" % i).digest() * 128
lf = open(log, "a", buffering=1)
fd = os.open(img, os.O_RDWR)
i = 0
try:
    while True:
        off = region + (i % slots) * 4096
        lf.write("start %d\n" % i)
        os.pwrite(fd, data(i), off)
        os.fsync(fd)
        lf.write("ack %d\n" % i)
        if os.pread(fd, 4096, off) != data(i):
            sys.exit("writer: record %d did not read back" % i)
        i += 1
except OSError as e:
    # The daemon was killed: expected, the log says how far we got.
    print("writer stopped after %d acknowledged writes: %s" % (i, e))
EOF
: >"$tmp/writes.log"
python3 "$tmp/writer.py" "$img" "$tmp/writes.log" "$wregion" 2048 >"$tmp/writer.out" 2>&1 &
writer=$!
readers=
r=1
while [ $r -le 8 ]; do
	python3 "$tmp/reader.py" "$img" "$tmp/ref.img" "$STRESS_SECS" "$wregion" $r >"$tmp/reader.$r" 2>&1 &
	readers="$readers $!"
	r=$((r + 1))
done

# An unmount while all that runs.
sleep 5
if fusermount3 -u "$mnt" 2>"$tmp/umount.err"; then
	echo "$HB_TEST: the unmount under load went through"
	st=0
	wait "$hb_pid" || st=$?
	[ $st -eq 0 ] || fail "the daemon exited $st after an unmount under load"
	unmounted=yes
else
	grep -qi busy "$tmp/umount.err" || fail "unmount under load failed, not as busy: $(cat "$tmp/umount.err")"
	is_mounted "$mnt" || fail "a refused unmount left no mount"
	echo "$HB_TEST: the unmount under load was refused: $(cat "$tmp/umount.err")"
	unmounted=no
fi

nreads=0
for p in $readers; do
	wait "$p" || true
done
r=1
while [ $r -le 8 ]; do
	n=$(cat "$tmp/reader.$r")
	case $n in
	''|*[!0-9]*)
		# With the unmount gone through, readers end in ENOTCONN.
		[ $unmounted = yes ] || fail "reader $r: $n"
		n=0
		;;
	esac
	nreads=$((nreads + n))
	r=$((r + 1))
done
[ $unmounted = yes ] || [ $nreads -ge 800 ] || fail "only $nreads reads in $STRESS_SECS s"
echo "$HB_TEST: 8 readers, $nreads reads checked"

if [ $unmounted = yes ]; then
	# Nothing to kill: mount again for the kill -9 part.
	wait "$writer" || true
	mount_hb_fg -o "cow=$cow" "$base" "$ov" "$mnt"
	python3 "$tmp/writer.py" "$img" "$tmp/writes.log" "$wregion" 2048 >>"$tmp/writer.out" 2>&1 &
	writer=$!
	sleep 3
fi

# ---- kill -9 mid-write, remount ---------------------------------------------------------------
acked0=$(grep -c '^ack' "$tmp/writes.log") || true
[ "$acked0" -ge 20 ] || fail "the writer got only $acked0 writes acknowledged"
kill -KILL "$hb_pid"
wait_gone "$hb_pid" || fail "the daemon survived kill -9"
st=0
wait "$writer" || st=$?
[ $st -eq 0 ] || fail "writer: $(cat "$tmp/writer.out")"
grep -q 'writer stopped' "$tmp/writer.out" || fail "the writer did not see the daemon go: $(cat "$tmp/writer.out")"
# The dead mount: gone by itself (auto_unmount), or released here.
if is_mounted "$mnt"; then
	fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt" || fail "cannot release the dead mount"
fi
! is_mounted "$mnt" || fail "the dead mount is still there"

mount_hb_fg -o "cow=$cow" "$base" "$ov" "$mnt"
drop_cache "$img"
python3 - "$img" "$tmp/ref.img" "$tmp/writes.log" "$wregion" 2048 >"$tmp/verify.out" <<'EOF' || fail "after the remount: $(cat "$tmp/verify.out")"
import hashlib, os, sys
img, ref, log, region, slots = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
def data(i):
    return hashlib.sha256(b"%d" % i).digest() * 128
acked, started = {}, {}
for line in open(log):
    what, i = line.split()
    i = int(i)
    (acked if what == "ack" else started)[i % slots] = i
fd = os.open(img, os.O_RDONLY)
rf = os.open(ref, os.O_RDONLY)
for s in range(slots):
    got = os.pread(fd, 4096, region + s * 4096)
    ok = [data(acked[s])] if s in acked else [os.pread(rf, 4096, region + s * 4096)]
    if s in started and started[s] != acked.get(s):
        ok.append(data(started[s]))	# in flight at the kill
    if got not in ok:
        sys.exit("slot %d: acknowledged write %s lost" % (s, acked.get(s)))
# Everything below the writer's region is the reference.
off = 0
while off < region:
    k = min(1 << 22, region - off)
    if os.pread(fd, k, off) != os.pread(rf, k, off):
        sys.exit("bytes at %d..%d changed after the kill and remount" % (off, off + k))
    off += k
print(len(acked))
EOF
fusermount3 -u "$mnt" || fail "fusermount3 -u after the remount failed"
if ! wait_gone "$hb_pid" 60; then
	for t in /proc/"$hb_pid"/task/*; do
		echo "thread ${t##*/}: $(cat "$t/wchan" 2>/dev/null) $(cat "$t/stack" 2>/dev/null | head -n 3 | tr '\n' ' ')" >&2
	done
	fail "the daemon still runs 60 s after its unmount"
fi
st=0
wait "$hb_pid" || st=$?
[ $st -eq 0 ] || fail "the daemon exited $st after its unmount: $(cat "$tmp/hb.err")"
[ "$(sha256_of "$base")" = "$base_sum" ] || fail "BASE changed"

# Nothing left behind.
! is_mounted "$mnt" || fail "a mount is left"
while read -r p; do
	if [ -e "/proc/$p" ] && [ "$(readlink "/proc/$p/exe")" = "$(readlink -f "$HB")" ]; then
		wait_gone "$p" 5 || fail "daemon $p still runs"
	fi
done <"$tmp/hb.pids"
echo "$HB_TEST: $acked0 writes acknowledged before kill -9, all read back ($(cat "$tmp/verify.out") slots checked)"
