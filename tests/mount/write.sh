#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/write.sh -- guest writes to MNT/hack-back.
#
#  * default: writes are held in memory.  Unaligned writes of 1..5000
#    bytes at several offsets (the partition table, the superblock, a base
#    file, an injected file, an overlay file's mapped blocks, free space,
#    the last bytes) read back exactly (from the daemon, not the page
#    cache); a write across the end is cut at the end; BASE and OVERLAY
#    keep their bytes, the daemon holds every descriptor on them read-only;
#    after unmount + remount the writes are gone.
#  * -o ro: opening for writing fails with EROFS.
#  * -o cow_limit=64K: a 1 MiB write fails with ENOSPC, and changes no
#    more bytes than it reports written.
#  * -o cow=FILE: writes survive unmount and remount (also a second
#    session's on top of the first's); a mount of another overlay or
#    another restore script with that FILE is refused ("holds writes for
#    another image"), exit status non-zero, nothing mounted, FILE intact.
#  * SIGTERM to the daemon, SIGINT to hackbackfs -f: the mount goes away
#    and the cow file holds the writes; hackbackfs -f exits by itself (no
#    crash) on SIGINT, and with status 0 on fusermount3 -u.  After SIGKILL (the mount gone by itself: auto_unmount) the cow file
#    holds the writes too.
#  * one cow file, two mounts at once: refused, or no write is lost.
#  * a mount right after the unmount of the last one with the same cow
#    file, whose daemon still holds it (here: a flock(1) holding it for 2 s),
#    waits for it and says so; held longer than the wait: refused.
#  * -o ro,cow=FILE: two read-only mounts at once read the saved writes;
#    FILE is opened read-only, never written, also on read-only storage;
#    a missing FILE is not created.
#  * cow= refuses a symbolic link, a file of another owner and a file
#    writable by group or others; a new one is created 0600 whatever the
#    umask.
#  * O_TRUNC, truncate to another size and writes to the manifest fail.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires mke2fs sfdisk debugfs dd cmp

base=$tmp/base.img
ov=$tmp/ov
mnt=$tmp/mnt
img=$mnt/hack-back
make_base ext4 "$base" mbr
make_overlay "$ov"
off=$(base_offset mbr)
base_sum=$(sha256_of "$base")
tree_listing "$ov" >"$tmp/ov.before"
size=$(stat -c %s "$base")
mkdir "$mnt"

# Failures that should not hide the checks after them: reported at the end.
late=
late_fail()
{
	echo "$HB_TEST: FAIL (reported at the end): $*" >&2
	late="$late${late:+; }$*"
}

# check_inputs WHEN: BASE and OVERLAY unchanged.
check_inputs()
{
	[ "$(sha256_of "$base")" = "$base_sum" ] || fail "BASE was modified ($1)"
	tree_listing "$ov" >"$tmp/ov.after"
	cmp -s "$tmp/ov.before" "$tmp/ov.after" || fail "OVERLAY was modified ($1)"
}

# check_image EXPECTED WHAT: the mounted image, read from the daemon, is EXPECTED.
check_image()
{
	drop_cache "$img"
	cmp "$img" "$1" >"$tmp/cmp.out" 2>&1 || fail "$2: $(cat "$tmp/cmp.out")"
}

# The reference image, before any write.
mount_hb "$base" "$ov" "$mnt"
cp "$img" "$tmp/ref.img" || fail "cp of the image failed"

# ---- the offsets -------------------------------------------------------------------
# block N of PATH in the image's file system (4 KiB blocks), as a byte offset
block_off()
{
	_b=$(debugfs_run "$img?offset=$off" "blocks $1" | tr ' ' '\n' | grep . | sed -n "${2}p")
	[ -n "$_b" ] || fail "no block $2 in $1: $(cat "$tmp/debugfs.err")"
	echo $((off + _b * 4096))
}
large=$(block_off /data/large.bin 11)		# mapped from the overlay file
m5=$(block_off /usr/sbin/m5 3)			# injected
lib=$(block_off /usr/lib/libhb.so.1.0 5)		# a base file
# "OFFSET LENGTH" a line: unaligned, 1..5000 bytes, crossing 1 KiB units.
cat >"$tmp/writes" <<EOF
0 1
510 3
$((off + 1024 + 17)) 5000
$((large + 333)) 4097
$((m5 + 1023)) 2
$((lib + 77)) 1
$((off + 40 * 1048576 + 5)) 2000
$((size - 100)) 100
EOF

