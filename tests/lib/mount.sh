# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=sh disable=SC2154  # $tmp, $top_builddir: from tests/lib/common.sh
# tests/lib/mount.sh -- helpers for the tests that really mount hackbackfs.
# Source it after tests/lib/common.sh:
#
#	. "${top_srcdir:-.}/tests/lib/common.sh"
#	. "$top_srcdir/tests/lib/mount.sh"
#
# Sourcing it skips the test (77) when FUSE cannot be used here and fails
# when the program is not built.  What it gives a test:
#   $HB                   the program under test
#   mount_hb ARGS...      run "$HB ARGS..." (the last argument is the mount
#                         point, always an absolute path); it must exit 0
#                         and leave a mount; sets $hb_pid to the daemon
#   mount_hb_fg ARGS...   the same with -f, in the background of this
#                         shell, SIGINT at its default; $hb_pid is our child
#   unmount_hb MNT        fusermount3 -u, then wait until the daemon is gone
#   hb_daemon_pid MNT     pid of the hackbackfs serving MNT
#   is_mounted MNT        MNT in /proc/self/mountinfo or mountpoint -q
#   wait_gone PID [SECS]  wait until PID has exited (or is a zombie)
#   fd_flags PID PATH     octal open flags of each fd of PID open on PATH
#   drop_cache FILE       drop FILE's clean pages from the page cache, so
#                         that the next reads go to the daemon again
#   kmount FILE OFF SIZE DIR / kumount DIR
#                         read-only kernel mount of the ext file system at
#                         OFF in FILE through a loop device (ext4, noload)
#   json_get FILE EXPR    a value of the manifest (python: j is the object)
# Every mount, loop device and daemon a test leaves behind is released at
# exit (registered with on_exit), whatever the test's status.

requires fusermount3 mountpoint python3
HB=$top_builddir/hackbackfs
[ -x "$HB" ] || fail "$HB not built (run make first)"
[ -c /dev/fuse ] || skip "/dev/fuse missing"
(: <>/dev/fuse) 2>/dev/null || skip "/dev/fuse not usable"

hb_pid=
# The daemons this test started, one pid a line.
: >"$tmp/hb.pids"

