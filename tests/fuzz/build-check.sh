#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/fuzz/build-check.sh [CORPUS_DIR...] -- what fuzz-build cannot check per
# input: every base is either refused cleanly (exit 1, exactly one message
# line) or becomes an image whose file system passes `e2fsck -fn'.
#
# Each input runs through tests/fuzz/replay-build with HB_FUZZ_OUT set (the
# target's own pipeline and overlay, the image written out).  A base that
# e2fsck already rejects is garbage in: if the result fails too, with no
# kind of problem its base did not have, it is counted ("base
# inconsistent"), not failed -- the checks in inject.c keep such bases
# from crashing anything and from being made worse, they cannot prove a
# base consistent.  A result that fails e2fsck while its base passed, or
# with a new kind of problem (numbers aside), is a failure, and so is any
# result of a kept regression input (regress/build: those found bugs of
# exactly this kind, and must now be refused).  One exception, counted
# apart: a base whose block bitmap calls free blocks that a file uses
# ("Block bitmap differences: +..."), where every block the image has
# claimed twice is one of those, and none is the file system's own (those
# the checks do cover).  The allocator takes the bitmap's word;
# checking it would take a scan of every inode in BASE (e2fsck's pass 1),
# which a mount must not cost.  The checks in inject.c cover the files on
# the injection's paths.
#
# Default corpus: the seeds (made now) and tests/fuzz/regress/build, plus
# tests/fuzz/work/build when `make fuzz' left one, plus the directory $HB_FUZZ_CORPUS.
. "${top_srcdir:-.}/tests/lib/common.sh"
. "$top_srcdir/tests/fuzz/lib.sh"
requires mke2fs e2fsck sfdisk gzip timeout
replay=$top_builddir/tests/fuzz/replay-build
[ -x "$replay" ] || fail "$replay not built (run make check)"

if [ $# -eq 0 ]; then
	# shellcheck disable=SC2046  # one directory per line, no spaces
	set -- $(fuzz_inputs build) ${HB_FUZZ_CORPUS:-}
fi

fsck_ok()
{
	timeout 120 e2fsck -fn "$1?offset=$2" >"$tmp/fsck.out" 2>&1
}

# The kinds of problem e2fsck reported in $tmp/fsck.out: its lines with
# every number, the file's name and the list of a bitmap's differences
# taken out.
problems()
{
	grep -v -e '^Pass [0-9]' -e '^e2fsck [0-9]' -e 'WARNING: Filesystem still has errors' \
		-e 'non-contiguous)' -e '^$' "$tmp/fsck.out" |
		sed -E "s#$tmp/(base|out)#IMAGE#g; s/(bitmap differences:).*/\1/; s/[0-9]+/N/g" |
		sort -u
}

# The base as fuzz-build saw it: an even-sized input padded to a whole MiB.
base_fsck_ok()
{
	cp "$1" "$tmp/base"
	_s=$(stat -c %s "$1")
	[ $((_s % 2)) -ne 0 ] || truncate -s $(((_s + 1048575) / 1048576 * 1048576)) "$tmp/base"
	fsck_ok "$tmp/base" "$2"
}

# The blocks listed on "PREFIX list" lines of e2fsck output FILE, one a
# line: "+(149--162) +164 -(172--249)" -> 149..162, 164 with PREFIX
# "Block bitmap differences:" and SIGN "+"; SIGN "" takes every range.
blocks_listed()
{
	grep -F -- "$2" "$1" | sed "s/.*$2//" | tr ' ' '\n' |
		sed -n "s/^$3(\{0,1\}\([0-9][0-9]*\)\(--\([0-9][0-9]*\)\)\{0,1\})\{0,1\}\$/\1 \3/p" |
		awk '{ hi = $2 == "" ? $1 : $2; for (b = $1; b <= hi; b++) print b }' | sort -u
}

# The base's bitmap called free every block the image claims twice.
bitmap_lied()
{
	blocks_listed "$tmp/out.fsck" 'in inode' '' >"$tmp/twice"
	[ -s "$tmp/twice" ] || return 1
	blocks_listed "$tmp/fsck.out" 'Block bitmap differences:' '+' >"$tmp/lied"
	[ -z "$(comm -23 "$tmp/twice" "$tmp/lied")" ]
}

n=0 refused=0 clean=0 garbage=0 lied=0
for dir; do
	for f in "$dir"/*; do
		[ -f "$f" ] || continue
		n=$((n + 1))
		rm -f "$tmp/out"
		set +e
		off=$(HB_FUZZ_OUT=$tmp/out timeout 300 "$replay" "$f" 2>"$tmp/err")
		st=$?
		set -e
		lines=$(wc -l <"$tmp/err")
		if [ $st -eq 1 ] && [ "$lines" -eq 1 ] && grep -q '^hackbackfs: ' "$tmp/err"; then
			refused=$((refused + 1))
		elif [ $st -ne 0 ] || [ "$lines" -ne 0 ]; then
			check_failed "$f: exit $st, $lines lines on stderr:"
			head -n 20 "$tmp/err" >&2
		elif fsck_ok "$tmp/out" "$off"; then
			clean=$((clean + 1))
		elif problems >"$tmp/out.problems" && cp "$tmp/fsck.out" "$tmp/out.fsck" &&
			case $dir in */regress/build) false ;; esac && ! base_fsck_ok "$f" "$off"; then
			problems | comm -13 - "$tmp/out.problems" >"$tmp/new"
			if [ -s "$tmp/new" ] && grep -q 'Multiply-claimed block(s) in inode' "$tmp/out.fsck" &&
				! grep -q '<filesystem metadata>' "$tmp/out.fsck" && bitmap_lied; then
				lied=$((lied + 1))
			elif [ -s "$tmp/new" ]; then
				check_failed "$f: the image has problems its base does not:"
				head -n 20 "$tmp/new" >&2
			else
				garbage=$((garbage + 1))
			fi
		else
			check_failed "$f: the base passes e2fsck -fn, the image does not:"
			fsck_ok "$tmp/out" "$off" || head -n 20 "$tmp/fsck.out" >&2
		fi
	done
done
echo "$HB_TEST: $n inputs: $refused refused, $clean clean images, $garbage inconsistent bases," \
	"$lied bases whose bitmap calls used blocks free, $failures failures"
[ "$n" -gt 0 ] || fail "no inputs"
[ "$failures" -eq 0 ] || fail "$failures inputs failed"
