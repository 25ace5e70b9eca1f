#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Look-alikes of gem5-resources' official x86 Ubuntu images, made from the
# cached Debian guest (build-image.sh) with what matters to hack-back:
#
#   tests/guest/lookalike.sh VARIANT [CACHE_DIR]   VARIANT: dropin | unit | bionic
#
# dropin and unit, the 22.04/24.04 images:
#   * GPT: partition 1 a 1 MiB bios_grub, partition 2 the ext4 root file system
#     (fixed disk and partition GUIDs);
#   * /sbin/init -> /sbin/gem5_init.sh: mounts proc and sys, prints "Kernel
#     booted", runs `gem5-bridge exit` (the image's own, a boot marker), then
#     execs systemd (with kernel argument no_systemd: `su - gem5` instead);
#   * /usr/local/bin/gem5-bridge (the gem5 stand-in's guest m5, as the real
#     image carries a gem5-built m5) and /usr/local/bin/m5 -> gem5-bridge;
#   * user gem5 whose login shell runs ~/after_boot.sh once: gem5-bridge exit,
#     gem5-bridge readfile > /tmp/script, run it, gem5-bridge exit; it prints
#     LOOKALIKE-AFTER-BOOT-RAN, which a hack-back boot must never show;
#   * autologin of gem5 on the serial getty: VARIANT dropin as
#     /etc/systemd/system/serial-getty@.service.d/override.conf (newer builds),
#     VARIANT unit as a replaced /lib/systemd/system/serial-getty@.service
#     (older builds).
# bionic, the 18.04 family (hack-back, npb, boot-exit):
#   * MBR: one ext4 partition at 1 MiB, partition 1 (fixed disk signature);
#   * /sbin/init is systemd; the image's own m5 at /sbin/m5 (the stand-in's
#     guest m5);
#   * autologin of root by a replaced /lib/systemd/system/serial-getty@.service;
#   * root's .bashrc runs the image's readfile flow (prints
#     LOOKALIKE-AFTER-BOOT-RAN, m5 readfile > /tmp/script, runs it, m5 exit),
#     which the overlay's .bashrc replaces.
#
# Prints the directory: DIR/disk.img, DIR/vmlinuz and DIR/initrd.img (links to
# the Debian guest's). Cached in CACHE/lookalike-VARIANT-<key>/, the key being
# the SHA-256 of this script, the guest m5 and the Debian image's directory
# name. No loop device, no mount: the tree is copied and made into the
# partition with mke2fs -d. Exit 77 when a tool is missing.
set -eu
PATH=$PATH:/usr/sbin:/sbin
# A builder the tests call, not a test: it prints its result on stdout and
# must outlive the caller's temporary directory, so it has its own say/skip
# rather than tests/lib/common.sh's.
say() { printf 'lookalike: %s\n' "$*" >&2; }
variant=${1:?usage: lookalike.sh dropin|unit|bionic [CACHE_DIR]}
case $variant in dropin | unit | bionic) ;; *) say "unknown variant $variant"; exit 2 ;; esac
here=$(cd "$(dirname "$0")" && pwd)
cache=${2:-${HACKBACK_GUEST_CACHE:-$PWD/tests/guest/cache}}
for t in sfdisk mke2fs e2fsck; do
    command -v $t >/dev/null 2>&1 || { say "SKIP: $t not found"; exit 77; }
done

rc=0
base=$("$here/build-image.sh" "$cache") || rc=$?
[ "$rc" = 0 ] || exit "$rc"
key=$(cat "$0" "$here/gem5standin/guest-m5.sh" | sha256sum | cut -c1-12)
out=$cache/lookalike-$variant-$key-$(basename "$base")
if [ -f "$out/done" ]; then
    echo "$out"
    exit 0
fi
[ "$(id -u)" = 0 ] || { say "SKIP: copying the guest tree (owners, devices) needs root"; exit 77; }
exec 9>"$cache/.lock-lookalike-$variant"
flock 9
if [ -f "$out/done" ]; then echo "$out"; exit 0; fi
t0=$(date +%s)
work=$cache/.lookalike-$variant.$$
rm -rf "$work"
trap 'rm -rf --one-file-system "$work"' EXIT
mkdir -p "$work"
root=$work/rootfs
cp -a "$base/rootfs" "$root"
agetty_args='--noclear --keep-baud 115200,57600,38400,9600 %I $TERM'

# replace_getty USER: autologin USER by rewriting the serial-getty unit itself.
replace_getty() {
    unit=$root/lib/systemd/system/serial-getty@.service
    sed "s|^ExecStart=.*|ExecStart=-/sbin/agetty --autologin $1 $agetty_args|" \
        "$unit" >"$unit.new"
    grep -q "autologin $1" "$unit.new" || { say "no ExecStart= in $unit"; exit 1; }
    mv "$unit.new" "$unit"
}

# finish: the look-alike's directory (disk.img, the Debian guest's kernel and
# initrd) into the cache.
finish() {
    rm -rf --one-file-system "$root"
    ln -s "$base/vmlinuz" "$work/vmlinuz"
    ln -s "$base/initrd.img" "$work/initrd.img"
    touch "$work/done"
    rm -rf "$out"
    mv "$work" "$out"
    trap - EXIT
    say "built $out ($(($(date +%s) - t0)) s)"
    echo "$out"
}

mib=1536
disk=$work/disk.img
if [ "$variant" = bionic ]; then
    install -m 0755 "$here/gem5standin/guest-m5.sh" "$root/sbin/m5"
    replace_getty root
    cat >"$root/root/.bashrc" <<'EOF_BASHRC'
