#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/run-mode.sh -- run mode (BASE OVERLAY MNT -- CMD) and mounts that
# never outlive their daemon:
#   - CMD sees the mounted image (HACKBACKFS_IMAGE, HACKBACKFS_MOUNT) and
#     gets its arguments untouched, "--" and "-o" among them
#   - hackbackfs exits with CMD's status, 128+N when signal N killed CMD
#   - SIGTERM to hackbackfs reaches CMD; the status says so
#   - CMD gets its caller's signal dispositions, mask and fd limit; a
#     signal to the process group reaches it once; a gone stderr reader
#     does not kill hackbackfs; on a terminal CMD is the foreground group
#   - kill -9 of hackbackfs in run mode kills CMD too
#   - a CMD that does not exist: one error line, 127, nothing mounted
#   - MNT already mounted: one error line naming it
#   - after every run the mount is gone and no hackbackfs is left
#   - kill -9 of a daemon: the mount is gone within 2 s (auto_unmount);
#     with -o no_auto_unmount it stays (dangling), as documented
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires mke2fs sha256sum
make_base ext4 "$tmp/base.img" mbr
mkdir -p "$tmp/ov/etc" "$tmp/mnt"
echo run-mode >"$tmp/ov/etc/hostname"
mnt=$tmp/mnt
base_sum=$(sha256_of "$tmp/base.img")

# The reference: a normal mount's bytes.
mount_hb "$tmp/base.img" "$tmp/ov" "$mnt"
want=$(sha256_of "$mnt/hack-back")
unmount_hb "$mnt"

# run ARGS...: hackbackfs ARGS... in run mode; $rc, stderr in $tmp/run.err.
run()
{
	rc=0
	"$HB" "$@" 2>"$tmp/run.err" || rc=$?
}

# after_run WHAT: nothing mounted, no hackbackfs of ours left.
after_run()
{
	! is_mounted "$mnt" || fail "$1: $mnt still mounted after hackbackfs returned"
	! hb_daemon_pid "$mnt" >/dev/null || fail "$1: a hackbackfs still serves $mnt"
}

# ---- CMD sees the image; its arguments and exit status come through -------
cat >"$tmp/cmd.sh" <<'EOF'
#!/bin/sh
out=$1
shift
{
	printf 'arg:%s\n' "$@"
	echo "image=$HACKBACKFS_IMAGE"
	echo "mount=$HACKBACKFS_MOUNT"
	sha256sum "$HACKBACKFS_IMAGE" | cut -d' ' -f1
} >"$out"
exit 42
EOF
chmod +x "$tmp/cmd.sh"
run "$tmp/base.img" "$tmp/ov" "$mnt" -- "$tmp/cmd.sh" "$tmp/out" -- -o ro 'two words' -f
[ "$rc" -eq 42 ] || fail "CMD exited 42, hackbackfs $rc: $(cat "$tmp/run.err")"
printf 'arg:%s\n' -- -o ro 'two words' -f >"$tmp/want"
printf '%s\n' "image=$mnt/hack-back" "mount=$mnt" "$want" >>"$tmp/want"
diff "$tmp/want" "$tmp/out" >&2 || fail "CMD saw other arguments, environment or bytes"
[ ! -s "$tmp/run.err" ] || fail "run mode printed: $(cat "$tmp/run.err")"
after_run "exit 42"
run -o name=disk.raw "$tmp/base.img" "$tmp/ov" "$mnt" -- sh -c 'test -f "$HACKBACKFS_IMAGE" && test "${HACKBACKFS_IMAGE##*/}" = disk.raw'
[ "$rc" -eq 0 ] || fail "-o name=disk.raw: HACKBACKFS_IMAGE does not name the image (status $rc)"
after_run "exit 0"
echo "ok: CMD reads the image through HACKBACKFS_IMAGE, gets its arguments, its status comes back"

# ---- CMD killed by a signal ----------------------------------------------------
run "$tmp/base.img" "$tmp/ov" "$mnt" -- sh -c 'kill -USR2 $$'
[ "$rc" -eq $((128 + 12)) ] || fail "CMD killed by SIGUSR2: status $rc, want 140: $(cat "$tmp/run.err")"
after_run "CMD killed"
echo "ok: CMD killed by SIGUSR2 -> status 140, mount gone"

