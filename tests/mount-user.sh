#!/bin/sh
# tests/mount-user.sh -- the point of the program: a user without root
# mounts the image (through the setuid fusermount3), reads it (e2fsck -fn
# as that user on the mounted file), writes to it (in memory), and unmounts
# it with fusermount3 -u.  The daemon runs as the user, the image belongs
# to the user, its bytes equal those of root's mount of the same inputs,
# and nothing stays mounted or running afterwards.
#
# Needs root to create the throwaway user (hbfs-test, removed again if this
# test added it; tests/user-lib.sh).  Skips when fusermount3 is not setuid
# root.
. "${top_srcdir:-$(dirname "$0")/..}/tests/user-lib.sh"
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
. "$top_srcdir/tests/mount-lib.sh"

requires mke2fs sfdisk e2fsck cmp
user_setup hbfs-test

# Everything the user touches lives in $tmp/u, the user's.
chmod 0711 "$tmp"
u=$tmp/u
mkdir -m 0755 "$u"
make_base ext4 "$u/base.img" mbr
make_overlay "$u/ov"
mkdir "$u/mnt"
chown -R "$uid:$gid" "$u"
base_sum=$(sha256_of "$u/base.img")
off=$(base_offset mbr)

# Root's mount of the same inputs, for the bytes.
mkdir "$tmp/rootmnt"
mount_hb "$u/base.img" "$u/ov" "$tmp/rootmnt"
root_sum=$(sha256_of "$tmp/rootmnt/hack-back")
unmount_hb "$tmp/rootmnt"

# ---- mount ----------------------------------------------------------------------------
as_user "$HB" "$u/base.img" "$u/ov" "$u/mnt" 2>"$tmp/user.err" ||
	fail "hackbackfs as $user failed: $(cat "$tmp/user.err")"
is_mounted "$u/mnt" || fail "hackbackfs as $user exited 0 but $u/mnt is not mounted"
pid=$(hb_daemon_pid "$u/mnt") || fail "no hackbackfs serves $u/mnt"
echo "$pid" >>"$tmp/hb.pids"
[ "$(awk '/^Uid:/ { print $2, $3 }' "/proc/$pid/status")" = "$uid $uid" ] ||
	fail "the daemon runs as $(grep '^Uid:' "/proc/$pid/status")"
# The mount is the user's: fusermount3 records user_id in the options.
grep -F " $u/mnt " /proc/self/mountinfo | grep -q "user_id=$uid," ||
	fail "mount options: $(grep -F " $u/mnt " /proc/self/mountinfo)"
echo "ok: $user mounted $u/mnt (daemon pid $pid runs as uid $uid)"

# ---- read and write as the user --------------------------------------------------------
as_user stat -c '%u:%g %s' "$u/mnt/hack-back" >"$tmp/stat" 2>&1 || fail "stat as $user: $(cat "$tmp/stat")"
[ "$(cat "$tmp/stat")" = "$uid:$gid $(stat -c %s "$u/base.img")" ] ||
	fail "the image as $user sees it: $(cat "$tmp/stat"), want $uid:$gid and BASE's size"
as_user e2fsck -fn "$u/mnt/hack-back?offset=$off" >"$tmp/e2fsck.log" 2>&1 ||
	{ cat "$tmp/e2fsck.log" >&2; fail "e2fsck -fn as $user on the mounted image is not clean"; }
as_user sha256sum "$u/mnt/hack-back" >"$tmp/sum" 2>&1 || fail "reading as $user: $(cat "$tmp/sum")"
[ "$(cut -d' ' -f1 "$tmp/sum")" = "$root_sum" ] || fail "$user's mount serves other bytes than root's"
as_user cat "$u/mnt/hack-back.json" >"$tmp/manifest.json" || fail "reading hack-back.json as $user"
python3 -m json.tool "$tmp/manifest.json" >/dev/null || fail "hack-back.json does not parse"
echo "ok: $user reads the image: e2fsck -fn clean, same bytes as root's mount"

printf 'written by the user' >"$tmp/data"
chmod 0644 "$tmp/data"
as_user dd if="$tmp/data" of="$u/mnt/hack-back" bs=1 seek=4096 conv=notrunc status=none ||
	fail "writing as $user failed"
[ "$(as_user dd if="$u/mnt/hack-back" bs=1 skip=4096 count=19 status=none)" = 'written by the user' ] ||
	fail "the user's write does not read back"
echo "ok: $user writes to the image"

# ---- unmount as the user -----------------------------------------------------------------
as_user fusermount3 -u "$u/mnt" 2>"$tmp/umount.err" || fail "fusermount3 -u as $user: $(cat "$tmp/umount.err")"
! is_mounted "$u/mnt" || fail "$u/mnt still mounted after the user's fusermount3 -u"
wait_gone "$pid" || fail "the daemon (pid $pid) still runs after the unmount"
[ "$(sha256_of "$u/base.img")" = "$base_sum" ] || fail "BASE was modified"
echo "ok: $user unmounted; the daemon is gone, BASE unchanged"

# ---- a window only root may set ----------------------------------------------------------
rc=0
as_user "$HB" -o read_ahead_kb=1024 "$u/base.img" "$u/ov" "$u/mnt" 2>"$tmp/user.err" || rc=$?
[ "$rc" -eq 1 ] || fail "-o read_ahead_kb=1024 as $user: exit $rc, want 1"
[ "$(wc -l <"$tmp/user.err")" -eq 1 ] && grep -q 'read_ahead_kb=1024.*root' "$tmp/user.err" ||
	fail "-o read_ahead_kb=1024 as $user: stderr: $(cat "$tmp/user.err")"
! is_mounted "$u/mnt" || fail "-o read_ahead_kb=1024 as $user left a mount"
echo "ok: $user's -o read_ahead_kb=1024 refused with one line, nothing mounted"

# ---- no dangling mount as the user: kill -9, run mode (tests/run-mode.sh as root) --------
as_user "$HB" "$u/base.img" "$u/ov" "$u/mnt" 2>"$tmp/user.err" ||
	fail "hackbackfs as $user failed: $(cat "$tmp/user.err")"
pid=$(hb_daemon_pid "$u/mnt") || fail "no hackbackfs serves $u/mnt"
echo "$pid" >>"$tmp/hb.pids"
kill -KILL "$pid"
n=20
while is_mounted "$u/mnt" && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
! is_mounted "$u/mnt" || fail "kill -9 of $user's daemon: $u/mnt still mounted after 2 s (auto_unmount)"
echo "ok: kill -9 of $user's daemon: the mount is gone within 2 s"
rc=0
as_user "$HB" "$u/base.img" "$u/ov" "$u/mnt" -- sh -c 'e2fsck -fn "$HACKBACKFS_IMAGE?offset=$1" >/dev/null && exit 5' sh "$off" \
	2>"$tmp/user.err" || rc=$?
[ "$rc" -eq 5 ] || fail "run mode as $user: status $rc, want 5: $(cat "$tmp/user.err")"
! is_mounted "$u/mnt" || fail "run mode as $user: $u/mnt still mounted"
echo "ok: run mode as $user: CMD checked the image, its status came back, nothing mounted"
# The unmount guard (a process of the user's) ends with its daemon.
n=20
while pgrep -u "$uid" >/dev/null && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
! pgrep -u "$uid" >/dev/null || fail "processes of $user left: $(pgrep -a -u "$uid")"
echo "ok: no process of $user left"
