#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Identity is content (invariant 7): a copy of an overlay -- cp -r with new
# mtimes, a git clone -- gives the same four digests; a change of content,
# mode, owner (with keep_owner), name or symlink target moves overlay,
# layout and digest; with -o keep_mtime a new mtime moves them too;
# -o umask makes group/other write bits not matter.  The default epoch is
# BASE's last write time, and every injected time stamp is the epoch.
# Unknown options are errors in the no-mount modes too.
. "${top_srcdir:-.}/tests/lib/common.sh"
requires mke2fs debugfs python3 git
requires_synth
hb=$top_builddir/hackbackfs

make_base ext4 "$tmp/base.img"
ov=$tmp/ov
mkdir -p "$ov/root" "$ov/etc/skel" "$ov/usr/local/bin"
echo 'm5 checkpoint' >"$ov/root/.bashrc"
echo guest >"$ov/etc/hostname"
printf '#!/bin/sh\necho tool\n' >"$ov/usr/local/bin/tool"
chmod 0755 "$ov/usr/local/bin/tool"
chmod 0644 "$ov/root/.bashrc" "$ov/etc/hostname"
echo skel >"$ov/etc/skel/.profile"
ln -s ../usr/local/bin/tool "$ov/etc/tool-link"
touch -d @1600000000 "$ov/root/.bashrc" "$ov/etc/hostname"