# ---- SIGTERM to hackbackfs while CMD runs ----------------------------------------
# CMD writes its pid, then waits; the shell's default SIGTERM ends it.
# (A non-interactive shell starts background jobs with SIGINT ignored:
# SIGTERM is the signal to test, as scancel sends it.)
rm -f "$tmp/cmd.pid"
"$HB" "$tmp/base.img" "$tmp/ov" "$mnt" -- sh -c 'echo $$ >"$1.new"; mv "$1.new" "$1"; exec sleep 60' sh "$tmp/cmd.pid" 2>"$tmp/run.err" &
hb=$!
echo "$hb" >>"$tmp/hb.pids"
n=100
until [ -s "$tmp/cmd.pid" ]; do
	[ "$n" -gt 0 ] || fail "CMD did not start within 10 s: $(cat "$tmp/run.err")"
	sleep 0.1
	n=$((n - 1))
done
is_mounted "$mnt" || fail "not mounted while CMD runs"
cmd_pid=$(cat "$tmp/cmd.pid")
kill -TERM "$hb"
rc=0
wait "$hb" || rc=$?
[ "$rc" -eq 143 ] || fail "SIGTERM to hackbackfs: status $rc, want 143 (CMD died of SIGTERM): $(cat "$tmp/run.err")"
wait_gone "$cmd_pid" 10 || fail "CMD (pid $cmd_pid) still runs after SIGTERM to hackbackfs"
after_run "SIGTERM"
# A CMD that catches SIGTERM decides the status.
run "$tmp/base.img" "$tmp/ov" "$mnt" -- sh -c 'trap "exit 7" TERM; kill -TERM $PPID; while :; do sleep 0.1; done'
[ "$rc" -eq 7 ] || fail "CMD that handles SIGTERM and exits 7: status $rc"
after_run "SIGTERM handled"
echo "ok: SIGTERM to hackbackfs reaches CMD, status 143 (or CMD's own), mount gone"

# ---- CMD gets its caller's process --------------------------------------------
# Signal dispositions and mask: what the same command sees started by the
# caller directly, whatever hackbackfs (and -o cow=, which ignores SIGXFSZ
# for itself) changed for itself.
for sigs in --default-signal \
	"--ignore-signal=PIPE --ignore-signal=XFSZ --ignore-signal=USR1 --block-signal=USR2"; do
	# shellcheck disable=SC2086  # $sigs: several options
	env $sigs grep -E '^Sig(Ign|Blk)' /proc/self/status >"$tmp/want.sig"
	rc=0
	# shellcheck disable=SC2086
	env $sigs "$HB" -o cow="$tmp/cow.sig" "$tmp/base.img" "$tmp/ov" "$mnt" -- \
		grep -E '^Sig(Ign|Blk)' /proc/self/status >"$tmp/got.sig" 2>"$tmp/run.err" || rc=$?
	[ "$rc" -eq 0 ] || fail "signal probe ($sigs): status $rc: $(cat "$tmp/run.err")"
	diff "$tmp/want.sig" "$tmp/got.sig" >&2 || fail "CMD's signal dispositions or mask differ from its caller's ($sigs)"
	after_run "signal probe"
done
# The fd limit: hackbackfs raises its own; CMD gets the caller's.
hard=$(sh -c 'ulimit -H -n')
if [ "$hard" = unlimited ] || [ "$hard" -gt 512 ]; then
	got=$(sh -c 'ulimit -S -n 512 && exec "$@"' sh "$HB" "$tmp/base.img" "$tmp/ov" "$mnt" -- sh -c 'ulimit -S -n' 2>"$tmp/run.err") ||
		fail "fd limit probe: $(cat "$tmp/run.err")"
	[ "$got" = 512 ] || fail "CMD's soft fd limit is $got, its caller's 512"
	after_run "fd limit probe"
fi
echo "ok: CMD gets its caller's signal dispositions, signal mask and fd limit"

# One copy of a signal sent to the process group (Ctrl-C, a batch system's
# kill of the group): CMD counts the SIGINTs it gets.
printf '%s\n' '#!/bin/sh' 'n=0' "trap 'n=\$((n + 1))' INT" 'echo $$ >"$1.pid.new"' \
	'mv "$1.pid.new" "$1.pid"' 'while [ ! -e "$1.stop" ]; do sleep 0.05; done' \
	'echo "$n" >"$1.count"' >"$tmp/count.sh"
