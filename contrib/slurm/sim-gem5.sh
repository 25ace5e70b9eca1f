#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# contrib/slurm/sim-gem5.sh -- gem5 with contrib/gem5/hack_back.py, as
# hackbackfs's run-mode CMD:
#
#   sim-gem5.sh checkpoint CPT      boot $HACKBACKFS_IMAGE, checkpoint into CPT
#                                   (hack_back.py stores the image's digests)
#   sim-gem5.sh restore CPT OUT     restore CPT onto $HACKBACKFS_IMAGE (hack_back.py
#                                   refuses another layout); gem5's output in OUT
#
# Settings (hackback.conf): HB_GEM5 (gem5 binary, default gem5.opt),
# HB_GEM5_KERNEL (vmlinux), HB_GEM5_CHECKPOINT_ARGS (default --cpu kvm),
# HB_GEM5_RESTORE_ARGS (default --cpu timing).
set -eu
: "${HACKBACKFS_IMAGE:?run me as hackbackfs ... MNT -- $0 ...}"
: "${HB_GEM5_KERNEL:?}"
script=$(cd "$(dirname "$0")/../gem5" && pwd)/hack_back.py
gem5=${HB_GEM5:-gem5.opt}

case ${1:-} in
checkpoint)
	cpt=${2:?checkpoint CPT}
	mkdir -p "$cpt"
	# shellcheck disable=SC2086  # the ARGS are lists
	exec "$gem5" -d "$cpt/m5out" "$script" --image "$HACKBACKFS_IMAGE" \
		--kernel "$HB_GEM5_KERNEL" --checkpoint-dir "$cpt" ${HB_GEM5_CHECKPOINT_ARGS:---cpu kvm}
	;;
restore)
	cpt=${2:?restore CPT OUT} out=${3:?restore CPT OUT}
	mkdir -p "$out"
	# In the background, so that a signal hackbackfs passes on (scancel,
	# a time limit) reaches gem5 at once, not after it ends.
	# shellcheck disable=SC2086
	"$gem5" -d "$out/m5out" "$script" --image "$HACKBACKFS_IMAGE" --kernel "$HB_GEM5_KERNEL" \
		--restore "$cpt" ${HB_GEM5_RESTORE_ARGS:---cpu timing} &
	gpid=$!
	for sig in TERM INT HUP; do
		# shellcheck disable=SC2064  # $sig now, $gpid later
		trap "kill -$sig \$gpid 2>/dev/null" "$sig"
	done
	rc=0
	while :; do
		wait "$gpid" && rc=0 || rc=$?
		# wait returns >128 when a trapped signal interrupts it
		kill -0 "$gpid" 2>/dev/null || break
	done
	# the guest's serial console, where the restore script prints
	for f in "$out"/m5out/*.com_1.device "$out"/m5out/system.pc.com_1.device; do
		[ -f "$f" ] && cp "$f" "$out/console.log" && break
	done
	exit "$rc"
	;;
*)
	sed -n '2,13p' "$0" >&2
	exit 2
	;;
esac
