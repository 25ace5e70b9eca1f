#!/bin/sh
# The hack-back workflow on a foreign-ISA guest under QEMU TCG, for
# HACKBACK_GUEST_ARCH: standin-isa.sh (contrib/gem5/hack_back.py --board
# arm|riscv under the gem5 stand-in, mount mode: checkpoint on image A,
# restore onto A, restore onto B, B's script runs and its status reaches
# hack_back.py) and then export.sh (the export mode's materialized image
# boots). Run by tests/guest-arm64.sh and tests/guest-riscv64.sh; one image
# build (cached) serves both.
#
#   HACKBACK_GUEST_ARCH=arm64|riscv64 tests/guest/isa.sh HACKBACKFS
#
# standin-isa.sh takes the place restore.sh (QEMU migration driven directly,
# with the guest page-cache trap and its control run) had here: the same
# checkpoint on A / restore onto B / B's script runs / slot-not-in-the-layer
# assertions, through the real run script, in the same CI time; the trap is
# ISA-independent and guest-restore.sh keeps it on amd64.
# HACKBACK_GUEST_RESTORE=1 runs restore.sh as well; HACKBACK_GUEST_EXPORT=0
# leaves export.sh out.
# Exit: 0 pass, 1 fail, 77 skip (standin-isa.sh skipped).
# SPDX-License-Identifier: BSD-3-Clause
set -u
here=$(cd "$(dirname "$0")" && pwd)
a=${HACKBACK_GUEST_ARCH:-amd64}
# step NAME SCRIPT HACKBACKFS: run it, report its time, status in rc
step() {
    _t=$(date +%s)
    rc=0
    sh "$here/$2" "$3" || rc=$?
    echo "isa.sh: $a $1: exit $rc, $(($(date +%s) - _t)) s" >&2
}
step standin-isa.sh standin-isa.sh "$1"
[ "$rc" = 0 ] || exit "$rc"
if [ "${HACKBACK_GUEST_RESTORE:-0}" = 1 ]; then
    step restore.sh restore.sh "$1"
    [ "$rc" = 0 ] || exit 1
fi
[ "${HACKBACK_GUEST_EXPORT:-1}" != 0 ] || exit 0
step export.sh export.sh "$1"
[ "$rc" != 77 ] || rc=1     # the image was there a moment ago
exit "$rc"
