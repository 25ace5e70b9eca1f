#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
# bench/scale.sh -- overlays at benchmark scale: entries and bytes.
#
# Prints figures; it is not a test and asserts nothing about timing.
#
# Makes these overlays (files of a few bytes unless said) and runs
# `hackbackfs --digests BASE OVERLAY` -- the whole build (probe, scan,
# inject, identify), no mount -- on a sparse ext4 base:
#
#   one-dir-N     N files in one directory, N = 10k, 20k, 40k, 100k
#   40-dirs       40k files in 40 directories
#   spread-1M     1M files in 1000 directories (only with BIG=1: the tree
#                 alone takes minutes and 1M inodes of $WORK's disk)
#   sparse-20G    four sparse files of 5 GiB with 16 MiB of data each
#   spec-like     3000 directories, 50k files of mixed sizes (most a few
#                 KiB, one in 50 of 64 KiB-1 MiB, a few of 8 MiB)
#
# For each: ready time cold (the first run, the digest cache empty) and
# warm (a second run, the cache hot), peak RSS, entries per second (cold),
# and `mke2fs -d` of the same tree into an image of the base's size as the
# reference (not for spread-1M and sparse-20G; MKE2FS_LIMIT seconds at
# most).  Then the ratio 100k/10k of the cold times (linear would be 10)
# and the warm time of sparse-20G.  Wall times depend on the machine's
# load, which is printed; the CPU time (user + sys) is printed too.
#
# Environment: HACKBACKFS (default: the tree's own ./hackbackfs, else
# built as bench/common.sh does), WORK (default a new dir under
# /var/tmp, removed at the end unless KEEP=1), BIG=1, MKE2FS_LIMIT (600).
set -u
export LC_ALL=C

HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/.." && pwd)
PATH=$PATH:/usr/sbin:/sbin
MKE2FS_LIMIT=${MKE2FS_LIMIT:-600}

. "$HERE/common.sh"

command -v mke2fs >/dev/null || die "mke2fs (e2fsprogs) is needed"
command -v python3 >/dev/null || die "python3 is needed (it makes the trees)"

