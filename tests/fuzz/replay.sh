#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/fuzz/replay.sh -- every fuzz target over its seed corpus (made now), the
# inputs kept in tests/fuzz/regress/TARGET (the ones that found bugs) and
# the corpus `make fuzz' grew in tests/fuzz/work/TARGET, if any.  The
# replay drivers are the targets linked with a plain main(): a bug aborts
# the run (and, in a sanitizer build, any report does).  Where configure
# found clang's libFuzzer, the libFuzzer builds (make fuzz's) run over the
# same inputs once too.
. "${top_srcdir:-.}/tests/lib/common.sh"
. "$top_srcdir/tests/fuzz/lib.sh"
requires mke2fs e2fsck sfdisk gzip
for t in probe build cow; do
	replay=$top_builddir/tests/fuzz/replay-$t
	[ -x "$replay" ] || fail "$replay not built (run make check)"
	# shellcheck disable=SC2046  # one directory per line, no spaces
	"$replay" $(fuzz_inputs $t) || fail "fuzz target $t failed on an input above"
	fuzzer=$top_builddir/tests/fuzz/fuzz-$t
	if [ -x "$fuzzer" ]; then
		mkdir -p "$tmp/lf-$t"
		# shellcheck disable=SC2046
		"$fuzzer" -runs=0 -max_len=3200000 -artifact_prefix="$tmp/lf-$t/" \
			$(fuzz_inputs $t) >"$tmp/lf-$t.log" 2>&1 ||
			{ tail -n 30 "$tmp/lf-$t.log"; fail "libFuzzer build of $t failed on an input"; }
		grep -q 'Done [0-9]* runs\|INITED' "$tmp/lf-$t.log" ||
			{ tail -n 30 "$tmp/lf-$t.log"; fail "libFuzzer build of $t ran nothing"; }
		echo "libFuzzer fuzz-$t: $(grep -o 'INITED.*' "$tmp/lf-$t.log" | head -n 1)"
	else
		echo "note: $fuzzer not built (no clang with libFuzzer): replay drivers only"
	fi
done
