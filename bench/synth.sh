#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench/synth.sh -- what synthesizing an image costs, against the base's size.
#
# Prints figures; it is not a test and asserts nothing about timing.
#
# Invariant 4 of the design: startup cost grows with the overlay, not with
# BASE.  This runs `hackbackfs --digests BASE OVERLAY` -- the whole build
# (probe, fingerprint, scan, inject, identify) without mounting and without
# writing an output image -- under GNU time, and reports:
#
#   small overlay   the same small overlay (an m5 stand-in, a .bashrc, a
#                   restore script, a few files) on a 1 GiB and on a 64 GiB
#                   sparse ext4 base: wall time and peak RSS of each, and the
#                   ratio of the times 64G/1G (target <= 1.5);
#   200 MiB file    the small overlay plus one 200 MiB file of random bytes
#                   on the 1 GiB base: peak RSS (target: far below 200 MiB,
#                   since large files are mapped, not copied) and wall time
#                   (which includes hashing those 200 MiB);
#   read BASE       the time of reading each base once with dd bs=1M, as a
#                   reference for what "grows with BASE" would cost.
#
# Each hackbackfs figure is the median (and the minimum) of RUNS runs, page
# cache warm: this measures the program, not the disk.  The figures are
# tens of milliseconds, so a busy machine shows in them: the load average
# is printed with them.  Both bases are made with mke2fs on a
# sparse file; the 64 GiB one is checked to stay sparse on disk.
#
# Packages it needs: e2fsprogs, GNU time (/usr/bin/time; installed with
# apt-get install -y time when missing).
#
# Environment:
#   HACKBACKFS=path   the program to bench (default: build it out of tree in
#                     $BUILD, default /tmp/build-bench)
#   WORK=dir          work directory (default: a new one under /var/tmp, as
#                     /tmp is often a small tmpfs; removed at the end)
#   RUNS=N            runs per figure (default 15)
#   BIG_MB=N          size of the large overlay file (default 200)
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
RUNS=${RUNS:-15}
BIG_MB=${BIG_MB:-200}
PATH=$PATH:/usr/sbin:/sbin

. "$HERE/common.sh"

command -v mke2fs >/dev/null || die "mke2fs (e2fsprogs) is needed"

# --- work dir and cleanup ---------------------------------------------------
WORK=${WORK:-$(mktemp -d /var/tmp/hb-synth.XXXXXX)}
mkdir -p "$WORK" || die "cannot create $WORK"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the program ------------------------------------------------------------
need_gnu_time
find_hackbackfs

# --- bases: sparse ext4 of 1 GiB and 64 GiB ----------------------------------
BASE1=$WORK/base-1g.img
BASE64=$WORK/base-64g.img
say "making the bases in $WORK"
make_sparse_base "$BASE1" 1G
make_sparse_base "$BASE64" 64G
used64=$(du -k "$BASE64" | cut -f1)
[ "$used64" -lt $((1024 * 1024)) ] || die "the 64 GiB base is not sparse ($used64 KiB on disk)"

# --- overlays -------------------------------------------------------------------
SMALL=$WORK/small
RESTORE=$WORK/restore.sh
make_small_overlay "$SMALL" "$RESTORE"
BIG=$WORK/big
cp -a "$SMALL" "$BIG"
head -c $((BIG_MB << 20)) /dev/urandom > "$BIG/home/bench/blob"

# --- measuring ------------------------------------------------------------------
# One run: "MS KIB" (wall time, peak RSS) of hackbackfs --digests.
run_once() {	# BASE OVERLAY
	local t0=$EPOCHREALTIME ms
	/usr/bin/time -f '%M' -o "$WORK/rss" \
		"$HACKBACKFS" --digests -o restore="$RESTORE" "$1" "$2" >/dev/null 2>"$WORK/err" \
		|| die "hackbackfs --digests $1 $2 failed: $(cat "$WORK/err")"
	ms=$(ms_since "$t0")
	echo "$ms $(cat "$WORK/rss")"
}
# RUNS runs after one to warm the page cache: "MEDIAN_MS MIN_MS MAX_KIB".
run_many() {	# BASE OVERLAY
	local i
	run_once "$1" "$2" >/dev/null
	for i in $(seq "$RUNS"); do run_once "$1" "$2"; done | median_min_max "$RUNS"
}
# Milliseconds to read FILE once with dd bs=1M.
read_ms() {
	local t0=$EPOCHREALTIME
	dd if="$1" of=/dev/null bs=1M status=none
	ms_since "$t0"
}

say "running hackbackfs --digests ($RUNS runs per figure)"
read -r t1 l1 m1 < <(run_many "$BASE1" "$SMALL")
read -r t64 l64 m64 < <(run_many "$BASE64" "$SMALL")
read -r tb lb mb < <(run_many "$BASE1" "$BIG")
say "reading the bases with dd"
r1=$(read_ms "$BASE1")
r64=$(read_ms "$BASE64")

# --- report ---------------------------------------------------------------------
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
echo "hackbackfs --digests: median (min) of $RUNS runs, warm cache; $(nproc) CPUs," \
	"load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-32s %18s %12s\n' "case" "wall ms" "peak RSS"
printf '%-32s %10s (%5s) %12s\n' "small overlay, 1 GiB base" "$t1" "$l1" "$(mib "$m1")"
printf '%-32s %10s (%5s) %12s\n' "small overlay, 64 GiB base" "$t64" "$l64" "$(mib "$m64")"
printf '%-32s %10s (%5s) %12s\n' "+ ${BIG_MB} MiB file, 1 GiB base" "$tb" "$lb" "$(mib "$mb")"
printf '%-32s %10s\n' "read 1 GiB base (dd bs=1M)" "$r1"
printf '%-32s %10s\n' "read 64 GiB base (dd bs=1M)" "$r64"
awk -v a="$t1" -v b="$t64" -v la="$l1" -v lb="$l64" 'BEGIN {
	r = (a > 0) ? b / a : 0
	rl = (la > 0) ? lb / la : 0
	printf "time ratio 64G/1G: %.2f, of the minima %.2f (target <= 1.5: %s)\n", r, rl,
		(r <= 1.5) ? "met" : "NOT met" }'
awk -v m="$mb" -v big="$BIG_MB" 'BEGIN {
	printf "peak RSS with a %d MiB file: %.1f MiB (%.0f%% of the file)\n", big, m / 1024,
		100 * m / 1024 / big }'
echo "64 GiB base on disk: $(mib "$used64")"
