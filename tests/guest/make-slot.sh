#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# make-slot.sh [SCRIPT] OUT
# Write a hack-back restore slot file OUT (exactly 1048576 bytes): a 64-byte
# header "hackback-restore-slot 1 LENGTH" (space-padded to 63 bytes, then '\n'),
# the SCRIPT's bytes, zeros to the end. Without SCRIPT: an empty slot
# (LENGTH 0). The same layout hackbackfs -o restore=FILE writes.
set -eu
case $# in
    1) script="" out=$1 ;;
    2) script=$1 out=$2 ;;
    *) echo "usage: $0 [SCRIPT] OUT" >&2; exit 2 ;;
esac
len=0
[ -n "$script" ] && len=$(wc -c <"$script")
if [ "$len" -gt $((1048576 - 64)) ]; then
    echo "make-slot: $script is $len bytes, the slot holds at most $((1048576 - 64))" >&2
    exit 1
fi
{
    printf '%-63s\n' "hackback-restore-slot 1 $len"
    [ -n "$script" ] && cat "$script"
} >"$out"
truncate -s 1048576 "$out"
