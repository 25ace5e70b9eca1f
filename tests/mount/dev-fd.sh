#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/dev-fd.sh -- MNT given as /dev/fd/N, as container runtimes do
# (Apptainer's --fusemount): tests/lib/fdmount opens /dev/fuse, mounts it on a
# directory itself and starts hackbackfs with /dev/fd/N.  The image must
# read the same bytes as a normal mount of the same inputs, and the
# daemon ends when the caller unmounts.  A descriptor that is not open,
# or not /dev/fuse, is one clear error.  Needs root (mount(2)).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires_root
requires mke2fs sha256sum umount e2fsck
FDMOUNT=$top_builddir/tests/lib/fdmount
[ -x "$FDMOUNT" ] || fail "$FDMOUNT not built (run make first)"

make_base ext4 "$tmp/base.img" mbr
make_overlay "$tmp/ov"
mkdir "$tmp/mnt" "$tmp/fdmnt"

mount_hb "$tmp/base.img" "$tmp/ov" "$tmp/mnt"
want=$(sha256_of "$tmp/mnt/hack-back")
unmount_hb "$tmp/mnt"

rc=0
"$FDMOUNT" "$tmp/fdmnt" "$HB" "$tmp/base.img" "$tmp/ov" @FD@ 2>"$tmp/fd.err" || rc=$?
[ "$rc" -eq 0 ] || fail "fdmount + hackbackfs /dev/fd/N exited $rc: $(cat "$tmp/fd.err")"
is_mounted "$tmp/fdmnt" || fail "$tmp/fdmnt is not mounted"
# (The loop's status is its last test's: "|| :", or set -e ends the
# script without a word when the last hackbackfs listed is not ours.)
pid=$(pgrep -x hackbackfs | while read -r p; do
	tr '\0' '\n' <"/proc/$p/cmdline" | grep -q "^/dev/fd/[0-9]*$" &&
		tr '\0' '\n' <"/proc/$p/cmdline" | grep -qxF "$tmp/ov" && echo "$p" || :; done)
[ -n "$pid" ] || fail "no hackbackfs serves /dev/fd/N"
echo "$pid" >>"$tmp/hb.pids"
got=$(sha256_of "$tmp/fdmnt/hack-back")
[ "$got" = "$want" ] || fail "/dev/fd/N serves other bytes ($got) than a normal mount ($want)"
e2fsck -fn "$tmp/fdmnt/hack-back?offset=$(base_offset mbr)" >"$tmp/e2fsck.log" 2>&1 ||
	{ cat "$tmp/e2fsck.log" >&2; fail "e2fsck -fn on the /dev/fd/N image"; }
echo "ok: /dev/fd/N (daemon $pid) serves the same bytes as a normal mount: $want"

umount "$tmp/fdmnt" || fail "umount of the caller's mount failed"
wait_gone "$pid" || fail "hackbackfs (pid $pid) still runs after the caller unmounted"
echo "ok: the daemon ends when the caller unmounts"

for fd in 77 0; do
	rc=0
	"$HB" "$tmp/base.img" "$tmp/ov" "/dev/fd/$fd" </dev/null 2>"$tmp/err" || rc=$?
	[ "$rc" -ne 0 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "/dev/fd/$fd: status $rc: $(cat "$tmp/err")"
	echo "ok: /dev/fd/$fd -> $(cat "$tmp/err")"
done