# root (look-alike of the 18.04 family): run what m5 readfile returns, then
# end the simulation.
echo "LOOKALIKE-AFTER-BOOT-RAN"
/sbin/m5 readfile >/tmp/script
chmod 755 /tmp/script
if [ -s /tmp/script ]; then
    /tmp/script
    sync
    /sbin/m5 exit
fi
echo "No script found"
EOF_BASHRC
    partuuid=62696f6e-01  # "bion": not the Debian image's 6861636b
    printf 'PARTUUID=%s\t/\text4\trw,relatime\t0\t0\n' "$partuuid" >"$root/etc/fstab"
    truncate -s ${mib}M "$disk"
    printf '%s\n' 'label: dos' 'label-id: 0x62696f6e' 'start=2048, type=83' |
        sfdisk --quiet --no-reread --no-tell-kernel "$disk" >/dev/null
    mke2fs -q -F -t ext4 -b 4096 -L lookalike-root -U 6861636b-6c6b-6165-2d66-730000000001 \
        -E offset=1048576,hash_seed=6861636b-6c6b-6165-2d68-617368736565 \
        -d "$root" "$disk" $(((mib - 1) * 256))
    e2fsck -fn "$disk?offset=1048576" >/dev/null 2>&1 || { say "e2fsck found problems"; exit 1; }
    finish
    exit 0
fi

# --- boot chain: /sbin/init -> gem5_init.sh ---------------------------------
cat >"$root/sbin/gem5_init.sh" <<'EOF'
#!/bin/bash
# gem5-resources-style init (look-alike): tell the simulator the kernel is up.
mount -t proc /proc /proc 2>/dev/null
mount -t sysfs /sys /sys 2>/dev/null
printf 'Kernel booted, in gem5_init.sh\n' >/dev/console
/usr/local/bin/gem5-bridge exit
if grep -qw no_systemd /proc/cmdline; then
    exec su - gem5
fi
exec /lib/systemd/systemd
EOF
chmod 0755 "$root/sbin/gem5_init.sh"
rm -f "$root/sbin/init"
ln -s gem5_init.sh "$root/sbin/init"

# --- gem5-bridge, m5 -> gem5-bridge -------------------------------------------
mkdir -p "$root/usr/local/bin"
install -m 0755 "$here/gem5standin/guest-m5.sh" "$root/usr/local/bin/gem5-bridge"
ln -sf gem5-bridge "$root/usr/local/bin/m5"

# --- user gem5 and its after_boot flow ----------------------------------------
echo 'gem5:x:1000:1000:gem5:/home/gem5:/bin/bash' >>"$root/etc/passwd"
echo 'gem5:*:19000:0:99999:7:::' >>"$root/etc/shadow"
echo 'gem5:x:1000:' >>"$root/etc/group"
mkdir -p "$root/home/gem5"
cat >"$root/home/gem5/.bashrc" <<'EOF'
# gem5 user (look-alike): run the after-boot flow once, on the first login.
if [ -z "${AFTER_BOOT_EXECUTED:-}" ] && [ ! -e /tmp/.after_boot_done ]; then
    export AFTER_BOOT_EXECUTED=1
    : >/tmp/.after_boot_done
    ~/after_boot.sh
fi
EOF
cat >"$root/home/gem5/after_boot.sh" <<'EOF'
#!/bin/bash
# after_boot (look-alike): exit, fetch the readfile script, run it, exit.
echo "LOOKALIKE-AFTER-BOOT-RAN"
gem5-bridge exit
gem5-bridge readfile >/tmp/script && chmod +x /tmp/script && /tmp/script
gem5-bridge exit
EOF
chmod 0755 "$root/home/gem5/after_boot.sh"
cp "$root/home/gem5/.bashrc" "$root/home/gem5/.profile"
chown -R 1000:1000 "$root/home/gem5"

# --- autologin of gem5 on the serial console -----------------------------------
if [ "$variant" = dropin ]; then
    mkdir -p "$root/etc/systemd/system/serial-getty@.service.d"
    printf '%s\n' '[Service]' 'ExecStart=' \
        "ExecStart=-/sbin/agetty --autologin gem5 $agetty_args" \
        >"$root/etc/systemd/system/serial-getty@.service.d/override.conf"
else
    replace_getty gem5
fi

# --- GPT disk: bios_grub p1, ext4 p2 -------------------------------------------
partuuid=6861636b-6c6b-6165-6c69-6b6500000002
printf '/dev/disk/by-partuuid/%s\t/\text4\trw,relatime\t0\t0\n' "$partuuid" >"$root/etc/fstab"
truncate -s ${mib}M "$disk"
printf '%s\n' 'label: gpt' 'label-id: 6861636B-6C6B-6165-6C69-6B6500000000' \
    'start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, uuid=6861636B-6C6B-6165-6C69-6B6500000001' \
    "start=4096, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=$partuuid" |
    sfdisk --quiet --no-reread --no-tell-kernel "$disk" >/dev/null
mke2fs -q -F -t ext4 -b 4096 -L lookalike-root -U 6861636b-6c6b-6165-2d66-730000000002 \
    -E offset=2097152,hash_seed=6861636b-6c6b-6165-2d68-617368736565 \
    -d "$root" "$disk" $(((mib - 3) * 256))
e2fsck -fn "$disk?offset=2097152" >/dev/null 2>&1 || { say "e2fsck found problems"; exit 1; }
finish