for i in 1 2 3; do
	rm -f "$tmp/cnt.pid" "$tmp/cnt.stop" "$tmp/cnt.count"
	# its own process group (setsid); SIGINT not ignored, as in a terminal
	env --default-signal=INT setsid "$HB" "$tmp/base.img" "$tmp/ov" "$mnt" -- sh "$tmp/count.sh" "$tmp/cnt" 2>"$tmp/run.err" &
	hb=$!
	echo "$hb" >>"$tmp/hb.pids"
	n=100
	until [ -s "$tmp/cnt.pid" ]; do
		[ "$n" -gt 0 ] || fail "CMD did not start within 10 s: $(cat "$tmp/run.err")"
		sleep 0.1
		n=$((n - 1))
	done
	[ "$(ps -o pgid= -p "$hb" | tr -d ' ')" = "$hb" ] || fail "hackbackfs does not lead its process group"
	env kill -s INT -- "-$hb"	# (procps kill: dash's takes no "--")
	sleep 0.5
	touch "$tmp/cnt.stop"
	rc=0
	wait "$hb" || rc=$?
	[ "$rc" -eq 0 ] || fail "group SIGINT: status $rc: $(cat "$tmp/run.err")"
	[ "$(cat "$tmp/cnt.count")" = 1 ] || fail "one SIGINT to the process group reached CMD $(cat "$tmp/cnt.count") times"
	after_run "group SIGINT"
done
echo "ok: a SIGINT to hackbackfs's process group reaches CMD once (3 of 3)"

# A reader of hackbackfs's stderr that goes away: hackbackfs must not die
# of SIGPIPE while CMD runs (-v writes a line when CMD ends).
rm -f "$tmp/pipe.rc"
{
	rc=0
	"$HB" -v "$tmp/base.img" "$tmp/ov" "$mnt" -- sh -c 'sleep 1; exit 3' 2>&1 >/dev/null || rc=$?
	echo "$rc" >"$tmp/pipe.rc"
} | head -c 1 >/dev/null
[ "$(cat "$tmp/pipe.rc")" = 3 ] || fail "stderr's reader gone: status $(cat "$tmp/pipe.rc"), want CMD's 3"
after_run "SIGPIPE"
echo "ok: a gone stderr reader does not kill hackbackfs (CMD's status came back)"

# On a terminal, CMD's process group gets it (Ctrl-C goes to CMD alone).
if command -v script >/dev/null 2>&1; then
	script -qec "$HB $tmp/base.img $tmp/ov $mnt -- sh -c 'ps -o pgid=,tpgid= -p \$\$ >$tmp/tty.out'" /dev/null \
		>/dev/null 2>&1 </dev/null || fail "run mode under script(1) failed"
	read -r pg tp <"$tmp/tty.out" || fail "no output from CMD on the terminal"
	[ "$pg" = "$tp" ] || fail "CMD (process group $pg) is not the terminal's foreground ($tp)"
	after_run "terminal"
	echo "ok: on a terminal CMD's process group is the foreground"
fi

# ---- CMD missing, or not executable; MNT already mounted; bad uses ---------------
run "$tmp/base.img" "$tmp/ov" "$mnt" -- "$tmp/no-such-command" arg
[ "$rc" -eq 127 ] || fail "missing CMD: status $rc, want 127"
[ "$(wc -l <"$tmp/run.err")" -eq 1 ] && grep -q "no-such-command.*command not found" "$tmp/run.err" ||
	fail "missing CMD: want one error line naming it: $(cat "$tmp/run.err")"
after_run "missing CMD"
run "$tmp/base.img" "$tmp/ov" "$mnt" -- no-such-command-on-path
[ "$rc" -eq 127 ] || fail "CMD missing from PATH: status $rc, want 127"
chmod -x "$tmp/cmd.sh"
run "$tmp/base.img" "$tmp/ov" "$mnt" -- "$tmp/cmd.sh" "$tmp/out"
[ "$rc" -eq 126 ] && grep -q 'Permission denied' "$tmp/run.err" ||
	fail "CMD not executable: status $rc, want 126: $(cat "$tmp/run.err")"
