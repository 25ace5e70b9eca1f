#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Checkpoint once, restore with another benchmark: QEMU migration stands in for
# a gem5 checkpoint, a qcow2 layer for gem5's disk COW; the guest image booted
# with script A is restored onto the image with script B and must run B. Runs
# after guest-boot.sh (same cached image); see tests/guest/README.md.
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export HACKBACK_GUEST_CACHE="${HACKBACK_GUEST_CACHE:-$top_builddir/tests/guest/cache}"
exec sh "$top_srcdir/tests/guest/restore.sh" "$top_builddir/hackbackfs"
