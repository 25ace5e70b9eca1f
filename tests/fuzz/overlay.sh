#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# overlay.sh DIR -- the fixed small overlay that fuzz-build injects and
# build-check.sh injects again with tests/lib/synth.  Small enough for a 1 MiB
# file system; touches every kind of injection: a new file below a
# merged-usr symlink (sbin -> usr/sbin), a replaced file, a mapped file
# (>= 64 KiB), a symlink replacing a file, a hard link, deep new
# directories, a name added to the htree directory big/, an empty file.
set -eu
d=$1
rm -rf "$d"
mkdir -p "$d/sbin" "$d/etc" "$d/root" "$d/a/b/c/d" "$d/big" "$d/opt"
i=0
while [ $i -lt 200 ]; do
	echo "m5 stand-in line $i"
	i=$((i + 1))
done >"$d/sbin/m5"
chmod 0755 "$d/sbin/m5"
echo fuzzed-host >"$d/etc/hostname"
printf 'echo hack-back\n' >"$d/root/.bashrc"
awk 'BEGIN { for (i = 0; i < 9000; i++) printf "%07d\n", i }' >"$d/opt/big.bin"
ln "$d/opt/big.bin" "$d/opt/big-link.bin"
ln -s ../usr/share/zoneinfo/UTC "$d/etc/localtime"
printf 'deep\n' >"$d/a/b/c/d/file"
: >"$d/a/empty"
printf 'new entry\n' >"$d/big/fuzz-new-entry-with-a-long-name"
find "$d" -exec touch -h -d @1600000000 {} +