# do_writes TAG FILE...: write TAG's data at each offset of $tmp/writes
# into each FILE with dd conv=notrunc; the data is made once per TAG.
do_writes()
{
	_tag=$1
	shift
	_i=0
	while read -r _o _n; do
		_i=$((_i + 1))
		_d=$tmp/data-$_tag-$_i
		[ -f "$_d" ] || head -c "$_n" /dev/urandom >"$_d"
		for _f; do
			dd if="$_d" of="$_f" bs="$_n" count=1 seek="$_o" oflag=seek_bytes \
				conv=notrunc status=none 2>"$tmp/dd.err" ||
				fail "dd of $_n bytes at $_o into $_f: $(cat "$tmp/dd.err")"
		done
	done <"$tmp/writes"
}

# ---- writes in memory ------------------------------------------------------------------
cp "$tmp/ref.img" "$tmp/exp1.img"
do_writes one "$img" "$tmp/exp1.img"
[ "$(stat -c %s "$img")" = "$size" ] || fail "the writes changed the image's size"
check_image "$tmp/exp1.img" "the image after the writes"
# A write across the end is cut at the end; one at the end fails.
python3 - "$img" "$size" <<'EOF' || fail "writes at the end of the image"
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
size = int(sys.argv[2])
n = os.pwrite(fd, b"TAIL!", size - 2)
if n != 2:
    sys.exit("write of 5 bytes at size-2 returned %d, want 2" % n)
try:
    n = os.pwrite(fd, b"X", size)
    sys.exit("write at the end returned %d, want an error" % n)
except OSError as e:
    pass
if os.fstat(fd).st_size != size:
    sys.exit("the image grew to %d" % os.fstat(fd).st_size)
EOF
cp "$tmp/exp1.img" "$tmp/exp1t.img"
printf 'TA' | dd of="$tmp/exp1t.img" bs=1 seek=$((size - 2)) conv=notrunc status=none
check_image "$tmp/exp1t.img" "the image after the writes at its end"
[ "$(stat -c %s "$img")" = "$size" ] || fail "the image's size changed"
# The image keeps its size; the manifest is read-only.
if (: >"$img") 2>/dev/null; then fail "open with O_TRUNC succeeded"; fi
if truncate -s 4096 "$img" 2>/dev/null; then fail "truncate -s 4096 succeeded"; fi
truncate -s "$size" "$img" || fail "truncate to the image's own size failed"
if (echo x >"$mnt/hack-back.json") 2>/dev/null; then fail "writing hack-back.json succeeded"; fi
[ "$(stat -c %s "$img")" = "$size" ] || fail "the image's size changed"
check_image "$tmp/exp1t.img" "the image after refused truncations"
# Nothing holds BASE or an OVERLAY file open for writing.
flags=$(fd_flags "$hb_pid" "$base")
[ -n "$flags" ] || fail "the daemon (pid $hb_pid) has no descriptor on BASE"
for fl in $flags; do
	[ $((0$fl & 3)) -eq 0 ] || fail "the daemon holds BASE open with flags $fl (not O_RDONLY)"
done
find "$ov" -type f >"$tmp/ov.files"
while read -r f; do
	for fl in $(fd_flags "$hb_pid" "$f"); do
		[ $((0$fl & 3)) -eq 0 ] || fail "the daemon holds $f open with flags $fl"
	done
done <"$tmp/ov.files"
check_inputs "after writes in memory"
unmount_hb "$mnt"
check_inputs "after unmount"
mount_hb "$base" "$ov" "$mnt"
check_image "$tmp/ref.img" "writes without cow= survived a remount"
unmount_hb "$mnt"
echo "ok: writes in memory read back, are gone after remount; BASE and OVERLAY untouched"

# ---- -o ro ----------------------------------------------------------------------------------
mount_hb -o ro "$base" "$ov" "$mnt"
[ "$(stat -c %a "$img")" = 444 ] || fail "-o ro: image mode $(stat -c %a "$img")"
if dd if=/dev/zero of="$img" bs=1 count=1 conv=notrunc 2>"$tmp/dd.err"; then
	fail "-o ro: dd into the image succeeded"
fi
grep -q 'Read-only file system' "$tmp/dd.err" || fail "-o ro: dd says: $(cat "$tmp/dd.err")"
python3 -c 'import errno, os, sys
try:
    os.open(sys.argv[1], os.O_RDWR)
