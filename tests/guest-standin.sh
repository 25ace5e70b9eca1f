#!/bin/sh
# contrib/gem5/hack_back.py end to end under the gem5 stand-in: checkpoint,
# restore A, restore B (failing) and wrong restores, on the Debian guest and
# two look-alikes of gem5-resources' 22.04/24.04 images, mount and export
# mode, and a look-alike of their 18.04 family, mount mode; one restore with
# the stand-in posing as gem5 v25; see tests/guest/README.md.
# SPDX-License-Identifier: BSD-3-Clause
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export HACKBACK_GUEST_CACHE="${HACKBACK_GUEST_CACHE:-$top_builddir/tests/guest/cache}"
exec sh "$top_srcdir/tests/guest/standin.sh" "$top_builddir/hackbackfs"
