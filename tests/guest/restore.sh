#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Checkpoint once, restore with another benchmark: the real test of the
# hack-back workflow, with QEMU migration standing in for a gem5 checkpoint and
# a qcow2 layer standing in for gem5's disk copy-on-write.
#
#   tests/guest/restore.sh HACKBACKFS
#
#  1. Mount the cached Debian image twice, differing only in restore= (script A,
#     script B); both with overlays/hack-back plus a small extra overlay that
#     makes the m5 stand-in's checkpoint wait for the host. The layout xattrs
#     must be equal, the digest xattrs must differ.
#  2. Boot image A through a qcow2 layer (cow.qcow2, backing MNT_A/hack-back).
#     Before it blocks, the stand-in's checkpoint reads the restore slot through
#     the page cache, so the guest's cache holds slot A: the trap.
#  3. On M5-STANDIN-CHECKPOINT-WAIT: QMP stop, migrate to a state file, quit.
#  4. Copy the qcow2 layer, rebase it unsafely onto MNT_B/hack-back (valid only
#     because the layouts are equal), start QEMU with -incoming from the state
#     file, cont, type "restored" on the console. The guest's .bashrc goes on:
#     m5 readfile (nothing) -> the slot with O_DIRECT -> must run script B,
#     byte-exact, then m5 exit; script A's marker must not appear.
#  5. Control: the same restore again, the host types "restored cached", and
#     the stand-in's readfile returns the slot as a plain read sees it: the
#     stale script A runs. This shows the test can fail and why O_DIRECT.
# Also: the restore slot's blocks must not be in the qcow2 layer (else the
# guest would read A's slot from the COW layer, whatever the image under it).
#
# Environment: HACKBACK_GUEST_ARCH (amd64, arm64, riscv64: the guest and its
# QEMU machine, see common.sh), HACKBACK_GUEST_CACHE, HACKBACK_GUEST_TIMEOUT
# (per QEMU run, default 240), HACKBACK_QEMU_ACCEL, HACKBACK_QEMU_CPU,
# HACKBACK_GUEST_KEEP=1, as for boot.sh.
#
# Exit: 0 pass, 1 fail, 77 skip (missing tool).
set -eu

. "$(dirname "$0")/common.sh"

hackbackfs_arg "$@"

qemu_settings
need "$qemu_sys" "$qemu_pkg"
need qemu-img qemu-utils
need python3 python3
need timeout coreutils
need debugfs e2fsprogs
need_fuse

t0=$(date +%s)
guest_image "$cache"
t1=$(date +%s)

make_work restore
qpid=""
dpid=""
cleanup() {
    [ -z "$dpid" ] || kill "$dpid" 2>/dev/null || true
    if [ -n "$qpid" ]; then
        kill "$qpid" 2>/dev/null || true
        wait "$qpid" 2>/dev/null || true
    fi
    unmount_all
    finish_work
}
on_exit cleanup

write_restore_scripts
"$here/make-slot.sh" "$work/restore-a.sh" "$work/slot-a"
"$here/make-slot.sh" "$work/restore-b.sh" "$work/slot-b"
slot_a=$(sha256sum <"$work/slot-a" | cut -c1-64)
slot_b=$(sha256sum <"$work/slot-b" | cut -c1-64)

# The extra overlay: identical for A and B, so that only the slot differs.
mkdir -p "$work/extra/etc"
echo "restore.sh: m5 checkpoint waits for the host (QEMU migration)" \
    >"$work/extra/etc/m5-standin.wait-checkpoint"

for n in a b; do
    mount_image "$n" "m5=$here/m5-standin.sh,restore=$work/restore-$n.sh" "$overlay:$work/extra"
done
say "mounted A and B: $(($(date +%s) - t1)) s"
la=$(xa layout a) lb=$(xa layout b)
da=$(xa digest a) db=$(xa digest b)
say "layout a=$la b=$lb"
say "digest a=$da b=$db"
[ -n "$la" ] && [ "$la" = "$lb" ] || fail "user.hackback.layout differs between A and B"
[ -n "$da" ] && [ "$da" != "$db" ] || fail "user.hackback.digest is the same for A and B"

