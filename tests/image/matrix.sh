#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/image/matrix.sh -- the standard overlay injected into every kind of
# base (ext2 1 KiB blocks, ext3, ext4, ext4 without metadata_csum, ext4 with
# inline_data), each bare, MBR (partition at 1 MiB) and GPT (partition 2).
#
# For each case, tests/lib/synth writes the image to a file twice, and:
#   - both runs are byte-identical, and as large as the base;
#   - the base is unchanged, and the image equals it outside the file system;
#   - e2fsck -fn finds the file system clean;
#   - debugfs (no kernel involved) shows every overlay file with its content,
#     mode, owner 0:0, mtime (--keep-mtime; tests/image/identity.sh checks the
#     default, where every time stamp is the epoch), ctime/atime = --epoch, every symlink target
#     verbatim, one inode for the hard-link pair, sbin/m5 in usr/sbin (the
#     base's sbin is a symlink to usr/sbin and stays one), etc/hostname
#     replaced;
#   - as root: a read-only kernel mount (loop device) shows exactly the base
#     tree with the overlay applied (listing plus SHA-256 of every file),
#     and finds the file injected into the htree directory by lookup.
# One line per case; every mismatch is printed, and any makes the test fail.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"

requires mke2fs e2fsck debugfs sfdisk sha256sum cmp tar truncate
requires_synth

EPOCH=1700000000
KINDS=${HB_MATRIX_KINDS:-$BASE_KINDS}
LAYOUTS=${HB_MATRIX_LAYOUTS:-$BASE_LAYOUTS}

kernel_checks

ov=$tmp/overlay
make_overlay "$ov"
expected_tree "$(base_tree)" "$ov" "$tmp/expected"
tree_listing "$tmp/expected" >"$tmp/expected.list"

# ---- one case -------------------------------------------------------------

dfs()
{
	debugfs_run "$IMG" "$1"
}

stat_fields()
{
	debugfs_stat "$IMG" "$1"
}

# check_file PATH: the overlay file PATH as debugfs finds it in the image
# (at its merged-usr path): type, mode, owner, size, times and content.
check_file()
{
	_p=$1 _ip=$(image_path "$1")
	_got=$(stat_fields "$_ip")
	[ "${_got%% *}" != missing ] || { bad "/$_ip: not in the image"; return 0; }
	# shellcheck disable=SC2086
	set -- $_got
	_want_mode=$(stat -c %a "$ov/$_p")
	_want_size=$(stat -c %s "$ov/$_p")
	_want_mtime=$(stat -c %Y "$ov/$_p")
	[ "$2" = regular ] || bad "/$_ip: type $2, want regular"
	[ "$3" = "$_want_mode" ] || bad "/$_ip: mode $3, want $_want_mode"
	[ "$4:$5" = 0:0 ] || bad "/$_ip: owner $4:$5, want 0:0"
	[ "$6" = "$_want_size" ] || bad "/$_ip: size $6, want $_want_size"
	[ "$8" = "$_want_mtime" ] || bad "/$_ip: mtime $8, want $_want_mtime"
	[ "$9" = "$EPOCH" ] || bad "/$_ip: atime $9, want $EPOCH (--epoch)"
	[ "${10}" = "$EPOCH" ] || bad "/$_ip: ctime ${10}, want $EPOCH (--epoch)"
	# A replaced file may keep its inode (and so its crtime); new ones
	# are born at --epoch.
	if [ ! -e "$(base_tree)/$_p" ] && [ "${11}" != - ] && [ "${11}" != "$EPOCH" ]; then
		bad "/$_ip: crtime ${11}, want $EPOCH (--epoch)"
	fi
	rm -f "$tmp/dump"
	dfs "dump \"/$_ip\" \"$tmp/dump\"" >/dev/null
	if [ ! -f "$tmp/dump" ]; then
		bad "/$_ip: debugfs dump failed: $(tail -n 1 "$tmp/debugfs.err")"
	elif [ "$(sha256_of "$tmp/dump")" != "$(sha256_of "$ov/$_p")" ]; then
		bad "/$_ip: content differs from the overlay's ($(stat -c %s "$tmp/dump") bytes dumped)"
	fi
}

# check_symlink PATH: the same for a symlink, with its target verbatim.
check_symlink()
{
	_p=$1 _ip=$(image_path "$1")
	_got=$(stat_fields "$_ip")
	[ "${_got%% *}" != missing ] || { bad "/$_ip: not in the image"; return 0; }
	# shellcheck disable=SC2086
	set -- $_got
	_want=$(readlink "$ov/$_p")
	[ "$2" = symlink ] || bad "/$_ip: type $2, want symlink"
	[ "$4:$5" = 0:0 ] || bad "/$_ip: owner $4:$5, want 0:0"
	[ "$6" = "${#_want}" ] || bad "/$_ip: size $6, want ${#_want}"
	[ "$8" = "$(stat -c %Y "$ov/$_p")" ] || bad "/$_ip: mtime $8, want $(stat -c %Y "$ov/$_p")"
	# The target is the one field that may hold spaces: take the rest.
	shift 11
	if [ "$*" = - ]; then
		# not a fast symlink: the target is in a data block
		rm -f "$tmp/dump"
		dfs "dump \"/$_ip\" \"$tmp/dump\"" >/dev/null
		[ "$(cat "$tmp/dump" 2>/dev/null)" = "$_want" ] ||
			bad "/$_ip: target '$(cat "$tmp/dump" 2>/dev/null)', want '$_want'"
	else
		[ "$*" = "$_want" ] || bad "/$_ip: target '$*', want '$_want'"
	fi
}

