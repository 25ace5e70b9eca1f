# SPDX-License-Identifier: BSD-3-Clause
# bench/common.sh -- what the benchmarks share.  Source it after setting
# SRC (the source tree) and HERE (bench/).

# Messages: say MSG on stderr; die MSG: "SCRIPT: MSG" on stderr, exit 1.
# (A benchmark has no checks to fail or skip: tests/lib/common.sh's fail
# and skip are the tests'.)
say() { printf '%s\n' "$*" >&2; }
die() { say "$(basename "$0"): $*"; exit 1; }

# Set HACKBACKFS to the program to bench: as given, or built out of tree
# in $BUILD (default /tmp/build-bench).
find_hackbackfs() {
	if [ -z "${HACKBACKFS:-}" ]; then
		BUILD=${BUILD:-/tmp/build-bench}
		say "building hackbackfs in $BUILD"
		mkdir -p "$BUILD"
		( cd "$BUILD" && { [ -f Makefile ] || "$SRC/configure" >/dev/null; } &&
			make -j2 hackbackfs >/dev/null ) || die "cannot build hackbackfs in $BUILD"
		HACKBACKFS=$BUILD/hackbackfs
	fi
	[ -x "$HACKBACKFS" ] || die "no program at $HACKBACKFS"
}

# GNU time (/usr/bin/time) for peak RSS; installed when missing.
need_gnu_time() {
	if ! /usr/bin/time -f %e true >/dev/null 2>&1; then
		say "installing: time"
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time; } \
			>/dev/null 2>&1
		/usr/bin/time -f %e true >/dev/null 2>&1 || die "GNU time (/usr/bin/time) is needed"
	fi
}

# A sparse ext4 base: make_sparse_base FILE SIZE.
make_sparse_base() {
	truncate -s "$2" "$1" &&
	mke2fs -q -F -t ext4 -E lazy_itable_init=1,lazy_journal_init=1 -O ^resize_inode "$1" \
		>/dev/null 2>&1 || die "mke2fs $2 failed"
}

# The small overlay (an m5 stand-in of 1 MiB, a .bashrc, 20 small files) in
# DIR, and a restore script at FILE: make_small_overlay DIR FILE.
make_small_overlay() {
	mkdir -p "$1/sbin" "$1/root" "$1/etc" "$1/home/bench"
	head -c $((1 << 20)) /dev/urandom > "$1/sbin/m5"
	chmod 755 "$1/sbin/m5"
	printf 'm5 checkpoint\nsh /var/lib/hack-back/restore\n' > "$1/root/.bashrc"
	printf 'gem5\n' > "$1/etc/hostname"
	for i in $(seq 1 20); do head -c $((i * 3000)) /dev/urandom > "$1/home/bench/in$i"; done
	printf '#!/bin/sh\necho benchmark\n' > "$2"
}

# Wall time comes from bash's EPOCHREALTIME (GNU time rounds to 10 ms, too
# coarse here): milliseconds since a saved $EPOCHREALTIME.
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }

# Median, minimum and the largest second field of "MS KIB" lines on stdin
# (N of them): "MEDIAN_MS MIN_MS MAX_KIB".
median_min_max() {	# N
	sort -n -k1,1 | awk -v n="$1" '
		NR == 1 { lo = $1 }
		NR == int((n + 1) / 2) { med = $1 }
		{ if ($2 > m) m = $2 }
		END { print med, lo, m }'
}

# --- what the read benches share (read.sh, seq-limit.sh, threads.sh) -------
# bash, as root.

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# build_read_tools DIR: bench/gem5-reader.cc and bench/floor.c compiled
# into DIR; sets READER and FLOOR.
build_read_tools() {
	READER=$1/gem5-reader FLOOR=$1/floor-bin
	g++ -O2 -o "$READER" "$HERE/gem5-reader.cc" || die "cannot compile gem5-reader.cc"
	# shellcheck disable=SC2046
	gcc -O2 -o "$FLOOR" "$HERE/floor.c" $(pkg-config --cflags --libs fuse3) ||
		die "cannot compile floor.c"
}

# need_kept_base: BASE, the base read.sh made and kept in $WORK.
need_kept_base() {
	[ -n "${WORK:-}" ] && [ -f "$WORK/base.img" ] ||
		die "WORK must hold base.img: run KEEP=1 WORK=DIR bench/read.sh first"
	BASE=$WORK/base.img
}

# m5_standin FILE: the 1 MiB stand-in for m5 that the read benches inject,
# the same bytes every run.
m5_standin() { seq 1 300000 | head -c $((1 << 20)) >"$1"; }

# keep KEY VALUE: R[KEY] (an associative array of the caller's) becomes the
# larger of the two, the best of the rounds; a value that is not a number
# stays only where there is nothing yet.
keep() {
	local v=$2
	[[ $v =~ ^[0-9.]+$ ]] || { [ -n "${R[$1]:-}" ] || R[$1]=${v:-FAIL}; return; }
	if [[ ! ${R[$1]:-} =~ ^[0-9.]+$ ]] || awk -v a="$v" -v b="${R[$1]}" 'BEGIN { exit !(a > b) }'; then
		R[$1]=$v
	fi
}

# fio_rand FILE SIZE SECONDS -> "IOPS MB/s": 4 KiB random reads, one job,
# psync, buffered, over the first SIZE bytes.
fio_rand() {
	local out
	out=$(fio --name=rand4k --filename="$1" --readonly --rw=randread --bs=4k --size="$2" \
		--runtime="$3" --time_based --direct=0 --ioengine=psync --numjobs=1 \
		--randrepeat=1 --output-format=terse --terse-version=3 2>/dev/null) || { echo "FAIL FAIL"; return; }
	# terse v3: field 7 = read bandwidth KiB/s, field 8 = read IOPS
	printf '%s\n' "$out" | awk -F';' '$1 == 3 { printf "%d %.1f\n", $8, $7 * 1024 / 1e6 }'
}
