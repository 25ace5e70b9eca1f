#!/bin/sh
# mkdisk.sh ROOTDIR DISK SIZE_MIB
# Make a raw disk image DISK of SIZE_MIB MiB (sparse): an MBR with one Linux
# partition starting at sector 2048 (1 MiB) to the end, holding an ext4 file
# system populated from ROOTDIR with `mke2fs -d` (no loop device, no mount).
# UUID and directory-hash seed are fixed so that the same tree gives the same
# file system layout.
set -eu
PATH=$PATH:/usr/sbin:/sbin
[ $# -eq 3 ] || { echo "usage: $0 ROOTDIR DISK SIZE_MIB" >&2; exit 2; }
root=$1 disk=$2 mib=$3

rm -f "$disk"
truncate -s "${mib}M" "$disk"
printf 'label: dos\nlabel-id: 0x6861636b\nstart=2048, type=83\n' |
    sfdisk --quiet --no-reread --no-tell-kernel "$disk" >/dev/null
# Partition size in 4 KiB blocks: everything after the first MiB.
blocks=$(( (mib - 1) * 256 ))
mke2fs -q -F -t ext4 -b 4096 -L hackback-root \
    -U 6861636b-6261-636b-2d67-756573740001 \
    -E offset=1048576,hash_seed=6861636b-6261-636b-2d68-617368736565 \
    -d "$root" "$disk" "$blocks"
e2fsck -fn "$disk?offset=1048576" >/dev/null 2>&1 || {
    e2fsck -fn "$disk?offset=1048576" >&2 || true
    echo "mkdisk: e2fsck found problems in $disk" >&2
    exit 1
}
