#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/image/refuse.sh -- bad input is refused cleanly (invariant 5): for each
# case tests/lib/synth must exit 1 (not crash), print exactly one line
# "hackbackfs: ..." that names the cause, leave the base byte-identical and
# create no output file.  The refusals of a file system that libext2fs
# opens come from e2check (src/e2check.c, tested alone by
# tests/unit/check_e2check.c): a journal needing recovery, errors recorded,
# metadata the injection would make worse.
#
# Cases: bases that are not ext2/3/4 (zeros, vfat, a vfat partition, the
# whole of a partitioned disk), partition numbers that do not exist, two ext
# partitions with no choice made, a journal needing recovery, errors
# recorded in the superblock, a file system larger than its file or
# partition (a truncated copy), metadata the injection would make worse
# (an inode table the bitmap calls free, a directory claiming a bitmap block,
# missing its "." or whose block the bitmap calls free), bases that are compressed (gzip, xz, zstd,
# bzip2) or in a virtual disk format (qcow2, VMDK, VDI); overlays with a fifo, a socket, a device, a
# path through a base file, a file over a base directory, a name over 255
# bytes, a symlink target longer than the block size, a directory over a
# file of an earlier overlay, more data than the free space, a missing
# overlay directory.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"

requires mke2fs e2fsck debugfs dumpe2fs sfdisk sha256sum python3 mkfifo
requires_synth

out=$tmp/out.img
cases=0

# refuse NAME BASE REGEX... -- SYNTH-ARGS...: run synth with SYNTH-ARGS and
# check the refusal; every REGEX (grep -E, case-insensitive) must match
# the error line.  BASE is the base file to watch.
refuse()
{
	_name=$1 _base=$2
	shift 2
	_regexes=
	while [ "$1" != -- ]; do
		_regexes="$_regexes$1
"
		shift
	done
	shift
	cases=$((cases + 1))
	_sum=$(sha256_of "$_base")
	rm -f "$out"
	_rc=0
	"$SYNTH" "$@" >"$tmp/stdout" 2>"$tmp/stderr" || _rc=$?
	_why=
	if [ "$_rc" -ne 1 ]; then
		_why="exit status $_rc, want 1"
	elif [ "$(wc -l <"$tmp/stderr")" -ne 1 ]; then
		_why="want exactly one error line, got $(wc -l <"$tmp/stderr")"
	elif ! grep -q '^hackbackfs: ' "$tmp/stderr"; then
		_why="the error line does not start with 'hackbackfs: '"
	else
		_why=$(printf '%s' "$_regexes" | while IFS= read -r _re; do
			grep -qiE -e "$_re" "$tmp/stderr" || echo "message does not match /$_re/"
		done)
	fi
	[ "$(sha256_of "$_base")" = "$_sum" ] || _why="$_why; BASE WAS MODIFIED"
	[ ! -e "$out" ] || _why="$_why; output file created"
	if [ -z "$_why" ]; then
		echo "PASS $_name: $(cat "$tmp/stderr")"
	else
		check_failed "$_name: $_why"
		sed 's/^/    stderr: /' "$tmp/stderr"
	fi
}

# ---- bases ------------------------------------------------------------------

ov=$tmp/ov
make_overlay "$ov"
ok_ov=$tmp/ok-ov			# a harmless overlay
mkdir -p "$ok_ov/etc"
echo harmless >"$ok_ov/etc/motd"

ext4=$tmp/ext4.img
make_base ext4 "$ext4"
ext4_mbr=$tmp/ext4-mbr.img
make_base ext4 "$ext4_mbr" mbr
ext4_gpt=$tmp/ext4-gpt.img
make_base ext4 "$ext4_gpt" gpt
ext2=$tmp/ext2.img
make_base ext2 "$ext2"

# sanity: the harmless overlay goes in, or every refusal below means nothing
"$SYNTH" "$ext4" "$out" "$ok_ov" || fail "synth refuses a harmless overlay"
rm -f "$out"

zeros=$tmp/zeros.img
truncate -s 8M "$zeros"
refuse "zero-filled base" "$zeros" 'ext2/3/4' -- "$zeros" "$out" "$ok_ov"

if command -v mkfs.vfat >/dev/null 2>&1; then
	vfat=$tmp/vfat.img
	truncate -s 8M "$vfat"
	mkfs.vfat "$vfat" >/dev/null
	refuse "vfat base" "$vfat" 'vfat' 'not ext2/3/4' -- "$vfat" "$out" "$ok_ov"

	vfat_mbr=$tmp/vfat-mbr.img
	truncate -s 9M "$vfat_mbr"
	printf 'label: dos\nstart=2048, size=16384, type=c\n' |
		sfdisk -q --no-reread --no-tell-kernel "$vfat_mbr" >/dev/null
	dd if="$vfat" of="$vfat_mbr" bs=1M seek=1 conv=notrunc status=none
	refuse "MBR with a vfat partition" "$vfat_mbr" 'no ext2/3/4' -- \
		"$vfat_mbr" "$out" "$ok_ov"
	refuse "--partition 1 is vfat" "$vfat_mbr" 'partition 1' 'vfat' 'not ext2/3/4' -- \
		--partition 1 "$vfat_mbr" "$out" "$ok_ov"
