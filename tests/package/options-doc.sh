#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Every option that `hackbackfs --help' lists is documented in the man page
# and README.md and exercised by some test; and the man page and README
# name no option that --help does not know.
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib/common.sh"
hb=$top_builddir/hackbackfs
man=$top_srcdir/man/hackbackfs.1
readme=$top_srcdir/README.md

# Our part of --help: everything before FUSE's own options.
help=$("$hb" --help | sed '/^FUSE options:/,$d')
case $help in *"usage: hackbackfs"*) ;; *) fail "--help prints no usage" ;; esac

# -o options: "-o name=..." or "-o name" at the start of a help line.
opts=$(printf '%s\n' "$help" | sed -n 's/^ *-o \([a-z_0-9]*\).*/\1/p' | sort -u)
# long options: "--name"
longs=$(printf '%s\n' "$help" | sed -n 's/^ *\(-[a-zA-Z], \)\{0,1\}\(--[a-z-]*\).*/\2/p' | sort -u)
[ -n "$opts" ] || fail "found no -o options in --help"
# The tests' shell and C files (not the guest tests', which need QEMU).
set --
for f in "$top_srcdir"/tests/*/*.sh "$top_srcdir"/tests/*/*.c; do
	case $f in */tests/guest/*) ;; *) set -- "$@" "$f" ;; esac
done
for o in $opts; do
	grep -q "Cm $o" "$man" || check_failed "-o $o missing from the man page"
	grep -q "\`-o $o" "$readme" || check_failed "-o $o missing from README.md"
	# a test that uses it: "-o ...o..." or ",o" in one of them
	grep -Eq -- "(-o |,)$o\b|\"$o|$o=" "$@" 2>/dev/null \
		|| check_failed "no test uses -o $o"
done
for l in $longs; do
	# --overlay-dir is written Fl \-overlay\-dir in mdoc
	_pat=$(printf '%s' "${l#--}" | sed 's/-/\\\\-/g')
	grep -q -- "Fl \\\\-$_pat" "$man" || check_failed "$l missing from the man page"
	grep -q -- "$l" "$readme" || check_failed "$l missing from README.md"
done
# The other way: options in the man page that --help does not list.
for o in $(sed -n 's/^\.It Fl o Cm \([a-z_0-9]*\).*/\1/p' "$man" | sort -u); do
	printf '%s\n' "$opts" | grep -qx "$o" || check_failed "man page documents unknown -o $o"
done
"$hb" --version | grep -q "^hackbackfs [0-9]" || check_failed "--version"
[ "$failures" -ne 0 ] ||
	echo "options-doc: $(echo $opts | wc -w) -o options and $(echo $longs | wc -w) long options documented and tested"
finish
