#!/bin/sh
# The hack-back workflow on a foreign-ISA guest under QEMU TCG: restore.sh
# (checkpoint on image A, restore onto image B) and then export.sh (the
# export mode's materialized image boots), both for HACKBACK_GUEST_ARCH.
# Run by tests/guest-arm64.sh and tests/guest-riscv64.sh; one image build
# (cached) serves both.
#
#   HACKBACK_GUEST_ARCH=arm64|riscv64 tests/guest/isa.sh HACKBACKFS
#
# HACKBACK_GUEST_EXPORT=0 leaves export.sh out.
# Exit: 0 pass, 1 fail, 77 skip (restore.sh skipped).
# SPDX-License-Identifier: BSD-3-Clause
set -u
here=$(cd "$(dirname "$0")" && pwd)
t0=$(date +%s)
rc=0
sh "$here/restore.sh" "$1" || rc=$?
t1=$(date +%s)
echo "isa.sh: ${HACKBACK_GUEST_ARCH:-amd64} restore.sh: exit $rc, $((t1 - t0)) s" >&2
[ "$rc" = 0 ] || exit "$rc"
[ "${HACKBACK_GUEST_EXPORT:-1}" != 0 ] || exit 0
sh "$here/export.sh" "$1" || rc=$?
echo "isa.sh: ${HACKBACK_GUEST_ARCH:-amd64} export.sh: exit $rc, $(($(date +%s) - t1)) s" >&2
[ "$rc" != 77 ] || rc=1     # the image was there a moment ago
exit "$rc"
