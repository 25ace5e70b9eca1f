# SPDX-License-Identifier: BSD-3-Clause
# contrib/slurm/job.sh -- what checkpoint.sbatch and benchmarks.sbatch share.
# Sourced (sbatch runs a copy of the job script, so the scripts find this
# file through $HB_CONTRIB, which submit.sh exports).
#
#   hb_scratch          node-local scratch for this job (task): $scratch,
#                       with the mount point $scratch/mnt; removed at exit
#   hb_run OPTS CMD...  hackbackfs in run mode: BASE and OVERLAYS from the
#                       configuration, -o HB_OPTS plus OPTS, CMD in the
#                       mount's life; returns CMD's status
set -eu
: "${HB_CONF:?submit with contrib/slurm/submit.sh (HB_CONF not set)}"
: "${HB_CONTRIB:?submit with contrib/slurm/submit.sh (HB_CONTRIB not set)}"
# shellcheck disable=SC1090  # the user's configuration
. "$HB_CONF"
: "${HB_BASE:?}" "${HB_OVERLAYS:?}" "${HB_CPT:?}" "${HB_RESULTS:?}"
HB_HACKBACKFS=${HB_HACKBACKFS:-hackbackfs}
HB_SIM=${HB_SIM:-gem5}
export HB_QEMU_KERNEL HB_QEMU_INITRD HB_QEMU_CMDLINE HB_QEMU_DRIVE HB_QEMU_MEM HB_QEMU_SMP \
	HB_QEMU_ACCEL HB_QEMU_TIMEOUT HB_GEM5 HB_GEM5_KERNEL HB_GEM5_CHECKPOINT_ARGS \
	HB_GEM5_RESTORE_ARGS 2>/dev/null || true

hb_scratch()
{
	# Node-local: Slurm's $TMPDIR when it sets one, else /tmp; one
	# directory per job id (every array task has its own).
	scratch=${TMPDIR:-/tmp}/hackback.${SLURM_JOB_ID:?not in a Slurm job}
	mkdir -p "$scratch/mnt"
	export HB_SCRATCH="$scratch"
	# Run mode unmounts whatever happens to CMD; the lazy unmount is for
	# a hackbackfs that was itself killed (auto_unmount covers that too).
	trap 'fusermount3 -u -z -q "$scratch/mnt" 2>/dev/null || :; rm -rf "$scratch"' EXIT
	trap 'exit 143' TERM
}

hb_run()
{
	_o=${HB_OPTS:-}
	[ -z "$1" ] || _o=${_o:+$_o,}$1
	shift
	echo "hackbackfs ${_o:+-o $_o} $HB_BASE $HB_OVERLAYS $scratch/mnt -- $*" >&2
	"$HB_HACKBACKFS" ${_o:+-o "$_o"} "$HB_BASE" "$HB_OVERLAYS" "$scratch/mnt" -- "$@"
}
