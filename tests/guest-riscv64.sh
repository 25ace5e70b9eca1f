#!/bin/sh
# The hack-back workflow on a real riscv64 Debian guest under QEMU TCG:
# contrib/gem5/hack_back.py --board riscv under the gem5 stand-in (checkpoint
# on image A, restore onto A and onto B), and a boot of the export mode's
# materialized image; see tests/guest/isa.sh.
# SPDX-License-Identifier: BSD-3-Clause
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export HACKBACK_GUEST_CACHE="${HACKBACK_GUEST_CACHE:-$top_builddir/tests/guest/cache}"
HACKBACK_GUEST_ARCH=riscv64 exec sh "$top_srcdir/tests/guest/isa.sh" "$top_builddir/hackbackfs"
