#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench/threads.sh -- the daemon's read path, measured both ways for each
# knob that shapes it: how its threads take requests (-s, -o clone_fd,
# -o max_idle_threads=N), the window the kernel reads ahead
# (-o read_ahead_kb), and whatever build HACKBACKFS_B names (e.g. the
# build before a change).  Beside them: bench/floor.c and BASE itself.
#
# Prints figures; it is not a test and asserts nothing about timing.
#
# For each variant, cold (after drop_caches): fio 4 KiB random reads (IOPS),
# gem5's pattern random (GEM5_RAND sectors, MB/s) and sequential (GEM5_SEQ
# sectors, MB/s).  Rounds go over all variants in turn; each figure is the
# best of ROUNDS.  Needs root, fio, g++ and the base of read.sh:
#   KEEP=1 WORK=/var/tmp/hb-bench bench/read.sh     # makes WORK/base.img
#   WORK=/var/tmp/hb-bench bench/threads.sh
# Environment: HACKBACKFS, HACKBACKFS_B (as read.sh), WORK (required),
# VARIANTS (option sets separated by "|", default below), GEM5_SEQ
# (default 524288), GEM5_RAND (default 20000), FIO_TIME (default 10),
# ROUNDS (default 3).
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
GEM5_SEQ=${GEM5_SEQ:-524288}
GEM5_RAND=${GEM5_RAND:-20000}
FIO_TIME=${FIO_TIME:-10}
ROUNDS=${ROUNDS:-3}
VARIANTS=${VARIANTS:-"-o ro|-o ro -s|-o ro,clone_fd|-o ro,max_idle_threads=1|-o ro,read_ahead_kb=128"}

. "$HERE/common.sh"

[ "$(id -u)" = 0 ] || die "run as root (drop_caches, mounts)"
need_kept_base
SIZE=$(stat -c %s "$BASE")
find_hackbackfs
command -v fio >/dev/null || die "fio is needed (apt-get install fio)"

T=$(mktemp -d /var/tmp/hb-threads.XXXXXX)
OVL=$T/overlay
mkdir -p "$OVL/sbin"
m5_standin "$OVL/sbin/m5"
MNTS=()
cleanup() {
	for m in "${MNTS[@]}"; do fusermount3 -u "$m" 2>/dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_read_tools "$T"

declare -A FILE
NAMES=(BASE floor)
FILE[BASE]=$BASE
mkdir "$T/mnt-floor"
"$FLOOR" "$BASE" "$T/mnt-floor" || die "floor did not mount"
MNTS+=("$T/mnt-floor")
FILE[floor]=$T/mnt-floor/img
i=0
mount_variant() {	# NAME PROGRAM OPTIONS
	local m=$T/m$i
	i=$((i + 1))
	mkdir "$m"
	# shellcheck disable=SC2086  # OPTIONS are words
	"$2" $3 "$BASE" "$OVL" "$m" || die "$1 did not mount"
	MNTS+=("$m")
	NAMES+=("$1")
	FILE[$1]=$m/hack-back
}
IFS='|' read -r -a VS <<<"$VARIANTS"
for v in "${VS[@]}"; do
	mount_variant "hb $v" "$HACKBACKFS" "$v"
done
[ -z "${HACKBACKFS_B:-}" ] || mount_variant "B -o ro" "$HACKBACKFS_B" "-o ro"
sleep 0.5

g5() { "$READER" "$1" "$2" "$3" 0 42 | sed -n 's/.*MBps=\([0-9.]*\).*/\1/p'; }
declare -A R
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
	for n in "${NAMES[@]}"; do
		say "round $round/$ROUNDS: $n"
		f=${FILE[$n]}
		drop; read -r iops _ <<<"$(fio_rand "$f" "$SIZE" "$FIO_TIME")"
		keep "$n,iops" "$iops"
		drop; keep "$n,rand" "$(g5 "$f" rand "$GEM5_RAND")"
		drop; keep "$n,seq" "$(g5 "$f" seq "$GEM5_SEQ")"
	done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

echo "the read path, cold, best of $ROUNDS rounds -- $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r)"
echo "load before: $LOAD0, after: $LOAD1; fio ${FIO_TIME}s 4k psync; gem5 rand $GEM5_RAND sectors, seq $GEM5_SEQ"
echo
printf '%-40s %10s %10s %10s\n' variant "4k IOPS" "g5rnd MB/s" "g5seq MB/s"
for n in "${NAMES[@]}"; do
	printf '%-40s %10s %10s %10s\n' "$n" "${R[$n,iops]}" "${R[$n,rand]}" "${R[$n,seq]}"
done
