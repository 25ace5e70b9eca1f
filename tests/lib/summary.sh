#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/lib/summary.sh BUILDDIR -- one line for CI after `make check':
#
#   tests: N passed, N failed, N skipped
#
# read from the automake test drivers' *.trs files under BUILDDIR (one
# ":test-result: RESULT" line per result).  PASS and XFAIL count as passed;
# FAIL, ERROR and XPASS as failed; SKIP as skipped.
set -eu
dir=${1:-.}
[ -d "$dir" ] || { echo "summary.sh: $dir: not a directory" >&2; exit 2; }

find "$dir" -name '*.trs' -type f -exec cat {} + 2>/dev/null |
	awk '
		$1 == ":test-result:" {
			if ($2 == "PASS" || $2 == "XFAIL") passed++
			else if ($2 == "FAIL" || $2 == "ERROR" || $2 == "XPASS") failed++
			else if ($2 == "SKIP") skipped++
		}
		END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped }
	'
