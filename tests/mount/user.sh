#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/user.sh -- the point of the program: a user without root
# mounts the image (through the setuid fusermount3), reads it (e2fsck -fn
# as that user on the mounted file), writes to it (in memory), and unmounts
# it with fusermount3 -u.  The daemon runs as the user, the image belongs
# to the user, its bytes equal those of root's mount of the same inputs,
# and nothing stays mounted or running afterwards.
#
# Needs root to create the throwaway user (hbfs-test, removed again if this
# test added it; tests/lib/user.sh).  Skips when fusermount3 is not setuid
# root.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/user.sh"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"

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

# ---- no dangling mount as the user: kill -9, run mode (tests/mount/run-mode.sh as root) --------
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

# ---- -o allow_other: other users get no more than BASE gives them --------------------------
# root's mount of root's BASE: 0600 -> the user cannot read the image;
# 0644 -> the user reads it but cannot write (the kernel checks the mode:
# default_permissions).  The image's owner is the one who mounted.
cp "$u/base.img" "$tmp/rootbase.img"
chmod 0600 "$tmp/rootbase.img"
mkdir -m 0755 "$tmp/amnt"
mount_hb -o allow_other "$tmp/rootbase.img" "$u/ov" "$tmp/amnt"
[ "$(stat -c %a "$tmp/amnt/hack-back")" = 600 ] ||
	fail "allow_other, BASE 0600: the image is served $(stat -c %a "$tmp/amnt/hack-back")"
as_user head -c 512 "$tmp/amnt/hack-back" >/dev/null 2>&1 &&
	fail "allow_other: $user read root's image of a 0600 BASE it cannot read"
as_user head -c 512 "$tmp/amnt/hack-back.json" >/dev/null 2>&1 &&
	fail "allow_other: $user read the manifest of a 0600 BASE it cannot read"
unmount_hb "$tmp/amnt"
chmod 0644 "$tmp/rootbase.img"
mount_hb -o allow_other "$tmp/rootbase.img" "$u/ov" "$tmp/amnt"
as_user head -c 512 "$tmp/amnt/hack-back" >/dev/null || fail "allow_other: $user cannot read the image of a 0644 BASE"
as_user dd if="$tmp/data" of="$tmp/amnt/hack-back" bs=1 seek=4096 conv=notrunc status=none 2>/dev/null &&
	fail "allow_other: $user wrote into root's image (mode 0644, owner root)"
cmp -s "$tmp/amnt/hack-back" "$tmp/rootbase.img" && fail "allow_other: root's mount serves BASE's bytes?"
unmount_hb "$tmp/amnt"
echo "ok: -o allow_other, root's mount: a 0600 BASE unreadable to $user, a 0644 one read-only to $user"

# The user's own mount with allow_other (user_allow_other in /etc/fuse.conf,
# set here and put back), seen by a second user, nobody.
other=$(id -u nobody 2>/dev/null) || other=65534
as_other()
{
	env -i PATH="$PATH" LC_ALL=C setpriv --reuid="$other" --regid="$other" --clear-groups "$@"
}
if [ -f /etc/fuse.conf ]; then cp -p /etc/fuse.conf "$tmp/fuse.conf.saved"; fi
on_exit "if [ -f '$tmp/fuse.conf.saved' ]; then cp -p '$tmp/fuse.conf.saved' /etc/fuse.conf; else rm -f /etc/fuse.conf; fi"
grep -qx user_allow_other /etc/fuse.conf 2>/dev/null || echo user_allow_other >>/etc/fuse.conf
chmod 0711 "$u"
chmod 0711 "$u/mnt"
chmod 0600 "$u/base.img"
as_user "$HB" -o allow_other "$u/base.img" "$u/ov" "$u/mnt" 2>"$tmp/user.err" ||
	fail "hackbackfs -o allow_other as $user failed: $(cat "$tmp/user.err")"
pid=$(hb_daemon_pid "$u/mnt") || fail "no hackbackfs serves $u/mnt"
echo "$pid" >>"$tmp/hb.pids"
as_other head -c 512 "$u/mnt/hack-back" >/dev/null 2>&1 &&
	fail "allow_other: uid $other read $user's image of a 0600 BASE"
as_user head -c 512 "$u/mnt/hack-back" >/dev/null || fail "allow_other: $user cannot read its own image"
as_user fusermount3 -u "$u/mnt" || fail "fusermount3 -u as $user"
wait_gone "$pid" || fail "the daemon (pid $pid) still runs after the unmount"
chmod 0644 "$u/base.img"
as_user "$HB" -o allow_other "$u/base.img" "$u/ov" "$u/mnt" 2>"$tmp/user.err" ||
	fail "hackbackfs -o allow_other as $user failed: $(cat "$tmp/user.err")"
pid=$(hb_daemon_pid "$u/mnt") || fail "no hackbackfs serves $u/mnt"
echo "$pid" >>"$tmp/hb.pids"
as_other head -c 512 "$u/mnt/hack-back" >/dev/null || fail "allow_other: uid $other cannot read the image of a 0644 BASE"
as_other dd if="$tmp/data" of="$u/mnt/hack-back" bs=1 seek=4096 conv=notrunc status=none 2>/dev/null &&
	fail "allow_other: uid $other wrote into $user's image"
as_user fusermount3 -u "$u/mnt" || fail "fusermount3 -u as $user"
wait_gone "$pid" || fail "the daemon (pid $pid) still runs after the unmount"
chmod 0755 "$u" "$u/mnt"
echo "ok: -o allow_other, $user's mount: uid $other reads only what BASE's mode allows, writes nothing"

# ---- a cow file someone else planted ------------------------------------------------------
# The user's own cow file works; root's copy of it (a valid header: the
# identity is public), even writable by all, is refused, and so is a link.
as_user "$HB" -o "cow=$u/mine.cow" "$u/base.img" "$u/ov" "$u/mnt" -- true 2>"$tmp/user.err" ||
	fail "-o cow as $user: $(cat "$tmp/user.err")"
[ "$(stat -c '%u %a' "$u/mine.cow")" = "$uid 600" ] ||
	fail "$user's new cow file: owner and mode $(stat -c '%u %a' "$u/mine.cow"), want $uid 600"
cp "$u/mine.cow" "$u/planted.cow"
chmod 0666 "$u/planted.cow"
ln -s mine.cow "$u/link.cow"
chown -h "$uid:$gid" "$u/link.cow"
for c in planted link; do
	rc=0
	as_user "$HB" -o "cow=$u/$c.cow" "$u/base.img" "$u/ov" "$u/mnt" 2>"$tmp/user.err" || rc=$?
	! is_mounted "$u/mnt" || { fusermount3 -u "$u/mnt"; fail "-o cow=$c.cow as $user: mounted"; }
	[ "$rc" -eq 1 ] && [ "$(wc -l <"$tmp/user.err")" -eq 1 ] ||
		fail "-o cow=$c.cow as $user: exit $rc: $(cat "$tmp/user.err")"
	case $c in
	planted) grep -q 'not to you' "$tmp/user.err" || fail "planted cow file: $(cat "$tmp/user.err")" ;;
	link) grep -q 'symbolic link' "$tmp/user.err" || fail "cow file through a link: $(cat "$tmp/user.err")" ;;
	esac
done
echo "ok: $user's cow= refuses a file of root's and a symbolic link; a new one is $user's, 0600"
