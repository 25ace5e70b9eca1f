#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench/export.sh -- the export mode (hackbackfs --export-cow): what writing
# the COW file costs, and how gem5 reads the image through it.
#
# Prints figures; it is not a test and asserts nothing about timing.
#
# 1. Export cost.  `hackbackfs --export-cow FILE -o restore=R BASE OVERLAY`
#    under GNU time, RUNS times after one warm-up (page cache warm), for:
#      small overlay   synth.sh's small overlay (a 1 MiB m5 stand-in, a
#                      .bashrc, 20 small files, a restore script) on a 1 GiB
#                      and on a 64 GiB sparse ext4 base: wall time, peak RSS,
#                      FILE's size and sector count; ratio 64G/1G (target
#                      <= 1.5);
#      200 MiB file    the same plus one BIG_MB MiB file of random bytes on
#                      the 1 GiB base: peak RSS (target: far below BIG_MB
#                      MiB: the sectors are streamed) and FILE's size.
# 2. The gem5 read pattern (bench/gem5-reader.cc: std::fstream seekg + read
#    of one 512-byte sector per call) on a base holding DATA_MB MiB of
#    random file data (MBR, ext4 at 1 MiB), the small overlay injected:
#      BASE        the base itself, as gem5 reads a plain raw image;
#      export      --cow FILE BASE: the table loaded into memory as gem5's
#                  CowDiskImage does (one heap sector per entry in an
#                  unordered_map), each sector from the table or from BASE;
#      mount       MNT/hack-back of a hackbackfs mount with the same options;
#    gem5 seq (GEM5_SEQ sectors from sector 0) and gem5 rand (GEM5_RAND
#    sectors over the image, seed 42), cold (after drop_caches) and warm;
#    best of ROUNDS.  export and mount must give the same checksums.
# MB/s are 10^6 bytes per second.  Part 2 needs root (drop_caches, FUSE).
#
# Packages it needs: e2fsprogs, fdisk, g++, fuse3, GNU time (installed with
# apt-get install -y when missing).
#
# Environment:
#   HACKBACKFS=path   the program to bench (default: build it out of tree in
#                     $BUILD, default /tmp/build-bench)
#   WORK=dir          work directory (default: a new one under /var/tmp;
#                     removed at the end)
#   RUNS=N            export runs per figure (default 9)
#   BIG_MB=N          size of the large overlay file (default 200)
#   DATA_MB=N         MiB of file data in the read base (default 768)
#   GEM5_SEQ=N        sectors for gem5 seq (default: the whole read base)
#   GEM5_RAND=N       sectors for gem5 rand (default 20000)
#   ROUNDS=N          rounds of the read figures; the best is kept (default 2)
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
RUNS=${RUNS:-9}
BIG_MB=${BIG_MB:-200}
DATA_MB=${DATA_MB:-768}
GEM5_RAND=${GEM5_RAND:-20000}
ROUNDS=${ROUNDS:-2}
PATH=$PATH:/usr/sbin:/sbin

. "$HERE/common.sh"

