#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/guard.sh -- the unmount guard removes a dead daemon's mount and
# never another one.  The README's checkpoint-then-restore, back to back:
# the old mount (with -o cow=) is unmounted and the next one is made on the
# same path while the old daemon or its guard still runs.  The kernel gives
# the new mount the old one's device number and mount ID, so a guard that
# goes by those removes the new mount when the old daemon ends.  SIGSTOP
# holds the old daemon or the old guard in that window, so nothing here
# depends on timing:
#   1. old daemon stopped, its mount unmounted, new mount made, old daemon
#      continued: the new mount survives the old daemon's exit
#   2. the same with the old guard stopped instead
#   3. the old daemon killed (kill -9), its guard stopped meanwhile:
#      fusermount3's auto_unmount removes the dead mount, a new one is
#      made, the old guard continues and leaves it alone (root; needs the
#      unique mount ID of Linux >= 6.8, else skipped)
#   4. the old daemon killed with fusermount3's auto_unmount helper
#      stopped: the guard alone removes the dead mount (root)
#   5. the guard does not keep the caller's working directory busy
#   6. Linux < 6.8 (RHEL 8's 4.18), where the guard knows its mount by
#      mount ID and device number alone, forced with the test hook
#      HB_GUARD_NO_UNIQUE_ID=1 (src/mount.c): 4 again, and 3 with a bind
#      mount as the next mount (it may take the old mount ID, never the
#      old device number), which the old guard must leave alone (root)
# 1 and 2 as root and as a user.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/user.sh"
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires mke2fs pgrep
user_setup hbfs-guard

chmod 0711 "$tmp"
u=$tmp/u
mkdir -m 0755 "$u" "$u/mnt"
make_base ext4 "$u/base.img" mbr
mkdir -p "$u/ov/etc"
echo guard >"$u/ov/etc/hostname"
chown -R "$uid:$gid" "$u"
mnt=$u/mnt

# as WHO CMD...: CMD as root or as the user.
as()
{
	_who=$1
	shift
	if [ "$_who" = root ]; then "$@"; else as_user "$@"; fi
}

# guard_pids MNT: the guards of MNT (comm "hackbackfs-guard", cut to 15).
guard_pids()
{
	for _p in $(pgrep -x hackbackfs-guar); do
		{ tr '\0' '\n' <"/proc/$_p/cmdline"; } 2>/dev/null | grep -qxF -e "$1" && echo "$_p"
	done
	return 0
}

# start WHO COW: mount as WHO with -o cow=COW; sets $pid (the daemon) and
# $gpid (its guard).  Other daemons of $mnt may still be exiting: the new
# one is told by its cow file.
start()
{
	_old_guards=$(guard_pids "$mnt")
	as "$1" "$HB" -o cow="$2" "$u/base.img" "$u/ov" "$mnt" 2>"$tmp/hb.err" ||
		fail "$1: hackbackfs -o cow=$2 failed: $(cat "$tmp/hb.err")"
	is_mounted "$mnt" || fail "$1: exited 0 but $mnt is not mounted"
	pid=
	for _p in $(pgrep -x hackbackfs); do
		{ tr '\0' '\n' <"/proc/$_p/cmdline"; } 2>/dev/null | grep -qxF -e "cow=$2" && pid=$_p
	done
	[ -n "$pid" ] || fail "$1: no daemon with cow=$2"
	echo "$pid" >>"$tmp/hb.pids"
	gpid=
	for _p in $(guard_pids "$mnt"); do
		echo "$_old_guards" | grep -qxF "$_p" || gpid=$_p
	done
	[ -n "$gpid" ] || fail "$1: no guard for the new mount"
}

# survives WHAT: the mount on $mnt still works; unmount it.
survives()
{
	is_mounted "$mnt" || fail "$1: the new mount was removed"
	as "$2" dd if="$mnt/hack-back" of=/dev/null bs=1M count=4 status=none 2>"$tmp/dd.err" ||
		fail "$1: the new mount does not read: $(cat "$tmp/dd.err")"
	as "$2" fusermount3 -u "$mnt" || fail "$1: fusermount3 -u failed"
	wait_gone "$pid" || fail "$1: the daemon (pid $pid) still runs after the unmount"
	wait_gone "$gpid" || fail "$1: the guard (pid $gpid) still runs after the unmount"
	echo "ok: $1"
}

write_some()
{
	printf 'written before the unmount' |
		as "$1" dd of="$mnt/hack-back" bs=1 seek=8192 conv=notrunc status=none ||
		fail "$1: writing to the image failed"
}

