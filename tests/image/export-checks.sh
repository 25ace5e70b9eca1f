#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# tests/image/export-checks.sh -- --export-cow and the manifests where inputs and
# directories are shared.
#
#  * an overlay file changed while the export runs (held at a known point:
#    the export's stderr is a full pipe when it reports that it starts
#    writing) fails the export with one line naming the file, and leaves
#    neither FILE, FILE.json nor a temporary;
#  * a name planted where the finished file's temporary name used to be
#    (.FILE.PID.tmp, a directory nobody can remove) blocks nothing;
#  * file names that are not UTF-8 give valid JSON in --manifest and
#    FILE.json (python3 -m json.tool), each byte given back exactly by
#    PEP 383's surrogateescape, and a valid UTF-8 name unchanged.
# The changed source comes last: it is the one case that may have to skip
# (when the held point is never seen), and the others have run by then.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"

requires mke2fs python3
HB=$top_builddir/hackbackfs
[ -x "$HB" ] || fail "$HB not built (run make first)"

make_base ext4 "$tmp/base.img" mbr
mkdir -p "$tmp/ov/data" "$tmp/out"
head -c 4194304 /dev/urandom >"$tmp/ov/data/big.bin"	# mapped, not copied
echo small >"$tmp/ov/data/small"

# ---- a planted temporary name -------------------------------------------------------------
# exec keeps the pid, so the name the old code would take is known.
sh -c 'mkdir "$1/.p.cow.$$.tmp" && exec "$2" --export-cow "$1/p.cow" -o epoch=1700000000 "$3" "$4"' sh \
	"$tmp/out" "$HB" "$tmp/base.img" "$tmp/ov" >/dev/null 2>"$tmp/plant.err" ||
	fail "a planted .p.cow.PID.tmp blocked the export: $(cat "$tmp/plant.err")"
[ -s "$tmp/out/p.cow" ] && [ -s "$tmp/out/p.cow.json" ] || fail "the export left no p.cow"
[ "$(ls -A "$tmp/out" | wc -l)" -eq 3 ] || fail "left in the directory: $(ls -A "$tmp/out")"
rm -rf "$tmp/out"/* "$tmp/out"/.p.cow.*
echo "ok: a planted .FILE.PID.tmp blocks nothing; no temporary left"

# ---- names that are not UTF-8 --------------------------------------------------------------
mkdir -p "$tmp/ov2/etc"
printf 'a' >"$(printf '%s/ov2/etc/latin1-\351t\351' "$tmp")"
printf 'b' >"$(printf '%s/ov2/etc/utf8-\303\251t\303\251' "$tmp")"
printf 'c' >"$(printf '%s/ov2/etc/bad-\377\376-\355\240\200-\300\257' "$tmp")"
ln -s "$(printf 'target-\377')" "$tmp/ov2/etc/link"
cat >"$tmp/names.py" <<'PY'
import json, sys
j = json.load(open(sys.argv[1], encoding="utf-8"))
got = set()
for e in j["entries"]:
    got.add(e["path"].encode("utf-8", "surrogateescape"))
    if "target" in e:
        got.add(e["target"].encode("utf-8", "surrogateescape"))
want = {b"etc/latin1-\xe9t\xe9", "etc/utf8-été".encode(), b"etc/bad-\xff\xfe-\xed\xa0\x80-\xc0\xaf",
        b"target-\xff"}
missing = want - got
if missing:
    sys.exit("not given back exactly: %r" % sorted(missing))
PY
"$HB" --manifest -o epoch=1700000000 "$tmp/base.img" "$tmp/ov2" >"$tmp/m.json" 2>"$tmp/m.err" ||
	fail "--manifest: $(cat "$tmp/m.err")"
python3 -m json.tool "$tmp/m.json" >/dev/null || fail "--manifest of names that are not UTF-8 is not JSON"
python3 "$tmp/names.py" "$tmp/m.json" || fail "--manifest: names"
"$HB" --export-cow "$tmp/out/n.cow" -o epoch=1700000000 "$tmp/base.img" "$tmp/ov2" >/dev/null 2>"$tmp/m.err" ||
	fail "--export-cow: $(cat "$tmp/m.err")"
python3 -m json.tool "$tmp/out/n.cow.json" >/dev/null || fail "FILE.json of names that are not UTF-8 is not JSON"
python3 "$tmp/names.py" "$tmp/out/n.cow.json" || fail "FILE.json: names"
echo "ok: names that are not UTF-8: valid JSON, every byte given back (surrogateescape)"

# ---- a source changed during the export ------------------------------------------------------
cat >"$tmp/hold.py" <<'PY'
# Run ARGV with stderr into a full one-page pipe once the "injecting" line
# is out; wait until the program blocks writing its next report
# ("exporting the delta", after the injection: /proc/PID/wchan ends in
# pipe_write); change the file; let it go.  Prints "held RC", or
# "unseen RC" when the block was never seen.
import fcntl, os, subprocess, sys, time
victim = sys.argv[1]
r, w = os.pipe()
fcntl.fcntl(w, 1031, 4096)  # F_SETPIPE_SZ
p = subprocess.Popen(sys.argv[2:], stderr=w, stdout=subprocess.DEVNULL)
f = os.fdopen(r, "rb", buffering=0)
seen = b""
while b"injecting" not in seen or not seen.endswith(b"\n"):
    b = f.read(1)
    if not b:
        break
    seen += b
# A description of our own: O_NONBLOCK on the shared one would make the
# program's writes fail instead of block.
fill = os.open("/proc/self/fd/%d" % w, os.O_WRONLY | os.O_NONBLOCK)
os.close(w)
try:
    while True:
        os.write(fill, b"#" * 64)
except BlockingIOError:
    pass
os.close(fill)
held = False
for _ in range(300):
    try:
        held = open("/proc/%d/wchan" % p.pid).read().strip().endswith("pipe_write")  # anon_pipe_write on 6.x
    except OSError:
        break
    if held:
        break
    time.sleep(0.05)
if held:
    with open(victim, "r+b") as v:   # same size, new bytes, new mtime
        v.seek(1 << 20)
        v.write(os.urandom(4096))
rest = f.read()
rc = p.wait()
sys.stderr.write((seen + rest.replace(b"#", b"")).decode("utf-8", "replace"))
print("held" if held else "unseen", rc)
PY
mkdir -p "$tmp/held"
res=$(python3 "$tmp/hold.py" "$tmp/ov/data/big.bin" "$HB" -v --export-cow "$tmp/held/x.cow" \
	-o epoch=1700000000 "$tmp/base.img" "$tmp/ov" 2>"$tmp/hold.err") || fail "hold.py: $(cat "$tmp/hold.err")"
case $res in
"held 1") ;;
"unseen "*) skip "never saw hackbackfs blocked on its stderr (/proc/PID/wchan): $res" ;;
*) fail "an overlay file changed during the export: $res (want exit 1): $(cat "$tmp/hold.err")" ;;
esac
grep -q 'big.bin was modified' "$tmp/hold.err" || fail "no line naming the changed file: $(cat "$tmp/hold.err")"
[ -z "$(ls -A "$tmp/held")" ] || fail "a failed export left files: $(ls -A "$tmp/held")"
echo "ok: an overlay file changed during the export fails it, nothing left in the directory"
