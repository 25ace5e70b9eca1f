#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/remount.sh -- back to back on one path, 50 rounds: mount with
# -o cow=, write, unmount, and mount again at once while the old daemon
# still flushes its cow file and exits.  Every mount must still be there,
# serving its own writes, until its own unmount; at the end nothing is
# mounted and no daemon or guard is left.  (The kernel hands the new mount
# the old one's device number and mount ID: tests/mount/guard.sh holds
# that window open with SIGSTOP; this test runs through it many times.)
#
# Every other round holds the window open: the old daemon is stopped
# (SIGSTOP) before its unmount and continued only after the next mount is
# made, so that its clean exit, its cow file's flush and its guard's
# check all come after the new mount, in 25 of the 50 rounds, every run.
# In the other rounds the timing is the machine's: each writes 8 MiB, so
# that the old daemon's fdatasync of its cow file may keep it alive while
# the next mount is made.  The rounds alternate between two cow files,
# since a cow file stays locked until its daemon has flushed it; a round
# waits for the daemon two rounds back.  Prints how many rounds overlapped
# an old daemon, and fails when fewer than the held ones did.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires mke2fs pgrep
rounds=${HB_REMOUNT_ROUNDS:-50}
make_base ext4 "$tmp/base.img" mbr
mkdir -p "$tmp/ov/etc" "$tmp/mnt"
echo remount >"$tmp/ov/etc/hostname"
mnt=$tmp/mnt
head -c 8388608 /dev/urandom >"$tmp/data"

# daemon_of COW: the hackbackfs running with -o cow=COW, if any.
daemon_of()
{
	for _p in $(pgrep -x hackbackfs); do
		{ tr '\0' '\n' <"/proc/$_p/cmdline"; } 2>/dev/null | grep -qxF -e "cow=$1" && {
			echo "$_p"
			return 0
		}
	done
	return 1
}

i=0
prev=
held=
overlap=0
nheld=0
on_exit '[ -z "$held" ] || kill -CONT "$held" 2>/dev/null'
while [ "$i" -lt "$rounds" ]; do
	cow=$tmp/cow.$((i % 2))
	# the daemon two rounds back must have released this cow file
	p=$(daemon_of "$cow") && { wait_gone "$p" 60 || fail "round $i: the daemon of round $((i - 2)) still runs"; }
	"$HB" -o cow="$cow" "$tmp/base.img" "$tmp/ov" "$mnt" 2>"$tmp/hb.err" ||
		fail "round $i: hackbackfs failed: $(cat "$tmp/hb.err")"
	pid=$(daemon_of "$cow") || fail "round $i: no daemon"
	echo "$pid" >>"$tmp/hb.pids"
	if [ -n "$prev" ] && ! wait_gone "$prev" 0; then
		overlap=$((overlap + 1))
	fi
	if [ -n "$held" ]; then
		kill -CONT "$held" || fail "round $i: the held daemon of round $((i - 1)) is gone"
		nheld=$((nheld + 1))
	fi
	# Write this round's data (enough that flushing it at the unmount
	# takes a while) and mark; wait until the previous daemon is gone
	# (its guard has had its chance), then the mark must read back.
	dd if="$tmp/data" of="$mnt/hack-back" bs=1M seek=1 conv=notrunc status=none ||
		fail "round $i: write failed"
	printf 'round %04d' "$i" | dd of="$mnt/hack-back" bs=1 seek=$((4096 * (i + 1))) conv=notrunc status=none ||
		fail "round $i: write failed"
	[ -z "$prev" ] || wait_gone "$prev" 60 || fail "round $i: the previous daemon still runs"
	sleep 0.05
	is_mounted "$mnt" || fail "round $i: the mount went away before its unmount"
	got=$(dd if="$mnt/hack-back" bs=1 skip=$((4096 * (i + 1))) count=10 status=none) ||
		fail "round $i: read failed"
	[ "$got" = "$(printf 'round %04d' "$i")" ] || fail "round $i: read back '$got'"
	held=
	if [ $((i % 2)) = 1 ]; then
		kill -STOP "$pid" || fail "round $i: cannot stop the daemon"
		held=$pid
	fi
	fusermount3 -u "$mnt" || fail "round $i: fusermount3 -u failed"
	prev=$pid
	i=$((i + 1))
done
[ -z "$held" ] || kill -CONT "$held"
held=
wait_gone "$prev" 60 || fail "the last daemon still runs"
[ "$overlap" -ge "$nheld" ] || fail "only $overlap of $rounds rounds overlapped an old daemon; $nheld were held open"
[ "$nheld" -ge $(((rounds - 1) / 2)) ] || fail "only $nheld rounds were held open"
! is_mounted "$mnt" || fail "still mounted after the last round"
n=50
while [ -n "$(pgrep -x hackbackfs-guar)" ] && [ "$n" -gt 0 ]; do
	left=
	for p in $(pgrep -x hackbackfs-guar); do
		{ tr '\0' '\n' <"/proc/$p/cmdline"; } 2>/dev/null | grep -qxF -e "$mnt" && left="$left $p"
	done
	[ -n "$left" ] || break
	sleep 0.1
	n=$((n - 1))
done
[ "$n" -gt 0 ] || fail "guards left:$left"
echo "ok: $rounds rounds back to back; $overlap new mounts were made while the old daemon still ran ($nheld of them held open)"
