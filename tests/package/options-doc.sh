#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Every option that `hackbackfs --help' lists is documented in the man page
# and README.md and exercised by some test; and the man page and README
# name no option that --help does not know.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
hb=$top_builddir/hackbackfs
man=$top_srcdir/man/hackbackfs.1
readme=$top_srcdir/README.md

# Our part of --help: everything before FUSE's own options.
help=$("$hb" --help | sed '/^FUSE options:/,$d')
case $help in *"usage: hackbackfs"*) ;; *) echo "FAIL: --help prints no usage"; exit 1 ;; esac

# -o options: "-o name=..." or "-o name" at the start of a help line.
opts=$(printf '%s\n' "$help" | sed -n 's/^ *-o \([a-z_0-9]*\).*/\1/p' | sort -u)
# long options: "--name"
longs=$(printf '%s\n' "$help" | sed -n 's/^ *\(-[a-zA-Z], \)\{0,1\}\(--[a-z-]*\).*/\2/p' | sort -u)
[ -n "$opts" ] || { echo "FAIL: found no -o options in --help"; exit 1; }
# The tests' shell and C files (not the guest tests', which need QEMU).
set --
for f in "$top_srcdir"/tests/*/*.sh "$top_srcdir"/tests/*/*.c; do
	case $f in */tests/guest/*) ;; *) set -- "$@" "$f" ;; esac
done
fail=0
for o in $opts; do
	grep -q "Cm $o" "$man" || { echo "FAIL: -o $o missing from the man page"; fail=1; }
	grep -q "\`-o $o" "$readme" || { echo "FAIL: -o $o missing from README.md"; fail=1; }
	# a test that uses it: "-o ...o..." or ",o" in one of them
	grep -Eq -- "(-o |,)$o\b|\"$o|$o=" "$@" 2>/dev/null \
		|| { echo "FAIL: no test uses -o $o"; fail=1; }
done
for l in $longs; do
	# --overlay-dir is written Fl \-overlay\-dir in mdoc
	_pat=$(printf '%s' "${l#--}" | sed 's/-/\\\\-/g')
	grep -q -- "Fl \\\\-$_pat" "$man" || { echo "FAIL: $l missing from the man page"; fail=1; }
	grep -q -- "$l" "$readme" || { echo "FAIL: $l missing from README.md"; fail=1; }
done
# The other way: options in the man page that --help does not list.
for o in $(sed -n 's/^\.It Fl o Cm \([a-z_0-9]*\).*/\1/p' "$man" | sort -u); do
	printf '%s\n' "$opts" | grep -qx "$o" || { echo "FAIL: man page documents unknown -o $o"; fail=1; }
done
"$hb" --version | grep -q "^hackbackfs [0-9]" || { echo "FAIL: --version"; fail=1; }
[ $fail -eq 0 ] && echo "options-doc: $(echo $opts | wc -w) -o options and $(echo $longs | wc -w) long options documented and tested"
exit $fail
