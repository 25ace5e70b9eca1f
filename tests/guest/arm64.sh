#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# The hack-back workflow on a real arm64 Debian guest under QEMU TCG:
# contrib/gem5/hack_back.py --board arm under the gem5 stand-in (checkpoint
# on image A, restore onto A and onto B), and a boot of the export mode's
# materialized image; see isa_steps in tests/guest/common.sh.
#
#   tests/guest/arm64.sh HACKBACKFS
#
# Exit: 0 pass, 1 fail, 77 skip.
set -eu
HACKBACK_GUEST_ARCH=arm64
. "$(dirname "$0")/common.sh"
isa_steps "$@"
