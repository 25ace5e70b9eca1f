#!/bin/sh
# fuzz-replay.sh -- every fuzz target over its seed corpus (made now), the
# inputs kept in tests/fuzz/regress/TARGET (the ones that found bugs) and
# the corpus `make fuzz' grew in tests/fuzz/work/TARGET, if any.  The
# replay drivers are the targets linked with a plain main(): a bug aborts
# the run (and, in a sanitizer build, any report does).
. "${top_srcdir:-.}/tests/lib.sh"
. "$top_srcdir/tests/fuzz/lib.sh"
requires mke2fs e2fsck sfdisk gzip
for t in probe build cow; do
	replay=$top_builddir/tests/fuzz/replay-$t
	[ -x "$replay" ] || fail "$replay not built (run make check)"
	# shellcheck disable=SC2046  # one directory per line, no spaces
	"$replay" $(fuzz_inputs $t) || fail "fuzz target $t failed on an input above"
done
