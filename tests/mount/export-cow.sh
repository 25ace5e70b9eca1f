#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/export-cow.sh -- hackbackfs --export-cow FILE: gem5's CowDiskImage
# file of the image's difference from BASE, read back by our own reader of
# the format (tests/lib/cowapply.py, written from the description only).
#
# 1. Every base of the image matrix (ext2 1 KiB, ext3, ext4, ext4 without
#    metadata_csum, ext4 with inline_data; bare, MBR, GPT) with m5= and
#    restore=: BASE + FILE applied by the reader has the SHA-256 of
#    MNT/hack-back mounted with the same options; no record holds BASE's
#    bytes, sectors ascend (none repeats), N matches the records, the
#    printed count and the file size; the trailer and FILE.json carry the
#    mount's digests; BASE is unchanged.
# 2. Two exports are byte-identical; a change of overlay, base or option
#    changes the file.
# 3. A signal during the export leaves no temporary and no partial FILE
#    (unnamed O_TMPFILE and named temporary); a 230 MiB delta is exported
#    with a small peak RSS and a warning that gem5's table passes 256 MiB.
# 4. Bad input (as for a mount, plus a missing, read-only or full
#    destination, a directory, BASE itself as FILE): one error line, exit
#    non-zero, no FILE, FILE.json or temporary left, an existing FILE
#    untouched, BASE unchanged; also with a named temporary (file systems
#    without O_TMPFILE).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires mke2fs sfdisk sha256sum cmp python3
READER="python3 -B $top_srcdir/tests/lib/cowapply.py"
EPOCH=1700000000
KINDS=${HB_MATRIX_KINDS:-$BASE_KINDS}
LAYOUTS=${HB_MATRIX_LAYOUTS:-$BASE_LAYOUTS}

ov=$tmp/overlay
make_overlay "$ov"
printf '#!/bin/sh\necho m5 stand-in\n' >"$tmp/m5"
printf '#!/bin/sh\necho restore one\n' >"$tmp/r1.sh"
printf '#!/bin/sh\necho restore two\n' >"$tmp/r2.sh"
opts="m5=$tmp/m5,restore=$tmp/r1.sh,epoch=$EPOCH"
mnt=$tmp/mnt
out=$tmp/out
mkdir -p "$mnt" "$out"

# export NAME ARGS...: hackbackfs --export-cow $out/NAME ARGS, which must
# succeed quietly; its stdout is in $out/NAME.stdout.
export_cow()
{
	_n=$1
	shift
	"$HB" --export-cow "$out/$_n" "$@" >"$tmp/$_n.stdout" 2>"$tmp/export.err" ||
		fail "--export-cow $_n $* failed: $(cat "$tmp/export.err")"
	[ ! -s "$tmp/export.err" ] || fail "--export-cow $_n printed on stderr: $(cat "$tmp/export.err")"
}

field()
{
	sed -n "s/^$1 //p" "$2"
}

# ---- 1. the matrix -------------------------------------------------------------

