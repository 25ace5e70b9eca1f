#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# contrib/gem5/hack_back.py --board arm|riscv end to end under the gem5
# stand-in (tests/guest/gem5standin) on the real arm64 or riscv64 Debian
# guest, in mount mode: the stand-in's ArmBoard/RiscvBoard boot under
# qemu-system-aarch64/riscv64 -machine virt (TCG), the disk hack_back.py wired
# into the board as virtio-blk (/dev/vda), the board's console (ttyAMA0 on
# arm, ttyS0 on riscv).
#
#   HACKBACK_GUEST_ARCH=arm64|riscv64 tests/guest/standin-isa.sh HACKBACKFS
#
# With hack_back.py unchanged between the runs:
#  1. Mount the image twice with overlays/hack-back and the stand-in's guest
#     m5, restore=A and restore=B: equal layouts, different digests.
#  2. checkpoint on image A: exit 0, root= the manifest's PARTUUID, the
#     checkpoint from the injected m5, hackback.machine names the board; the
#     guest saw [vda] and ran .bashrc on the board's console.  Every m5 op of
#     this run and of the restores came with the ISA's call type, as the
#     stand-in logs the options the guest's m5 got: arm64 `--addr 0x10010000`
#     (gem5's ArmBoard maps the m5 ops there), riscv64 no option.  The restore
#     slot's blocks are not in the checkpoint's disk layer (else a restore
#     onto B would read A's slot from it).
#  3. restore A (image A): exit 0, script A ran byte for byte, not B.
#  4. restore B (image B, same checkpoint): script B ran byte for byte and
#     failed with status 3: hack_back.py exits 3 (m5 fail 3); not A.
# Restores with the wrong board are refused (exit 2, no machine) too.
#
# Environment: HACKBACK_GUEST_ARCH (arm64 or riscv64), HACKBACK_GUEST_CACHE,
# HACKBACK_GUEST_TIMEOUT (per simulate(), default 900 s), HACKBACK_QEMU_ACCEL,
# HACKBACK_QEMU_CPU, HACKBACK_GUEST_KEEP=1, as restore.sh.
# Exit: 0 pass, 1 fail, 77 skip.
set -eu

. "$(dirname "$0")/common.sh"

hackbackfs_arg "$@"

# gem5's board for the guest's ISA, and the file gem5 writes its console to.
# m5_with: how the stand-in logs the options of an m5 op called the ISA's way.
case $arch in
    arm64) board=arm con_file=board.terminal m5_with=" with --addr 0x10010000" ;;
    riscv64) board=riscv con_file=board.platform.terminal m5_with="" ;;
    *) say "HACKBACK_GUEST_ARCH=$arch: this test is for arm64 and riscv64 (x86: standin.sh)"; exit 2 ;;
esac
qemu_settings
need "$qemu_sys" "$qemu_pkg"
need qemu-img qemu-utils
need python3 python3
need debugfs e2fsprogs
need_fuse

t0=$(date +%s)
guest_image "$cache"
t1=$(date +%s)
m5=$here/gem5standin/guest-m5.sh

make_work "standin-$arch"
trap_cleanup
write_restore_scripts
printf '%s\n' '#!/bin/sh' 'echo "HACKBACK-RESTORE-MARKER-$((6 * 9))-beta"' \
    'echo "script-sha256: $(sha256sum <"$0")"' 'exit 3' >"$work/restore-b.sh"

for n in a b; do
    mount_image "$n" "m5=$m5,restore=$work/restore-$n.sh" "$overlay"
done
la=$(xa layout a) lb=$(xa layout b)
[ -n "$la" ] && [ "$la" = "$lb" ] || fail "user.hackback.layout differs between A and B"
[ "$(xa digest a)" != "$(xa digest b)" ] || fail "user.hackback.digest is the same for A and B"
pu=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["partition"]["partuuid"])' \
    "$work/mnt-a/hack-back.json")

# run (common.sh): hack_back.py --board $board under the stand-in, the
# guest's console in $work/NAME/$con_file.
run_args="--board $board --cpu atomic --cores 2 --mem 1GiB"
kernel=$img/vmlinuz

# m5_call NAME: run NAME got m5 ops, and every one came from the injected m5
# called as the ISA needs ($m5_with: the options exactly, or none).
m5_call() {
    _f=$work/$1.out
    _re='gem5-standin: m5 .* (from '
    _all=$(grep -c -- "$_re" "$_f" || :)
    _ok=$(grep -c -- "$_re/[^ ]*sbin/m5)$m5_with\$" "$_f" || :)
    if [ "${_all:-0}" = 0 ] || [ "$_all" != "$_ok" ]; then
        check_failed "$1: ${_ok:-0} of ${_all:-0} m5 ops from the injected m5 called as $arch needs (m5${m5_with:- with no option}):"
        grep -- "$_re" "$_f" | grep -v -- "$_re/[^ ]*sbin/m5)$m5_with\$" >&2 || :
    fi
}

