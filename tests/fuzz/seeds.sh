#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# seeds.sh OUTDIR -- the fuzz targets' seed corpus, made now (never checked
# in): OUTDIR/probe, OUTDIR/build and OUTDIR/cow.
#
#   build  small ext2/3/4 bases from one tree (merged-usr symlinks, an
#          htree directory made by e2fsck -fyD, inline files where the
#          feature is on): 1 KiB and 4 KiB blocks, with and without
#          journal, metadata_csum, inline_data; bare, MBR and GPT
#   probe  tiny disks: bare, MBR (primary, logical, two ext partitions,
#          a non-ext one), GPT, and the first KiBs of each build seed
#   cow    HBCOW001 files for fuzz-cow's 128 KiB base and identity 'Z'x32
#
# Deterministic: fixed UUIDs, hash seeds and time stamps.
set -eu
out=$1
export LC_ALL=C E2FSPROGS_FAKE_TIME=1600000000
for t in mke2fs e2fsck sfdisk; do
	command -v $t >/dev/null 2>&1 || { echo "seeds.sh: '$t' not found" >&2; exit 77; }
done
rm -rf "$out"
mkdir -p "$out/probe" "$out/build" "$out/cow" "$out/tmp"
w=$out/tmp

# The tree every build seed holds.
tree=$w/tree
mkdir -p "$tree/usr/sbin" "$tree/usr/bin" "$tree/etc" "$tree/root" "$tree/big" "$tree/opt"
ln -s usr/sbin "$tree/sbin"
ln -s usr/bin "$tree/bin"
echo base >"$tree/etc/hostname"
echo 'PS1=base' >"$tree/root/.bashrc"
printf 'x' >"$tree/etc/tiny"
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "%05d\n", i }' >"$tree/opt/old.bin"
ln -s /usr/share/zoneinfo/UTC "$tree/etc/localtime"
i=0
while [ $i -lt 300 ]; do
	: >"$tree/big/entry-$i-with-a-name-long-enough-to-fill-blocks"
	i=$((i + 1))
done
find "$tree" -exec touch -h -d @1600000000 {} +

UUID=6b1f4b2e-51a3-4c3e-9d55-1f0c9e1a7a01
SEED=3c0de2a4-8f6e-4b5f-a1d2-8c7f6e5d4c3b
# fs NAME SIZE_KIB MKE2FS_ARGS...: a bare file system with the tree, indexed.
fs()
{
	_n=$1 _k=$2
	shift 2
	mke2fs -q -F -U $UUID -E hash_seed=$SEED -N 400 -d "$tree" "$@" "$w/$_n" "${_k}k" >/dev/null
	e2fsck -fyD "$w/$_n" >/dev/null 2>&1 || [ $? -le 1 ]
	e2fsck -fn "$w/$_n" >/dev/null 2>&1 || { echo "seeds.sh: $_n fails e2fsck" >&2; exit 1; }
}
fs ext2-1k 1024 -t ext2 -b 1024
fs ext3-1k 3072 -t ext3 -b 1024 -J size=1
fs ext4-1k-csum 1024 -t ext4 -b 1024 -O ^has_journal,metadata_csum
fs ext4-1k-journal 3072 -t ext4 -b 1024 -J size=1
fs ext4-4k 1024 -t ext4 -b 4096 -O ^has_journal
fs ext4-inline 1024 -t ext4 -b 1024 -I 256 -O ^has_journal,inline_data
fs ext4-nocsum 1024 -t ext4 -b 1024 -O ^has_journal,^metadata_csum,^64bit
for n in ext2-1k ext3-1k ext4-1k-csum ext4-1k-journal ext4-4k ext4-inline ext4-nocsum; do
	cp "$w/$n" "$out/build/$n"
done