# Mount the file system read-only and list it; also look names up in the
# htree directory (the kernel hashes the name, unlike a listing).
kernel_check()
{
	_err=$(kernel_listing "$out" "$off" "$fssize" "$kind" "$tmp/got.list" \
		big/injected-file big/entry-00042-with-a-longer-name \
		big/entry-05099-with-a-longer-name usr/sbin/m5 sbin/m5) ||
		{ bad "$_err"; return 0; }
	if ! diff -u "$tmp/expected.list" "$tmp/got.list" >"$tmp/diff"; then
		bad "kernel mount differs from base + overlay (- expected, + image):"
		grep '^[-+][^-+]' "$tmp/diff" | head -n 40 | sed "s/^/        /"
	fi
}

check_case()
{
	kind=$1 layout=$2
	cname=$kind/$layout case_bad=0
	release_loops
	base=$tmp/base.img out=$tmp/out.img out2=$tmp/out2.img
	make_base "$kind" "$base" "$layout"
	off=$(base_offset "$layout")
	fssize=$((BASE_FS_MB * 1048576))
	IMG="$out?offset=$off"
	base_sum=$(sha256_of "$base")

	rm -f "$out" "$out2"
	if ! "$SYNTH" --keep-mtime --epoch "$EPOCH" "$base" "$out" "$ov" 2>"$tmp/synth.err"; then
		bad "synth failed: $(cat "$tmp/synth.err")"
		return 1
	fi
	[ ! -s "$tmp/synth.err" ] || bad "synth printed: $(cat "$tmp/synth.err")"
	"$SYNTH" --keep-mtime --epoch "$EPOCH" "$base" "$out2" "$ov" 2>"$tmp/synth.err" ||
		bad "second synth failed: $(cat "$tmp/synth.err")"
	cmp -s "$out" "$out2" ||
		bad "two runs differ: $(cmp -l "$out" "$out2" 2>&1 | wc -l) bytes, first at $(cmp "$out" "$out2" 2>&1 | head -n 1)"
	rm -f "$out2"
	[ "$(sha256_of "$base")" = "$base_sum" ] || bad "BASE WAS MODIFIED"
	[ "$(stat -c %s "$out")" = "$(stat -c %s "$base")" ] ||
		bad "image is $(stat -c %s "$out") bytes, base $(stat -c %s "$base")"
	if [ "$off" -gt 0 ]; then
		cmp -s -n "$off" "$base" "$out" || bad "bytes before the partition changed"
		_end=$((off + fssize))
		cmp -s -i "$_end:$_end" "$base" "$out" || bad "bytes after the partition changed"
	fi

	if ! e2fsck -fn "$IMG" >"$tmp/fsck.out" 2>&1; then
		bad "e2fsck -fn is not clean:"
		grep -v '^Pass \|^e2fsck 1\|^$' "$tmp/fsck.out" | head -n 20 | sed "s/^/        /"
	fi

	for _f in $OVERLAY_FILES; do
		check_file "$_f"
	done
	for _s in $OVERLAY_SYMLINKS; do
		check_symlink "$_s"
	done
	# shellcheck disable=SC2046
	set -- $(stat_fields data/hl1) x
	_hl1="$1 $7"
	# shellcheck disable=SC2046
	set -- $(stat_fields data/hl2) x
	if [ "$_hl1" != "$1 $7" ] || [ "$7" != 2 ]; then
		bad "hard links: data/hl1 is inode/links $_hl1, data/hl2 $1 $7; want one inode, 2 links"
	fi
	# merged-usr: the base's symlinks stay, the files land behind them.
	for _l in sbin:usr/sbin bin:usr/bin lib:usr/lib; do
		# shellcheck disable=SC2046
		set -- $(stat_fields "${_l%%:*}") x
		[ "$2 ${12}" = "symlink ${_l#*:}" ] ||
			bad "/${_l%%:*} is '$2 ${12}', want 'symlink ${_l#*:}'"
	done
	[ "$(debugfs_cat "$IMG" etc/hostname)" = hacked-host ] ||
		bad "etc/hostname: '$(debugfs_cat "$IMG" etc/hostname)', want hacked-host"
	[ "$(debugfs_cat "$IMG" usr/share/doc/hb/README)" = "base documentation" ] ||
		bad "a base file changed: usr/share/doc/hb/README"
	if ! dfs 'htree big' | grep -q 'injected-file'; then
		echo "    $cname: note: big/ is no longer htree-indexed (or the index lacks the new name)"
	fi
	# shellcheck disable=SC2046
	set -- $(stat_fields data/sparse.img) x
	_blocks=$(sed -n 's/.*Blockcount: *\([0-9]*\).*/\1/p' "$tmp/stat.out")
	if [ -n "$_blocks" ] && [ "$_blocks" -ge $((5 * 2048)) ]; then
		echo "    $cname: note: data/sparse.img holes were filled ($_blocks sectors allocated)"
	fi

	[ "$can_mount" = no ] || kernel_check
	rm -f "$out"
	[ "$case_bad" = 0 ]
}

# ---- the matrix --------------------------------------------------------------

cases=0
for kind in $KINDS; do
	for layout in $LAYOUTS; do
		cases=$((cases + 1))
		t0=$(date +%s)
		set +e
		(set -e; check_case "$kind" "$layout")
		rc=$?
		set -e
		t=$(($(date +%s) - t0))
		if [ "$rc" -eq 0 ]; then
			echo "PASS $kind/$layout (${t}s)"
		else
			check_failed "$kind/$layout (${t}s)"
		fi
	done
done
echo "$HB_TEST: $((cases - failures)) of $cases cases passed"
[ "$failures" -eq 0 ] || fail "$failures of $cases cases failed"
