#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# contrib/slurm/sim-qemu.sh -- QEMU standing in for gem5 (for testing the
# Slurm scripts where gem5 is not installed), as tests/guest/restore.sh
# does: QEMU migration is the checkpoint, a qcow2 layer over the mounted
# image is gem5's disk copy-on-write.  Runs as hackbackfs's run-mode CMD:
#
#   sim-qemu.sh checkpoint CPT      boot $HACKBACKFS_IMAGE, migrate to CPT/state
#                                   when the guest's m5 stand-in waits
#   sim-qemu.sh restore CPT OUT     restore CPT onto $HACKBACKFS_IMAGE (refused
#                                   when its layout differs), the guest runs
#                                   the image's restore script; console in OUT
#
# The image must carry tests/guest/m5-standin.sh as m5 and an overlay with
# etc/m5-standin.wait-checkpoint (see README.md).  Settings (hackback.conf):
# HB_QEMU_KERNEL, HB_QEMU_INITRD, HB_QEMU_CMDLINE, HB_QEMU_DRIVE
# (tests/guest/drive.py), HB_QEMU_MEM (MiB, default 512), HB_QEMU_SMP
# (default 1), HB_QEMU_ACCEL (default tcg), HB_QEMU_TIMEOUT (s, default 600).
# Must be equal for the checkpoint and every restore.  Work files go to
# $HB_SCRATCH (node-local, set by the sbatch scripts).
set -eu
say() { printf 'sim-qemu: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

: "${HACKBACKFS_IMAGE:?run me as hackbackfs ... MNT -- $0 ...}"
: "${HB_QEMU_KERNEL:?}" "${HB_QEMU_INITRD:?}" "${HB_QEMU_CMDLINE:?}" "${HB_QEMU_DRIVE:?}"
digest=$(cd "$(dirname "$0")/../gem5" && pwd)/hackback_digest.py
work=${HB_SCRATCH:-${TMPDIR:-/tmp}}
accel=${HB_QEMU_ACCEL:-tcg}
case $accel in kvm*) cpu=host ;; *) cpu=max ;; esac
limit=${HB_QEMU_TIMEOUT:-600}
qpid='' dpid=''
# A signal (hackbackfs passes scancel's SIGTERM on to us) ends QEMU and the
# driver at once: both run in the background, so that the trap is not
# deferred until they end.
# shellcheck disable=SC2154  # p: the loop's own
trap 'for p in $dpid $qpid; do kill "$p" 2>/dev/null || :; done' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# drive ARGS...: tests/guest/drive.py; its status in $drc.
drive()
{
	python3 "$HB_QEMU_DRIVE" "$@" &
	dpid=$!
	drc=0
	wait "$dpid" || drc=$?
	dpid=
}

# start NAME DISK [QEMU ARGS...]: QEMU in the background, the console on
# $work/NAME.serial, QMP on $work/NAME.qmp; the same machine every time.
start()
{
	_n=$1 _disk=$2
	shift 2
	rm -f "$work/$_n.serial" "$work/$_n.qmp"
	timeout "$limit" qemu-system-x86_64 -machine pc,accel="$accel" -cpu "$cpu" \
		-smp "${HB_QEMU_SMP:-1}" -m "${HB_QEMU_MEM:-512}" \
		-nodefaults -display none -no-reboot \
		-chardev socket,id=con,path="$work/$_n.serial",server=on,wait=off -serial chardev:con \
		-qmp unix:"$work/$_n.qmp",server=on,wait=off \
		-kernel "$HB_QEMU_KERNEL" -initrd "$HB_QEMU_INITRD" -append "$HB_QEMU_CMDLINE" \
		-drive file="$_disk",format=qcow2,if=ide "$@" </dev/null >"$work/$_n.qemu" 2>&1 &
	qpid=$!
}

# finish NAME DRIVER_STATUS: wait for QEMU (killed first if the driver failed).
finish()
{
	[ "$2" -eq 0 ] || kill "$qpid" 2>/dev/null || true
	_rc=0
	wait "$qpid" || _rc=$?
	qpid=
	if [ "$2" -ne 0 ] || [ "$_rc" -ne 0 ]; then
		cat "$work/$1.qemu" >&2
		die "$1: driver status $2, qemu status $_rc"
	fi
}

case ${1:-} in
checkpoint)
	cpt=${2:?checkpoint CPT}
	mkdir -p "$cpt"
	rm -f "$cpt/state" "$cpt/disk.qcow2"
	qemu-img create -q -f qcow2 -F raw -b "$HACKBACKFS_IMAGE" "$cpt/disk.qcow2"
	start ckpt "$cpt/disk.qcow2"
	drive checkpoint "$work/ckpt.serial" "$work/ckpt.qmp" "$cpt/console.log" \
		"$cpt/state" "$limit" M5-STANDIN-CHECKPOINT-WAIT
	finish ckpt "$drc"
	python3 "$digest" store "$cpt" "$HACKBACKFS_IMAGE"
	say "checkpoint in $cpt ($(($(stat -c %s "$cpt/state") >> 20)) MiB)"
	;;
restore)
	cpt=${2:?restore CPT OUT} out=${3:?restore CPT OUT}
	mkdir -p "$out"
	# gem5's hack_back.py refuses the same way (contrib/gem5).
	python3 "$digest" check "$cpt" "$HACKBACKFS_IMAGE" >&2 || die "refusing to restore $cpt onto $HACKBACKFS_IMAGE"
	# This task's copy of the COW layer, over this task's image.
	cp "$cpt/disk.qcow2" "$work/disk.qcow2"
	qemu-img rebase -u -f qcow2 -F raw -b "$HACKBACKFS_IMAGE" "$work/disk.qcow2"
	start restore "$work/disk.qcow2" -S -incoming "exec:cat '$cpt/state'"
	drive restore "$work/restore.serial" "$work/restore.qmp" "$out/console.log" \
		restored "$limit" M5-STANDIN-EXIT
	finish restore "$drc"
	python3 "$digest" show "$HACKBACKFS_IMAGE" >"$out/hackback.digests"
	rm -f "$work/disk.qcow2"
	;;
*)
	sed -n '2,19p' "$0" >&2
	exit 2
	;;
esac
