#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# A real guest booted from the export mode's output: BASE + the COW file
# (hackbackfs --export-cow), applied by our own reader of gem5's format; see
# tests/guest/export.sh.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export HACKBACK_GUEST_CACHE="${HACKBACK_GUEST_CACHE:-$top_builddir/tests/guest/cache}"
exec sh "$top_srcdir/tests/guest/export.sh" "$top_builddir/hackbackfs"
