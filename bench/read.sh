#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench/read.sh -- read throughput of MNT/hack-back against its peers.
#
# Prints figures; it is not a test and asserts nothing about timing.
#
# Packages it needs (installed with apt-get install -y when missing):
#   xmount fio qemu-system-common g++ e2fsprogs fdisk fuse3
#
# In one run, on one base image (a 2 GiB MBR disk, one ext4 partition at
# 1 MiB holding ~1.5 GiB of random, non-zero file data), it reads:
#   BASE        the base file directly;
#   hackbackfs  MNT/hack-back, BASE + a small overlay;
#   xmount      xmount --in raw BASE --out raw MNT2 (its MNT2/*.dd);
#   qsd         qemu-storage-daemon's FUSE export of BASE (read-only);
#   floor       bench/floor.c: the smallest FUSE server (low-level API, one
#               pread per request), the round-trip floor of any FUSE server;
# and measures, for each:
#   seq cold    dd bs=1M of the whole image after drop_caches;
#   seq warm    the same again, caches kept (best of 3 passes);
#   rand4k      fio randread bs=4k psync, numjobs=1, buffered, 10 s,
#               over the whole image, after drop_caches (IOPS and MB/s);
#   gem5 seq    bench/gem5-reader.cc: std::fstream seekg+read of one 512-byte
#               sector per call, the first GEM5_SEQ sectors, cold then warm;
#   gem5 rand   GEM5_RAND sectors drawn from the whole image (fixed seed),
#               cold then warm.
# MB/s are 10^6 bytes per second.  Run as root (drop_caches, mounts).
#
# Environment:
#   HACKBACKFS=path   the program to bench (default: build it out of tree
#                     in $BUILD, default /tmp/build-bench)
#   HACKBACKFS_B=path a second build to bench beside the first, as target
#                     "hackbackfs-B" (e.g. a candidate fix, or the build
#                     before a change, to measure what the change costs:
#                     every figure of hackbackfs / hackbackfs-B is printed);
#                     off by default
#   WORK=dir          where the base goes (default: a new dir under /var/tmp;
#                     removed at the end)
#   GEM5_SEQ=N        sectors for gem5 seq (default 1048576 = 512 MiB)
#   GEM5_RAND=N       sectors for gem5 rand (default 20000)
#   FIO_TIME=S        fio runtime (default 10)
#   DATA_MB=N         MiB of file data in the base (default 1536)
#   ROUNDS=N          rounds over all targets; figures are the best (default 2)
#   KEEP=1            keep WORK (and its base.img) at the end; a later run
#                     with the same WORK reuses base.img instead of making it
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
GEM5_SEQ=${GEM5_SEQ:-1048576}
GEM5_RAND=${GEM5_RAND:-20000}
FIO_TIME=${FIO_TIME:-10}
DATA_MB=${DATA_MB:-1536}
ROUNDS=${ROUNDS:-2}
IMG_MB=2048

. "$HERE/common.sh"

[ "$(id -u)" = 0 ] || die "run as root (drop_caches, mounts)"