else
	echo "SKIP vfat cases: mkfs.vfat not found"
fi

refuse "--whole on a partitioned disk" "$ext4_mbr" 'ext2/3/4' -- \
	--whole "$ext4_mbr" "$out" "$ok_ov"
refuse "--partition 3 on GPT with 2" "$ext4_gpt" 'no partition 3' 'it has 1, 2' -- \
	--partition 3 "$ext4_gpt" "$out" "$ok_ov"
refuse "--partition 2 on MBR with 1" "$ext4_mbr" 'no partition 2' -- \
	--partition 2 "$ext4_mbr" "$out" "$ok_ov"
refuse "--partition 1 on a bare file system" "$ext4" 'no partition 1' -- \
	--partition 1 "$ext4" "$out" "$ok_ov"

# Two ext partitions: a small ext2 in the GPT's first partition too.
two=$tmp/two-ext.img
cp --sparse=always "$ext4_gpt" "$two"
truncate -s 1M "$tmp/small.fs"
mke2fs -q -F -t ext2 -b 1024 "$tmp/small.fs"
dd if="$tmp/small.fs" of="$two" bs=1M seek=1 conv=notrunc status=none
refuse "two ext partitions, none chosen" "$two" '2 ext2/3/4 partitions' 'partition=' -- \
	"$two" "$out" "$ok_ov"

recovery=$tmp/recovery.img
cp --sparse=always "$ext4" "$recovery"
debugfs -w -R 'feature needs_recovery' "$recovery" >/dev/null 2>&1
debugfs -R 'features' "$recovery" 2>/dev/null | grep -q needs_recovery ||
	fail "could not set needs_recovery on the fixture"
refuse "journal needs recovery" "$recovery" 'journal' 'recover' -- \
	"$recovery" "$out" "$ok_ov"

errors=$tmp/errors.img
cp --sparse=always "$ext4" "$errors"
debugfs -w -R 'ssv state 3' "$errors" >/dev/null 2>&1	# VALID | ERROR
refuse "errors recorded in the superblock" "$errors" 'errors' -- \
	"$errors" "$out" "$ok_ov"

# A truncated copy: the file system says it is larger than what holds it.
cut=$tmp/cut.img
cp --sparse=always "$ext4" "$cut"
truncate -s $((BASE_FS_MB * 5 / 8))M "$cut"
refuse "bare file system cut short" "$cut" "$((BASE_FS_MB * 1048576)) bytes" \
	"holds only $((BASE_FS_MB * 5 / 8 * 1048576))" 'truncated' -- "$cut" "$out" "$ok_ov"
cut_mbr=$tmp/cut-mbr.img
cp --sparse=always "$ext4_mbr" "$cut_mbr"
printf 'label: dos\nunit: sectors\nstart=2048, size=%d, type=83\n' $((BASE_FS_MB * 1024)) |
	sfdisk -q --no-reread --no-tell-kernel "$cut_mbr" >/dev/null
refuse "file system larger than its partition" "$cut_mbr" 'partition 1' \
	"holds only $((BASE_FS_MB * 512 * 1024))" -- "$cut_mbr" "$out" "$ok_ov"

# Metadata that e2fsck would fix and that the injection would make worse:
# the allocator handing out inode-table blocks the bitmap calls free, a
# directory whose block map claims a bitmap block, a directory whose first
# entry is not "." (the link would take its place).  Made on ext2 copies
# (block maps, no checksums to trip over first).
itab=$(dumpe2fs "$ext2" 2>/dev/null | sed -n 's/^ *Inode table at \([0-9]*\)-.*/\1/p' | head -n 1)
bbm=$(dumpe2fs "$ext2" 2>/dev/null | sed -n 's/^ *Block bitmap at \([0-9]*\) .*/\1/p' | head -n 1)
rootblk=$(debugfs -R 'bmap / 0' "$ext2" 2>/dev/null)
[ -n "$itab" ] && [ -n "$bbm" ] && [ -n "$rootblk" ] ||
	fail "dumpe2fs/debugfs gave no inode table, block bitmap or root block"
bs=$(dumpe2fs -h "$ext2" 2>/dev/null | sed -n 's/^Block size: *//p')
freed=$tmp/itab-free.img
cp --sparse=always "$ext2" "$freed"
debugfs -w -R "freeb $itab 2" "$freed" >/dev/null 2>&1
refuse "inode table marked free" "$freed" "block $itab" 'inode table' 'free' 'e2fsck' -- \
	"$freed" "$out" "$ok_ov"
claims=$tmp/claims-bitmap.img
cp --sparse=always "$ext2" "$claims"
debugfs -w -R "sif / block[0] $bbm" "$claims" >/dev/null 2>&1
refuse "root directory claims the block bitmap" "$claims" 'inode 2' "file system's own metadata" 'e2fsck' -- \
	"$claims" "$out" "$ok_ov"