WORK=${WORK:-$(mktemp -d /var/tmp/hb-scale.XXXXXX)}
mkdir -p "$WORK" || die "cannot create $WORK"
cleanup() { [ "${KEEP:-0}" = 1 ] || rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

need_gnu_time
[ -z "${HACKBACKFS:-}" ] && [ -x "$SRC/hackbackfs" ] && HACKBACKFS=$SRC/hackbackfs
find_hackbackfs

BASE=$WORK/base.img
BASE_SIZE=32G
say "making a $BASE_SIZE sparse base in $WORK"
truncate -s "$BASE_SIZE" "$BASE"
mke2fs -q -F -t ext4 -N 1200000 -E lazy_itable_init=1,lazy_journal_init=1 "$BASE" \
	>/dev/null 2>&1 || die "mke2fs failed"

# make_tree KIND DIR: the trees above (python3: a shell loop is too slow).
make_tree() {
	python3 - "$1" "$2" <<'EOF' || die "cannot make tree $1"
import os, random, sys
kind, top = sys.argv[1], sys.argv[2]
os.makedirs(top)
def small(path, i):
    with open(path, "w") as f:
        f.write("%d\n" % i)
if kind.startswith("one-dir-"):
    n = int(kind[8:]); d = os.path.join(top, "d"); os.makedirs(d)
    for i in range(n):
        small(os.path.join(d, "file-%07d" % i), i)
elif kind == "40-dirs":
    for j in range(40):
        d = os.path.join(top, "d%02d" % j); os.makedirs(d)
        for i in range(1000):
            small(os.path.join(d, "file-%05d" % i), i)
elif kind == "spread-1M":
    for j in range(1000):
        d = os.path.join(top, "g%02d" % (j // 100), "d%03d" % j); os.makedirs(d)
        for i in range(1000):
            small(os.path.join(d, "f%04d" % i), i)
elif kind == "sparse-20G":
    rnd = random.Random(1)
    for j in range(4):
        p = os.path.join(top, "data%d.bin" % j)
        with open(p, "wb") as f:
            f.truncate(5 << 30)
            for k in range(16):
                f.seek(rnd.randrange(0, (5 << 30) - (1 << 20)) & ~4095)
                f.write(os.urandom(1 << 20))
elif kind == "spec-like":
    rnd = random.Random(2)
    dirs = []
    for j in range(3000):
        parent = dirs[rnd.randrange(len(dirs))] if dirs and rnd.random() < 0.7 else top
        d = os.path.join(parent, "dir%04d" % j); os.makedirs(d); dirs.append(d)
    for i in range(50000):
        r = rnd.random()
        size = (8 << 20) if i % 10000 == 5 else rnd.randrange(64 << 10, 1 << 20) if r < 0.02 \
            else rnd.randrange(1, 16 << 10)
        with open(os.path.join(dirs[rnd.randrange(len(dirs))], "f%05d" % i), "wb") as f:
            f.write(os.urandom(size))
EOF
}

# run OVERLAY: "WALL_S CPU_S RSS_KIB" of one --digests run.
run() {
	local t0=$EPOCHREALTIME
	/usr/bin/time -f '%U %S %M' -o "$WORK/time" \
		"$HACKBACKFS" --digests "$BASE" "$1" >/dev/null 2>"$WORK/err" ||
		die "hackbackfs --digests $1 failed: $(cat "$WORK/err")"
	read -r u s m < "$WORK/time"
	awk -v a="$t0" -v b="$EPOCHREALTIME" -v u="$u" -v s="$s" -v m="$m" \
		'BEGIN { printf "%.2f %.2f %d\n", b - a, u + s, m }'
}

# mke2fs -d of the tree into a fresh image of the base's size: seconds.
mkfs_ref() {
	local t0=$EPOCHREALTIME
	rm -f "$WORK/ref.img"
	truncate -s "$BASE_SIZE" "$WORK/ref.img"
	if timeout "$MKE2FS_LIMIT" mke2fs -q -F -t ext4 -N 1200000 \
		-E lazy_itable_init=1,lazy_journal_init=1 -d "$1" "$WORK/ref.img" >/dev/null 2>&1; then
		awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'
	else
		printf '>%s' "$MKE2FS_LIMIT"
	fi
	rm -f "$WORK/ref.img"
}

kinds="one-dir-10000 one-dir-20000 one-dir-40000 one-dir-100000 40-dirs spec-like sparse-20G"
[ "${BIG:-0}" = 1 ] && kinds="$kinds spread-1M"

echo "hackbackfs --digests on a $BASE_SIZE sparse ext4 base; $(nproc) CPUs; load at start" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-16s %9s %7s %8s %7s %7s %9s %10s %10s\n' overlay entries "cold s" "cpu s" \
	"warm s" "cpu s" "RSS MiB" "entries/s" "mke2fs -d"
for k in $kinds; do
	say "tree $k"
	make_tree "$k" "$WORK/$k"
	entries=$(find "$WORK/$k" -mindepth 1 | wc -l)
	export XDG_CACHE_HOME=$WORK/cache-$k
	read -r cw cc cr < <(run "$WORK/$k")
	read -r ww wc wr < <(run "$WORK/$k")
	ref=-
	case $k in sparse-20G|spread-1M) ;; *) ref=$(mkfs_ref "$WORK/$k") ;; esac
	printf '%-16s %9d %7.2f %8.2f %7.2f %7.2f %9.1f %10.0f %10s\n' "$k" "$entries" "$cw" "$cc" \
		"$ww" "$wc" "$(awk -v m="$(( cr > wr ? cr : wr ))" 'BEGIN { print m / 1024 }')" \
		"$(awk -v e="$entries" -v t="$cw" 'BEGIN { print e / t }')" "$ref"
	echo "$k $cw $ww" >> "$WORK/summary"
	rm -rf "$WORK/$k" "$XDG_CACHE_HOME"
done
c10=$(awk '$1 == "one-dir-10000" { print $2 }' "$WORK/summary")
c100=$(awk '$1 == "one-dir-100000" { print $2 }' "$WORK/summary")
w20=$(awk '$1 == "sparse-20G" { print $3 }' "$WORK/summary")
echo "ratio cold 100k/10k: $(awk -v a="$c100" -v b="$c10" 'BEGIN { printf "%.1f", a / b }') (target <= 12)"
echo "sparse-20G warm: $w20 s (target < 1 s); load at end $(cut -d' ' -f1-3 /proc/loadavg)"
