#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/mount/basic.sh -- a real FUSE mount of BASE + OVERLAY serves the
# right image: MNT holds exactly hack-back and hack-back.json; the image is
# as large as BASE, passes e2fsck -fn, and a read-only kernel mount of it
# shows the base tree with the overlay applied (and the restore slot);
# the manifest parses and lists the overlay's entries; the identity xattrs
# equal what --digests prints; -o name renames both files; two mounts of
# the same inputs serve the same bytes, and they equal tests/lib/synth's image
# apart from the restore slot (which only the program writes).
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
. "$top_srcdir/tests/lib/mount.sh"

requires mke2fs e2fsck debugfs sfdisk getfattr losetup mount umount cmp
requires_root

base=$tmp/base.img
ov=$tmp/ov
mnt=$tmp/mnt
make_base ext4 "$base" mbr
make_overlay "$ov"
base_sum=$(sha256_of "$base")
off=$(base_offset mbr)
fs_size=$((BASE_FS_MB * 1048576))
mkdir "$mnt"

mount_hb "$base" "$ov" "$mnt"
img=$mnt/hack-back

# ---- the namespace -------------------------------------------------------------
# shellcheck disable=SC2012  # fixed, plain names
[ "$(ls -A "$mnt" | tr '\n' ' ')" = "hack-back hack-back.json " ] ||
	fail "MNT holds: $(ls -A "$mnt" | tr '\n' ' ')"
[ "$(stat -c %s "$img")" = "$(stat -c %s "$base")" ] ||
	fail "image is $(stat -c %s "$img") bytes, base $(stat -c %s "$base")"
[ "$(stat -c %F "$img")" = "regular file" ] || fail "image is a $(stat -c %F "$img")"
echo "ok: namespace and size"

# ---- the manifest -------------------------------------------------------------
python3 -m json.tool "$mnt/hack-back.json" >/dev/null || fail "hack-back.json does not parse"
python3 - "$mnt/hack-back.json" "$ov" "$base" "$off" "$fs_size" <<'EOF' || fail "manifest check failed"
import hashlib, json, os, stat, sys
path, ov, base, off, size = sys.argv[1:]
j = json.load(open(path))
errs = []
def want(what, got, exp):
    if got != exp:
        errs.append("%s: got %r, want %r" % (what, got, exp))
want("base.size", j["base"]["size"], os.path.getsize(base))
want("partition.offset", j["partition"]["offset"], int(off))
want("partition.size", j["partition"]["size"], int(size))
want("partition.fstype", j["partition"]["fstype"], "ext4")
want("restore_slot.script", j["restore_slot"]["script"], None)
exp = {}
for dirpath, dirs, files in os.walk(ov):
    for n in dirs + files:
        p = os.path.join(dirpath, n)
        exp[os.path.relpath(p, ov)] = os.lstat(p)
got = [e["path"] for e in j["entries"]]
want("entry paths", got, sorted(exp))
for e in j["entries"]:
    st = exp.get(e["path"])
    if st is None:
        continue
    kind = "dir" if stat.S_ISDIR(st.st_mode) else "symlink" if stat.S_ISLNK(st.st_mode) else "file"
    want(e["path"] + " type", e["type"], kind)
    if kind != "symlink":
        want(e["path"] + " mode", e["mode"], "%04o" % stat.S_IMODE(st.st_mode))
    if kind == "file":
        want(e["path"] + " size", e["size"], st.st_size)
        h = hashlib.sha256(open(os.path.join(ov, e["path"]), "rb").read()).hexdigest()
        want(e["path"] + " sha256", e["sha256"], h)
    if kind == "symlink":
        want(e["path"] + " target", e["target"], os.readlink(os.path.join(ov, e["path"])))
for e in errs:
    print("manifest: " + e, file=sys.stderr)
sys.exit(1 if errs else 0)
EOF
epoch=$(json_get "$mnt/hack-back.json" 'j["epoch"]')
echo "ok: hack-back.json parses and lists the overlay's $(find "$ov" -mindepth 1 | wc -l) entries"

# ---- identity: xattrs = --digests = manifest -----------------------------------
getfattr --absolute-names -d -m '^user\.hackback\.' "$img" >"$tmp/xattrs" 2>&1 || fail "getfattr: $(cat "$tmp/xattrs")"
grep -q '^user\.hackback\.digest="[0-9a-f]\{64\}"$' "$tmp/xattrs" || fail "no digest xattr: $(cat "$tmp/xattrs")"
grep -q '^user\.hackback\.layout="[0-9a-f]\{64\}"$' "$tmp/xattrs" || fail "no layout xattr: $(cat "$tmp/xattrs")"
x_digest=$(getfattr --absolute-names --only-values -n user.hackback.digest "$img")
x_layout=$(getfattr --absolute-names --only-values -n user.hackback.layout "$img")
"$HB" --digests "$base" "$ov" >"$tmp/digests" || fail "--digests failed"
[ "$(sed -n 's/^digest //p' "$tmp/digests")" = "$x_digest" ] ||
	fail "xattr digest $x_digest, --digests says: $(cat "$tmp/digests")"