# disk NAME LABEL FS_FILE: FS_FILE as partition 1 at 32 KiB of a disk with
# an MBR (dos) or GPT, 32 KiB to spare at the end for GPT's backup.
disk()
{
	_sz=$(($(stat -c %s "$3") / 512))
	_d=$out/$4/$1
	truncate -s $(((_sz + 128) * 512)) "$_d"
	printf 'label: %s\nstart=64, size=%d, type=%s\n' "$2" $_sz \
		"$([ "$2" = gpt ] && echo 0FC63DAF-8483-4772-8E79-3D69D8477DE4 || echo 83)" |
		sfdisk -q --no-reread --no-tell-kernel "$_d" >/dev/null
	dd if="$3" of="$_d" bs=512 seek=64 conv=notrunc status=none
}
disk mbr-ext4-1k-csum dos "$w/ext4-1k-csum" build
disk gpt-ext2-1k gpt "$w/ext2-1k" build

# Probe seeds: tiny file systems in tiny disks.
truncate -s 64K "$w/tiny2" "$w/tiny4"
mke2fs -q -F -U $UUID -t ext2 -b 1024 -N 16 "$w/tiny2" 64 >/dev/null
mke2fs -q -F -U $UUID -t ext4 -b 1024 -N 16 -O ^has_journal "$w/tiny4" 64 >/dev/null
cp "$w/tiny2" "$out/probe/bare-ext2"
cp "$w/tiny4" "$out/probe/bare-ext4"
disk mbr-tiny dos "$w/tiny4" probe
disk gpt-tiny gpt "$w/tiny4" probe
# Two ext partitions (AUTO must refuse), a logical one, a swap-typed one.
d=$out/probe/mbr-two-ext
truncate -s 192K "$d"
printf 'label: dos\nstart=64, size=128, type=83\nstart=192, size=128, type=83\n' |
	sfdisk -q --no-reread --no-tell-kernel "$d" >/dev/null
dd if="$w/tiny2" of="$d" bs=512 seek=64 conv=notrunc status=none
dd if="$w/tiny4" of="$d" bs=512 seek=192 conv=notrunc status=none
d=$out/probe/mbr-logical
truncate -s 192K "$d"
printf 'label: dos\nstart=32, size=300, type=5\nstart=64, size=128, type=83\n' |
	sfdisk -q --no-reread --no-tell-kernel "$d" >/dev/null
dd if="$w/tiny2" of="$d" bs=512 seek=64 conv=notrunc status=none
d=$out/probe/gpt-swap-and-ext
truncate -s 256K "$d"
printf 'label: gpt\nstart=64, size=64, type=0657FD6D-A4AB-43C4-84E5-0933C84B4F4F\nstart=128, size=128, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' |
	sfdisk -q --no-reread --no-tell-kernel "$d" >/dev/null
dd if="$w/tiny4" of="$d" bs=512 seek=128 conv=notrunc status=none

# Cow seeds.  le N BYTES: N as little-endian octal escapes for printf.
le()
{
	_v=$1 _i=0 _s=
	while [ $_i -lt "$2" ]; do
		_s="$_s\\$(printf %03o $((_v % 256)))"
		_v=$((_v / 256))
		_i=$((_i + 1))
	done
	printf '%s' "$_s"
}
header()
{
	printf 'HBCOW001'
	printf "$(le 1024 4)$(le 0 4)$(le $((128 * 1024)) 8)"
	printf 'ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ'
	head -c $((4096 - 56)) /dev/zero
}
record()
{
	printf "$(le "$1" 8)"
	head -c 1024 /dev/zero | tr '\0' "$2"
}
: >"$out/cow/empty"
header >"$out/cow/header-only"
{ header; record 0 a; record 7 b; record 127 c; } >"$out/cow/three-records"
{ header; record 5 d; record 6 e | head -c 500; } >"$out/cow/torn-last-record"
{ header | sed '1s/ZZZZ/YYYY/'; record 1 f; } >"$out/cow/other-identity"
rm -rf "$w"
