#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Real-guest test of the export mode (hackbackfs --export-cow).
#
#   tests/guest/export.sh HACKBACKFS
#
# Exports the Debian guest image of $HACKBACK_GUEST_ARCH (see build-image.sh)
# with overlays/hack-back, the m5 stand-in and restore script A as gem5's COW
# disk file, materializes BASE + FILE into a sparse temporary with our own
# reader of the format (tests/lib/cowapply.py, as gem5's CowDiskImage over a
# RawDiskImage would read it), and boots that under the architecture's QEMU
# (common.sh's qemu_settings: qemu-system-x86_64 -machine pc, or
# qemu-system-aarch64 / qemu-system-riscv64 -machine virt when run by
# arm64.sh / riscv64.sh): the serial log must show the
# hack-back sequence (autologin ran .bashrc, m5 checkpoint, restore script
# A's marker and not B's, m5 exit).  The materialized image must also equal
# the image a mount with the same options serves, byte for byte, when FUSE
# is usable here.
#
# Environment: as boot.sh (HACKBACK_GUEST_CACHE, HACKBACK_GUEST_TIMEOUT,
# HACKBACK_QEMU_ACCEL, HACKBACK_QEMU_CPU, HACKBACK_GUEST_KEEP), and
# HACKBACK_GUEST_ARCH (amd64, arm64, riscv64; see common.sh).
# Exit: 0 pass, 1 fail, 77 skip.
set -eu

. "$(dirname "$0")/common.sh"

hackbackfs_arg "$@"

qemu_settings
need "$qemu_sys" "$qemu_pkg"
need debootstrap debootstrap
need timeout coreutils
need python3 python3

t0=$(date +%s)
guest_image "$cache"

make_work export
trap_cleanup

write_restore_scripts
opts="m5=$here/m5-standin.sh,restore=$work/restore-a.sh"
ts=$(date +%s)
"$hackbackfs" --export-cow "$work/a.cow" -o "$opts" "$img/disk.img" "$overlay" >"$work/export.out" ||
    fail "hackbackfs --export-cow failed"
say "export: $(($(date +%s) - ts)) s, $(sed -n 's/^sectors //p' "$work/export.out") sectors, $(stat -c %s "$work/a.cow") bytes"
cp --sparse=always "$img/disk.img" "$work/a.img"
python3 -B "$srcdir/tests/lib/cowapply.py" apply "$work/a.cow" "$work/a.img" ||
    fail "the reader could not apply the file"
cmp -s "$img/disk.img" "$work/a.img" && check_failed "BASE + FILE equals BASE"

if command -v fusermount3 >/dev/null 2>&1 && [ -e /dev/fuse ]; then
    mount_image a "$opts" "$overlay"
    if cmp -s "$work/a.img" "$work/mnt-a/hack-back"; then
        say "BASE + FILE equals the mount's image"
    else
        check_failed "BASE + FILE differs from the mount's image: $(cmp "$work/a.img" "$work/mnt-a/hack-back" 2>&1 | head -n 1)"
    fi
    unmount_all
    mounts=""
else
    say "no FUSE here: the comparison with a mount is left out"
fi

boot "$work/a.img" "$work/a.log"
check "$work/a.log" "$work/restore-a.sh" "$marker_a" "$marker_b"
rm -f "$work/a.img"

say "total $(($(date +%s) - t0)) s"
finish