nodot=$tmp/no-dot.img
cp --sparse=always "$ext2" "$nodot"
dd if=/dev/zero of="$nodot" bs=4 count=1 seek=$((rootblk * bs / 4)) conv=notrunc status=none
refuse "root directory without \".\"" "$nodot" 'directory inode 2' 'does not begin with' -- \
	"$nodot" "$out" "$ok_ov"
rootfree=$tmp/root-block-free.img
cp --sparse=always "$ext2" "$rootfree"
debugfs -w -R "freeb $rootblk" "$rootfree" >/dev/null 2>&1
refuse "root directory's block marked free" "$rootfree" 'inode 2' 'block bitmap calls free' 'e2fsck' -- \
	"$rootfree" "$out" "$ok_ov"

# Compressed or not raw: detected by content, whatever the name says.
for z in gzip xz zstd bzip2; do
	if command -v $z >/dev/null 2>&1; then
		$z -c "$ext4" >"$tmp/packed.img"
		refuse "$z-compressed base" "$tmp/packed.img" "$z" 'not a raw disk' \
			"un$z|gunzip|bunzip2" -- "$tmp/packed.img" "$out" "$ok_ov"
	else
		echo "SKIP $z-compressed base: $z not found"
	fi
done
if command -v qemu-img >/dev/null 2>&1; then
	for f in qcow2 vmdk vdi; do
		qemu-img convert -O $f "$ext4" "$tmp/virt.img" >/dev/null
		refuse "$f base" "$tmp/virt.img" "$(echo $f | sed 's/qcow2/qcow/')" 'qemu-img convert -O raw' -- \
			"$tmp/virt.img" "$out" "$ok_ov"
	done
else
	echo "SKIP qcow2/vmdk/vdi bases: qemu-img not found"
fi

missing=$tmp/no-such-base.img
touch "$tmp/placeholder"
refuse "base missing" "$tmp/placeholder" 'no-such-base' 'no such file' -- \
	"$missing" "$out" "$ok_ov"

# ---- overlays -----------------------------------------------------------------

bad_ov()
{
	rm -rf "$tmp/bad"
	mkdir -p "$tmp/bad/etc"
	echo "$tmp/bad"
}

d=$(bad_ov)
mkfifo "$d/etc/p-node"
refuse "fifo in the overlay" "$ext4" 'p-node' 'fifo|pipe' -- "$ext4" "$out" "$d"

d=$(bad_ov)
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$d/etc/s-node"
[ -S "$d/etc/s-node" ] || fail "could not make a socket"
refuse "socket in the overlay" "$ext4" 's-node' 'socket' -- "$ext4" "$out" "$d"

if [ "$(id -u)" -eq 0 ]; then
	d=$(bad_ov)
	mknod "$d/etc/c-node" c 1 3
	refuse "character device in the overlay" "$ext4" 'c-node' 'device' -- "$ext4" "$out" "$d"
	d=$(bad_ov)
	mknod "$d/etc/b-node" b 7 0
	refuse "block device in the overlay" "$ext4" 'b-node' 'device' -- "$ext4" "$out" "$d"
fi

d=$(bad_ov)
mkdir "$d/etc/hostname"
echo x >"$d/etc/hostname/x"
refuse "path through a base file (etc/hostname/x)" "$ext4" 'etc/hostname' \
	'not a directory|replace a file' -- "$ext4" "$out" "$d"

d=$(bad_ov)
echo file >"$d/usr"
refuse "file over a base directory (usr)" "$ext4" 'usr' 'directory' -- "$ext4" "$out" "$d"

long=$(printf '%0256d' 0 | tr 0 n)
refuse "name over 255 bytes" "$ext4" 'longer than|255' -- \
	--file "etc/$long=$ok_ov/etc/motd" "$ext4" "$out"

d=$(bad_ov)
ln -s "/$(printf '%01500d' 0 | tr 0 t)" "$d/etc/long-link"
refuse "symlink target longer than the block size (1 KiB ext2)" "$ext2" 'long-link' \
	'target|long' -- "$ext2" "$out" "$d"

d=$(bad_ov)
mkdir -p "$tmp/ov1" "$tmp/ov2/x"
echo file >"$tmp/ov1/x"
refuse "directory over a file of an earlier overlay" "$ext4" 'x' 'replace' -- \
	"$ext4" "$out" "$tmp/ov1" "$tmp/ov2"

d=$(bad_ov)
head -c $(((BASE_FS_MB + 16) * 1048576)) /dev/urandom >"$d/huge.bin"
refuse "overlay bigger than the free space" "$ext4" 'not fit|space' -- "$ext4" "$out" "$d"
rm -f "$d/huge.bin"

refuse "overlay directory missing" "$ext4" 'no-such-dir' 'no such file' -- \
	"$ext4" "$out" "$tmp/no-such-dir"

echo "$HB_TEST: $((cases - failures)) of $cases cases passed"
[ "$failures" -eq 0 ] || fail "$failures of $cases refusals wrong"
