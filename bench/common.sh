# bench/common.sh -- what the benchmarks share.  Source it after setting
# SRC (the source tree) and defining say and die.

# Set HACKBACKFS to the program to bench: as given, or built out of tree
# in $BUILD (default /tmp/build-bench).
find_hackbackfs() {
	if [ -z "${HACKBACKFS:-}" ]; then
		BUILD=${BUILD:-/tmp/build-bench}
		say "building hackbackfs in $BUILD"
		mkdir -p "$BUILD"
		( cd "$BUILD" && { [ -f Makefile ] || "$SRC/configure" >/dev/null; } &&
			make -j2 hackbackfs >/dev/null ) || die "cannot build hackbackfs in $BUILD"
		HACKBACKFS=$BUILD/hackbackfs
	fi
	[ -x "$HACKBACKFS" ] || die "no program at $HACKBACKFS"
}
