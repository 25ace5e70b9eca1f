#!/bin/sh
# The gem5 side's digest helper (contrib/gem5/hackback_digest.py), unit-tested
# without gem5, and the run script at least compiles.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
: "${top_builddir:=$top_srcdir}"
# FreshCopyTest runs the built program (it skips itself without it).
HACKBACKFS=$top_builddir/hackbackfs
export HACKBACKFS
cd "$top_srcdir/contrib/gem5"
# -B: no __pycache__ (the source tree may be read-only, as in distcheck).
python3 -B -c 'import sys; [compile(open(f).read(), f, "exec") for f in sys.argv[1:]]' \
	hack_back.py hackback_digest.py
exec python3 -B -m unittest -v test_hackback_digest 2>&1
