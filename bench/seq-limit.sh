#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench/seq-limit.sh -- what limits gem5's sequential cold read through FUSE.
#
# Prints figures; it is not a test and asserts nothing about timing.
#
# bench/read.sh finds gem5's sequential cold pattern through any FUSE server
# (hackbackfs, and bench/floor.c, the smallest one) well below BASE read
# directly.  This script varies the one thing that differs between the two
# paths, the readahead window, on both sides:
#   - the FUSE mount's (its bdi's read_ahead_kb; the kernel gives a FUSE
#     mount 128 KiB, and a server can only lower it in FUSE_INIT);
#   - BASE's (read_ahead_kb of the block device under BASE's file system);
# and reads with BASE's pages already cached (FUSE cold, BASE warm), which
# takes the server's own reads of BASE out of the figure.  If FUSE at 128 KiB
# matches BASE at 128 KiB, and both rise together with the window, the
# window is what stops FUSE, not the server.
#
# It needs root (drop_caches, sysfs, mounts) and the base of read.sh:
#   KEEP=1 WORK=/var/tmp/hb-bench bench/read.sh     # makes WORK/base.img
#   WORK=/var/tmp/hb-bench bench/seq-limit.sh
# Environment: HACKBACKFS (as read.sh; default: built in $BUILD), WORK (the
# dir with base.img, required), GEM5_SEQ (sectors, default 1048576 = 512
# MiB), RA_KB (windows to try, default "128 1024 8192"), ROUNDS (default 2;
# each figure is the best).  Every read_ahead_kb it changes is restored.
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
GEM5_SEQ=${GEM5_SEQ:-1048576}
RA_KB=${RA_KB:-128 1024 8192}
ROUNDS=${ROUNDS:-2}

. "$HERE/common.sh"

[ "$(id -u)" = 0 ] || die "run as root (drop_caches, read_ahead_kb, mounts)"
need_kept_base
find_hackbackfs

T=$(mktemp -d /var/tmp/hb-seqlimit.XXXXXX)
MNT_HB=$T/mnt-hb MNT_FL=$T/mnt-floor OVL=$T/overlay
mkdir -p "$MNT_HB" "$MNT_FL" "$OVL/sbin"
m5_standin "$OVL/sbin/m5"

# The block device under BASE: the disk's queue, for a partition too.
dev_ra=$(realpath "/sys/dev/block/$(findmnt -no MAJ:MIN -T "$BASE" | tr -d ' ')")
[ -f "$dev_ra/queue/read_ahead_kb" ] || dev_ra=$(dirname "$dev_ra")
dev_ra=$dev_ra/queue/read_ahead_kb
[ -w "$dev_ra" ] || die "no read_ahead_kb for the device under $BASE"
dev_ra0=$(cat "$dev_ra")
fuse_ra=() fuse_ra0=()

cleanup() {
	echo "$dev_ra0" >"$dev_ra"
	for i in "${!fuse_ra[@]}"; do echo "${fuse_ra0[$i]}" >"${fuse_ra[$i]}" 2>/dev/null; done
	fusermount3 -u "$MNT_HB" 2>/dev/null
	fusermount3 -u "$MNT_FL" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

build_read_tools "$T"
"$HACKBACKFS" -o ro "$BASE" "$OVL" "$MNT_HB" || die "hackbackfs did not mount"
"$FLOOR" "$BASE" "$MNT_FL" || die "floor did not mount"
sleep 0.5

declare -A FILE=([BASE]=$BASE [floor]=$MNT_FL/img [hackbackfs]=$MNT_HB/hack-back)
declare -A RA_FILE=([BASE]=$dev_ra)
for t in floor hackbackfs; do
	mm=$(findmnt -no MAJ:MIN -T "${FILE[$t]}" | tr -d ' ')
	RA_FILE[$t]=/sys/class/bdi/$mm/read_ahead_kb
	fuse_ra+=("${RA_FILE[$t]}") fuse_ra0+=("$(cat "${RA_FILE[$t]}")")
done

g5() { "$READER" "$1" seq "$GEM5_SEQ" 0 42 | sed -n 's/.*MBps=\([0-9.]*\).*/\1/p'; }
declare -A R
# What gem5 seq reads of BASE: its first GEM5_SEQ sectors (plus the 1 MiB
# before the partition, all of it read through BASE's page cache).
warm_base() { dd if="$BASE" of=/dev/null bs=1M count=$((GEM5_SEQ / 2048 + 2)) status=none; }

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
	for ra in $RA_KB; do
		say "round $round/$ROUNDS: read_ahead_kb=$ra"
		for t in BASE floor hackbackfs; do
			echo "$ra" >"${RA_FILE[$t]}" || die "cannot set ${RA_FILE[$t]}"
			drop; keep "$t,$ra,cold" "$(g5 "${FILE[$t]}")"
			if [ "$t" != BASE ]; then
				drop; warm_base; keep "$t,$ra,basewarm" "$(g5 "${FILE[$t]}")"
			fi
			echo "${dev_ra0}" >"$dev_ra"	# BASE's own window back for the servers
		done
	done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

echo "gem5 seq (first $GEM5_SEQ sectors, 512 B each), MB/s, best of $ROUNDS rounds"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r); load before: $LOAD0, after: $LOAD1"
echo "read_ahead_kb is set on BASE's device for BASE, on the mount's bdi for floor and hackbackfs"
echo "(BASE's device keeps its own $dev_ra0 KiB while the FUSE servers read it)"
echo
printf '%-14s' "read_ahead_kb"; for t in BASE floor hackbackfs; do printf '%12s' "$t"; done
printf '%16s%16s\n' "floor,BASEwarm" "hb,BASEwarm"
for ra in $RA_KB; do
	printf '%-14s' "$ra"
	for t in BASE floor hackbackfs; do printf '%12s' "${R[$t,$ra,cold]:-?}"; done
	printf '%16s%16s\n' "${R[floor,$ra,basewarm]:-?}" "${R[hackbackfs,$ra,basewarm]:-?}"
done
echo
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
echo "ratios to BASE at its own window ($dev_ra0 KiB), if that is in RA_KB:"
for ra in $RA_KB; do
	[ -n "${R[BASE,$dev_ra0,cold]:-}" ] || break
	printf '  FUSE window %5s KiB: floor %s, hackbackfs %s\n' "$ra" \
		"$(ratio "${R[floor,$ra,cold]}" "${R[BASE,$dev_ra0,cold]}")" \
		"$(ratio "${R[hackbackfs,$ra,cold]}" "${R[BASE,$dev_ra0,cold]}")"
done
echo "same window on both sides (FUSE / BASE at equal read_ahead_kb):"
for ra in $RA_KB; do
	printf '  %5s KiB: floor %s, hackbackfs %s\n' "$ra" \
		"$(ratio "${R[floor,$ra,cold]}" "${R[BASE,$ra,cold]}")" \
		"$(ratio "${R[hackbackfs,$ra,cold]}" "${R[BASE,$ra,cold]}")"
done
