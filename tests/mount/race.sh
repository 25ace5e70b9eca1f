#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/race.sh -- two hackbackfs started at once on one empty
# directory: exactly one mounts, the other says why with one error line,
# and there is one mount on the directory, not two stacked.
#   1. the directory's lock held (flock(1)): refused at once, nothing mounted
#   2. two at once, 5 rounds: one exit 0, one exit 1, one mount
#   3. a file put into the directory during the build (the process held
#      with SIGSTOP once it builds): refused before mounting, nothing mounted
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires mke2fs flock
make_base ext4 "$tmp/base.img" mbr
mkdir -p "$tmp/ov/etc" "$tmp/mnt"
echo race >"$tmp/ov/etc/hostname"
mnt=$tmp/mnt

# mounts_on DIR: how many mounts sit exactly on DIR.
mounts_on()
{
	awk -v m="$1" '$5 == m { n++ } END { print n + 0 }' /proc/self/mountinfo
}

# 1. somebody holds the lock
rc=0
flock "$mnt" "$HB" "$tmp/base.img" "$tmp/ov" "$mnt" 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "lock held: status $rc: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "$mnt is being mounted by another hackbackfs" "$tmp/err" ||
	fail "lock held: want one line naming it: $(cat "$tmp/err")"
[ "$(mounts_on "$mnt")" -eq 0 ] || fail "lock held: something was mounted"
echo "ok: the directory's lock held: $(cat "$tmp/err")"

# 2. two at once
for i in 1 2 3 4 5; do
	"$HB" "$tmp/base.img" "$tmp/ov" "$mnt" 2>"$tmp/err.a" &
	a=$!
	"$HB" "$tmp/base.img" "$tmp/ov" "$mnt" 2>"$tmp/err.b" &
	b=$!
	ra=0
	wait "$a" || ra=$?
	rb=0
	wait "$b" || rb=$?
	n=$(mounts_on "$mnt")
	[ "$n" -eq 1 ] || fail "round $i: $n mounts on $mnt (status $ra and $rb: $(cat "$tmp/err.a" "$tmp/err.b"))"
	[ $((ra + rb)) -eq 1 ] || fail "round $i: status $ra and $rb, want one 0 and one 1: $(cat "$tmp/err.a" "$tmp/err.b")"
	cat "$tmp/err.a" "$tmp/err.b" >"$tmp/err"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q "being mounted by another\|already mounted" "$tmp/err" ||
		fail "round $i: the loser's message: $(cat "$tmp/err")"
	echo "round $i: $(cat "$tmp/err")"
	unmount_hb "$mnt"
	[ "$(mounts_on "$mnt")" -eq 0 ] || fail "round $i: a second mount was under the first"
done
echo "ok: two at once on one directory: exactly one mounts (5 rounds)"

# 3. the directory changes during the build: checked again right before
#    mounting.  -o fullhash over a 1 GiB sparse tail makes a build to stop.
truncate -s 1G "$tmp/base.img"
"$HB" -v -f -o fullhash "$tmp/base.img" "$tmp/ov" "$mnt" 2>"$tmp/err" &
hb=$!
echo "$hb" >>"$tmp/hb.pids"
n=200
until grep -q "hashing all of" "$tmp/err"; do
	[ "$n" -gt 0 ] || fail "no build within 20 s: $(cat "$tmp/err")"
	sleep 0.05
	n=$((n - 1))
done
kill -STOP "$hb"
: >"$mnt/intruder"
kill -CONT "$hb"
rc=0
wait "$hb" || rc=$?
[ "$rc" -eq 1 ] && grep -q "$mnt is not empty" "$tmp/err" ||
	fail "a file put into MNT during the build: status $rc: $(cat "$tmp/err")"
[ "$(mounts_on "$mnt")" -eq 0 ] || fail "mounted over a directory that is not empty"
echo "ok: a file put into the directory during the build: $(grep 'not empty' "$tmp/err")"
