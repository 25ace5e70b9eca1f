#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# mkdisk.sh ROOTDIR DISK SIZE_MIB [mbr|gpt-efi]
# Make a raw disk image DISK of SIZE_MIB MiB (sparse) holding an ext4 file
# system populated from ROOTDIR with `mke2fs -d` (no loop device, no mount),
# and print the file system's byte offset in DISK on stdout.
#   mbr (default): an MBR with one Linux partition from sector 2048 (1 MiB)
#                  to the end.
#   gpt-efi:       GPT, partition 1 a 64 MiB FAT EFI system partition at
#                  1 MiB (empty), partition 2 the ext4 file system from
#                  65 MiB, the last MiB left to the backup GPT: the layout of
#                  gem5-resources' arm64 Ubuntu images.
# UUIDs and the directory-hash seed are fixed so that the same tree gives the
# same file system layout.
set -eu
PATH=$PATH:/usr/sbin:/sbin
[ $# -eq 3 ] || [ $# -eq 4 ] || { echo "usage: $0 ROOTDIR DISK SIZE_MIB [mbr|gpt-efi]" >&2; exit 2; }
root=$1 disk=$2 mib=$3 layout=${4:-mbr}

rm -f "$disk"
truncate -s "${mib}M" "$disk"
case $layout in
    mbr)
        printf 'label: dos\nlabel-id: 0x6861636b\nstart=2048, type=83\n' |
            sfdisk --quiet --no-reread --no-tell-kernel "$disk" >/dev/null
        off_mib=1
        # Partition size in 4 KiB blocks: everything after the first MiB.
        blocks=$(( (mib - 1) * 256 )) ;;
    gpt-efi)
        printf '%s\n' 'label: gpt' 'label-id: 6861636b-6261-636b-2d67-707464697363' \
            'start=2048, size=131072, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=6861636b-6261-636b-2d65-666970617274, name="EFI"' \
            'start=133120, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=6861636b-6261-636b-2d72-6f6f74706172, name="rootfs"' |
            sfdisk --quiet --no-reread --no-tell-kernel "$disk" >/dev/null
        # (mkfs.fat warns that the count is not the whole file: it is meant.)
        mkfs.fat -F 32 -n EFI -i 6861636b --offset 2048 "$disk" 65536 >/dev/null 2>&1 ||
            { echo "mkdisk: mkfs.fat failed on $disk" >&2; exit 1; }
        off_mib=65
        blocks=$(( (mib - 66) * 256 )) ;;
    *) echo "mkdisk: unknown layout '$layout' (mbr or gpt-efi)" >&2; exit 2 ;;
esac
off=$((off_mib * 1048576))
mke2fs -q -F -t ext4 -b 4096 -L hackback-root \
    -U 6861636b-6261-636b-2d67-756573740001 \
    -E offset=$off,hash_seed=6861636b-6261-636b-2d68-617368736565 \
    -d "$root" "$disk" "$blocks"
e2fsck -fn "$disk?offset=$off" >/dev/null 2>&1 || {
    e2fsck -fn "$disk?offset=$off" >&2 || true
    echo "mkdisk: e2fsck found problems in $disk" >&2
    exit 1
}
echo "$off"