# digests NAME [ARGS...] OVERLAY: the four lines of --digests in $tmp/NAME.d
digests()
{
	_n=$1
	shift
	"$hb" --digests "$@" >"$tmp/$_n.d" 2>"$tmp/$_n.err" ||
		fail "--digests $*: $(cat "$tmp/$_n.err")"
	[ "$(wc -l <"$tmp/$_n.d")" -eq 4 ] || fail "--digests $* printed: $(cat "$tmp/$_n.d")"
}
same()
{
	cmp -s "$tmp/$1.d" "$tmp/$2.d" || fail "$1 -> $2: digests differ:
$(diff "$tmp/$1.d" "$tmp/$2.d")"
	echo "ok: $1 = $2"
}
# moved A B: overlay, layout and digest all differ, base does not.
moved()
{
	for _f in overlay layout digest; do
		[ "$(sed -n "s/^$_f //p" "$tmp/$1.d")" != "$(sed -n "s/^$_f //p" "$tmp/$2.d")" ] ||
			fail "$1 -> $2: $_f should move"
	done
	[ "$(sed -n 's/^base //p' "$tmp/$1.d")" = "$(sed -n 's/^base //p' "$tmp/$2.d")" ] ||
		fail "$1 -> $2: base should not move"
	echo "ok: $1 -> $2 moves overlay, layout, digest"
}

digests orig "$tmp/base.img" "$ov"

# ---- copies keep the identity ------------------------------------------------
cp -r "$ov" "$tmp/copy"
find "$tmp/copy" -exec touch -h {} +		# every mtime is new
digests copy "$tmp/base.img" "$tmp/copy"
same orig copy

git -C "$ov" init -q
git -C "$ov" -c user.name=t -c user.email=t@t add -A
git -C "$ov" -c user.name=t -c user.email=t@t commit -q -m overlay
git clone -q "$ov" "$tmp/clone"
rm -rf "$ov/.git" "$tmp/clone/.git"
digests clone "$tmp/base.img" "$tmp/clone"
same orig clone

# Two overlays stacked, each a copy: the same too.
digests stack1 "$tmp/base.img" "$ov:$tmp/clone"
digests stack2 "$tmp/base.img" "$tmp/copy:$ov"
same stack1 stack2

# ---- what is content moves it -----------------------------------------------
change()
{
	rm -rf "$tmp/chg"
	cp -a "$ov" "$tmp/chg"
}
change; echo 'm5 checkpoint ' >"$tmp/chg/root/.bashrc"
digests content "$tmp/base.img" "$tmp/chg"; moved orig content
change; chmod 0600 "$tmp/chg/root/.bashrc"
digests mode "$tmp/base.img" "$tmp/chg"; moved orig mode
change; mv "$tmp/chg/etc/hostname" "$tmp/chg/etc/hostname2"
digests name "$tmp/base.img" "$tmp/chg"; moved orig name
change; ln -sfn ../usr/local/bin/tool2 "$tmp/chg/etc/tool-link"
digests target "$tmp/base.img" "$tmp/chg"; moved orig target
if [ "$(id -u)" -eq 0 ]; then
	digests own1 -o keep_owner "$tmp/base.img" "$ov"
	change; chown 1000:1000 "$tmp/chg/etc/hostname"
	digests own2 -o keep_owner "$tmp/base.img" "$tmp/chg"; moved own1 own2
else
	echo "SKIP owner change: not root (cannot chown)"
fi

# ---- keep_mtime: mtimes are then part of the identity -------------------------
digests km1 -o keep_mtime "$tmp/base.img" "$ov"
digests km2 -o keep_mtime "$tmp/base.img" "$tmp/copy"
moved km1 km2
grep -q "^layout $(sed -n 's/^layout //p' "$tmp/orig.d")" "$tmp/km1.d" &&
	fail "keep_mtime should give another layout than the default"

# ---- umask: group-writable checkouts agree with -o umask=022 -----------------
change; chmod g+w,o+w "$tmp/chg/root/.bashrc" "$tmp/chg/etc"
digests gw "$tmp/base.img" "$tmp/chg"; moved orig gw
digests um1 -o umask=022 "$tmp/base.img" "$ov"
digests um2 -o umask=022 "$tmp/base.img" "$tmp/chg"
same um1 um2
grep -q "^layout $(sed -n 's/^layout //p' "$tmp/orig.d")" "$tmp/um1.d" &&
	fail "umask=022 should give another layout than no umask"

# ---- time stamps: the epoch is BASE's last write time ------------------------
wtime=$(python3 -c '
import struct, sys
sb = open(sys.argv[1], "rb").read(2048)[1024:]
print(struct.unpack_from("<I", sb, 0x30)[0] | sb[0x274] << 32)' "$tmp/base.img")
"$hb" --manifest "$tmp/base.img" "$ov" >"$tmp/m.json" || fail "--manifest failed"
python3 - "$tmp/m.json" "$wtime" <<'PY' || fail "manifest epoch is not BASE's write time ($wtime)"
import json, sys
m = json.load(open(sys.argv[1]))
sys.exit(0 if m["epoch"] == int(sys.argv[2]) and m["epoch_from"] == "base" else 1)
PY
"$SYNTH" "$tmp/base.img" "$tmp/out.img" "$tmp/copy" || fail "synth failed"
for p in root/.bashrc usr/local/bin/tool etc/skel etc/tool-link; do
	st=$(debugfs -R "stat /$p" "$tmp/out.img" 2>/dev/null)
	for t in ctime atime mtime crtime; do
		v=$(printf '%s\n' "$st" | sed -n "s/^ *$t: *0x\([0-9a-f]*\).*/\1/p")
		[ -n "$v" ] || fail "$p: no $t in debugfs stat"
		[ $((0x$v)) -eq "$wtime" ] || fail "$p: $t is $((0x$v)), want the epoch $wtime"
	done
done
echo "ok: every injected time stamp is BASE's write time $wtime"

# ---- unknown options are errors in every mode ---------------------------------
for mode in --digests --manifest; do
	rc=0
	"$hb" $mode -o no_such_option "$tmp/base.img" "$ov" >"$tmp/out" 2>"$tmp/err" || rc=$?
	[ "$rc" -ne 0 ] || fail "$mode -o no_such_option exited 0"
	[ ! -s "$tmp/out" ] || fail "$mode -o no_such_option printed digests"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -q no_such_option "$tmp/err" ||
		fail "$mode -o no_such_option: want one line naming it, got: $(cat "$tmp/err")"
done
rc=0
"$hb" --digests -o umask=999 "$tmp/base.img" "$ov" >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "umask" "$tmp/err" || fail "umask=999 not refused: $(cat "$tmp/err")"
echo "identity: all cases passed"
