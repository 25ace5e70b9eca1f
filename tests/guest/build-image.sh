#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Build (once) a small bootable Debian guest for the hack-back boot tests.
#
#   [HACKBACK_GUEST_ARCH=amd64|arm64|riscv64] tests/guest/build-image.sh [CACHE_DIR]
#
# amd64 (the default) and arm64 are Debian 12 (bookworm), riscv64 is Debian 13
# (trixie, its first release with riscv64).  A foreign architecture is
# debootstrapped with --foreign and finished in a chroot under qemu-user-static
# (binfmt_misc: mounted and the interpreter registered here if needed, with
# the F flag, from /usr/lib/binfmt.d/qemu-*.conf; the registration is left in
# place, as qemu-user-static's own install would leave it).
#
# Prints the directory holding the result on stdout (everything else goes to
# stderr):
#   DIR/disk.img     raw disk; amd64, riscv64: MBR, one ext4 partition at
#                    sector 2048 (1 MiB); arm64: GPT, a FAT EFI system
#                    partition 1 and the ext4 partition 2 (the layout of
#                    gem5-resources' arm64 images)
#   DIR/vmlinuz      the guest kernel   } for qemu -kernel/-initrd, booted with
#   DIR/initrd.img   its initramfs      } DIR/cmdline
#   DIR/rootfs/      the debootstrapped tree the partition was made from
#   DIR/cmdline      the kernel command line to use (root=/dev/sda1
#                    console=ttyS0 on amd64; /dev/vda2 ttyAMA0 on arm64;
#                    /dev/vda1 ttyS0 on riscv64)
#   DIR/fsoffset     the byte offset of the ext4 file system in disk.img
#
# The result is cached under CACHE_DIR (default: $HACKBACK_GUEST_CACHE, else
# ./tests/guest/cache relative to the current directory, i.e. the build tree),
# keyed by the SHA-256 of this script and mkdisk.sh: edit them and the image is rebuilt,
# rerun it unchanged and it returns at once.
#
# Needs root (debootstrap chroots and creates device nodes), debootstrap,
# sfdisk (fdisk), mke2fs/e2fsck (e2fsprogs) and the network path to a Debian
# mirror. The mirror is $HACKBACK_GUEST_MIRROR, else the first Debian mirror
# configured for apt on this host (/etc/apt/sources.list or deb822 *.sources),
# else http://deb.debian.org/debian.
#
# Exit status: 0 ok, 77 a required tool is missing or we are not root
# (automake's "skip"), anything else a real failure.
set -eu

# A builder the tests call, not a test: it prints its result on stdout and
# must outlive the caller's temporary directory, so it has its own say/skip
# rather than tests/lib/common.sh's.
say() { printf 'build-image: %s\n' "$*" >&2; }
skip() { say "SKIP: $*"; exit 77; }

ARCH=${HACKBACK_GUEST_ARCH:-amd64}
DISK_MIB=${HACKBACK_GUEST_DISK_MIB:-1536}
# Per architecture: suite, name prefix in the cache, disk layout (mkdisk.sh),
# root device, serial console, the qemu-user name (foreign builds only).
case $ARCH in
    amd64) SUITE=bookworm name=debian12 layout=mbr rootdev=/dev/sda1 console=ttyS0 qarch="" ;;
    arm64) SUITE=bookworm name=debian12-arm64 layout=gpt-efi rootdev=/dev/vda2 console=ttyAMA0 qarch=aarch64 ;;
    riscv64) SUITE=trixie name=debian13-riscv64 layout=mbr rootdev=/dev/vda1 console=ttyS0 qarch=riscv64 ;;
    *) say "unknown HACKBACK_GUEST_ARCH '$ARCH' (amd64, arm64 or riscv64)"; exit 2 ;;
esac
# Packages on top of --variant=minbase: an init, device management, a kernel
# (whose postinst builds the initramfs with initramfs-tools' MODULES=most, which
# carries ata_piix/ahci/virtio_blk/sd_mod/ext4, enough for the root device).
INCLUDE=systemd-sysv,udev,linux-image-$ARCH,initramfs-tools,kmod,procps

self=$(readlink -f "$0")
cache=${1:-${HACKBACK_GUEST_CACHE:-$PWD/tests/guest/cache}}
key=$(cat "$self" "$(dirname "$self")/mkdisk.sh" | sha256sum | cut -c1-16)
out=$cache/$name-$key

if [ -f "$out/done" ]; then
    say "cached: $out"
    echo "$out"
    exit 0
fi