for who in root "$user"; do
	# 1. the old daemon stopped across its unmount and the next mount
	start "$who" "$u/cow.$who.a"
	old=$pid
	oldg=$gpid
	write_some "$who"
	kill -STOP "$old"
	as "$who" fusermount3 -u "$mnt" || { kill -CONT "$old"; fail "$who: fusermount3 -u failed"; }
	! is_mounted "$mnt" || { kill -CONT "$old"; fail "$who: still mounted after fusermount3 -u"; }
	start "$who" "$u/cow.$who.b"
	kill -CONT "$old"
	wait_gone "$old" || fail "$who: the old daemon still runs"
	wait_gone "$oldg" || fail "$who: the old guard still runs"
	survives "$who: old daemon stopped across the next mount" "$who"

	# 2. the old guard stopped while the old daemon unmounts and exits
	start "$who" "$u/cow.$who.a"
	old=$pid
	oldg=$gpid
	write_some "$who"
	kill -STOP "$oldg"
	as "$who" fusermount3 -u "$mnt" || { kill -CONT "$oldg"; fail "$who: fusermount3 -u failed"; }
	start "$who" "$u/cow.$who.b"
	wait_gone "$old" || { kill -CONT "$oldg"; fail "$who: the old daemon still runs"; }
	kill -CONT "$oldg"
	wait_gone "$oldg" || fail "$who: the old guard still runs"
	survives "$who: old guard stopped across the next mount" "$who"
done

# 3. a killed daemon's guard, held while the next mount is made.
#    killed_then CMD...: a new mount's daemon killed (kill -9) with its
#    guard stopped; once auto_unmount has removed the dead mount, CMD makes
#    the next mount on $mnt, and the old guard continues and ends.
killed_then()
{
	start root "$u/cow.a"
	old=$pid
	oldg=$gpid
	kill -STOP "$oldg"
	kill -KILL "$old"
	n=50
	while is_mounted "$mnt" && [ "$n" -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
	is_mounted "$mnt" && { kill -CONT "$oldg"; fail "kill -9: auto_unmount left the dead mount"; }
	"$@" || { kill -CONT "$oldg"; fail "$*: failed"; }
	kill -CONT "$oldg"
	wait_gone "$oldg" || fail "the killed daemon's guard still runs"
}
kmaj=$(uname -r | cut -d. -f1)
kmin=$(uname -r | cut -d. -f2)
if [ "$kmaj" -gt 6 ] || { [ "$kmaj" -eq 6 ] && [ "$kmin" -ge 8 ]; }; then
	killed_then start root "$u/cow.b"
	survives "killed daemon: its guard leaves the next mount alone" root
else
	echo "note: kernel $(uname -r) has no unique mount ID (Linux 6.8): case 3 not run"
fi

# 4. the guard alone removes a killed daemon's mount: auto_unmount's
#    fusermount3 (which waits on a socket for the daemon) held stopped.
#    guard_alone HOW: HOW is said after "ok".
guard_alone()
{
	start root "$u/cow.a"
	fm=
	for p in $(pgrep -x fusermount3); do
		{ tr '\0' '\n' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qxF -e "$mnt" && fm=$p
	done
	[ -n "$fm" ] || fail "no auto_unmount fusermount3 for $mnt"
	kill -STOP "$fm"
	kill -KILL "$pid"
	wait_gone "$gpid" || { kill -CONT "$fm"; fail "the guard did not end after its daemon was killed$1"; }
	is_mounted "$mnt" && { kill -CONT "$fm"; fail "the guard left the killed daemon's mount$1"; }
	kill -CONT "$fm"
	wait_gone "$fm" || fail "fusermount3 (auto_unmount) still runs"
	ls "$mnt" >/dev/null || fail "$mnt is not usable after the guard's unmount"
	echo "ok: the guard alone removes a killed daemon's mount$1"
}
guard_alone ""

# 5. the caller's working directory is not held by the guard (as root: a
#    tmpfs as the working directory must unmount while the image is mounted).
mkdir "$tmp/wd"
mount -t tmpfs hbfs-wd "$tmp/wd" || fail "cannot mount a tmpfs"
(cd "$tmp/wd" && "$HB" "$u/base.img" "$u/ov" "$mnt") 2>"$tmp/hb.err" ||
	fail "hackbackfs from $tmp/wd: $(cat "$tmp/hb.err")"
gpid=$(guard_pids "$mnt")
[ "$(readlink "/proc/$gpid/cwd")" = / ] || fail "the guard's working directory: $(readlink "/proc/$gpid/cwd")"
umount "$tmp/wd" 2>"$tmp/umount.err" || fail "the caller's working directory is busy: $(cat "$tmp/umount.err")"
pid=$(hb_daemon_pid "$mnt")
echo "$pid" >>"$tmp/hb.pids"
survives "the guard keeps no working directory busy" root

# 6. as on Linux < 6.8: by mount ID and device number
export HB_GUARD_NO_UNIQUE_ID=1
guard_alone " (no unique mount ID)"
killed_then mount --bind "$u/ov" "$mnt"
is_mounted "$mnt" && [ -f "$mnt/etc/hostname" ] ||
	fail "the killed daemon's guard removed the next mount, a bind mount (no unique mount ID)"
umount "$mnt" || fail "umount of the bind mount failed"
unset HB_GUARD_NO_UNIQUE_ID
echo "ok: killed daemon, no unique mount ID: its guard leaves the next mount alone"
