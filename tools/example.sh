#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tools/example.sh -- the main job on a small example, no root needed.
#
# Makes a 128 MiB gem5-style base image (MBR, one ext4 partition at 1 MiB,
# a merged-usr tree) with mke2fs -d, mounts it with hackbackfs, the
# project's hack-back overlay, an m5 stand-in and a restore script, shows
# what gem5 would get, checks it with e2fsck, and unmounts.
#
# usage: tools/example.sh HACKBACKFS SRCDIR [WORKDIR [OVERLAY]]
# OVERLAY defaults to SRCDIR/overlays/hack-back; `hack-back' is the
# installed one (hackbackfs --overlay-dir).
set -eu

hb=$1
srcdir=$2
work=${3:-example}
overlay=${4:-$srcdir/overlays/hack-back}

mkdir -p "$work"
cd "$work"
rm -rf root base.img fs.img mnt m5 restore.sh
mkdir -p mnt

echo "== making base.img: MBR, ext4 partition at 1 MiB, merged-usr tree"
mkdir -p root/usr/bin root/usr/sbin root/usr/lib root/etc root/root root/var/lib root/tmp
ln -s usr/bin root/bin
ln -s usr/sbin root/sbin
ln -s usr/lib root/lib
echo example > root/etc/hostname
printf '# the base image'"'"'s own .bashrc\n' > root/root/.bashrc
chmod 1777 root/tmp
truncate -s 127M fs.img
mke2fs -q -F -t ext4 -L example -d root fs.img
truncate -s 128M base.img
printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q base.img
dd if=fs.img of=base.img bs=1M seek=1 conv=notrunc,sparse status=none
rm -f fs.img

# Stand-ins for gem5's m5 and a benchmark's restore script.
printf '#!/bin/sh\necho "m5 stand-in: $*"\n' > m5
chmod 755 m5
printf '#!/bin/sh\necho "benchmark runs here"\n' > restore.sh

echo "== mounting"
"$hb" -o m5=m5,restore=restore.sh base.img "$overlay" mnt
trap 'fusermount3 -u mnt 2>/dev/null || true' EXIT
ls -l mnt
echo "== identity (user.hackback.*)"
"$hb" --digests -o m5=m5,restore=restore.sh base.img "$overlay"
echo "== e2fsck -fn on the served image"
e2fsck -fn 'mnt/hack-back?offset=1048576'
echo "== /usr/sbin/m5 and the restore slot, read back with debugfs"
debugfs -R 'ls -l /usr/sbin' 'mnt/hack-back?offset=1048576' 2>/dev/null
debugfs -R 'cat /var/lib/hack-back/restore.slot' 'mnt/hack-back?offset=1048576' 2>/dev/null | head -c 200
echo
echo "== point gem5 at $(pwd)/mnt/hack-back; unmount with: fusermount3 -u $(pwd)/mnt"
fusermount3 -u mnt
trap - EXIT
echo "example: OK"
