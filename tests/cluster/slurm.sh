#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/cluster/slurm.sh -- contrib/slurm on a real Slurm, with QEMU standing in for
# gem5: one checkpoint job, then a job array of three benchmarks that
# depends on it (afterok), each task restoring that checkpoint with its own
# restore script, in run mode, on its own mount point in node-local scratch.
#
# Starts munged, slurmctld and slurmd on 127.0.0.1 with everything (key,
# sockets, configuration, state, spool, logs) in this test's own temporary
# directory and non-default ports, and stops them at exit.  Asserts:
#   - every job and task COMPLETED (jobcomp/filetxt; no accounting database)
#   - each task's guest console shows its own script's marker, no other's
#   - all tasks' images (and the checkpoint's) share one layout digest,
#     and their image digests differ (another restore script each)
#   - each task had its own mount point; afterwards no mount, no
#     hackbackfs, no QEMU and no scratch directory is left
# Skips (77, with the reason) where Slurm, munge or QEMU cannot run.
#
# Environment: HACKBACK_GUEST_CACHE (the guest image of tests/guest, built
# once and reused), HACKBACK_GUEST_TIMEOUT (seconds per QEMU run, default
# 600), HB_KEEP_TMP=1 keeps everything for a post-mortem.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"

PATH=$PATH:/usr/sbin:/sbin
requires_root
requires munged slurmctld slurmd sbatch squeue sinfo scancel qemu-system-x86_64 qemu-img \
	timeout hostname
cache=${HACKBACK_GUEST_CACHE:-$top_builddir/tests/guest/cache}
per_run=${HACKBACK_GUEST_TIMEOUT:-600}

# ---- the guest image (tests/guest, cached) ----------------------------------
rc=0
img=$(sh "$top_srcdir/tests/guest/build-image.sh" "$cache") || rc=$?
[ "$rc" -ne 77 ] || skip "no guest image (tests/guest/build-image.sh skipped)"
[ "$rc" -eq 0 ] || fail "tests/guest/build-image.sh failed ($rc)"
echo "guest image: $img"

# ---- munge and Slurm, private to this test ----------------------------------
chmod 0755 "$tmp"
s=$tmp/slurm
mkdir -p "$s/state" "$s/spool" "$s/log"
mkdir -m 0700 "$s/munge"
head -c 1024 /dev/urandom >"$s/munge/key"
chmod 0400 "$s/munge/key"
sock=$s/munge/munge.socket

# stop_daemon PIDFILE: SIGTERM, then wait (SIGKILL after 10 s).
stop_daemon()
{
	[ -s "$1" ] || return 0
	_p=$(cat "$1")
	kill "$_p" 2>/dev/null || return 0
	wait_gone "$_p" 10 || kill -KILL "$_p" 2>/dev/null || true
}
on_exit "stop_daemon $s/munged.pid"
munged -f --key-file="$s/munge/key" --socket="$sock" --pid-file="$s/munged.pid" \
	--log-file="$s/log/munged.log" --seed-file="$s/munge/seed" 2>"$s/log/munged.err" ||
	skip "munged does not start: $(cat "$s/log/munged.err" "$s/log/munged.log" 2>/dev/null | tail -n 3)"