need=()
command -v mke2fs >/dev/null || need+=(e2fsprogs)
command -v sfdisk >/dev/null || need+=(fdisk)
command -v g++ >/dev/null || need+=(g++)
command -v fusermount3 >/dev/null || need+=(fuse3)
if [ ${#need[@]} -gt 0 ]; then
	say "installing: ${need[*]}"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } \
		>/dev/null 2>&1 || die "apt-get install ${need[*]} failed"
fi

WORK=${WORK:-$(mktemp -d /var/tmp/hb-export.XXXXXX)}
mkdir -p "$WORK" || die "cannot create $WORK"
MNT=$WORK/mnt
cleanup() {
	if awk -v m="$MNT" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; then
		fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need_gnu_time
find_hackbackfs
READER=$WORK/gem5-reader
g++ -O2 -o "$READER" "$HERE/gem5-reader.cc" || die "cannot compile gem5-reader.cc"

# --- 1. export cost -------------------------------------------------------------
BASE1=$WORK/base-1g.img
BASE64=$WORK/base-64g.img
say "making the bases in $WORK"
make_sparse_base "$BASE1" 1G
make_sparse_base "$BASE64" 64G
SMALL=$WORK/small
RESTORE=$WORK/restore.sh
make_small_overlay "$SMALL" "$RESTORE"
BIG=$WORK/big
cp -a "$SMALL" "$BIG"
head -c $((BIG_MB << 20)) /dev/urandom > "$BIG/home/bench/blob"
OUT=$WORK/x.cow

# One run: "MS KIB" (wall time, peak RSS); FILE's size and sectors in $WORK/last.
export_once() {	# BASE OVERLAY
	local t0=$EPOCHREALTIME ms
	/usr/bin/time -f '%M' -o "$WORK/rss" \
		"$HACKBACKFS" --export-cow "$OUT" -o restore="$RESTORE" "$1" "$2" >"$WORK/stdout" 2>"$WORK/err" \
		|| die "hackbackfs --export-cow $1 $2 failed: $(cat "$WORK/err")"
	ms=$(ms_since "$t0")
	echo "$(stat -c %s "$OUT") $(sed -n 's/^sectors //p' "$WORK/stdout")" > "$WORK/last"
	echo "$ms $(cat "$WORK/rss")"
}
export_many() {	# BASE OVERLAY -> "MEDIAN_MS MIN_MS MAX_KIB BYTES SECTORS"
	local i
	export_once "$1" "$2" >/dev/null
	echo "$(for i in $(seq "$RUNS"); do export_once "$1" "$2"; done | median_min_max "$RUNS") $(cat "$WORK/last")"
}
say "running hackbackfs --export-cow ($RUNS runs per figure)"
read -r t1 l1 m1 b1 n1 < <(export_many "$BASE1" "$SMALL")
read -r t64 l64 m64 b64 n64 < <(export_many "$BASE64" "$SMALL")
read -r tb lb mb bb nb < <(export_many "$BASE1" "$BIG")
rm -f "$OUT" "$OUT.json" "$BASE64"
rm -rf "$BIG"

mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
echo "hackbackfs --export-cow: median (min) of $RUNS runs, warm cache; $(nproc) CPUs," \
	"load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-32s %18s %12s %12s %9s\n' "case" "wall ms" "peak RSS" "FILE bytes" "sectors"
printf '%-32s %10s (%5s) %12s %12s %9s\n' "small overlay, 1 GiB base" "$t1" "$l1" "$(mib "$m1")" "$b1" "$n1"
printf '%-32s %10s (%5s) %12s %12s %9s\n' "small overlay, 64 GiB base" "$t64" "$l64" "$(mib "$m64")" "$b64" "$n64"
printf '%-32s %10s (%5s) %12s %12s %9s\n' "+ ${BIG_MB} MiB file, 1 GiB base" "$tb" "$lb" "$(mib "$mb")" "$bb" "$nb"
awk -v a="$t1" -v b="$t64" -v la="$l1" -v lb="$l64" 'BEGIN {
	printf "time ratio 64G/1G: %.2f, of the minima %.2f (target <= 1.5: %s)\n",
		b / a, lb / la, (b / a <= 1.5) ? "met" : "NOT met" }'
awk -v m="$mb" -v big="$BIG_MB" 'BEGIN {
	printf "peak RSS with a %d MiB file: %.1f MiB (%.0f%% of the file)\n", big, m / 1024,
		100 * m / 1024 / big }'

# --- 2. the gem5 read pattern -----------------------------------------------------
if [ "$(id -u)" != 0 ]; then
	say "not root: the read figures (drop_caches, FUSE) are left out"
	exit 0
fi
RBASE=$WORK/read-base.img
IMG_MB=$((DATA_MB + DATA_MB / 4 + 64))
say "making the read base ($IMG_MB MiB, $DATA_MB MiB of data)"
TREE=$WORK/tree
mkdir -p "$TREE/big"
left=$DATA_MB i=0
while [ $left -gt 0 ]; do
	n=$((left < 64 ? left : 64))
	head -c $((n << 20)) /dev/urandom > "$TREE/big/f$i.bin"
	left=$((left - n)); i=$((i + 1))
