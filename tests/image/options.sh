#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/image/options.sh -- the injection's options and the less common
# shapes of an overlay, each checked with e2fsck -fn, debugfs and (as root)
# a read-only kernel mount compared with the expected tree:
#   keep-owner      --keep-owner keeps the overlay's owners
#   owner           --owner 5:6 owns every injected entry, nothing else
#   partition       --partition N / --whole give the same bytes as AUTO
#                   (MBR 1, GPT 2, and 200 of a 256-entry GPT)
#   epoch           --epoch sets ctime/atime; changing it changes bytes;
#                   runs without --epoch are byte-identical too
#   layers          several overlay dirs: union, later one wins
#   add-file        --file (overlay_add_file): merged-usr, missing parents
#   limits          a 255-byte name, a symlink target of block size - 1,
#                   directories that must grow (also inline_data ones)
#   replace-types   a file over a base symlink, a symlink over a base file,
#                   a symlink re-targeted; and an image used as a base
#                   again with the same overlay
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"

requires mke2fs e2fsck debugfs sfdisk sha256sum cmp tar truncate
requires_synth

EPOCH=1700000000
fssize=$((BASE_FS_MB * 1048576))
kernel_checks

ov=$tmp/overlay
make_overlay "$ov"

# Every case injects with --epoch $EPOCH and the default time stamps.
HB_EXPECT_EPOCH=$EPOCH

# synth_ok ARGS...: run synth, which must succeed silently.
synth_ok()
{
	"$SYNTH" "$@" 2>"$tmp/synth.err" || { bad "synth $*: $(cat "$tmp/synth.err")"; return 1; }
	[ ! -s "$tmp/synth.err" ] || bad "synth printed: $(cat "$tmp/synth.err")"
}

# fsck_ok FILE OFFSET
fsck_ok()
{
	if ! e2fsck -fn "$1?offset=$2" >"$tmp/fsck.out" 2>&1; then
		bad "e2fsck -fn is not clean:"
		grep -v '^Pass \|^e2fsck 1\|^$' "$tmp/fsck.out" | head -n 20 | sed 's/^/        /'
	fi
}

# tree_ok FILE OFFSET KIND EXPECTED-DIR: the kernel sees EXPECTED-DIR.
tree_ok()
{
	[ "$can_mount" = yes ] || return 0
	tree_listing "$4" >"$tmp/want.list"
	_err=$(kernel_listing "$1" "$2" "$fssize" "$3" "$tmp/got.list") ||
		{ bad "$_err"; return 0; }
	if ! diff -u "$tmp/want.list" "$tmp/got.list" >"$tmp/diff"; then
		bad "kernel mount differs from the expected tree (- expected, + image):"
		grep '^[-+][^-+]' "$tmp/diff" | head -n 40 | sed 's/^/        /'
	fi
}

# owner_is IMAGE UID:GID PATH...: debugfs shows that owner on every PATH.
owner_is()
{
	_img=$1 _want=$2
	shift 2
	for _p; do
		# shellcheck disable=SC2046
		set -- $(debugfs_stat "$_img" "$_p")
		[ "$4:$5" = "$_want" ] || bad "/$_p: owner $4:$5, want $_want"
	done
}

# The owner of a base file (root's files, unless the test runs as a user).
base_owner()
{
	stat -c %u:%g "$(base_tree)/$1"
}

injected_paths()
{
	for _p in $OVERLAY_FILES $OVERLAY_SYMLINKS; do
		image_path "$_p"
	done
}

# ---- cases -----------------------------------------------------------------

case_keep_owner()
{
	make_base ext4 "$tmp/base.img"
	synth_ok --keep-owner --epoch "$EPOCH" "$tmp/base.img" "$tmp/out.img" "$ov" || return 1
	fsck_ok "$tmp/out.img" 0
	# shellcheck disable=SC2046,SC2086
	owner_is "$tmp/out.img" "$OVERLAY_OWNER" $(injected_paths) $OVERLAY_NEW_DIRS
	for _p in usr/sbin/init etc usr/sbin; do
		owner_is "$tmp/out.img" "$(base_owner "$_p")" "$_p"
	done
	expected_tree "$(base_tree)" "$ov" "$tmp/expected" keep
	tree_ok "$tmp/out.img" 0 ext4 "$tmp/expected"
}

case_owner()
{
	make_base ext4 "$tmp/base.img" mbr
	off=$(base_offset mbr)
	synth_ok --owner 5:6 --epoch "$EPOCH" "$tmp/base.img" "$tmp/out.img" "$ov" || return 1
	fsck_ok "$tmp/out.img" "$off"
	# shellcheck disable=SC2046,SC2086
	owner_is "$tmp/out.img?offset=$off" 5:6 $(injected_paths) $OVERLAY_NEW_DIRS
	for _p in usr/sbin/init usr/bin/hello etc home/user/notes; do
		owner_is "$tmp/out.img?offset=$off" "$(base_owner "$_p")" "$_p"
	done
}