# The python helper: drives the serial console (a unix socket) and QMP.
cp "$here/drive.py" "$work/drive.py"

# qemu NAME DISK [-incoming URI]: start QEMU in the background on DISK (qcow2),
# serial console on $work/NAME.serial, QMP on $work/NAME.qmp. Same machine for
# every run: a migration needs it.
qemu() {
    n=$1 disk=$2
    shift 2
    rm -f "$work/$n.serial" "$work/$n.qmp"
    guest_qemu \
        -chardev socket,id=ser0,path="$work/$n.serial",server=on,wait=off \
        -serial chardev:ser0 \
        -qmp unix:"$work/$n.qmp",server=on,wait=off \
        -drive file="$disk",format=qcow2,if="$disk_if" \
        "$@" </dev/null >"$work/$n.qemu" 2>&1 &
    qpid=$!
}
# qemu_end NAME DRIVE_STATUS: wait for QEMU to end (kill it first if the
# driver failed), report its exit status
qemu_end() {
    [ "$2" = 0 ] || kill "$qpid" 2>/dev/null || true
    qrc=0
    wait "$qpid" || qrc=$?
    qpid=""
    [ "$qrc" = 0 ] || [ "$2" != 0 ] || { cat "$work/$1.qemu" >&2; check_failed "$1: qemu exited $qrc"; }
}
# drive ARGS...: run the python driver, status in drc. In the background, so
# that a signal to this shell is handled at once (the trap kills it).
drive() {
    python3 "$work/drive.py" "$@" &
    dpid=$!
    drc=0
    wait "$dpid" || drc=$?
    dpid=""
}
show() {
    say "--- last lines of $1 ---"
    tail -n 40 "$1" | tr -d '\r' >&2
}

# Where the restore slot lies in the disk image (bytes), for the COW check.
part_off=$(cat "$img/fsoffset")
bsize=$(debugfs -R stats "$work/mnt-b/hack-back?offset=$part_off" 2>/dev/null |
    sed -n 's/^Block size: *//p')
slot_blocks=$(debugfs -R "blocks /var/lib/hack-back/restore.slot" \
    "$work/mnt-b/hack-back?offset=$part_off" 2>/dev/null)
[ -n "$bsize" ] && [ -n "$slot_blocks" ] || fail "debugfs found no restore slot in MNT_B/hack-back"
say "restore slot: fs blocks of $bsize bytes at partition offset $part_off: $(echo "$slot_blocks" | awk '{print $1 ".." $NF " (" NF " blocks)"}')"
# cow_check QCOW2: none of the slot's blocks may be in the qcow2 layer.
cow_check() {
    qemu-img map --output=json "$1" >"$work/map.json" || { check_failed "qemu-img map $1"; return 0; }
    # shellcheck disable=SC2086  # one argument per block
    hits=$(python3 "$work/drive.py" cow-overlap "$part_off" "$bsize" $slot_blocks <"$work/map.json")
    [ -z "$hits" ] || check_failed "$(basename "$1"): restore slot blocks are in the qcow2 layer: $hits"
}

# ---- 2, 3: boot A through a qcow2 layer, checkpoint (migrate) at the wait ----
# 512-byte clusters: gem5's COW layer keeps single 512-byte sectors.  With
# qcow2's default 64 KiB, a guest write next to the slot copies the whole
# cluster up from image A, slot blocks included, which gem5 never does.
qemu-img create -q -f qcow2 -o cluster_size=512 -F raw -b "$work/mnt-a/hack-back" "$work/cow.qcow2"
ts=$(date +%s)
qemu ckpt "$work/cow.qcow2"
drive checkpoint "$work/ckpt.serial" "$work/ckpt.qmp" \
    "$work/ckpt.log" "$work/state" "$timeout_s" M5-STANDIN-CHECKPOINT-WAIT
qemu_end ckpt "$drc"
say "checkpoint run: $(($(date +%s) - ts)) s"
log=$work/ckpt.log
[ "$drc" = 0 ] || check_failed "checkpoint run failed"
grep -q 'hack-back: taking the checkpoint' "$log" || check_failed "ckpt: .bashrc did not run on $console"
grep -q "m5-standin: slot before checkpoint, page cache: $slot_a" "$log" ||
    check_failed "ckpt: the guest did not read slot A (sha256 $slot_a) before the checkpoint"
