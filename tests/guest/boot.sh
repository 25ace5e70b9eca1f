#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Real-guest test of the hack-back image.
#
#   tests/guest/boot.sh HACKBACKFS        boot images served by hackbackfs
#   tests/guest/boot.sh --direct          no hackbackfs: bake the overlay, the
#                                         m5 stand-in and a restore slot into
#                                         the image with mke2fs -d (validates
#                                         the guest side and the boot path)
#
# For each of two restore scripts (each prints its own marker) the image is
# booted under qemu-system-x86_64 (TCG by default) with the disk snapshot=on,
# and the serial log must show: root autologin on ttyS0 ran /root/.bashrc, the
# m5 checkpoint step ran, the restore script's marker (and not the other's),
# and m5 exit. With hackbackfs, the two mounts' user.hackback.layout xattrs
# must be equal and their user.hackback.digest xattrs must differ.
# --direct adds a third boot checking that `m5 readfile` wins over the slot.
#
# Environment:
#   HACKBACK_GUEST_CACHE    where the Debian image is cached (default:
#                           tests/guest/cache next to HACKBACKFS, or under $PWD)
#   HACKBACK_GUEST_TIMEOUT  seconds per boot (default 240; a TCG boot takes ~30)
#   HACKBACK_QEMU_ACCEL     qemu accelerator (default tcg; "kvm" is faster)
#   HACKBACK_QEMU_CPU       qemu -cpu (default max under tcg, host under kvm)
#   HACKBACK_GUEST_KEEP=1   keep the work dir (logs, mounts' dirs) on success
#
# Exit: 0 pass, 1 fail, 77 skip (missing tool, not root for debootstrap).
set -eu

. "$(dirname "$0")/common.sh"

mode=hackbackfs
case ${1:-} in
    --direct) mode=direct ;;
    '' | -h | --help) sed -n '2,28p' "$0"; exit 2 ;;
    *) hackbackfs=$(readlink -f "$1")
       [ -x "$hackbackfs" ] || { say "not an executable: $1"; exit 1; } ;;
esac

need qemu-system-x86_64 qemu-system-x86
need debootstrap debootstrap
need timeout coreutils
if [ "$mode" = hackbackfs ]; then
    need getfattr attr
    need fusermount3 fuse3
    [ -e /dev/fuse ] || skip "/dev/fuse missing"
else
    need mke2fs e2fsprogs
fi

if [ -n "${HACKBACK_GUEST_CACHE:-}" ]; then cache=$HACKBACK_GUEST_CACHE
elif [ "$mode" = hackbackfs ]; then cache=$(dirname "$hackbackfs")/tests/guest/cache
else cache=$PWD/tests/guest/cache
fi
qemu_settings
t0=$(date +%s)
guest_image "$cache"
t1=$(date +%s)

make_work boot
trap_cleanup

write_restore_scripts
printf '#!/bin/sh\necho "HACKBACK-READFILE-MARKER-$((7 * 7))"\n' >"$work/readfile.sh"
marker_rf=HACKBACK-READFILE-MARKER-49
marker_none='hack-back: NO RESTORE SCRIPT'

if [ "$mode" = direct ]; then
    # Bake overlay + stand-in + slot into a copy of the tree, as hackbackfs
    # would inject them, and make a fresh disk with mke2fs -d.
    mkdisk_for() { # NAME RESTORE_SCRIPT [READFILE_SCRIPT]
        r=$work/$1.root
        ts=$(date +%s)
        cp -a "$img/rootfs" "$r"
        cp -R --preserve=mode,timestamps "$overlay/." "$r/"
        install -m 0755 "$here/m5-standin.sh" "$r/sbin/m5"   # follows /sbin -> usr/sbin
        mkdir -p "$r/var/lib/hack-back"
        "$here/make-slot.sh" "$2" "$r/var/lib/hack-back/restore.slot"
        [ -z "${3:-}" ] || install -m 0644 "$3" "$r/etc/m5-standin.readfile"
        "$here/mkdisk.sh" "$r" "$work/$1.img" "$(($(stat -c %s "$img/disk.img") / 1048576))" >/dev/null
        rm -rf "$r"
        say "$1.img made in $(($(date +%s) - ts)) s"
    }
    mkdisk_for a "$work/restore-a.sh"
    mkdisk_for b "$work/restore-b.sh"
    mkdisk_for rf "$work/restore-a.sh" "$work/readfile.sh"
    mkdisk_for none ""
    boot "$work/a.img" "$work/a.log"
    check "$work/a.log" "$work/restore-a.sh" "$marker_a" "$marker_b"
    rm -f "$work/a.img"
    boot "$work/b.img" "$work/b.log"
    check "$work/b.log" "$work/restore-b.sh" "$marker_b" "$marker_a"
    rm -f "$work/b.img"
    boot "$work/rf.img" "$work/rf.log"
    check "$work/rf.log" - "$marker_rf" "$marker_a"
    rm -f "$work/rf.img"
    # Empty slot, empty readfile: the guest says so and leaves a shell; typing
    # "exit" there must end in m5 exit.
    boot "$work/none.img" "$work/none.log" "$marker_none" exit
    check "$work/none.log" - "$marker_none" "$marker_a" "$marker_b" "restore script exited"
    rm -f "$work/none.img"
else
    for n in a b none; do
        opts="m5=$here/m5-standin.sh"
        [ "$n" = none ] || opts="$opts,restore=$work/restore-$n.sh"
        mount_image "$n" "$opts" "$overlay"
    done
    la=$(xa layout a) lb=$(xa layout b) ln=$(xa layout none)
    da=$(xa digest a) db=$(xa digest b)
    say "layout a=$la b=$lb none=$ln"
    say "digest a=$da b=$db"
    [ -n "$la" ] && [ "$la" = "$lb" ] || check_failed "user.hackback.layout differs between the two restore scripts"
    [ "$la" = "$ln" ] || check_failed "user.hackback.layout differs between a restore script and none"
    [ -n "$da" ] && [ "$da" != "$db" ] || check_failed "user.hackback.digest is the same for two restore scripts"
    # hackbackfs --digests must print the same identities without mounting.
    want=$(printf 'layout %s\ndigest %s' "$la" "$da")
    got=$("$hackbackfs" --digests -o "m5=$here/m5-standin.sh,restore=$work/restore-a.sh" \
        "$img/disk.img" "$overlay" 2>&1 | grep -E '^(layout|digest) ' || true)
    [ "$got" = "$want" ] || check_failed "hackbackfs --digests printed '$got', the mount has '$want'"
    boot "$work/mnt-a/hack-back" "$work/a.log"
    check "$work/a.log" "$work/restore-a.sh" "$marker_a" "$marker_b"
    boot "$work/mnt-b/hack-back" "$work/b.log"
    check "$work/b.log" "$work/restore-b.sh" "$marker_b" "$marker_a"
    boot "$work/mnt-none/hack-back" "$work/none.log" "$marker_none" exit
    check "$work/none.log" - "$marker_none" "$marker_a" "$marker_b" "restore script exited"
fi

t2=$(date +%s)
say "total $((t2 - t0)) s (image $((t1 - t0)) s, boots $((t2 - t1)) s)"
finish
