#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The gem5 side's digest helper (contrib/gem5/hackback_digest.py), unit-tested
# without gem5, and the run script at least compiles.  When the program is
# built and mke2fs is here, the helper's base fingerprint must also equal the
# one hackbackfs prints (sampled and -o fullhash) and the one in a COW file of
# hackbackfs --export-cow, and check-base must refuse another BASE.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
requires python3
# FreshCopyTest runs the built program (it skips itself without it).
HACKBACKFS=$top_builddir/hackbackfs
export HACKBACKFS
helper="python3 -B $top_srcdir/contrib/gem5/hackback_digest.py"
hb=$top_builddir/hackbackfs
if [ -x "$hb" ] && command -v mke2fs >/dev/null; then
	truncate -s 40M "$tmp/base.img"
	mke2fs -q -t ext4 "$tmp/base.img"
	mkdir -p "$tmp/ov/etc"
	echo x >"$tmp/ov/etc/x"
	fp=$("$hb" --digests "$tmp/base.img" "$tmp/ov" | sed -n 's/^base //p')
	[ "$fp" = "$($helper fingerprint "$tmp/base.img")" ] ||
		fail "the helper's fingerprint differs from hackbackfs's ($fp)"
	fp=$("$hb" --digests -o fullhash "$tmp/base.img" "$tmp/ov" | sed -n 's/^base //p')
	[ "$fp" = "$($helper fingerprint "$tmp/base.img" full)" ] ||
		fail "the helper's full fingerprint differs from hackbackfs's ($fp)"
	"$hb" --export-cow "$tmp/x.cow" "$tmp/base.img" "$tmp/ov" >/dev/null
	$helper check-base "$tmp/base.img" "$tmp/x.cow" >/dev/null ||
		fail "check-base refused the export's own BASE"
	printf 'other' | dd of="$tmp/base.img" bs=1 seek=600 conv=notrunc status=none
	if $helper check-base "$tmp/base.img" "$tmp/x.cow" 2>/dev/null; then
		fail "check-base accepted a changed BASE"
	fi
	echo "ok: hackbackfs and the helper agree on the base fingerprint"
else
	echo "note: hackbackfs not built or no mke2fs: no cross-check with the program"
fi
# The gem5 stand-in (tests/guest/gem5standin) compiles too, and imports: its
# modules have the paths hack_back.py imports.
( cd "$top_srcdir/tests/guest/gem5standin" &&
  python3 -B -c 'import sys, glob; [compile(open(f).read(), f, "exec") for f in glob.glob("**/*.py", recursive=True) + ["gem5-standin"]]' &&
  python3 -B -c 'import gem5.components.boards.x86_board, gem5.components.boards.arm_board, gem5.components.boards.riscv_board, gem5.simulate.simulator, gem5.components.processors.simple_switchable_processor' &&
  HACKBACK_STANDIN_API=v25 python3 -B -c 'import gem5.simulate.exit_handler, gem5.simulate.simulator' ) ||
	fail "the gem5 stand-in does not compile or import"
# hack_back.py's board set-up for x86, arm and riscv and its exit handling on
# the stand-in (no boot), posing as gem5 v24.0 and as v25 (exit handlers,
# hypercalls).
for api in v24 v25; do
	HACKBACK_STANDIN_API=$api python3 -B "$top_srcdir/tests/guest/gem5standin/selftest.py" \
		"$top_srcdir/contrib/gem5" 2>&1 ||
		fail "hack_back.py on the gem5 stand-in posing as $api"
done
cd "$top_srcdir/contrib/gem5"
# -B: no __pycache__ (the source tree may be read-only, as in distcheck).
python3 -B -c 'import sys; [compile(open(f).read(), f, "exec") for f in sys.argv[1:]]' \
	hack_back.py hackback_digest.py
python3 -B -m unittest -v test_hackback_digest 2>&1