done
truncate -s ${IMG_MB}M "$RBASE"
printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$RBASE" >/dev/null || die "sfdisk failed"
mke2fs -q -F -t ext4 -E offset=1048576 -d "$TREE" "$RBASE" $((IMG_MB - 1))M || die "mke2fs -d failed"
rm -rf "$TREE"
sync
SECTORS=$(($(stat -c %s "$RBASE") / 512))
GEM5_SEQ=${GEM5_SEQ:-$SECTORS}

opts="restore=$RESTORE,epoch=1700000000"
"$HACKBACKFS" --export-cow "$OUT" -o "$opts" "$RBASE" "$SMALL" >"$WORK/stdout" 2>"$WORK/err" ||
	die "export failed: $(cat "$WORK/err")"
mkdir -p "$MNT"
"$HACKBACKFS" -o "$opts,ro" "$RBASE" "$SMALL" "$MNT" 2>"$WORK/err" || die "mount failed: $(cat "$WORK/err")"

declare -A BEST SUM
gem5() {	# KEY ARGS... : keep the best MB/s and the checksum
	local out mbps
	out=$("$READER" "${@:2}") || die "gem5-reader ${*:2} failed"
	mbps=$(sed -n 's/.*MBps=\([0-9.]*\).*/\1/p' <<< "$out")
	SUM[$1]=$(sed -n 's/.*sum=\([0-9a-f]*\).*/\1/p' <<< "$out")
	if [ -z "${BEST[$1]:-}" ] || awk -v a="$mbps" -v b="${BEST[$1]}" 'BEGIN { exit !(a > b) }'; then
		BEST[$1]=$mbps
	fi
}
for r in $(seq "$ROUNDS"); do
	say "read round $r of $ROUNDS"
	for t in BASE export mount; do
		case $t in
		BASE) args=("$RBASE") ;;
		export) args=(--cow "$OUT" "$RBASE") ;;
		mount) args=("$MNT/hack-back") ;;
		esac
		drop; gem5 "$t,seq_cold" "${args[@]}" seq "$GEM5_SEQ" 0 42
		gem5 "$t,seq_warm" "${args[@]}" seq "$GEM5_SEQ" 0 42
		drop; gem5 "$t,rand_cold" "${args[@]}" rand "$GEM5_RAND" 0 42
		gem5 "$t,rand_warm" "${args[@]}" rand "$GEM5_RAND" 0 42
	done
done
echo
echo "gem5 read pattern, MB/s (best of $ROUNDS); base $IMG_MB MiB with $DATA_MB MiB of data;" \
	"table $(sed -n 's/^sectors //p' "$WORK/stdout") sectors; load $(cut -d' ' -f1 /proc/loadavg)"
printf '%-10s %10s %10s %10s %10s\n' target "seq cold" "seq warm" "rand cold" "rand warm"
for t in BASE export mount; do
	printf '%-10s %10s %10s %10s %10s\n' "$t" "${BEST[$t,seq_cold]}" "${BEST[$t,seq_warm]}" \
		"${BEST[$t,rand_cold]}" "${BEST[$t,rand_warm]}"
done
for m in seq_cold rand_cold; do
	awk -v e="${BEST[export,$m]}" -v f="${BEST[mount,$m]}" -v b="${BEST[BASE,$m]}" -v m="$m" \
		'BEGIN { printf "%s: export / BASE %.2f, mount / BASE %.2f\n", m, e / b, f / b }'
done
for m in seq_warm rand_warm; do
	[ "${SUM[export,$m]}" = "${SUM[mount,$m]}" ] ||
		say "WARNING: $m: export and mount read different bytes (${SUM[export,$m]} != ${SUM[mount,$m]})"
done
echo "export and mount checksums: $([ "${SUM[export,seq_warm]}" = "${SUM[mount,seq_warm]}" ] && echo equal || echo DIFFER)"