except OSError as e:
    sys.exit(0 if e.errno == errno.EROFS else "open O_RDWR: %s, want EROFS" % e)
sys.exit("open O_RDWR succeeded")' "$img" || fail "-o ro: open for writing"
check_image "$tmp/ref.img" "-o ro: the image"
unmount_hb "$mnt"
echo "ok: -o ro refuses writes with EROFS"

# ---- -o cow_limit=64K ---------------------------------------------------------------------
mount_hb -o cow_limit=64K "$base" "$ov" "$mnt"
head -c 1048576 /dev/urandom >"$tmp/1m"
if dd if="$tmp/1m" of="$img" bs=1M count=1 seek=8 conv=notrunc 2>"$tmp/dd.err"; then
	fail "-o cow_limit=64K: a 1 MiB write succeeded"
fi
grep -q 'No space left on device' "$tmp/dd.err" || fail "-o cow_limit=64K: dd says: $(cat "$tmp/dd.err")"
# dd reports how much of the write the image took: no more may have changed.
copied=$(sed -n 's/^\([0-9]*\) bytes.* copied.*/\1/p' "$tmp/dd.err")
[ -n "$copied" ] || fail "no byte count from dd: $(cat "$tmp/dd.err")"
drop_cache "$img"
changed=$(python3 -c 'import sys
a = open(sys.argv[1], "rb"); a.seek(8 << 20); a = a.read(1 << 20)
b = open(sys.argv[2], "rb"); b.seek(8 << 20); b = b.read(1 << 20)
print(sum(1 for i in range(0, len(a), 1024) if a[i:i + 1024] != b[i:i + 1024]) * 1024)' "$img" "$tmp/ref.img")
[ "$changed" -le "$copied" ] ||
	late_fail "-o cow_limit=64K: the failed 1 MiB write reported $copied bytes written but changed $changed bytes of the image"
unmount_hb "$mnt"
echo "ok: -o cow_limit=64K: a 1 MiB write fails with ENOSPC"

# ---- -o cow=FILE -------------------------------------------------------------------------
cow=$tmp/guest.cow
mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
do_writes one "$img"
unmount_hb "$mnt"
[ -s "$cow" ] || fail "cow file $cow missing or empty after unmount"
check_inputs "after writes to a cow file"
cow_sum=$(sha256_of "$cow")
mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
cp "$tmp/ref.img" "$tmp/exp2.img"
do_writes one "$tmp/exp2.img"
check_image "$tmp/exp2.img" "cow writes after remount"
# A second session on top of the first, overlapping it.
awk '{ print $1 + 7, $2 }' "$tmp/writes" >"$tmp/writes2"
mv "$tmp/writes" "$tmp/writes1"
cp "$tmp/writes2" "$tmp/writes"
sed -i '$d' "$tmp/writes"		# the last one would cross the end
do_writes two "$img" "$tmp/exp2.img"
unmount_hb "$mnt"
mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
check_image "$tmp/exp2.img" "two sessions of cow writes after remount"
unmount_hb "$mnt"
cow_sum=$(sha256_of "$cow")
echo "ok: -o cow: writes survive unmount and remount"

# refused ARGS...: hackbackfs must refuse the cow file for another image.
refused()
{
	_rc=0
	"$HB" "$@" 2>"$tmp/refused.err" || _rc=$?
	if is_mounted "$mnt"; then
		fusermount3 -u "$mnt"
		fail "$*: mounted (a cow file of another image)"
	fi
	[ "$_rc" -ne 0 ] || fail "$*: exit status 0"
	grep -q 'holds writes for another image' "$tmp/refused.err" ||
		fail "$*: stderr: $(cat "$tmp/refused.err")"
	! hb_daemon_pid "$mnt" >/dev/null || fail "$*: a daemon is left"
	[ "$(sha256_of "$cow")" = "$cow_sum" ] || fail "$*: the refused cow file was modified"
}
ov2=$tmp/ov2
mkdir -p "$ov2/etc"
echo other >"$ov2/etc/motd"
refused -o "cow=$cow" "$base" "$ov2" "$mnt"
printf '#!/bin/sh\necho another benchmark\n' >"$tmp/restore2.sh"
refused -o "cow=$cow,restore=$tmp/restore2.sh" "$base" "$ov" "$mnt"
# ... and the right one still works.
mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
check_image "$tmp/exp2.img" "the cow file after refused mounts"
unmount_hb "$mnt"
check_inputs "after the cow mounts"
echo "ok: -o cow: a cow file of another image is refused"

# ---- signals ----------------------------------------------------------------------------
cp "$tmp/writes1" "$tmp/writes"
cow=$tmp/term.cow
mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
pid=$hb_pid
do_writes one "$img"
kill -TERM "$pid"
wait_gone "$pid" || fail "SIGTERM: the daemon (pid $pid) still runs after $hb_wait s"
! is_mounted "$mnt" || fail "SIGTERM: still mounted after the daemon exited"
mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
check_image "$tmp/exp1.img" "cow writes after SIGTERM"
unmount_hb "$mnt"
echo "ok: SIGTERM unmounts; the cow file holds the writes"

cow=$tmp/int.cow
mount_hb_fg -o "cow=$cow" "$base" "$ov" "$mnt"
pid=$hb_pid
do_writes one "$img"
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
! is_mounted "$mnt" || fail "SIGINT: still mounted after hackbackfs -f exited ($rc)"
# libfuse reports the signal as the loop's result; a clean exit, then, not
# necessarily 0 (libfuse's own fuse_main() exits 7) -- but not a crash.
[ "$rc" -lt 128 ] || late_fail "SIGINT: hackbackfs -f was killed by signal $((rc - 128)) on its way out $(cat "$tmp/hb.err")"
mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
check_image "$tmp/exp1.img" "cow writes after SIGINT"
unmount_hb "$mnt"
echo "ok: SIGINT to hackbackfs -f unmounts; the cow file holds the writes"

# The foreground program's exit status after an ordinary unmount.
mount_hb_fg "$base" "$ov" "$mnt"
pid=$hb_pid
fusermount3 -u "$mnt" || fail "fusermount3 -u of hackbackfs -f failed"
rc=0
wait "$pid" || rc=$?
[ "$rc" -eq 0 ] || late_fail "fusermount3 -u: hackbackfs -f exited $rc, want 0 $(cat "$tmp/hb.err")"
echo "ok: hackbackfs -f ends when unmounted"

# SIGKILL (a batch scheduler ending the job): the writes are in the cow
# file already; auto_unmount (the default) removes the dead mount.
cow=$tmp/kill.cow
mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
pid=$hb_pid
do_writes one "$img"
kill -KILL "$pid"
wait_gone "$pid" || fail "SIGKILL: the daemon (pid $pid) still runs"
n=20
while is_mounted "$mnt" && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
! is_mounted "$mnt" || fail "SIGKILL: the dead mount is still there after 2 s (auto_unmount)"
mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
check_image "$tmp/exp1.img" "cow writes after SIGKILL"
unmount_hb "$mnt"
echo "ok: after SIGKILL the cow file holds the writes"

# One cow file, two mounts at once: the second must be refused, or else
# the writes through both must survive.
cow=$tmp/shared.cow
mnt2=$tmp/mnt2
mkdir "$mnt2"
mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
rc=0
HB_COW_LOCK_WAIT=1 "$HB" -o "cow=$cow" "$base" "$ov" "$mnt2" 2>"$tmp/hb2.err" || rc=$?
if [ "$rc" -ne 0 ]; then
	! is_mounted "$mnt2" || fail "a refused second mount of $cow is mounted"
	echo "ok: a second mount of one cow file is refused: $(cat "$tmp/hb2.err")"
	unmount_hb "$mnt"
else
	is_mounted "$mnt2" || fail "hackbackfs exited 0 but $mnt2 is not mounted"
	hb_daemon_pid "$mnt2" >>"$tmp/hb.pids" || fail "no hackbackfs serves $mnt2"
	printf 'through the first mount' >"$tmp/w1"
	printf 'through the second mount' >"$tmp/w2"
	dd if="$tmp/w1" of="$img" bs=1M seek=2000000 oflag=seek_bytes conv=notrunc status=none ||
		fail "write through the first mount"
	dd if="$tmp/w2" of="$mnt2/hack-back" bs=1M seek=3000000 oflag=seek_bytes conv=notrunc status=none ||
		fail "write through the second mount"
	unmount_hb "$mnt"
	unmount_hb "$mnt2"
	mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
	drop_cache "$img"
	got1=$(dd if="$img" bs=1M skip=2000000 count=23 iflag=skip_bytes,count_bytes status=none | tr -c "[:print:]" .)
	got2=$(dd if="$img" bs=1M skip=3000000 count=24 iflag=skip_bytes,count_bytes status=none | tr -c "[:print:]" .)
	unmount_hb "$mnt"
	if [ "$got1" != 'through the first mount' ] || [ "$got2" != 'through the second mount' ]; then
		late_fail "two mounts shared the cow file $cow and lost writes: first mount's reads back as '$got1', second's as '$got2'"
	fi
	echo "checked: two mounts of one cow file at once"
fi

# ---- no descriptor of ours in fusermount3 ---------------------------------------------------
# auto_unmount keeps a setuid fusermount3 running for the whole mount: the
# mapped overlay files (and BASE) are close-on-exec, so it holds none.
mount_hb "$base" "$ov" "$mnt"
fm=
for p in $(pgrep -x fusermount3 || true); do
	tr '\0' '\n' <"/proc/$p/cmdline" 2>/dev/null | grep -qxF -e "$mnt" && fm=$p
done
if [ -n "$fm" ]; then
	leaked=$(find "/proc/$fm/fd" -mindepth 1 -maxdepth 1 -exec readlink {} \; 2>/dev/null |
		grep -F -e "$ov/" -e "$base" || true)
	[ -z "$leaked" ] || fail "fusermount3 (pid $fm) holds our files: $leaked"
	echo "ok: fusermount3 (pid $fm) holds no overlay file or BASE"
else
	echo "note: no fusermount3 runs for $mnt (mounted directly): nothing to check"
fi
unmount_hb "$mnt"

# ---- the cow file's lock: wait for the last daemon, then give up ------------------------------

# wait_locked FILE: until someone else holds FILE's flock (the holder
# started in the background has taken it), at most $hb_wait seconds.
wait_locked()
{
	_n=0
	while flock -n "$1" true; do
		_n=$((_n + 1))
		[ "$_n" -le $((hb_wait * 20)) ] || fail "$1: the background flock never took the lock"
		sleep 0.05
	done
}

cp "$tmp/writes1" "$tmp/writes"
cow=$tmp/lock.cow
mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
do_writes one "$img"
unmount_hb "$mnt"
flock "$cow" sleep 2 &
holder=$!
wait_locked "$cow"
mount_hb -o "cow=$cow" "$base" "$ov" "$mnt"
grep -q 'in use by another mount.*waiting up to' "$tmp/hb.err" || fail "lock wait: stderr: $(cat "$tmp/hb.err")"
check_image "$tmp/exp1.img" "cow writes after waiting for the lock"
unmount_hb "$mnt"
wait "$holder"
flock "$cow" sleep 4 &
holder=$!
wait_locked "$cow"
rc=0
HB_COW_LOCK_WAIT=1 "$HB" -o "cow=$cow" "$base" "$ov" "$mnt" 2>"$tmp/lock.err" || rc=$?
! is_mounted "$mnt" || fail "a cow file held by another: mounted"
[ "$rc" -eq 1 ] && grep -q 'in use by another mount (waited 1 s)' "$tmp/lock.err" ||
	fail "a cow file held by another: exit $rc: $(cat "$tmp/lock.err")"
wait "$holder"
echo "ok: cow= waits for the last mount's lock (said on stderr), refuses when it is not let go"
# A file system without flock(2) locks (ENOLCK over NFS without lockd,
# ENOSYS on some cluster file systems), stood in for by a preloaded flock.
if command -v cc >/dev/null 2>&1; then
	cat >"$tmp/nolock.c" <<'EOF_C'
#include <errno.h>
int flock(int fd, int op) { (void)fd; (void)op; errno = ENOLCK; return -1; }
EOF_C
	cc -shared -fPIC -o "$tmp/nolock.so" "$tmp/nolock.c" || fail "cc of the flock stand-in failed"
	rc=0
	# (ASan wants its runtime first; the sanitizer build lets the preload by)
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
	LD_PRELOAD=$tmp/nolock.so "$HB" -o "cow=$cow" "$base" "$ov" "$mnt" 2>"$tmp/lock.err" || rc=$?
	! is_mounted "$mnt" || fail "a cow file that cannot be locked: mounted"
	[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/lock.err")" -eq 1 ] &&
		grep -q "cannot lock it (No locks available): the file system does not support" "$tmp/lock.err" ||
		fail "a cow file that cannot be locked: exit $rc: $(cat "$tmp/lock.err")"
	echo "ok: a file system without locks is named as such: $(cat "$tmp/lock.err")"
else
	echo "SKIP flock error: no cc to build the stand-in"
fi

# ---- -o ro,cow=FILE: read the saved writes, touch nothing ----------------------------------
cow_sum=$(sha256_of "$cow")
mount_hb -o "ro,cow=$cow" "$base" "$ov" "$mnt"
pid1=$hb_pid
mount_hb -o "ro,cow=$cow" "$base" "$ov" "$mnt2"
check_image "$tmp/exp1.img" "-o ro,cow: the saved writes (first mount)"
drop_cache "$mnt2/hack-back"
cmp "$mnt2/hack-back" "$tmp/exp1.img" >/dev/null || fail "-o ro,cow: the saved writes (second mount)"
for f in $(fd_flags "$pid1" "$cow"); do
	[ $((0$f & 3)) -eq 0 ] || fail "-o ro,cow: the daemon holds $cow with flags $f (not O_RDONLY)"
done
[ -n "$(fd_flags "$pid1" "$cow")" ] || fail "-o ro,cow: the daemon does not hold $cow"
unmount_hb "$mnt2"
unmount_hb "$mnt"
[ "$(sha256_of "$cow")" = "$cow_sum" ] || fail "-o ro,cow: the cow file changed"
mount_hb -o "ro,cow=$tmp/none.cow" "$base" "$ov" "$mnt"
check_image "$tmp/ref.img" "-o ro with a missing cow file"
unmount_hb "$mnt"
[ ! -e "$tmp/none.cow" ] || fail "-o ro,cow: a missing cow file was created"
if [ "$(id -u)" -eq 0 ]; then
	# Read-only storage: a read-only bind mount of a directory holding it.
	mkdir "$tmp/rodir" "$tmp/rodir.ro"
	cp -p "$cow" "$tmp/rodir/saved.cow"
	if mount --bind "$tmp/rodir" "$tmp/rodir.ro" 2>/dev/null; then
		on_exit "umount '$tmp/rodir.ro' 2>/dev/null"
		mount -o remount,bind,ro "$tmp/rodir.ro" || fail "cannot make the bind mount read-only"
		mount_hb -o "ro,cow=$tmp/rodir.ro/saved.cow" "$base" "$ov" "$mnt"
		check_image "$tmp/exp1.img" "-o ro,cow on read-only storage"
		unmount_hb "$mnt"
		umount "$tmp/rodir.ro"
		echo "ok: -o ro,cow on read-only storage"
	fi
fi
echo "ok: -o ro,cow: two read-only mounts read the saved writes; the file is opened read-only, unchanged, not created"

# ---- a planted cow file ------------------------------------------------------------------------
# planted WHY ARGS...: refused with one line matching WHY, nothing mounted.
planted()
{
	_why=$1
	shift
	_rc=0
	"$HB" "$@" 2>"$tmp/planted.err" || _rc=$?
	! is_mounted "$mnt" || { fusermount3 -u "$mnt"; fail "$*: mounted"; }
	[ "$_rc" -eq 1 ] && [ "$(wc -l <"$tmp/planted.err")" -eq 1 ] && grep -q "$_why" "$tmp/planted.err" ||
		fail "$*: exit $_rc: $(cat "$tmp/planted.err")"
}
ln -s "$cow" "$tmp/link.cow"
planted 'symbolic link' -o "cow=$tmp/link.cow" "$base" "$ov" "$mnt"
chmod 0620 "$cow"
planted 'writable by group or others' -o "cow=$cow" "$base" "$ov" "$mnt"
chmod 0606 "$cow"
planted 'writable by group or others' -o "cow=$cow" "$base" "$ov" "$mnt"
chmod 0600 "$cow"
if [ "$(id -u)" -eq 0 ]; then
	chown 65534 "$cow"
	planted 'not to you' -o "cow=$cow" "$base" "$ov" "$mnt"
	chown 0 "$cow"
fi
(umask 0 && "$HB" -o "cow=$tmp/new.cow" "$base" "$ov" "$mnt" -- true) 2>"$tmp/hb.err" ||
	fail "-o cow with umask 0: $(cat "$tmp/hb.err")"
[ "$(stat -c %a "$tmp/new.cow")" = 600 ] || fail "a new cow file has mode $(stat -c %a "$tmp/new.cow") under umask 0, want 600"
echo "ok: cow= refuses a link, a file writable by group or others, another's file; a new one is 0600"

check_inputs "at the end"
[ -z "$late" ] || fail "$late"