[ "$(sed -n 's/^layout //p' "$tmp/digests")" = "$x_layout" ] ||
	fail "xattr layout $x_layout, --digests says: $(cat "$tmp/digests")"
[ "$(json_get "$mnt/hack-back.json" 'j["digest"]')" = "$x_digest" ] || fail "manifest digest != xattr"
[ "$(json_get "$mnt/hack-back.json" 'j["layout"]')" = "$x_layout" ] || fail "manifest layout != xattr"
[ "$(sed -n 's/^overlay //p' "$tmp/digests")" = "$(json_get "$mnt/hack-back.json" 'j["overlay_digest"]')" ] ||
	fail "manifest overlay_digest != --digests"
# No xattrs on the manifest; an unknown name is ENODATA.
! getfattr --absolute-names --only-values -n user.hackback.nope "$img" >/dev/null 2>&1 || fail "unknown xattr answered"
echo "ok: xattrs equal --digests and the manifest"

# ---- e2fsck on the FUSE file ------------------------------------------------------
e2fsck -fn "$img?offset=$off" >"$tmp/e2fsck.log" 2>&1 ||
	{ cat "$tmp/e2fsck.log" >&2; fail "e2fsck -fn on the mounted image is not clean"; }
echo "ok: e2fsck -fn clean"

# ---- kernel mount: spot checks, then the whole tree --------------------------------
k=$tmp/k
kmount "$img" "$off" "$fs_size" "$k"
# check_stat PATH 'FORMAT' WANT
check_stat()
{
	_got=$(stat -c "$2" "$k/$1" 2>&1) || fail "kernel mount: stat /$1: $_got"
	[ "$_got" = "$3" ] || fail "kernel mount: /$1: '$2' is '$_got', want '$3'"
}
[ "$(cat "$k/etc/hostname")" = hacked-host ] || fail "/etc/hostname: $(cat "$k/etc/hostname")"
cmp "$k/usr/sbin/m5" "$ov/sbin/m5" || fail "/usr/sbin/m5 differs from the overlay's"
check_stat usr/sbin/m5 '%a %u:%g %s %h' '755 0:0 70000 1'
[ "$(readlink "$k/sbin")" = usr/sbin ] || fail "/sbin is no longer the base's symlink"
check_stat usr/bin/suid-tool '%a %u:%g' '4755 0:0'
check_stat etc/empty.conf '%a %s' '600 0'
check_stat root/.bashrc '%a %u:%g' '644 0:0'
cmp "$k/root/.bashrc" "$ov/root/.bashrc" || fail "/root/.bashrc differs"
cmp "$k/data/replaced.bin" "$ov/data/replaced.bin" || fail "/data/replaced.bin differs"
cmp "$k/data/large.bin" "$ov/data/large.bin" || fail "/data/large.bin differs"
cmp "$k/data/sparse.img" "$ov/data/sparse.img" || fail "/data/sparse.img differs"
[ "$(stat -c %i "$k/data/hl1")" = "$(stat -c %i "$k/data/hl2")" ] || fail "data/hl1 and hl2 are not one inode"
check_stat data/hl1 '%h' 2
[ "$(readlink "$k/data/rel")" = "$REL_TARGET" ] || fail "data/rel -> $(readlink "$k/data/rel")"
[ "$(readlink "$k/data/abs")" = "$ABS_TARGET" ] || fail "data/abs -> $(readlink "$k/data/abs")"
[ "$(cat "$k/big/injected-file")" = 'in an htree directory' ] || fail "big/injected-file"
[ "$(cat "$k/big/entry-00042-with-a-longer-name")" = 'not empty' ] || fail "base file in big/ lost"
[ "$(cat "$k/a/b/c/file")" = nested ] || fail "a/b/c/file"
check_stat a/b/c '%a %u:%g' '755 0:0'
cmp "$k/usr/lib/libhb.so.1.0" "$(base_tree)/usr/lib/libhb.so.1.0" || fail "base file usr/lib/libhb.so.1.0 differs"
[ "$(cat "$k/usr/bin/hello")" = "$(printf '#!/bin/sh\necho hello')" ] || fail "base file usr/bin/hello differs"
check_stat home/user/notes '%u:%g' '1000:1000'
check_stat "var/lib/hack-back/restore.slot" '%s %a %u:%g %Y' "1048576 644 0:0 $epoch"
head -c 24 "$k/var/lib/hack-back/restore.slot" | grep -q '^hackback-restore-slot 1 $' ||
	fail "restore slot header: $(head -c 64 "$k/var/lib/hack-back/restore.slot")"
