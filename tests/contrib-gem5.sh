#!/bin/sh
# The gem5 side's digest helper (contrib/gem5/hackback_digest.py), unit-tested
# without gem5, and the run script at least compiles.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
command -v python3 >/dev/null || { echo "SKIP: no python3"; exit 77; }
cd "$top_srcdir/contrib/gem5"
python3 -m py_compile hack_back.py hackback_digest.py
exec python3 -m unittest -v test_hackback_digest 2>&1