# True when MNT is a mount point (by either test).
is_mounted()
{
	mountpoint -q "$1" 2>/dev/null && return 0
	awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# How long a daemon may take to mount or to exit, in seconds.  Generous:
# a CI machine running QEMU guests beside these tests is slow, and a real
# hang still fails.
hb_wait=${HB_TEST_WAIT:-30}

# wait_gone PID [SECONDS]: 0 once PID has exited (a zombie counts as
# exited), 1 after SECONDS (default $hb_wait).
wait_gone()
{
	_wg_n=$((${2:-$hb_wait} * 10))
	while :; do
		[ -e "/proc/$1" ] || return 0
		_wg_st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 0
		[ "$_wg_st" != Z ] && [ -n "$_wg_st" ] || return 0
		[ "$_wg_n" -gt 0 ] || return 1
		sleep 0.1
		_wg_n=$((_wg_n - 1))
	done
}

# Whether PID runs the program under test (not a recycled pid).
_is_hb()
{
	[ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$(readlink -f "$HB")" ]
}

# hb_daemon_pid MNT: the pid of the hackbackfs whose arguments hold MNT
# (exactly; mount points are absolute paths under $tmp, unique to a test).
hb_daemon_pid()
{
	if command -v pgrep >/dev/null 2>&1; then
		_cands=$(pgrep -x hackbackfs) || _cands=
	else
		_cands=$(cd /proc && echo [0-9]*)
	fi
	for _p in $_cands; do
		_is_hb "$_p" || continue
		if tr '\0' '\n' <"/proc/$_p/cmdline" 2>/dev/null | grep -qxF -e "$1"; then
			echo "$_p"
			return 0
		fi
	done
	return 1
}

# mount_hb ARGS...: see above.  stderr of the program is in $tmp/hb.err.
mount_hb()
{
	eval "_mnt=\${$#}"
	# shellcheck disable=SC2154  # set by the eval
	case $_mnt in /*) ;; *) fail "mount_hb: mount point '$_mnt' is not absolute" ;; esac
	_rc=0
	"$HB" "$@" 2>"$tmp/hb.err" || _rc=$?
	[ "$_rc" -eq 0 ] || fail "hackbackfs $* exited $_rc: $(cat "$tmp/hb.err")"
	is_mounted "$_mnt" || fail "hackbackfs $* exited 0 but $_mnt is not mounted"
	hb_pid=$(hb_daemon_pid "$_mnt") || fail "no hackbackfs process serves $_mnt"
	echo "$hb_pid" >>"$tmp/hb.pids"
}

# mount_hb_fg ARGS...: hackbackfs -f ARGS... in the background; waits
# (up to $hb_wait s) for the mount.  A non-interactive shell starts background jobs
# with SIGINT ignored, and libfuse keeps an ignored SIGINT ignored: give
# the program SIGINT's default disposition, as a terminal would.
mount_hb_fg()
{
	eval "_mnt=\${$#}"
	env --default-signal=INT "$HB" -f "$@" 2>"$tmp/hb.err" &
	hb_pid=$!
	echo "$hb_pid" >>"$tmp/hb.pids"
	_n=$((hb_wait * 10))
	until is_mounted "$_mnt"; do
		if wait_gone "$hb_pid" 0; then
			_rc=0
			wait "$hb_pid" || _rc=$?
			fail "hackbackfs -f $* exited $_rc before mounting: $(cat "$tmp/hb.err")"
		fi
		[ "$_n" -gt 0 ] || fail "hackbackfs -f $*: no mount after $hb_wait s"
		sleep 0.1
		_n=$((_n - 1))
	done
	ls -A "$_mnt" >/dev/null || fail "hackbackfs -f $*: cannot list $_mnt"
}

# unmount_hb MNT: unmount and wait for the daemon to finish (it flushes a
# cow file on its way out).
unmount_hb()
{
	_pid=$(hb_daemon_pid "$1") || _pid=
	fusermount3 -u "$1" || fail "fusermount3 -u $1 failed"
	! is_mounted "$1" || fail "$1 still mounted after fusermount3 -u"
	[ -z "$_pid" ] || wait_gone "$_pid" || fail "hackbackfs (pid $_pid) still running $hb_wait s after unmount"
}

# fd_flags PID PATH: the "flags:" field (octal) of every fd of PID that is
# open on PATH (compared by device and inode), one a line.
fd_flags()
{
	_want=$(stat -L -c '%d:%i' "$2")
	for _fd in "/proc/$1/fd/"*; do
		[ "$(stat -L -c '%d:%i' "$_fd" 2>/dev/null)" = "$_want" ] || continue
		sed -n 's/^flags:[[:space:]]*//p' "/proc/$1/fdinfo/${_fd##*/}"
	done
}

drop_cache()
{
	python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)' "$1" || fail "drop_cache $1 failed"
}

json_get()
{
	python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2" || fail "json_get $1 $2 failed"
}

# kmount FILE OFFSET SIZE DIR: the ext file system at OFFSET, read-only.
kmount()
{
	_kdev=$(losetup -r -f --show -o "$2" --sizelimit "$3" "$1") ||
		fail "losetup -r -o $2 --sizelimit $3 $1 failed"
	echo "$_kdev" >>"$tmp/hb.loops"
	mkdir -p "$4"
	mount -t ext4 -o ro,noload "$_kdev" "$4" 2>"$tmp/kmount.err" ||
		fail "kernel mount of $1 at offset $2 failed: $(cat "$tmp/kmount.err") $(dmesg 2>/dev/null | tail -n 3)"
}

kumount()
{
	_kdev=$(_mountinfo | awk -v m="$1" '$1 == m { print $3 }')
	umount "$1" || fail "umount $1 failed"
	[ -z "$_kdev" ] || losetup -d "$_kdev" || fail "losetup -d $_kdev failed"
}

# "MOUNTPOINT FSTYPE SOURCE" for each line of /proc/self/mountinfo (the
# optional fields end with a lone "-").
_mountinfo()
{
	awk '{ for (i = 7; i < NF; i++) if ($i == "-") { print $5, $(i + 1), $(i + 2); break } }' \
		/proc/self/mountinfo
}

_hb_fuse_umount()
{
	_mountinfo | awk -v t="$tmp/" 'index($1, t) == 1 && $2 ~ /^fuse/ { print $1 }' |
		sort -r | while read -r _m; do fusermount3 -u -z "$_m"; done
}

# At exit: kernel mounts under $tmp, then loop devices over files in $tmp
# (the FUSE file among them), then FUSE mounts, then our daemons.
_hb_mount_cleanup()
{
	set +e
	_mountinfo | awk -v t="$tmp/" 'index($1, t) == 1 && $2 !~ /^fuse/ { print $1 }' |
		sort -r | while read -r _m; do umount "$_m" || umount -l "$_m"; done
	losetup -n -O NAME,BACK-FILE -l 2>/dev/null |
		while read -r _dev _file; do
			case $_file in "$tmp"/*) losetup -d "$_dev" ;; esac
		done
	_hb_fuse_umount
	while read -r _p; do
		if [ -e "/proc/$_p" ] && _is_hb "$_p"; then
			wait_gone "$_p" 5 || kill -KILL "$_p"
		fi
	done <"$tmp/hb.pids"
	# A daemon killed while it was still mounting leaves a dead mount.
	_hb_fuse_umount
	return 0
}
on_exit _hb_mount_cleanup