echo "ok: kernel mount spot checks"

# The whole tree: the base tree + the overlay (owners 0:0) + the empty slot.
HB_EXPECT_EPOCH=$epoch
expected_tree "$(base_tree)" "$ov" "$tmp/exp"
mkdir -p "$tmp/exp/var/lib/hack-back"
chmod 0755 "$tmp/exp/var" "$tmp/exp/var/lib" "$tmp/exp/var/lib/hack-back"
{ printf '%-63s\n' 'hackback-restore-slot 1 0'; head -c $((1048576 - 64)) /dev/zero; } \
	>"$tmp/exp/var/lib/hack-back/restore.slot"
chmod 0644 "$tmp/exp/var/lib/hack-back/restore.slot"
touch -d "@$epoch" "$tmp/exp/var/lib/hack-back/restore.slot"
tree_listing "$tmp/exp" >"$tmp/exp.list"
tree_listing "$k" >"$tmp/got.list" || fail "listing the kernel mount failed"
kumount "$k"
diff -u "$tmp/exp.list" "$tmp/got.list" >"$tmp/list.diff" ||
	{ head -n 40 "$tmp/list.diff" >&2; fail "kernel mount's tree differs from base + overlay"; }
echo "ok: kernel mount shows base + overlay ($(wc -l <"$tmp/got.list") listing lines)"

# ---- bytes outside the file system come from BASE --------------------------------
cmp -n "$off" "$img" "$base" || fail "the partition table area differs from BASE"
tail_start=$((off + fs_size))
cmp -i "$tail_start:$tail_start" "$img" "$base" || fail "the bytes after the file system differ from BASE"
echo "ok: bytes outside the file system equal BASE's"

# ---- -o name: another name; same bytes from a second mount ---------------------------
mnt2=$tmp/mnt2
mkdir "$mnt2"
mount_hb -o name=disk.img "$base" "$ov" "$mnt2"
# shellcheck disable=SC2012
[ "$(ls -A "$mnt2" | tr '\n' ' ')" = "disk.img disk.img.json " ] ||
	fail "with -o name=disk.img MNT holds: $(ls -A "$mnt2" | tr '\n' ' ')"
[ ! -e "$mnt2/hack-back" ] || fail "hack-back still there with -o name"
[ "$(getfattr --absolute-names --only-values -n user.hackback.digest "$mnt2/disk.img")" = "$x_digest" ] ||
	fail "the name changed the digest"
cmp "$mnt2/disk.img" "$img" || fail "two mounts of the same inputs differ"
cmp "$mnt2/disk.img.json" "$mnt/hack-back.json" || fail "the name changed the manifest"
unmount_hb "$mnt2"
echo "ok: -o name=disk.img, same bytes as the first mount"

# ---- tests/lib/synth: the same file system, without the restore slot --------------------
if [ -x "$SYNTH" ]; then
	"$SYNTH" "$base" "$tmp/synth.img" "$ov" 2>"$tmp/synth.err" || fail "tests/lib/synth: $(cat "$tmp/synth.err")"
	# The slot is the program's: tests/lib/synth writes none, so the images
	# cannot be equal byte for byte.  Equal bytes outside the file system,
	# and the same tree once the slot's directories are left out.
	[ "$(stat -c %s "$tmp/synth.img")" = "$(stat -c %s "$img")" ] || fail "synth image size differs"
	cmp -n "$off" "$img" "$tmp/synth.img" || fail "synth image: partition table area differs"
	kmount "$tmp/synth.img" "$off" "$fs_size" "$k"
	tree_listing "$k" >"$tmp/synth.list" || fail "listing the synth image failed"
	kumount "$k"
	grep -v -e '^var[ /]' -e ' \./var/' "$tmp/got.list" >"$tmp/got-noslot.list"
	diff -u "$tmp/synth.list" "$tmp/got-noslot.list" >"$tmp/synth.diff" ||
		{ head -n 40 "$tmp/synth.diff" >&2; fail "the mount's tree differs from tests/lib/synth's"; }
	echo "ok: same tree as tests/lib/synth's image (the restore slot aside)"
else
	echo "note: $SYNTH not built, synth comparison skipped"
fi

unmount_hb "$mnt"
[ "$(sha256_of "$base")" = "$base_sum" ] || fail "BASE was modified"
echo "ok: unmounted, BASE unchanged"