# ---- 2: the checkpoint on image A ----
cpt=$work/cpt
if run ckpt 0 --image "$work/mnt-a/hack-back" --checkpoint-dir "$cpt"; then
    o=$work/ckpt.out
    has "$o" "kernel command line: .*root=PARTUUID=$pu " "ckpt: root= is not PARTUUID=$pu"
    has "$o" "kernel command line: .*console=$console " "ckpt: the board's console is not $console"
    has "$o" "-machine $machine" "ckpt: not QEMU's $machine machine"
    has "$o" "checkpoint saved in" "ckpt: no checkpoint saved"
    has "$o" "m5 checkpoint  *(from /.*sbin/m5)" "ckpt: the checkpoint did not come from the injected m5"
    m5_call ckpt
    has "$con" '\[vda\]' "ckpt: the guest saw no virtio disk vda"
    has "$con" "hack-back: taking the checkpoint" "ckpt: .bashrc did not run on $console"
    hasnt "$con" "hack-back: resumed after the checkpoint" "ckpt: went on past the checkpoint"
    python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); sys.exit(m["board"] != sys.argv[2])' \
        "$cpt/hackback.machine" "$board" || check_failed "ckpt: hackback.machine does not name board $board"
fi
if [ "$failures" != 0 ] || [ ! -f "$cpt/hackback.machine" ]; then
    say "FAILED"
    exit 1
fi
say "ckpt: ok (board $board, root=PARTUUID=$pu, [vda], .bashrc on $console, m5 checkpoint${m5_with:- with no option})"

# The restore slot's blocks must not be in the checkpoint's disk layer.
part_off=$(cat "$img/fsoffset")
bsize=$(debugfs -R stats "$work/mnt-b/hack-back?offset=$part_off" 2>/dev/null |
    sed -n 's/^Block size: *//p')
slot_blocks=$(debugfs -R "blocks /var/lib/hack-back/restore.slot" \
    "$work/mnt-b/hack-back?offset=$part_off" 2>/dev/null)
layer=$(ls "$cpt"/*.image.cow)
if [ -z "$bsize" ] || [ -z "$slot_blocks" ]; then
    check_failed "debugfs found no restore slot in MNT_B/hack-back"
elif qemu-img map --output=json "$layer" >"$work/map.json"; then
    # shellcheck disable=SC2086  # one argument per block
    hits=$(python3 "$here/drive.py" cow-overlap "$part_off" "$bsize" $slot_blocks <"$work/map.json")
    [ -z "$hits" ] || check_failed "$(basename "$layer"): restore slot blocks are in the disk layer: $hits"
else
    check_failed "qemu-img map $layer"
fi

# ---- 3, 4: restore onto A, then onto B ----
# restore NAME WANT_STATUS SCRIPT MARKER NOT_MARKER IMAGE
restore() {
    _n=$1 _w=$2 _sc=$3 _m=$4 _not=$5
    run "$_n" "$_w" --image "$6" --restore "$cpt" || return 0
    before=$failures
    has "$work/$_n.out" "layout matches the checkpoint" "$_n: no layout check"
    has "$con" "hack-back: resumed after the checkpoint" "$_n: did not resume"
    has "$con" "running the restore script from restore slot" "$_n: the script did not come from the slot"
    has "$con" "$_m" "$_n: marker $_m missing"
    has "$con" "script-sha256: $(sha256sum <"$_sc" | cut -c1-64)" "$_n: the guest's copy of the script differs"
    hasnt "$con" "$_not" "$_n: unexpected marker $_not"
    has "$con" "hack-back: restore script exited with status $_w" "$_n: status $_w not reported"
    [ "$_w" = 0 ] || has "$work/$_n.out" "m5 fail $_w" "$_n: no m5 fail $_w"
    m5_call "$_n"
    [ "$failures" != "$before" ] || say "$_n: ok ($_m, exit $_w)"
}
restore restore-a 0 "$work/restore-a.sh" "$marker_a" "$marker_b" "$work/mnt-a/hack-back"
restore restore-b 3 "$work/restore-b.sh" "$marker_b" "$marker_a" "$work/mnt-b/hack-back"
# Another board on this checkpoint: one message, exit 2, no machine started.
other=x86
[ "$board" != x86 ] || other=arm
if run wrong-board 2 --board "$other" --image "$work/mnt-b/hack-back" --restore "$cpt"; then
    has "$work/wrong-board.out" "board $board at the checkpoint, $other now" "wrong board: not the message"
    [ ! -e "$work/wrong-board/standin" ] || check_failed "wrong board: a machine was started"
fi

say "total $(($(date +%s) - t0)) s (image $((t1 - t0)) s)"
finish