# --- packages ---------------------------------------------------------------
need=()
command -v xmount >/dev/null || need+=(xmount)
command -v fio >/dev/null || need+=(fio)
command -v qemu-storage-daemon >/dev/null || need+=(qemu-system-common)
command -v g++ >/dev/null || need+=(g++)
command -v mke2fs >/dev/null || need+=(e2fsprogs)
command -v sfdisk >/dev/null || need+=(fdisk)
command -v fusermount3 >/dev/null || need+=(fuse3)
if [ ${#need[@]} -gt 0 ]; then
	say "installing: ${need[*]}"
	{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"; } \
		>/dev/null 2>&1 || say "apt-get install ${need[*]} failed; going on with what is there"
fi

# --- work dir and cleanup ---------------------------------------------------
WORK=${WORK:-$(mktemp -d /var/tmp/hb-bench.XXXXXX)}
mkdir -p "$WORK" || die "cannot create $WORK"
BASE=$WORK/base.img
MNT_HB=$WORK/mnt-hb
MNT_HB_B=$WORK/mnt-hb-b
MNT_XM=$WORK/mnt-xm
MNT_FL=$WORK/mnt-floor
QSD_FILE=$WORK/qsd.img
QSD_PID=
mkdir -p "$MNT_HB" "$MNT_HB_B" "$MNT_XM" "$MNT_FL"

unmount() {
	# /proc/mounts, not mountpoint(1): a dead FUSE server's mount fails stat
	awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts || return 0
	fusermount3 -u "$1" 2>/dev/null || fusermount -u "$1" 2>/dev/null || umount "$1" 2>/dev/null \
		|| umount -l "$1"
}
cleanup() {
	unmount "$MNT_HB"
	unmount "$MNT_HB_B"
	unmount "$MNT_XM"
	unmount "$MNT_FL"
	if [ -n "$QSD_PID" ] && kill -0 "$QSD_PID" 2>/dev/null; then
		kill "$QSD_PID"
		for _ in $(seq 50); do kill -0 "$QSD_PID" 2>/dev/null || break; sleep 0.1; done
	fi
	unmount "$QSD_FILE"
	if [ "${KEEP:-0}" = 1 ]; then
		rm -rf "$WORK/overlay" "$WORK/gem5-reader" "$WORK/floor-bin" "$WORK"/sum.*
		say "kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T0=$(date +%s)

# --- programs ---------------------------------------------------------------
find_hackbackfs
build_read_tools "$WORK"

# --- base image: MBR, ext4 at 1 MiB, ~1.5 GiB of random file data ------------
if [ -f "$BASE" ]; then
	say "reusing $BASE"
else
say "making the base image ($IMG_MB MiB, $DATA_MB MiB of data) in $WORK"
TREE=$WORK/tree
mkdir -p "$TREE/big" "$TREE/small"
big=$((DATA_MB - 64))
i=0
while [ $big -gt 0 ]; do
	mb=$((big < 64 ? big : 64))
	head -c $((mb << 20)) /dev/urandom > "$TREE/big/f$i.bin"
	big=$((big - mb)); i=$((i + 1))
done
# 64 MiB in small files of 4..60 KiB, 100 to a directory.
head -c $((64 << 20)) /dev/urandom > "$WORK/pool"
off=0 n=0
while [ $off -lt $((64 << 20)) ]; do
	sz=$(( (RANDOM % 15 + 1) * 4096 ))
	d=$TREE/small/d$((n / 100)); [ -d "$d" ] || mkdir "$d"
	tail -c +$((off + 1)) "$WORK/pool" | head -c $sz > "$d/s$n"
	off=$((off + sz)); n=$((n + 1))
done 2>/dev/null
rm -f "$WORK/pool"
truncate -s ${IMG_MB}M "$BASE"
printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$BASE" >/dev/null || die "sfdisk failed"
E2FSPROGS_FAKE_TIME=1700000000 mke2fs -q -F -t ext4 -E offset=1048576 -d "$TREE" "$BASE" $((IMG_MB - 1))M \
	|| die "mke2fs -d failed"
rm -rf "$TREE"
sync
fi
SIZE=$(stat -c %s "$BASE")

OVL=$WORK/overlay
mkdir -p "$OVL/sbin" "$OVL/root" "$OVL/home/gem5"
# Deterministic contents, so that the image (and the gem5 checksums) are
# the same from run to run on the same base.
m5_standin "$OVL/sbin/m5"; chmod 755 "$OVL/sbin/m5"
printf '#!/bin/sh\n/sbin/m5 readfile > /tmp/script; sh /tmp/script\n' > "$OVL/root/.bashrc"
printf 'echo restored\n/sbin/m5 exit\n' > "$OVL/home/gem5/restore.sh"

# --- targets ----------------------------------------------------------------
declare -A FILE STATUS
TARGETS=(BASE hackbackfs xmount qsd floor)
[ -n "${HACKBACKFS_B:-}" ] && TARGETS=(BASE hackbackfs hackbackfs-B xmount qsd floor)
FILE[BASE]=$BASE
STATUS[BASE]=ok

wait_size() {	# FILE: wait until it has the base's size
	for _ in $(seq 100); do
		[ "$(stat -c %s "$1" 2>/dev/null)" = "$SIZE" ] && return 0
		sleep 0.1
	done
	return 1
}

if out=$("$HACKBACKFS" -o ro "$BASE" "$OVL" "$MNT_HB" 2>&1) && wait_size "$MNT_HB/hack-back"; then
	FILE[hackbackfs]=$MNT_HB/hack-back; STATUS[hackbackfs]=ok
else
	STATUS[hackbackfs]="failed to start: $(printf '%s' "$out" | head -1)"
fi

if [ -n "${HACKBACKFS_B:-}" ]; then
	if out=$("$HACKBACKFS_B" -o ro "$BASE" "$OVL" "$MNT_HB_B" 2>&1) && wait_size "$MNT_HB_B/hack-back"; then
		FILE[hackbackfs-B]=$MNT_HB_B/hack-back; STATUS[hackbackfs-B]=ok
	else
		STATUS[hackbackfs-B]="failed to start: $(printf '%s' "$out" | head -1)"
	fi
fi

if command -v xmount >/dev/null &&
   out=$(xmount --in raw "$BASE" --out raw "$MNT_XM" 2>&1) &&
   xf=$(ls "$MNT_XM"/*.dd 2>/dev/null | head -1) && [ -n "$xf" ] && wait_size "$xf"; then
	FILE[xmount]=$xf; STATUS[xmount]=ok
else
	STATUS[xmount]="failed to start: $(printf '%s' "${out:-xmount not installed}" | grep -v '^$' | head -1)"
fi

: > "$QSD_FILE"
if command -v qemu-storage-daemon >/dev/null &&
   out=$(qemu-storage-daemon \
	--blockdev driver=file,node-name=f,filename="$BASE",read-only=on \
	--blockdev driver=raw,node-name=r,file=f,read-only=on \
	--export type=fuse,id=e,node-name=r,mountpoint="$QSD_FILE",writable=off \
	--daemonize --pidfile "$WORK/qsd.pid" 2>&1) &&
   QSD_PID=$(cat "$WORK/qsd.pid") && wait_size "$QSD_FILE"; then
	FILE[qsd]=$QSD_FILE; STATUS[qsd]=ok
else
	STATUS[qsd]="failed to start: $(printf '%s' "${out:-qemu-storage-daemon not installed}" | head -1)"
fi

if out=$("$FLOOR" "$BASE" "$MNT_FL" 2>&1) && wait_size "$MNT_FL/img"; then
	FILE[floor]=$MNT_FL/img; STATUS[floor]=ok
else
	STATUS[floor]="failed to start: $(printf '%s' "$out" | head -1)"
fi

for t in "${TARGETS[@]}"; do
	[ "${STATUS[$t]}" = ok ] || say "$t: ${STATUS[$t]} (skipped)"
done

# --- measures ----------------------------------------------------------------
declare -A R	# R[target,measure] = MB/s (or IOPS for rand4k_iops)

now() { date +%s%N; }
mbps() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.1f", (ns > 0 ? b / (ns / 1e9) / 1e6 : 0) }'; }

seq_read() {	# FILE -> MB/s of dd bs=1M over all of it
	local t0 t1
	t0=$(now)
	dd if="$1" of=/dev/null bs=1M status=none || { echo FAIL; return; }
	t1=$(now)
	mbps "$SIZE" $((t1 - t0))
}

gem5() {	# FILE MODE N -> MB/s (and remembers the checksum)
	local out
	out=$("$READER" "$1" "$2" "$3" 0 42) || { echo FAIL; return; }
	printf '%s\n' "$out" | sed -n 's/.*MBps=\([0-9.]*\).*/\1/p'
	printf '%s\n' "$out" | sed -n 's/.*sum=\([0-9a-f]*\).*/\1/p' > "$WORK/sum.$2"
}


# Rounds go over all targets in turn, so that a burst of load from other
# work on the machine does not land on one target only; each figure is the
# best of the rounds (and warm seq the best of 3 passes in each round).
declare -A SUM
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$ROUNDS"); do
	for t in "${TARGETS[@]}"; do
		[ "${STATUS[$t]}" = ok ] || continue
		f=${FILE[$t]}
		say "round $round/$ROUNDS: $t ($f)"
		drop; keep "$t,seq_cold" "$(seq_read "$f")"
		for _ in 1 2 3; do keep "$t,seq_warm" "$(seq_read "$f")"; done
		drop; read -r iops mb <<< "$(fio_rand "$f" "$SIZE" "$FIO_TIME")"
		if [[ ! ${R[$t,rand_iops]:-} =~ ^[0-9]+$ ]] || [[ $iops =~ ^[0-9]+$ && $iops -gt ${R[$t,rand_iops]} ]]; then
			R[$t,rand_iops]=$iops R[$t,rand_mbps]=$mb
		fi
		drop; keep "$t,g5seq_cold" "$(gem5 "$f" seq "$GEM5_SEQ")"
		keep "$t,g5seq_warm" "$(gem5 "$f" seq "$GEM5_SEQ")"
		SUM[$t,seq]=$(cat "$WORK/sum.seq" 2>/dev/null)
		drop; keep "$t,g5rand_cold" "$(gem5 "$f" rand "$GEM5_RAND")"
		keep "$t,g5rand_warm" "$(gem5 "$f" rand "$GEM5_RAND")"
		SUM[$t,rand]=$(cat "$WORK/sum.rand" 2>/dev/null)
	done
done
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# What the FUSE mounts negotiated, for reading the figures.
fuse_info() {	# FILE -> "bdi MAJ:MIN read_ahead_kb=N"
	local mm
	mm=$(findmnt -no MAJ:MIN -T "$1" 2>/dev/null | head -1 | tr -d ' ')
	[ -n "$mm" ] || { echo "?"; return; }
	echo "bdi $mm read_ahead_kb=$(cat /sys/class/bdi/"$mm"/read_ahead_kb 2>/dev/null)" \
		"max_ratio=$(cat /sys/class/bdi/"$mm"/max_ratio 2>/dev/null)"
}

# --- report ------------------------------------------------------------------
T1=$(date +%s)
echo "hackbackfs read bench -- $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -r)"
echo "base: ${IMG_MB} MiB MBR disk, ext4 at 1 MiB, ${DATA_MB} MiB of random file data; overlay: 3 files (1 MiB)"
echo "gem5 seq: first $GEM5_SEQ sectors; gem5 rand: $GEM5_RAND sectors over the image, seed 42; fio: ${FIO_TIME}s"
echo "MB/s = 10^6 bytes/s; each figure is the best of $ROUNDS rounds; load average before: $LOAD0, after: $LOAD1"
echo
printf '%-12s %9s %9s %9s %9s %10s %10s %10s %10s\n' \
	target "seq cold" "seq warm" "4k IOPS" "4k MB/s" "g5seq cold" "g5seq warm" "g5rnd cold" "g5rnd warm"
for t in "${TARGETS[@]}"; do
	if [ "${STATUS[$t]}" != ok ]; then
		printf '%-12s %s\n' "$t" "${STATUS[$t]}"
		continue
	fi
	printf '%-12s %9s %9s %9s %9s %10s %10s %10s %10s\n' "$t" \
		"${R[$t,seq_cold]}" "${R[$t,seq_warm]}" "${R[$t,rand_iops]}" "${R[$t,rand_mbps]}" \
		"${R[$t,g5seq_cold]}" "${R[$t,g5seq_warm]}" "${R[$t,g5rand_cold]}" "${R[$t,g5rand_warm]}"
done
echo
for t in "${TARGETS[@]}"; do
	[ "$t" != BASE ] && [ "${STATUS[$t]}" = ok ] && echo "$t: $(fuse_info "${FILE[$t]}")"
done
# Same sectors, same bytes?  hackbackfs differs from the others where the
# overlay went (metadata, new files), so its sums may differ; the peers'
# must equal BASE's.
for m in seq rand; do
	line="gem5 $m checksums:"
	for t in "${TARGETS[@]}"; do
		[ "${STATUS[$t]}" = ok ] && line+=" $t=${SUM[$t,$m]:-?}"
	done
	echo "$line"
done
echo

ratio() {	# A B -> A/B with 2 decimals, or n/a
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "n/a";
		else printf "%.2f", a / b }'
}
best_peer() {	# MEASURE -> largest value among the peers that ran
	local best="" t v
	for t in xmount qsd; do
		[ "${STATUS[$t]}" = ok ] || continue
		v=${R[$t,$1]}
		[[ $v =~ ^[0-9.]+$ ]] || continue
		if [ -z "$best" ] || awk -v a="$v" -v b="$best" 'BEGIN { exit !(a > b) }'; then best=$v; fi
	done
	echo "${best:-n/a}"
}
verdict() {	# RATIO TARGET
	awk -v r="$1" -v t="$2" 'BEGIN {
		if (r !~ /^[0-9.]+$/) print "n/a";
		else if (r + 0 >= t + 0) print "meets >= " t;
		else print "MISSES >= " t }'
}
row() {	# LABEL RATIO [TARGET]
	printf '%-48s %6s   %s\n' "$1" "$2" "$([ -n "${3:-}" ] && verdict "$2" "$3")"
}
echo "ratios"
ratios_for() {	# TARGET
	local h=$1 r m fl
	if [ "${STATUS[$h]:-}" != ok ]; then
		echo "$h did not run: no ratios"
		return
	fi
	r=$(ratio "${R[$h,seq_cold]}" "${R[BASE,seq_cold]}")
	row "dd bs=1M cold: $h / BASE" "$r" 0.8
	r=$(ratio "${R[$h,g5seq_cold]}" "${R[BASE,g5seq_cold]}")
	row "gem5 seq cold: $h / BASE" "$r" 0.95
	for m in rand_iops g5rand_cold; do
		r=$(ratio "${R[$h,$m]}" "${R[BASE,$m]}")
		fl=$(ratio "${R[$h,$m]}" "${R[floor,$m]:-}")
		row "${m/rand_iops/fio 4k rand} cold: $h / BASE (or / floor >= 0.9: $fl)" "$r" 0.5
	done
	for m in seq_warm g5seq_warm g5rand_warm; do
		r=$(ratio "${R[$h,$m]}" "${R[BASE,$m]}")
		row "(info) ${m} : $h / BASE" "$r"
	done
	for m in seq_cold rand_iops g5seq_cold g5rand_cold; do
		r=$(ratio "${R[$h,$m]}" "$(best_peer "$m")")
		row "(info) $m: $h / best(xmount, qsd)" "$r"
	done
}
ratios_for hackbackfs
if [ -n "${HACKBACKFS_B:-}" ]; then
	echo
	ratios_for hackbackfs-B
	echo
	echo "what hackbackfs costs against hackbackfs-B (1.00 = the same; < 0.95 = more than 5 %)"
	for m in seq_cold seq_warm rand_iops g5seq_cold g5seq_warm g5rand_cold g5rand_warm; do
		row "$m: hackbackfs / hackbackfs-B" "$(ratio "${R[hackbackfs,$m]}" "${R[hackbackfs-B,$m]}")"
	done
fi
echo
ratios_for floor
echo
echo "bench took $((T1 - T0)) s"