after_run "CMD not executable"
run "$tmp/base.img" "$tmp/ov" "$mnt" --
[ "$rc" -eq 1 ] && grep -q 'no command after' "$tmp/run.err" || fail "'--' without CMD: status $rc: $(cat "$tmp/run.err")"
run --digests "$tmp/base.img" "$tmp/ov" -- true
[ "$rc" -eq 1 ] && grep -q 'runs only with a mount' "$tmp/run.err" || fail "--digests -- CMD: status $rc: $(cat "$tmp/run.err")"
echo "ok: missing CMD -> 127, not executable -> 126, one error line, nothing mounted"

mount_hb "$tmp/base.img" "$tmp/ov" "$mnt"
run "$tmp/base.img" "$tmp/ov" "$mnt" -- true
[ "$rc" -ne 0 ] && grep -q "already mounted" "$tmp/run.err" ||
	fail "MNT already mounted (run mode): status $rc: $(cat "$tmp/run.err")"
run "$tmp/base.img" "$tmp/ov" "$mnt"
[ "$rc" -ne 0 ] && [ "$(wc -l <"$tmp/run.err")" -eq 1 ] && grep -q "$mnt is already mounted (fuse" "$tmp/run.err" ||
	fail "MNT already mounted: status $rc: $(cat "$tmp/run.err")"
[ "$(sha256_of "$mnt/hack-back")" = "$want" ] || fail "the first mount was disturbed"
echo "ok: MNT already mounted -> $(cat "$tmp/run.err")"

# ---- kill -9 of the daemon: auto_unmount --------------------------------------------
# ms_until_unmounted MNT: wait up to 5 s, print the milliseconds taken.
ms_until_unmounted()
{
	_t0=$(date +%s%N)
	_n=500
	while is_mounted "$1" && [ "$_n" -gt 0 ]; do
		sleep 0.01
		_n=$((_n - 1))
	done
	echo $((($(date +%s%N) - _t0) / 1000000))
}
kill -KILL "$hb_pid"
ms=$(ms_until_unmounted "$mnt")
! is_mounted "$mnt" && [ "$ms" -le 2000 ] || fail "kill -9 of the daemon: $mnt still mounted after $ms ms"
ls "$mnt" >/dev/null 2>&1 || fail "$mnt is not a usable directory after the daemon's death"
echo "ok: kill -9 of the daemon -> mount gone after $ms ms"

# The same in run mode: kill -9 of hackbackfs while CMD runs.
"$HB" "$tmp/base.img" "$tmp/ov" "$mnt" -- sleep 60 2>"$tmp/run.err" &
hb=$!
n=100
until is_mounted "$mnt"; do
	[ "$n" -gt 0 ] || fail "run mode: no mount within 10 s: $(cat "$tmp/run.err")"
	sleep 0.1
	n=$((n - 1))
done
sleep_pid=$(pgrep -P "$hb" -x sleep) || fail "run mode: no CMD under hackbackfs"
kill -KILL "$hb"
ms=$(ms_until_unmounted "$mnt")
! is_mounted "$mnt" && [ "$ms" -le 2000 ] || fail "kill -9 in run mode: $mnt still mounted after $ms ms"
wait_gone "$sleep_pid" 2 || { kill "$sleep_pid"; fail "kill -9 of hackbackfs: CMD runs on against a dead image"; }
wait "$hb" 2>/dev/null || true
echo "ok: kill -9 of hackbackfs in run mode -> mount gone after $ms ms, CMD killed too"

# -o no_auto_unmount: the old behaviour, a dangling mount (and a clear
# error for the next mount on it).
mount_hb -o no_auto_unmount "$tmp/base.img" "$tmp/ov" "$mnt"
grep -F " $mnt " /proc/self/mountinfo >&2
kill -KILL "$hb_pid"
wait_gone "$hb_pid" 2 || fail "the daemon survived kill -9"
sleep 1
is_mounted "$mnt" || fail "-o no_auto_unmount: the mount went away after kill -9"
run "$tmp/base.img" "$tmp/ov" "$mnt"
[ "$rc" -ne 0 ] && grep -q "dead FUSE mount\|already mounted" "$tmp/run.err" ||
	fail "mount on a dangling mount: status $rc: $(cat "$tmp/run.err")"
echo "ok: -o no_auto_unmount leaves the dead mount; the next mount says: $(cat "$tmp/run.err")"
fusermount3 -u -z "$mnt"

[ "$(sha256_of "$tmp/base.img")" = "$base_sum" ] || fail "BASE was modified"
