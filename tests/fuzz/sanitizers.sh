#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# sanitizers.sh -- the engine, the program and their tests under
# AddressSanitizer (leak checking on) and UndefinedBehaviorSanitizer, with
# no recovery: a copy of the source tree is configured with
# --enable-sanitizers in its own build directory (build-asan, a VPATH
# build) and runs the unit tests, the image tests, the mount tests, the
# full-disk test and the fuzz replays there.  Left to the normal build, for
# time: the QEMU tests, image/matrix.sh (15 bases x layouts: refuse.sh and
# image/options.sh cover the same code on fewer bases) and the stress
# test (its minute of load finds races, which ASan does not).  Every
# report goes to a file under $tmp/reports (also those of daemons whose
# stderr nobody reads, and of the leak check at their exit); the test
# fails when there is any.
#
# HB_SAN_TESTS overrides the list of tests run in the sanitizer build.
. "${top_srcdir:-.}/tests/lib/common.sh"
requires autoreconf make
# The outer make's variables (TESTS=... among them) travel in MAKEFLAGS:
# the build below is a make of its own.
unset MAKEFLAGS MFLAGS MAKELEVEL
[ -z "${HB_SANITIZER_BUILD:-}" ] || skip "already inside the sanitizer build"
HB_SANITIZER_BUILD=1
export HB_SANITIZER_BUILD
cc=${CC:-cc}
printf 'int main(void) { return 0; }\n' >"$tmp/t.c"
$cc -fsanitize=address,undefined "$tmp/t.c" -o "$tmp/t" >"$tmp/t.err" 2>&1 ||
	skip "$cc cannot link with -fsanitize=address,undefined (no sanitizer runtime): $(head -n 1 "$tmp/t.err")"
"$tmp/t" || skip "a sanitized program does not run here"

: "${HB_SAN_TESTS:=tests/unit/check_delta tests/unit/check_image tests/unit/check_partition tests/unit/check_digest
tests/unit/check_overlay tests/unit/check_inject tests/image/refuse.sh tests/image/options.sh
tests/mount/basic.sh tests/mount/concurrent.sh tests/mount/write.sh tests/mount/errors.sh
tests/mount/cow-full.sh tests/fuzz/replay.sh tests/fuzz/build-check.sh}"

# A clean copy of the sources: the source tree is configured in place, and
# automake refuses a VPATH build from a configured tree.
src=$tmp/src
mkdir "$src"
if git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1; then
	# The work tree as it is: tracked and new files, deleted ones left out.
	(cd "$top_srcdir" && git ls-files --cached --others --exclude-standard |
		while IFS= read -r f; do [ ! -e "$f" ] || printf '%s\n' "$f"; done |
		tar -cf - -T - | tar -xf - -C "$src") || fail "copying the sources"
else
	(cd "$top_builddir" && make -s distdir distdir="$src") >/dev/null || fail "make distdir"
fi
start=$(date +%s)
(cd "$src" && autoreconf -fi) >"$tmp/autoreconf.log" 2>&1 || fail "autoreconf: $(tail -n 3 "$tmp/autoreconf.log")"
mkdir "$src/build-asan"
cd "$src/build-asan"
../configure --enable-werror --enable-sanitizers CC="$cc" >"$tmp/configure.log" 2>&1 ||
	fail "configure --enable-sanitizers: $(tail -n 3 "$tmp/configure.log")"
make -j2 >"$tmp/make.log" 2>&1 || { tail -n 30 "$tmp/make.log" >&2; fail "sanitizer build failed"; }
built=$(date +%s)
echo "$HB_TEST: built in $((built - start)) s"

mkdir "$tmp/reports"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:log_path=$tmp/reports/asan
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$tmp/reports/ubsan
export ASAN_OPTIONS UBSAN_OPTIONS
st=0
# shellcheck disable=SC2086  # the list is words
make -j1 check TESTS="$(echo $HB_SAN_TESTS)" >"$tmp/check.log" 2>&1 || st=$?
sed -n 's/^\(PASS\|FAIL\|SKIP\|ERROR\|XFAIL\|XPASS\): /  &/p' "$tmp/check.log"
echo "$HB_TEST: tests ran in $(($(date +%s) - built)) s"
reports=$(find "$tmp/reports" -type f | wc -l)
if [ "$reports" -ne 0 ]; then
	for f in "$tmp/reports"/*; do
		echo "--- $f" >&2
		head -n 40 "$f" >&2
	done
	fail "$reports sanitizer report(s)"
fi
if [ $st -ne 0 ]; then
	for f in $(sed -n 's/^\(FAIL\|ERROR\): \(.*\)/\2/p' "$tmp/check.log"); do
		echo "--- ${f%.sh}.log" >&2
		tail -n 30 "${f%.sh}.log" >&2
	done
	fail "tests failed in the sanitizer build"
fi
grep -q '^PASS: ' "$tmp/check.log" || fail "no test passed in the sanitizer build"
