#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The hack-back workflow on a real riscv64 Debian guest under QEMU TCG:
# contrib/gem5/hack_back.py --board riscv under the gem5 stand-in (checkpoint
# on image A, restore onto A and onto B), and a boot of the export mode's
# materialized image; see isa_steps in tests/guest/common.sh.
#
#   tests/guest/riscv64.sh HACKBACKFS
#
# Exit: 0 pass, 1 fail, 77 skip.
set -eu
HACKBACK_GUEST_ARCH=riscv64
. "$(dirname "$0")/common.sh"
isa_steps "$@"