PATH=$PATH:/usr/sbin:/sbin
tools="debootstrap sfdisk mke2fs e2fsck flock"
[ "$layout" = mbr ] || tools="$tools mkfs.fat"
[ -z "$qarch" ] || tools="$tools qemu-$qarch-static depmod"
for t in $tools; do
    command -v "$t" >/dev/null 2>&1 ||
        skip "$t not found (install: debootstrap fdisk e2fsprogs util-linux dosfstools qemu-user-static kmod)"
done
[ "$(id -u)" = 0 ] || skip "debootstrap needs root"

# binfmt_misc must run the foreign binaries of the chroot through
# qemu-user-static.  The F flag opens the interpreter now, so it works
# inside the chroot without a copy there.
foreign_ready() {
    bm=/proc/sys/fs/binfmt_misc
    [ -e "$bm/register" ] || mount -t binfmt_misc binfmt_misc "$bm" 2>/dev/null ||
        skip "binfmt_misc is not mounted and cannot be mounted here"
    if ! grep -qx enabled "$bm/qemu-$qarch" 2>/dev/null; then
        conf=/usr/lib/binfmt.d/qemu-$qarch.conf
        [ -r "$conf" ] || skip "$conf missing (package qemu-user-static)"
        [ ! -e "$bm/qemu-$qarch" ] || echo -1 >"$bm/qemu-$qarch"    # disabled: replace
        grep -v '^#' "$conf" | head -n 1 >"$bm/register" ||
            skip "cannot register qemu-$qarch with binfmt_misc"
        say "registered qemu-$qarch with binfmt_misc"
    fi
    grep -q '^flags:.*F' "$bm/qemu-$qarch" || say "warning: qemu-$qarch is registered without the F flag"
}
[ -z "$qarch" ] || foreign_ready

find_mirror() {
    if [ -n "${HACKBACK_GUEST_MIRROR:-}" ]; then echo "$HACKBACK_GUEST_MIRROR"; return; fi
    m=""
    if [ -r /etc/apt/sources.list ]; then
        m=$(awk '$1=="deb" { for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
            /etc/apt/sources.list | grep -v security | head -n1 || true)
    fi
    if [ -z "$m" ]; then
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -r "$f" ] || continue
            m=$(awk 'tolower($1)=="uris:" { for (i=2;i<=NF;i++) print $i }' "$f" |
                grep -v security | head -n1 || true)
            [ -n "$m" ] && break
        done
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ -f "$out/done" ]; then echo "$out"; exit 0; fi   # built while we waited

mirror=$(find_mirror)
work=$cache/.build-$key.$$
rm -rf "$work"
mkdir -p "$work"
# A debootstrap cut short leaves proc and sys mounted in the tree: take
# them down first, and never let rm cross into another file system.
cleanup_work()
{
    awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf --one-file-system "$work"
}
trap cleanup_work EXIT
trap 'exit 130' INT TERM HUP
root=$work/rootfs

t0=$(date +%s)
say "debootstrap $SUITE $ARCH from $mirror (minbase + $INCLUDE)"
ds_failed() {
    tail -n 40 "$work/debootstrap.log" >&2
    [ ! -f "$root/debootstrap/debootstrap.log" ] || tail -n 20 "$root/debootstrap/debootstrap.log" >&2
    say "debootstrap failed (full log: $work/debootstrap.log)"
    trap - EXIT
    exit 1
}
if [ -z "$qarch" ]; then
    debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || ds_failed
