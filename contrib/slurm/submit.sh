#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# contrib/slurm/submit.sh -- submit the checkpoint job, then the benchmark
# array that depends on it (afterok: the array starts only when the
# checkpoint job succeeded).
#
#   submit.sh CONF [SBATCH OPTIONS...]
#
# CONF is a shell file (see hackback.conf.example).  The options (e.g.
# --partition=, --time=, --mem=) go to both sbatch calls.  Prints the two
# job ids.  HB_ARRAY_LIMIT=N adds %N to the array (at most N tasks at once).
set -eu
[ $# -ge 1 ] || { sed -n '2,12p' "$0" >&2; exit 2; }
conf=$(readlink -f "$1")
shift
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1090
. "$conf"
: "${HB_LIST:?}" "${HB_RESULTS:?}" "${HB_CPT:?}"
n=$(grep -c -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$HB_LIST") || n=0
[ "$n" -gt 0 ] || { echo "submit.sh: no benchmarks in $HB_LIST" >&2; exit 1; }
mkdir -p "$HB_RESULTS" "$HB_CPT"
export HB_CONF="$conf" HB_CONTRIB="$here"
ckpt=$(sbatch --parsable --export=ALL --output="$HB_RESULTS/checkpoint-%j.out" "$@" \
	"$here/checkpoint.sbatch")
ckpt=${ckpt%%;*}
bench=$(sbatch --parsable --export=ALL --dependency=afterok:"$ckpt" \
	--array="0-$((n - 1))${HB_ARRAY_LIMIT:+%$HB_ARRAY_LIMIT}" \
	--output="$HB_RESULTS/bench-%A_%a.out" "$@" "$here/benchmarks.sbatch")
bench=${bench%%;*}
echo "$ckpt $bench"
