# SPDX-License-Identifier: BSD-3-Clause
# tests/fuzz/lib.sh -- what the fuzz replay scripts share; source it after
# tests/lib/common.sh.
#
#   fuzz_inputs TARGET     prints the directories to replay for TARGET:
#                          the seeds (made now by seeds.sh, once per test),
#                          the kept regression inputs (regress/TARGET, *.gz
#                          unpacked), the corpus `make fuzz' grew in
#                          tests/fuzz/work/TARGET if there is one, and
#                          $HB_FUZZ_CORPUS (build-check only, see there)

fuzz_inputs()
{
	if [ ! -d "$tmp/seeds" ]; then
		sh "$top_srcdir/tests/fuzz/seeds.sh" "$tmp/seeds" >&2 || fail "seeds.sh failed"
	fi
	_r=$tmp/regress/$1
	mkdir -p "$_r"
	for _f in "$top_srcdir/tests/fuzz/regress/$1"/*; do
		case $_f in
		*/\*) ;;
		*.gz) gzip -dc "$_f" >"$_r/$(basename "$_f" .gz)" ;;
		*) cp "$_f" "$_r/" ;;
		esac
	done
	echo "$tmp/seeds/$1"
	echo "$_r"
	[ ! -d "$top_builddir/tests/fuzz/work/$1" ] || echo "$top_builddir/tests/fuzz/work/$1"
}
