#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Identity: equal inputs give equal digests, and each change of base,
# overlay, option or restore script moves exactly the digests it should
# (hackbackfs --digests prints base, overlay, layout and digest).
. "${top_srcdir:-.}/tests/lib/common.sh"
requires mke2fs sfdisk
hb=$top_builddir/hackbackfs

make_base ext4 "$tmp/base.img" mbr
mkdir -p "$tmp/ov/root" "$tmp/ov/etc"
echo 'echo hello' > "$tmp/ov/root/.bashrc"
echo guest > "$tmp/ov/etc/hostname"
touch -d @1700000000 "$tmp/ov/root/.bashrc" "$tmp/ov/etc/hostname"
printf '#!/bin/sh\necho one\n' > "$tmp/r1.sh"
printf '#!/bin/sh\necho two\n' > "$tmp/r2.sh"
printf '#!/bin/sh\necho m5\n' > "$tmp/m5"

# digests NAME [hackbackfs args...]: store the four lines as $tmp/NAME.d
digests()
{
	_n=$1
	shift
	"$hb" --digests "$@" > "$tmp/$_n.d" || fail "--digests $* failed"
	[ "$(wc -l < "$tmp/$_n.d")" -eq 4 ] || fail "--digests printed: $(cat "$tmp/$_n.d")"
}

# moved A B "fields that must differ": every other field must be equal.
moved()
{
	for _f in base overlay layout digest; do
		_a=$(sed -n "s/^$_f //p" "$tmp/$1.d")
		_b=$(sed -n "s/^$_f //p" "$tmp/$2.d")
		[ ${#_a} -eq 64 ] || fail "$1: no $_f digest"
		case " $3 " in
		*" $_f "*) [ "$_a" != "$_b" ] || fail "$1 -> $2: $_f should change" ;;
		*) [ "$_a" = "$_b" ] || fail "$1 -> $2: $_f should not change" ;;
		esac
	done
	echo "ok: $1 -> $2 moves: ${3:-nothing}"
}

opts=m5=$tmp/m5,epoch=1700000000
digests a1 -o "$opts,restore=$tmp/r1.sh" "$tmp/base.img" "$tmp/ov"
digests a2 -o "$opts,restore=$tmp/r1.sh" "$tmp/base.img" "$tmp/ov"
moved a1 a2 ""

# The restore script moves the digest only: one checkpoint, any benchmark.
digests r2 -o "$opts,restore=$tmp/r2.sh" "$tmp/base.img" "$tmp/ov"
moved a1 r2 "digest"
digests r0 -o "$opts" "$tmp/base.img" "$tmp/ov"
moved a1 r0 "digest"

# Options that change the bytes move the layout.
digests ep -o "m5=$tmp/m5,epoch=1700000001,restore=$tmp/r1.sh" "$tmp/base.img" "$tmp/ov"
moved a1 ep "layout digest"
digests ow -o "$opts,restore=$tmp/r1.sh,owner=1000:1000" "$tmp/base.img" "$tmp/ov"
moved a1 ow "layout digest"
digests ko -o "$opts,restore=$tmp/r1.sh,keep_owner" "$tmp/base.img" "$tmp/ov"
moved a1 ko "layout digest"
# ... and the image's name, ro or cow_limit do not (they change no byte).
digests nm -o "$opts,restore=$tmp/r1.sh,name=disk.img,ro,cow_limit=1M" "$tmp/base.img" "$tmp/ov"
moved a1 nm ""

# The overlay: content, mode, a new file, m5.
echo 'echo changed' > "$tmp/ov/root/.bashrc"
touch -d @1700000000 "$tmp/ov/root/.bashrc"
digests oc -o "$opts,restore=$tmp/r1.sh" "$tmp/base.img" "$tmp/ov"
moved a1 oc "overlay layout digest"
chmod 600 "$tmp/ov/root/.bashrc"
digests om -o "$opts,restore=$tmp/r1.sh" "$tmp/base.img" "$tmp/ov"
moved oc om "overlay layout digest"
printf '#!/bin/sh\necho m5 v2\n' > "$tmp/m5"
digests m5 -o "$opts,restore=$tmp/r1.sh" "$tmp/base.img" "$tmp/ov"
moved om m5 "overlay layout digest"

# A second overlay stacked on the first: the later one wins.
mkdir -p "$tmp/ov2/etc"
echo bench > "$tmp/ov2/etc/hostname"
touch -d @1700000000 "$tmp/ov2/etc/hostname"
digests st -o "$opts,restore=$tmp/r1.sh" "$tmp/base.img" "$tmp/ov:$tmp/ov2"
moved m5 st "overlay layout digest"
"$hb" --manifest -o "$opts" "$tmp/base.img" "$tmp/ov:$tmp/ov2" > "$tmp/manifest.json"
python3 - "$tmp/manifest.json" "$(sha256sum < "$tmp/ov2/etc/hostname" | cut -c1-64)" <<'PY' || fail "manifest: etc/hostname is not the later overlay's"
import json, sys
m = json.load(open(sys.argv[1]))
e = [e for e in m["entries"] if e["path"] == "etc/hostname"]
sys.exit(0 if e and e[0]["sha256"] == sys.argv[2] else 1)
PY

# The base: a byte the fingerprint samples (the first 4 MiB).
cp --sparse=always "$tmp/base.img" "$tmp/base2.img"
printf 'X' | dd of="$tmp/base2.img" bs=1 seek=600 conv=notrunc status=none
digests b1 -o "$opts,restore=$tmp/r1.sh" "$tmp/base.img" "$tmp/ov:$tmp/ov2"
digests b2 -o "$opts,restore=$tmp/r1.sh" "$tmp/base2.img" "$tmp/ov:$tmp/ov2"
moved b1 b2 "base layout digest"

# A byte the samples miss: only -o fullhash sees it.
cp --sparse=always "$tmp/base.img" "$tmp/base3.img"
size=$(stat -c %s "$tmp/base.img")
off=$(( (size / 2) + 12345 ))
printf 'Y' | dd of="$tmp/base3.img" bs=1 seek=$off conv=notrunc status=none
digests b3 -o "$opts,restore=$tmp/r1.sh" "$tmp/base3.img" "$tmp/ov:$tmp/ov2"
moved b1 b3 ""
digests f1 -o "$opts,restore=$tmp/r1.sh,fullhash" "$tmp/base.img" "$tmp/ov:$tmp/ov2"
digests f3 -o "$opts,restore=$tmp/r1.sh,fullhash" "$tmp/base3.img" "$tmp/ov:$tmp/ov2"
moved f1 f3 "base layout digest"
moved b1 f1 "base layout digest"
[ "$(sed -n 's/^base //p' "$tmp/f1.d")" != "$(sha256sum < "$tmp/base.img" | cut -c1-64)" ] ||
	fail "fullhash fingerprint should not be a bare sha256 (it is versioned)"

# SOURCE_DATE_EPOCH is the default epoch; -o epoch wins over it.
SOURCE_DATE_EPOCH=1700000001 "$hb" --digests -o "m5=$tmp/m5,restore=$tmp/r1.sh" \
	"$tmp/base.img" "$tmp/ov:$tmp/ov2" > "$tmp/sde.d"
digests e1 -o "m5=$tmp/m5,epoch=1700000001,restore=$tmp/r1.sh" "$tmp/base.img" "$tmp/ov:$tmp/ov2"
moved sde e1 ""
echo "digests: all cases passed"