! grep -q 'hack-back: resumed after the checkpoint' "$log" || check_failed "ckpt: went on past the checkpoint"
[ -s "$work/state" ] || check_failed "ckpt: no migration state"
if [ "$failures" != 0 ]; then show "$log"; exit 1; fi
rm -f "$work/ckpt.serial" "$work/ckpt.qmp"
say "ckpt: ok (slot A in the guest's page cache, state $(($(stat -c %s "$work/state") >> 20)) MiB)"
cow_check "$work/cow.qcow2"

# ---- 4, 5: restore onto B, with O_DIRECT (the real run) and without ----
# restore_on_b NAME LINE
restore_on_b() {
    n=$1
    cp "$work/cow.qcow2" "$work/$n.qcow2"
    qemu-img rebase -u -f qcow2 -F raw -b "$work/mnt-b/hack-back" "$work/$n.qcow2"
    ts=$(date +%s)
    qemu "$n" "$work/$n.qcow2" -S -incoming "exec:cat '$work/state'"
    drive restore "$work/$n.serial" "$work/$n.qmp" \
        "$work/$n.log" "$2" "$timeout_s" M5-STANDIN-EXIT
    qemu_end "$n" "$drc"
    say "$n run: $(($(date +%s) - ts)) s"
    [ "$drc" = 0 ] || check_failed "$n: restore run failed"
}

restore_on_b restore restored
log=$work/restore.log
before=$failures
grep -q "m5-standin: host says: restored" "$log" || check_failed "restore: the stand-in did not get the host's line"
grep -q "m5-standin: slot after restore, page cache: $slot_a" "$log" ||
    check_failed "restore: the guest's page cache no longer held slot A (the trap was not armed)"
grep -q "m5-standin: slot after restore, O_DIRECT: $slot_b" "$log" ||
    check_failed "restore: an O_DIRECT read of the slot did not return slot B"
grep -q 'hack-back: resumed after the checkpoint' "$log" || check_failed "restore: did not resume"
grep -q 'running the restore script from restore slot' "$log" || check_failed "restore: the script did not come from the slot"
grep -q "$marker_b" "$log" || check_failed "restore: marker $marker_b (script B) missing"
! grep -q "$marker_a" "$log" || check_failed "restore: marker $marker_a (script A) ran"
sum=$(sha256sum <"$work/restore-b.sh" | cut -c1-64)
grep -q "script-sha256: $sum" "$log" || check_failed "restore: the guest's copy of script B differs (want sha256 $sum)"
grep -q 'M5-STANDIN-EXIT' "$log" || check_failed "restore: no m5 exit"
if [ "$failures" != "$before" ]; then show "$log"; else say "restore: ok (script B ran from the O_DIRECT slot, not A; m5 exit)"; fi
cow_check "$work/restore.qcow2"
rm -f "$work/restore.qcow2"

restore_on_b control "restored cached"
log=$work/control.log
before=$failures
grep -q 'running the restore script from m5 readfile' "$log" || check_failed "control: readfile (plain read of the slot) was not used"
grep -q "$marker_a" "$log" || check_failed "control: a plain read after the restore did not return stale script A"
sum=$(sha256sum <"$work/restore-a.sh" | cut -c1-64)
grep -q "script-sha256: $sum" "$log" || check_failed "control: the stale script is not script A byte for byte (want sha256 $sum)"
! grep -q "$marker_b" "$log" || check_failed "control: marker $marker_b appeared"
grep -q 'M5-STANDIN-EXIT' "$log" || check_failed "control: no m5 exit"
if [ "$failures" != "$before" ]; then show "$log"; else say "control: ok (a plain read after the restore ran stale script A)"; fi
rm -f "$work/control.qcow2"

t2=$(date +%s)
say "total $((t2 - t0)) s (image $((t1 - t0)) s, guest runs $((t2 - t1)) s)"
finish