host=$(hostname -s)
cpus=$(slurmd -C 2>/dev/null | sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' | head -n 1)
[ -n "$cpus" ] || skip "slurmd -C does not describe this node"
# Two ports nobody else here uses (another test may run a Slurm too).
port=$((20000 + ($$ % 2000) * 2))
export SLURM_CONF="$s/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=hbtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$s/state
SlurmdSpoolDir=$s/spool
SlurmctldPidFile=$s/slurmctld.pid
SlurmdPidFile=$s/slurmd.pid
SlurmctldLogFile=$s/log/slurmctld.log
SlurmdLogFile=$s/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$s/jobcomp.txt
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=hbtest Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
on_exit "stop_daemon $s/slurmctld.pid"
on_exit "stop_daemon $s/slurmd.pid"
# Our jobs go first at exit, while slurmd can still end them.
on_exit 'squeue -h -o %A 2>/dev/null | xargs -r scancel 2>/dev/null; sleep 2'
slurmctld -i -f "$SLURM_CONF" 2>"$s/log/slurmctld.err" ||
	skip "slurmctld does not start: $(tail -n 3 "$s/log/slurmctld.err" "$s/log/slurmctld.log" 2>/dev/null)"
slurmd -f "$SLURM_CONF" -N "$host" 2>"$s/log/slurmd.err" ||
	skip "slurmd does not start: $(tail -n 3 "$s/log/slurmd.err" "$s/log/slurmd.log" 2>/dev/null)"
n=300
until [ "$(sinfo -h -o %t 2>/dev/null)" = idle ]; do
	[ "$n" -gt 0 ] || skip "the Slurm node is not idle after 30 s: sinfo says '$(sinfo -h -o %t 2>&1)'; $(tail -n 3 "$s/log/slurmd.log" 2>/dev/null)"
	sleep 0.1
	n=$((n - 1))
done
echo "ok: munged, slurmctld and slurmd up on 127.0.0.1:$port ($cpus CPUs); node idle"

# ---- the experiment: the configuration contrib/slurm reads -------------------
e=$tmp/exp
mkdir -p "$e/extra/etc" "$e/scratch"
# The m5 stand-in's checkpoint waits for the host (QEMU migration), as in
# tests/guest/restore.sh.
echo "slurm.sh: m5 checkpoint waits for the host" >"$e/extra/etc/m5-standin.wait-checkpoint"
names="alpha beta gamma"
k=0
: >"$e/benchmarks.list"
for name in $names; do
	k=$((k + 1))
	# The marker is computed in the guest: the script's text never holds it.
	printf '#!/bin/sh\necho "SLURM-BENCH-%s-$((%d * 1111))"\n' "$name" "$k" >"$e/bench-$name.sh"
	echo "$name bench-$name.sh" >>"$e/benchmarks.list"
done
cat >"$e/hackback.conf" <<EOF
HB_BASE=$img/disk.img
HB_OVERLAYS=$top_srcdir/overlays/hack-back:$e/extra
HB_OPTS=m5=$top_srcdir/tests/guest/m5-standin.sh
HB_HACKBACKFS=$HB
HB_CPT=$e/cpt
HB_RESULTS=$e/results
HB_LIST=$e/benchmarks.list
HB_SIM=qemu
HB_QEMU_KERNEL=$img/vmlinuz
HB_QEMU_INITRD=$img/initrd.img
HB_QEMU_CMDLINE="$(cat "$img/cmdline")"
HB_QEMU_DRIVE=$top_srcdir/tests/guest/drive.py
HB_QEMU_MEM=512
HB_QEMU_SMP=1
HB_QEMU_TIMEOUT=$per_run
EOF

# ---- submit, wait -------------------------------------------------------------
t0=$(date +%s)
ids=$(TMPDIR=$e/scratch sh "$top_srcdir/contrib/slurm/submit.sh" "$e/hackback.conf") ||
	fail "submit.sh failed"
set -- $ids
ckpt=$1 bench=$2
echo "submitted: checkpoint job $ckpt, benchmark array $bench"
limit=$((per_run * 3 + 120))
while [ -n "$(squeue -h -o %i 2>/dev/null)" ]; do
	if squeue -h -o %r 2>/dev/null | grep -q DependencyNeverSatisfied; then
		cat "$s/jobcomp.txt" >&2 2>/dev/null || true
		tail -n 20 "$e"/results/checkpoint-*.out >&2 2>/dev/null || true
		fail "the benchmark array will never run: the checkpoint job did not succeed"
	fi
	[ $(($(date +%s) - t0)) -lt "$limit" ] || {
		squeue >&2
		fail "jobs still queued or running after $limit s"
	}
	sleep 2
done
echo "all jobs ended after $(($(date +%s) - t0)) s"

# ---- assertions ---------------------------------------------------------------
show_outputs()
{
	for f in "$e"/results/*.out "$e"/results/*/console.log; do
		[ -f "$f" ] || continue
		echo "--- $f" >&2
		tail -n 25 "$f" | tr -d '\r' >&2
	done
}
[ -f "$s/jobcomp.txt" ] || { show_outputs; fail "no jobcomp file: $(tail -n 5 "$s/log/slurmctld.log")"; }
cut -c1-200 "$s/jobcomp.txt"
done_ck=$(grep -c "Name=hackback-checkpoint JobState=COMPLETED" "$s/jobcomp.txt") || true
done_b=$(grep -c "Name=hackback-bench JobState=COMPLETED" "$s/jobcomp.txt") || true
total=$(grep -c "JobState=" "$s/jobcomp.txt") || true
[ "$done_ck" -eq 1 ] || check_failed "the checkpoint job did not complete"
[ "$done_b" -eq 3 ] || check_failed "$done_b of 3 benchmark tasks completed"
[ "$total" -eq 4 ] || check_failed "$total jobs in the jobcomp file, want 4"
[ "$failures" -eq 0 ] || { show_outputs; exit 1; }
echo "ok: checkpoint job and 3 array tasks COMPLETED (jobcomp/filetxt)"

layout=$(sed -n 's/^layout //p' "$e/cpt/hackback.digests")
[ -n "$layout" ] || fail "the checkpoint has no layout digest"
digests=
mounts=
k=0
for name in $names; do
	k=$((k + 1))
	r=$e/results/$name
	[ "$(cat "$r/status" 2>/dev/null)" = 0 ] || check_failed "$name: status '$(cat "$r/status" 2>/dev/null)'"
	grep -q "SLURM-BENCH-$name-$((k * 1111))" "$r/console.log" 2>/dev/null ||
		check_failed "$name: its marker SLURM-BENCH-$name-$((k * 1111)) is not on its console"
	for other in $names; do
		[ "$other" = "$name" ] || ! grep -q "SLURM-BENCH-$other-" "$r/console.log" 2>/dev/null ||
			check_failed "$name: $other's marker is on its console"
	done
	grep -q 'M5-STANDIN-EXIT' "$r/console.log" 2>/dev/null || check_failed "$name: the guest did not reach m5 exit"
	l=$(sed -n 's/^layout //p' "$r/hackback.digests" 2>/dev/null)
	d=$(sed -n 's/^digest //p' "$r/hackback.digests" 2>/dev/null)
	[ -n "$l" ] && [ "$l" = "$layout" ] || check_failed "$name: layout '$l', the checkpoint's is $layout"
	case " $digests " in *" $d "*) check_failed "$name: image digest $d seen before" ;; esac
	digests="$digests $d"
	m=$(sed -n 's/.*, mount \(.*\)$/\1/p' "$e"/results/bench-*.out | sed -n "${k}p")
	mounts="$mounts $m"
done
[ "$failures" -eq 0 ] || { show_outputs; exit 1; }
echo "ok: each task ran its own restore script; one layout $layout for all; 3 different image digests"

[ "$(printf '%s\n' $mounts | sort -u | wc -l)" -eq 3 ] || fail "the tasks did not have 3 mount points: $mounts"
for m in $mounts; do
	case $m in "$e/scratch/"*/mnt) ;; *) fail "mount point $m is not in the node-local scratch $e/scratch" ;; esac
done
echo "ok: one mount point per task in node-local scratch:$mounts"

grep -q " $tmp/" /proc/self/mountinfo && fail "mounts left: $(grep " $tmp/" /proc/self/mountinfo)"
for p in $(pgrep -x hackbackfs) $(pgrep -f qemu-system-x86_64); do
	tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF "$e/" && fail "process left: $(tr '\0' ' ' <"/proc/$p/cmdline")"
done
[ -z "$(ls -A "$e/scratch")" ] || fail "scratch left behind: $(ls -A "$e/scratch")"
echo "ok: no mount, hackbackfs, QEMU or scratch directory left"
