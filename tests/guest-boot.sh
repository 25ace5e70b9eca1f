#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# A real guest: a small Debian 12 image (debootstrap, cached in the build
# tree) served by hackbackfs with overlays/hack-back, an m5 stand-in and two
# restore scripts, booted under qemu-system-x86_64; see tests/guest/README.md.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export HACKBACK_GUEST_CACHE="${HACKBACK_GUEST_CACHE:-$top_builddir/tests/guest/cache}"
exec sh "$top_srcdir/tests/guest/boot.sh" "$top_builddir/hackbackfs"
