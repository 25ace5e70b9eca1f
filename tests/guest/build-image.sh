#!/bin/sh
# Build (once) a small bootable Debian 12 guest for the hack-back boot test.
#
#   tests/guest/build-image.sh [CACHE_DIR]
#
# Prints the directory holding the result on stdout (everything else goes to
# stderr):
#   DIR/disk.img     raw disk: MBR, one ext4 partition at sector 2048 (1 MiB)
#   DIR/vmlinuz      the guest kernel   } for qemu -kernel/-initrd, booted with
#   DIR/initrd.img   its initramfs      } root=/dev/sda1 console=ttyS0
#   DIR/rootfs/      the debootstrapped tree the partition was made from
#   DIR/cmdline      the kernel command line to use
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

SUITE=bookworm
DISK_MIB=${HACKBACK_GUEST_DISK_MIB:-1536}
# Packages on top of --variant=minbase: an init, device management, a kernel
# (whose postinst builds the initramfs with initramfs-tools' MODULES=most, which
# carries ata_piix/ahci/virtio_blk/sd_mod/ext4, enough for root=/dev/sda1).
INCLUDE=systemd-sysv,udev,linux-image-amd64,initramfs-tools,kmod,procps

say() { printf 'build-image: %s\n' "$*" >&2; }
skip() { say "SKIP: $*"; exit 77; }

self=$(readlink -f "$0")
cache=${1:-${HACKBACK_GUEST_CACHE:-$PWD/tests/guest/cache}}
key=$(cat "$self" "$(dirname "$self")/mkdisk.sh" | sha256sum | cut -c1-16)
out=$cache/debian12-$key

if [ -f "$out/done" ]; then
    say "cached: $out"
    echo "$out"
    exit 0
fi

for t in debootstrap sfdisk mke2fs e2fsck flock; do
    command -v "$t" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$t" >/dev/null 2>&1 ||
        skip "$t not found (install: debootstrap fdisk e2fsprogs util-linux)"
done
PATH=$PATH:/usr/sbin:/sbin
[ "$(id -u)" = 0 ] || skip "debootstrap needs root"

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
say "debootstrap $SUITE from $mirror (minbase + $INCLUDE)"
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$mirror" \
    >"$work/debootstrap.log" 2>&1 || {
    tail -n 40 "$work/debootstrap.log" >&2
    say "debootstrap failed (full log: $work/debootstrap.log)"
    trap - EXIT
    exit 1
}
t1=$(date +%s)
say "debootstrap took $((t1 - t0)) s"

# --- configure the guest -----------------------------------------------------
echo hackback-guest >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\thackback-guest\n' >"$root/etc/hosts"
# Root is mounted rw by the kernel (cmdline "rw"); no fsck pass at boot.
printf '/dev/sda1\t/\text4\trw,relatime\t0\t0\n' >"$root/etc/fstab"
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
vmlinuz=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)
initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n1)
[ -f "$vmlinuz" ] && [ -f "$initrd" ] || { say "no kernel/initrd in $root/boot"; exit 1; }
cp "$vmlinuz" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"
chmod 0644 "$work/vmlinuz" "$work/initrd.img"
echo "root=/dev/sda1 rw console=ttyS0,115200 panic=-1" >"$work/cmdline"

# --- raw disk: MBR + one ext4 partition at 1 MiB, filled by mke2fs -d ---------
"$(dirname "$self")/mkdisk.sh" "$root" "$work/disk.img" "$DISK_MIB"
t2=$(date +%s)
say "disk image took $((t2 - t1)) s"

printf 'suite=%s\nmirror=%s\ndebootstrap_s=%s\ndisk_s=%s\n' \
    "$SUITE" "$mirror" "$((t1 - t0))" "$((t2 - t1))" >"$work/info"
touch "$work/done"
rm -rf "$out"
mv "$work" "$out"
trap - EXIT
say "built: $out"
echo "$out"