else
    debootstrap --foreign --arch="$ARCH" --variant=minbase --include="$INCLUDE" \
        "$SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || ds_failed
    # The second stage reads the suite's Packages index (~50 MB) with perl
    # and grep several times, emulated: minutes.  Everything it looks up is
    # in the package list the first stage resolved, so the index is cut
    # down to those packages' stanzas, natively, first.
    keep=$(cat "$root/debootstrap/required" "$root/debootstrap/base")
    for idx in "$root"/var/lib/apt/lists/*_Packages; do
        # shellcheck disable=SC2086  # one argument per package
        awk -v keep="$keep" 'BEGIN { n = split(keep, k, /[ \n]+/); for (i = 1; i <= n; i++) want[k[i]] = 1; RS = ""; ORS = "\n\n" }
            { split($0, l, "\n"); p = l[1]; sub(/^Package: */, "", p); if (p in want) print }' \
            "$idx" >"$idx.cut" && mv "$idx.cut" "$idx"
    done
    # The kernel package's postinst would run depmod over ~4000 modules and
    # mkinitramfs with MODULES=most, emulated: many minutes.  The second stage
    # leaves it out (the .deb stays in the cache), it is unpacked natively,
    # the host's depmod (any architecture) indexes it, and mkinitramfs runs
    # in the chroot with just the modules these virt machines need.
    kpkgs=$(tr ' ' '\n' <"$root/debootstrap/base" | grep '^linux-image-' || true)
    [ -n "$kpkgs" ] || { say "no linux-image package in the base list"; exit 1; }
    tr ' ' '\n' <"$root/debootstrap/base" | grep -v '^linux-image-' | tr '\n' ' ' >"$root/debootstrap/base.new"
    mv "$root/debootstrap/base.new" "$root/debootstrap/base"
    # (the second stage deletes the downloaded .debs when it is done)
    mkdir "$work/kernel"
    for p in $kpkgs; do
        cp "$root/var/cache/apt/archives/${p}_"*.deb "$work/kernel/" ||
            { say "no .deb of $p after the first stage"; exit 1; }
    done
    say "first stage: $(($(date +%s) - t0)) s; second stage under qemu-$qarch-static"
    chroot "$root" /debootstrap/debootstrap --second-stage >>"$work/debootstrap.log" 2>&1 || ds_failed
    t0k=$(date +%s)
    for deb in "$work"/kernel/*.deb; do
        # --keep-directory-symlink: /lib is usr/lib in the merged-/usr tree
        dpkg-deb --fsys-tarfile "$deb" | tar -x --keep-directory-symlink -C "$root" ||
            { say "cannot unpack $deb"; exit 1; }
    done
    rm -rf "$work/kernel"
    kver=$(ls "$root/lib/modules" | sort -V | tail -n 1)
    depmod -b "$root" "$kver" || { say "depmod -b $root $kver failed"; exit 1; }
    mkdir -p "$root/etc/initramfs-tools/conf.d"
    printf 'MODULES=list\n' >"$root/etc/initramfs-tools/conf.d/hackback-modules"
    printf '%s\n' virtio_pci virtio_mmio virtio_blk ext4 >>"$root/etc/initramfs-tools/modules"
    chroot "$root" mkinitramfs -o "/boot/initrd.img-$kver" "$kver" >>"$work/debootstrap.log" 2>&1 || {
        tail -n 20 "$work/debootstrap.log" >&2
        say "mkinitramfs failed"
        exit 1
    }
    say "kernel $kver unpacked, depmod and mkinitramfs: $(($(date +%s) - t0k)) s"
fi
t1=$(date +%s)
say "debootstrap took $((t1 - t0)) s"

# --- configure the guest -----------------------------------------------------
echo hackback-guest >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\thackback-guest\n' >"$root/etc/hosts"
# Root is mounted rw by the kernel (cmdline "rw"); no fsck pass at boot.
printf '%s\t/\text4\trw,relatime\t0\t0\n' "$rootdev" >"$root/etc/fstab"
# A fixed machine-id: no first-boot presets, and the image does not depend on
# the build's randomness.
echo 6861636b6261636b6775657374000001 >"$root/etc/machine-id"
# Units that only cost boot time in a throw-away test guest.
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
         fstrim.timer systemd-timesyncd.service; do
    ln -sf /dev/null "$root/etc/systemd/system/$u"
done
# Reclaim space: package cache, lists, docs.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
mkdir -p "$root/var/lib/hack-back"

# --- kernel + initrd beside the image ----------------------------------------
# (riscv64's kernel package names it vmlinux: an uncompressed Image)
vmlinuz=$(ls "$root"/boot/vmlinu[xz]-* | sort -V | tail -n1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n1)
[ -f "$vmlinuz" ] && [ -f "$initrd" ] || { say "no kernel/initrd in $root/boot"; exit 1; }
cp "$vmlinuz" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"
chmod 0644 "$work/vmlinuz" "$work/initrd.img"
echo "root=$rootdev rw console=$console,115200 panic=-1" >"$work/cmdline"

# --- raw disk: the partition table, ext4 filled by mke2fs -d -------------------
"$(dirname "$self")/mkdisk.sh" "$root" "$work/disk.img" "$DISK_MIB" "$layout" >"$work/fsoffset"
t2=$(date +%s)
say "disk image took $((t2 - t1)) s"

printf 'arch=%s\nsuite=%s\nmirror=%s\ndebootstrap_s=%s\ndisk_s=%s\n' \
    "$ARCH" "$SUITE" "$mirror" "$((t1 - t0))" "$((t2 - t1))" >"$work/info"
touch "$work/done"
rm -rf "$out"
mv "$work" "$out"
trap - EXIT
say "built: $out"
echo "$out"