case_partition()
{
	for _l in bare:--whole mbr:"--partition 1" gpt:"--partition 2" gpt200:"--partition 200"; do
		make_base ext4 "$tmp/base.img" "${_l%%:*}"
		synth_ok --epoch "$EPOCH" "$tmp/base.img" "$tmp/auto.img" "$ov" || return 1
		# shellcheck disable=SC2086
		synth_ok ${_l#*:} --epoch "$EPOCH" "$tmp/base.img" "$tmp/chosen.img" "$ov" || return 1
		cmp -s "$tmp/auto.img" "$tmp/chosen.img" ||
			bad "${_l%%:*}: ${_l#*:} gives other bytes than the automatic choice"
	done
}

case_epoch()
{
	make_base ext4 "$tmp/base.img"
	synth_ok --epoch "$EPOCH" "$tmp/base.img" "$tmp/a.img" "$ov" || return 1
	synth_ok --epoch 1234567890 "$tmp/base.img" "$tmp/b.img" "$ov" || return 1
	! cmp -s "$tmp/a.img" "$tmp/b.img" || bad "--epoch changes nothing in the image"
	# shellcheck disable=SC2046
	set -- $(debugfs_stat "$tmp/b.img" usr/sbin/m5)
	[ "$9 ${10}" = "1234567890 1234567890" ] || bad "usr/sbin/m5: atime/ctime $9 ${10}, want 1234567890"
	fsck_ok "$tmp/b.img" 0
	# no --epoch: still deterministic, even a second later
	synth_ok "$tmp/base.img" "$tmp/c.img" "$ov" || return 1
	sleep 1
	synth_ok "$tmp/base.img" "$tmp/d.img" "$ov" || return 1
	cmp -s "$tmp/c.img" "$tmp/d.img" || bad "two runs without --epoch differ"
	fsck_ok "$tmp/c.img" 0
}

case_layers()
{
	make_base ext4-inline "$tmp/base.img" gpt
	off=$(base_offset gpt)
	mkdir -p "$tmp/l1/etc" "$tmp/l1/opt/one" "$tmp/l2/etc" "$tmp/l2/opt/two"
	echo one >"$tmp/l1/etc/hostname"
	echo one >"$tmp/l1/etc/one.conf"
	echo one >"$tmp/l1/opt/one/file"
	echo two >"$tmp/l2/etc/hostname"
	echo two >"$tmp/l2/etc/two.conf"
	echo two >"$tmp/l2/opt/two/file"
	ln -s one.conf "$tmp/l1/etc/link"
	ln -s two.conf "$tmp/l2/etc/link"
	synth_ok --epoch "$EPOCH" "$tmp/base.img" "$tmp/out.img" "$tmp/l1" "$tmp/l2" || return 1
	fsck_ok "$tmp/out.img" "$off"
	for _c in etc/hostname:two etc/one.conf:one etc/two.conf:two \
		opt/one/file:one opt/two/file:two; do
		_got=$(debugfs_cat "$tmp/out.img?offset=$off" "${_c%%:*}")
		[ "$_got" = "${_c#*:}" ] || bad "/${_c%%:*}: '$_got', want '${_c#*:}'"
	done
	# shellcheck disable=SC2046
	set -- $(debugfs_stat "$tmp/out.img?offset=$off" etc/link)
	[ "${12}" = two.conf ] || bad "etc/link -> '${12}', want two.conf"
	expected_tree "$(base_tree)" "$tmp/l1" "$tmp/expected"
	apply_overlay "$tmp/l2" "$tmp/expected"
	tree_ok "$tmp/out.img" "$off" ext4-inline "$tmp/expected"
}

case_add_file()
{
	make_base ext3 "$tmp/base.img"
	printf '#!/bin/sh\necho restore\n' >"$tmp/run.sh"
	chmod 0750 "$tmp/run.sh"
	touch -d @1555555555 "$tmp/run.sh"
	synth_ok --epoch "$EPOCH" --file "sbin/m5=$ov/sbin/m5" \
		--file "opt/hb/bench/run.sh=$tmp/run.sh" \
		"$tmp/base.img" "$tmp/out.img" || return 1
	fsck_ok "$tmp/out.img" 0
	# shellcheck disable=SC2046
	set -- $(debugfs_stat "$tmp/out.img" usr/sbin/m5)
	[ "$2 $3 $6" = "regular 755 70000" ] || bad "usr/sbin/m5 is '$2 $3 $6', want 'regular 755 70000'"
	# shellcheck disable=SC2046
	set -- $(debugfs_stat "$tmp/out.img" sbin)
	[ "$2 ${12}" = "symlink usr/sbin" ] || bad "/sbin is now '$2 ${12}'"
	# shellcheck disable=SC2046
	set -- $(debugfs_stat "$tmp/out.img" opt/hb/bench/run.sh)
	[ "$2 $3 $4:$5 $8" = "regular 750 0:0 $EPOCH" ] ||
		bad "opt/hb/bench/run.sh is '$2 $3 $4:$5 $8', want 'regular 750 0:0 $EPOCH'"
	# ... and with --keep-mtime (-o keep_mtime), the file's own mtime.
	synth_ok --epoch "$EPOCH" --keep-mtime --file "opt/hb/bench/run.sh=$tmp/run.sh" \
		"$tmp/base.img" "$tmp/out-km.img" || return 1
	# shellcheck disable=SC2046
	set -- $(debugfs_stat "$tmp/out-km.img" opt/hb/bench/run.sh)
	[ "$8" = 1555555555 ] || bad "keep-mtime: opt/hb/bench/run.sh mtime $8, want 1555555555"
	rm -f "$tmp/out-km.img"
	for _d in opt opt/hb opt/hb/bench; do
		# shellcheck disable=SC2046
		set -- $(debugfs_stat "$tmp/out.img" "$_d")
		[ "$2 $3 $4:$5" = "directory 755 0:0" ] ||
			bad "missing parent /$_d is '$2 $3 $4:$5', want 'directory 755 0:0'"
	done
	[ "$(debugfs_cat "$tmp/out.img" opt/hb/bench/run.sh)" = "$(cat "$tmp/run.sh")" ] ||
		bad "opt/hb/bench/run.sh: content differs"
}

case_limits()
{
	_lov=$tmp/limits
	rm -rf "$_lov"
	mkdir -p "$_lov/etc/many" "$_lov/usr/share/doc/hb" "$_lov/root"
	_name=$(printf '%0255d' 0 | tr 0 n)
	echo long >"$_lov/etc/$_name"
	ln -s "$(printf '%01023d' 0 | tr 0 t)" "$_lov/root/long-link"
	ln -s "$(printf '%059d' 0 | tr 0 f)" "$_lov/root/link-59"
	ln -s "$(printf '%060d' 0 | tr 0 s)" "$_lov/root/link-60"
	chmod 0700 "$_lov/root"
	# 300 names into a new and into a one-block base directory
	(cd "$_lov" && seq -f "etc/many/file-number-%03g" 1 300 | xargs touch &&
		seq -f "usr/share/doc/hb/a-somewhat-longer-doc-name-%03g" 1 300 | xargs touch)
	for _k in ext2 ext4-inline; do
		make_base "$_k" "$tmp/base.img"
		synth_ok --epoch "$EPOCH" "$tmp/base.img" "$tmp/out.img" "$_lov" || return 1
		cname="limits/$_k"
		fsck_ok "$tmp/out.img" 0
		expected_tree "$(base_tree)" "$_lov" "$tmp/expected"
		tree_ok "$tmp/out.img" 0 "$_k" "$tmp/expected"
		[ "$(debugfs_cat "$tmp/out.img" "etc/$_name")" = long ] ||
			bad "the 255-byte name is not readable"
	done
}

case_replace_types()
{
	_rov=$tmp/replace
	rm -rf "$_rov"
	mkdir -p "$_rov/etc" "$_rov/usr/lib"
	echo UTC >"$_rov/etc/localtime"			# file over a symlink
	ln -s hostname "$_rov/etc/passwd"		# symlink over a file
	ln -s libhb.so.2 "$_rov/usr/lib/libhb.so.1"	# symlink re-targeted
	printf 'root:x:0:0::/root:/bin/sh\n' >"$_rov/etc/shadow"
	for _k in ext2 ext4; do
		cname="replace-types/$_k"
		make_base "$_k" "$tmp/base.img" mbr
		off=$(base_offset mbr)
		synth_ok --epoch "$EPOCH" "$tmp/base.img" "$tmp/out.img" "$_rov" || return 1
		fsck_ok "$tmp/out.img" "$off"
		expected_tree "$(base_tree)" "$_rov" "$tmp/expected"
		tree_ok "$tmp/out.img" "$off" "$_k" "$tmp/expected"
		# the image as a base, again with the standard overlay, twice
		synth_ok --epoch "$EPOCH" "$tmp/out.img" "$tmp/out2.img" "$ov" || return 1
		synth_ok --epoch "$EPOCH" "$tmp/out2.img" "$tmp/out3.img" "$ov" || return 1
		fsck_ok "$tmp/out3.img" "$off"
		apply_overlay "$ov" "$tmp/expected"
		tree_ok "$tmp/out3.img" "$off" "$_k" "$tmp/expected"
	done
}

# ---- run ------------------------------------------------------------------------

cases=0
for c in keep-owner owner partition epoch layers add-file limits replace-types; do
	cases=$((cases + 1))
	t0=$(date +%s)
	set +e
	(
		set -e
		cname=$c case_bad=0
		release_loops
		"case_$(echo "$c" | tr - _)"
		[ "$case_bad" = 0 ]
	)
	rc=$?
	set -e
	t=$(($(date +%s) - t0))
	if [ "$rc" -eq 0 ]; then
		echo "PASS $c (${t}s)"
	else
		check_failed "$c (${t}s)"
	fi
done
echo "$HB_TEST: $((cases - failures)) of $cases cases passed"
[ "$failures" -eq 0 ] || fail "$failures of $cases cases failed"