check_case()
{
	kind=$1 layout=$2
	cname=$kind/$layout case_bad=0
	base=$tmp/base.img
	make_base "$kind" "$base" "$layout"
	base_sum=$(sha256_of "$base")
	rm -f "$out"/*
	export_cow x.cow -o "$opts" "$base" "$ov"

	mount_hb -o "$opts" "$base" "$ov" "$mnt"
	want=$(sha256_of "$mnt/hack-back")
	getfattr --absolute-names -n user.hackback.digest --only-values "$mnt/hack-back" >"$tmp/xa" 2>/dev/null || :
	unmount_hb "$mnt"

	cp --sparse=always "$base" "$tmp/applied.img"
	$READER apply "$out/x.cow" "$tmp/applied.img" 2>"$tmp/reader.err" ||
		bad "reader: $(cat "$tmp/reader.err")"
	got=$(sha256_of "$tmp/applied.img")
	[ "$got" = "$want" ] || bad "BASE + FILE has SHA-256 $got, the mount $want ($(cmp "$tmp/applied.img" "$mnt/hack-back" 2>&1 | head -n 1))"
	rm -f "$tmp/applied.img"

	$READER info "$out/x.cow" "$base" >"$tmp/info" 2>"$tmp/reader.err" ||
		bad "reader: $(cat "$tmp/reader.err")"
	n=$(field sectors "$tmp/info")
	[ -n "$n" ] && [ "$n" -gt 0 ] || bad "no sectors in the file"
	[ "$n" = "$(field sectors "$tmp/x.cow.stdout")" ] ||
		bad "file has $n records, hackbackfs printed $(field sectors "$tmp/x.cow.stdout")"
	_size=$(stat -c %s "$out/x.cow")
	[ "$_size" = $((24 + 520 * n + 160)) ] || bad "file is $_size bytes, want 24 + 520 * $n + 160"
	[ "$_size" = "$(field file_bytes "$tmp/x.cow.stdout")" ] || bad "file_bytes printed wrong"
	[ "$(field gem5_table_bytes "$tmp/x.cow.stdout")" = $((600 * n)) ] || bad "gem5_table_bytes printed wrong"
	for _d in base overlay layout digest; do
		_a=$(field "$_d" "$tmp/info") _b=$(field "$_d" "$tmp/x.cow.stdout")
		[ ${#_a} = 64 ] && [ "$_a" = "$_b" ] || bad "trailer $_d '$_a', printed '$_b'"
	done
	[ ! -s "$tmp/xa" ] || [ "$(cat "$tmp/xa")" = "$(field digest "$tmp/info")" ] ||
		bad "trailer digest differs from the mount's user.hackback.digest"
	_j=$(json_get "$out/x.cow.json" '"%s %s %s %s" % (j["cow"]["sectors"], j["base"]["fingerprint"], j["digest"], j["partition"]["offset"])')
	[ "$_j" = "$n $(field base "$tmp/info") $(field digest "$tmp/info") $(base_offset "$layout")" ] ||
		bad "FILE.json says '$_j'"
	[ "$(sha256_of "$base")" = "$base_sum" ] || bad "BASE WAS MODIFIED"
	[ "$(ls -A "$out" | tr '\n' ' ')" = "x.cow x.cow.json " ] || bad "left in the directory: $(ls -A "$out")"
	echo "    $cname: $n sectors"
	[ "$case_bad" = 0 ]
}

for kind in $KINDS; do
	for layout in $LAYOUTS; do
		set +e
		(set -e; check_case "$kind" "$layout")
		rc=$?
		set -e
		if [ "$rc" -eq 0 ]; then echo "PASS matrix $kind/$layout"
		else check_failed "matrix $kind/$layout"; fi
	done
done

# ---- 2. determinism and what changes the file ------------------------------------

base=$tmp/base.img
make_base ext4 "$base" mbr
base_sum=$(sha256_of "$base")
rm -f "$out"/*
check()
{
	if "$@"; then echo "ok: $what"; else check_failed "$what"; fi
}
export_cow a.cow -o "$opts" "$base" "$ov"
export_cow b.cow -o "$opts" "$base" "$ov"
what="two exports are byte-identical" check cmp -s "$out/a.cow" "$out/b.cow"
what="... and so are their FILE.json" check cmp -s "$out/a.cow.json" "$out/b.cow.json"
# Exporting again over an existing FILE replaces it.
export_cow a.cow -o "$opts" "$base" "$ov"
what="re-export over FILE: same bytes" check cmp -s "$out/a.cow" "$out/b.cow"

differs()
{
	! cmp -s "$out/a.cow" "$out/$1"
}
mkdir -p "$tmp/ov2/etc"
echo one-more >"$tmp/ov2/etc/extra"
export_cow c.cow -o "$opts" "$base" "$ov:$tmp/ov2"
what="another overlay changes FILE" check differs c.cow
export_cow d.cow -o "$opts,epoch=$((EPOCH + 1))" "$base" "$ov"
what="-o epoch changes FILE" check differs d.cow
export_cow e.cow -o "m5=$tmp/m5,restore=$tmp/r2.sh,epoch=$EPOCH" "$base" "$ov"
what="-o restore changes FILE" check differs e.cow
export_cow f.cow -o "$opts,owner=1000:1000" "$base" "$ov"
what="-o owner changes FILE" check differs f.cow
# A base that differs in its boot code only: the same records, another
# fingerprint in the trailer.
cp "$base" "$tmp/base2.img"
printf 'boot code' | dd of="$tmp/base2.img" bs=1 seek=100 conv=notrunc status=none
export_cow g.cow -o "$opts" "$tmp/base2.img" "$ov"
what="another base changes FILE" check differs g.cow
what="... through the fingerprint in the trailer" check \
	[ "$(field base "$tmp/g.cow.stdout")" != "$(field base "$tmp/a.cow.stdout")" ]
make_base ext3 "$tmp/base3.img" mbr
export_cow h.cow -o "$opts" "$tmp/base3.img" "$ov"
what="another file system changes FILE" check differs h.cow
what="BASE unchanged by all of it" check [ "$(sha256_of "$base")" = "$base_sum" ]
rm -f "$tmp/base2.img" "$tmp/base3.img"

# ---- 3. a signal during the export -------------------------------------------------

# A 230 MiB overlay file: the export takes long enough to be caught writing
# (its temporary shows in /proc/PID/fd).
rm -f "$out"/*
mkdir -p "$tmp/ovbig/data"
head -c 230M /dev/urandom >"$tmp/ovbig/data/big.bin"
truncate -s 400M "$tmp/bigfs.img"
mke2fs -q -F -t ext4 "$tmp/bigfs.img"
for sig in TERM INT HUP; do
	# HUP: with a named temporary (file systems without O_TMPFILE)
	if [ $sig = HUP ]; then export HB_OUTFILE_NO_TMPFILE=1; fi
	"$HB" --export-cow "$out/s.cow" -o epoch=$EPOCH "$tmp/bigfs.img" "$tmp/ovbig" >/dev/null 2>"$tmp/sig.err" &
	pid=$!
	caught=no
	for _i in $(seq 1 300); do
		if ls -l "/proc/$pid/fd" 2>/dev/null | grep -q -- "-> $out/"; then
			kill -"$sig" "$pid"
			caught=yes
			break
		fi
		sleep 0.02
	done
	rc=0
	wait "$pid" || rc=$?
	unset HB_OUTFILE_NO_TMPFILE
	left=$(ls -A "$out")
	if [ "$caught" = no ]; then
		echo "note: SIG$sig: the export finished before it was seen writing (rc $rc)"
		rm -f "$out"/*
	else
		what="SIG$sig while writing: killed ($rc), nothing left in the directory${left:+ (left: $left)}" \
			check [ "$rc" -gt 128 ] && [ -z "$left" ]
	fi
done
# Finished, the same export streams (peak RSS far below the delta) and
# warns that gem5's table would pass 256 MiB (about 600 bytes a sector).
rc=0
if /usr/bin/time -f %M true >/dev/null 2>&1; then
	/usr/bin/time -f %M -o "$tmp/rss" "$HB" --export-cow "$out/w.cow" -o epoch=$EPOCH \
		"$tmp/bigfs.img" "$tmp/ovbig" >"$tmp/w.stdout" 2>"$tmp/w.err" || rc=$?
	rss=$(tail -n 1 "$tmp/rss")
	what="230 MiB delta exported with a peak RSS of $((rss / 1024)) MiB (< 48)" check [ "$rss" -lt $((48 * 1024)) ]
else
	"$HB" --export-cow "$out/w.cow" -o epoch=$EPOCH "$tmp/bigfs.img" "$tmp/ovbig" >"$tmp/w.stdout" 2>"$tmp/w.err" || rc=$?
	echo "note: no GNU time: peak RSS not checked"
fi
what="a large export succeeds" check [ "$rc" = 0 ]
what="... with a warning naming the FUSE mount: $(cat "$tmp/w.err")" check \
	grep -q 'warning: gem5 will hold this table.*FUSE mount' "$tmp/w.err"
what="... and the table above 256 MiB" check [ "$(field gem5_table_bytes "$tmp/w.stdout")" -gt $((256 << 20)) ]
what="... a valid file" check $READER info "$out/w.cow" >/dev/null
rm -rf "$tmp/ovbig" "$tmp/bigfs.img" "$out"/*

# ---- 4. bad input ------------------------------------------------------------

# refuse NAME 'REGEX' DEST_DIR -- ARGS...: hackbackfs ARGS must fail with
# one line matching REGEX; DEST_DIR must hold afterwards what it held
# before (so no FILE, FILE.json or temporary); BASE unchanged.
refuse()
{
	_name=$1 _re=$2 _dir=$3
	shift 4
	_before=$(ls -lA --time-style=+%s.%N "$_dir" 2>/dev/null | sha256sum)
	_rc=0
	"$HB" "$@" >"$tmp/stdout" 2>"$tmp/stderr" </dev/null || _rc=$?
	_why=
	[ "$_rc" -ne 0 ] || _why="exit status 0"
	[ "$_rc" -le 125 ] || _why="exit status $_rc (a signal?)"
	[ "$(wc -l <"$tmp/stderr")" -eq 1 ] || _why="$_why; $(wc -l <"$tmp/stderr") lines on stderr"
	grep -qE -e "$_re" "$tmp/stderr" || _why="$_why; stderr does not match /$_re/"
	[ "$(ls -lA --time-style=+%s.%N "$_dir" 2>/dev/null | sha256sum)" = "$_before" ] ||
		_why="$_why; $_dir changed: $(ls -A "$_dir" | tr '\n' ' ')"
	[ "$(sha256_of "$base")" = "$base_sum" ] || _why="$_why; BASE WAS MODIFIED"
	if [ -z "$_why" ]; then
		echo "ok: refused $_name: $(cat "$tmp/stderr")"
	else
		check_failed "$_name: ${_why#; } (stderr: $(cat "$tmp/stderr"))"
	fi
}

rm -f "$out"/*
echo 'an older export' >"$out/keep.cow"
head -c 1M /dev/urandom >"$tmp/random.img"
printf 'not a dir' >"$tmp/notadir"
refuse "missing base" 'base image .*No such file' "$out" -- --export-cow "$out/keep.cow" "$tmp/nonexistent.img" "$ov"
refuse "random bytes as base" 'ext2/3/4|file system|partition' "$out" -- --export-cow "$out/keep.cow" "$tmp/random.img" "$ov"
refuse "missing overlay" 'overlay|No such file' "$out" -- --export-cow "$out/keep.cow" "$base" "$tmp/no-overlay"
refuse "empty overlay name" 'empty' "$out" -- --export-cow "$out/keep.cow" "$base" "$ov:"
refuse "bad -o value" 'epoch' "$out" -- --export-cow "$out/keep.cow" -o epoch=x "$base" "$ov"
refuse "missing restore script" 'restore script' "$out" -- --export-cow "$out/keep.cow" -o restore=/nonexistent "$base" "$ov"
refuse "no overlay argument" 'export-cow takes BASE and OVERLAY' "$out" -- --export-cow "$out/keep.cow" "$base"
refuse "a mount point too" 'export-cow takes BASE and OVERLAY' "$out" -- --export-cow "$out/keep.cow" "$base" "$ov" "$mnt"
refuse "with --digests" 'exclude each other' "$out" -- --digests --export-cow "$out/keep.cow" "$base" "$ov"
refuse "missing directory" 'No such file' "$out" -- --export-cow "$out/no/such/dir/x.cow" "$base" "$ov"
refuse "a file as directory" 'not a directory|Not a directory' "$out" -- --export-cow "$tmp/notadir/x.cow" "$base" "$ov"
refuse "a directory as FILE" 'is a directory' "$out" -- --export-cow "$out" "$base" "$ov"
mkdir -p "$tmp/bd"
cp "$base" "$tmp/bd/base.img"
base=$tmp/bd/base.img
refuse "BASE as FILE" 'is the base image' "$tmp/bd" -- --export-cow "$base" "$base" "$ov"
mv "$base" "$tmp/bd/x.cow.json"
base=$tmp/bd/x.cow.json
refuse "BASE as FILE.json" 'is the base image' "$tmp/bd" -- --export-cow "$tmp/bd/x.cow" "$base" "$ov"
rm -rf "$tmp/bd"
base=$tmp/base.img
[ "$(cat "$out/keep.cow")" = 'an older export' ] || check_failed "an existing FILE was touched"

if [ "$(id -u)" -eq 0 ]; then
	mkdir -p "$tmp/full" "$tmp/ro"
	mount -t tmpfs -o size=64k hb-export-full "$tmp/full" || fail "mount tmpfs failed"
	on_exit "umount '$tmp/full'"
	echo 'an older export' >"$tmp/full/keep.cow"
	refuse "a full destination" 'No space left' "$tmp/full" -- --export-cow "$tmp/full/keep.cow" "$base" "$ov"
	refuse "a full destination (new FILE)" 'No space left' "$tmp/full" -- --export-cow "$tmp/full/new.cow" "$base" "$ov"
	mount -t tmpfs -o size=1m,ro hb-export-ro "$tmp/ro" || fail "mount tmpfs failed"
	on_exit "umount '$tmp/ro'"
	refuse "a read-only destination" 'Read-only' "$tmp/ro" -- --export-cow "$tmp/ro/x.cow" "$base" "$ov"
	# Where the file system has no O_TMPFILE (vfat, older NFS): a named
	# temporary from the start, forced here by the test hook.
	mkdir -p "$tmp/ovsmall/etc"
	echo small >"$tmp/ovsmall/etc/hostname"
	export_cow small.cow -o epoch=$EPOCH "$base" "$tmp/ovsmall"
	HB_OUTFILE_NO_TMPFILE=1 "$HB" --export-cow "$tmp/ro/../named.cow" -o epoch=$EPOCH "$base" "$tmp/ovsmall" \
		>/dev/null 2>"$tmp/named.err" || check_failed "named temporary: $(cat "$tmp/named.err")"
	what="named temporary: the same file" check cmp -s "$tmp/named.cow" "$out/small.cow"
	what="named temporary: nothing else left" check [ -z "$(ls -A "$tmp" | grep '^\.named')" ]
	export HB_OUTFILE_NO_TMPFILE=1
	refuse "a full destination, named temporary" 'No space left' "$tmp/full" -- --export-cow "$tmp/full/keep.cow" "$base" "$ov"
	refuse "a read-only destination, named temporary" 'Read-only' "$tmp/ro" -- --export-cow "$tmp/ro/x.cow" "$base" "$ov"
	unset HB_OUTFILE_NO_TMPFILE
else
	echo "note: not root: the full and read-only destination cases are skipped"
fi

[ "$failures" -eq 0 ] || fail "$failures checks failed"
echo "$HB_TEST: all checks passed"
