#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# contrib/gem5/hack_back.py end to end under the gem5 stand-in
# (tests/guest/gem5standin: gem5 v24.0's Python API over a QEMU guest).
#
#   tests/guest/standin.sh HACKBACKFS [IMAGES [MODES]]
#
# IMAGES: any of debian dropin unit bionic (default all four): the Debian
# guest (MBR, p1), the two look-alikes of gem5-resources' 22.04/24.04 images
# (lookalike.sh: GPT p2, gem5_init.sh with its boot-time gem5-bridge exit,
# autologin of user gem5 by drop-in or by replaced unit) and the look-alike
# of their 18.04 family (MBR p1, root autologin by replaced unit, the image's
# own /sbin/m5 and readfile flow in root's .bashrc).
# MODES: mount, export or both (default "mount export"); bionic runs in mount
# mode only (it differs from debian in what the guest boots, not in the disk
# the export mode writes).
#
# Per image and mode, with hack_back.py unchanged between runs:
#   checkpoint  the image with overlays/hack-back and the stand-in's guest m5
#               (-o m5=): exit 0; the boot marker of the image's own
#               gem5-bridge (dropin, unit) is counted and the run goes on; the
#               checkpoint comes from the injected /sbin/m5; root= is the
#               manifest's PARTUUID; the image's after-boot flow never runs;
#               hackback.machine is beside the checkpoint
#   restore A   (mount: -o restore=A; export: --readfile A) exit 0, A's
#               marker, not B's
#   restore B   (mount: -o restore=B; export: --command "B") B fails with
#               status 3: hack_back.py exits 3, B's marker, not A's
# Both modes run all three on every image (a restore costs seconds, only the
# checkpoint boots are slow). Once, on the first image in mount mode: restore
# v25, the stand-in posing as gem5 v25 (HACKBACK_STANDIN_API=v25), a script
# whose hypercall 2 must reach hack_back.py's own v25 exit handler; and
# restores with other cores, other memory or another processor class
# (--switch-cpu) each get hack_back.py's refusal naming that difference,
# exactly once and no other, exit 2, and start no machine.  On every other
# image, a restore of its mount under the first image's checkpoint gets the
# layout refusal (hackback_digest's), the same way.
# Environment: as boot.sh (HACKBACK_GUEST_TIMEOUT is per simulate(), default
# 900 s here: a boot on a loaded machine takes minutes). Exit: 0 pass, 1 fail, 77 skip.
set -eu

. "$(dirname "$0")/common.sh"

hackbackfs_arg "$@"
images=${2:-debian dropin unit bionic}
modes=${3:-mount export}

need qemu-system-x86_64 qemu-system-x86
need qemu-img qemu-utils
need python3 python3
case $modes in
    *mount*) need_fuse ;;
    *) need getfattr attr ;;
esac

qemu_settings
t0=$(date +%s)
guest_image "$cache"
debian=$img
m5=$here/gem5standin/guest-m5.sh
kernel=$debian/vmlinuz

make_work standin
trap_cleanup
write_restore_scripts
printf '%s\n' '#!/bin/sh' 'echo "HACKBACK-RESTORE-MARKER-$((6 * 9))-beta"' 'exit 3' >"$work/restore-b.sh"
# For the stand-in posing as gem5 v25: a hypercall from the guest first.
printf '%s\n' '#!/bin/sh' '/sbin/m5 hypercall 2' 'echo "HACKBACK-RESTORE-MARKER-$((5 * 5))-v25"' \
    >"$work/restore-c.sh"
marker_c=HACKBACK-RESTORE-MARKER-25-v25

image_dir() {
    case $1 in
        debian) echo "$debian" ;;
        *) _rc=0
           "$here/lookalike.sh" "$1" "$cache" || _rc=$?
           [ "$_rc" = 0 ] || exit "$_rc" ;;
    esac
}

# run (common.sh): hack_back.py under the stand-in, the guest's console in
# $work/NAME/board.pc.com_1.device.
run_args="--mem 1GiB"
con_file=board.pc.com_1.device

# checkpoint NAME IMAGE PARTUUID ARGS...
checkpoint() {
    _n=$1 _i=$2 _pu=$3
    shift 3
    run "$_n" 0 "$@" --checkpoint-dir "$work/cpt-$_n" || return 0
    o=$work/$_n.out
    has "$o" "kernel command line: .*root=PARTUUID=$_pu " "$_n: root= is not PARTUUID=$_pu"
    has "$o" "checkpoint saved in" "$_n: no checkpoint saved"
    has "$o" "m5 checkpoint  *(from /sbin/m5)" "$_n: the checkpoint did not come from the injected /sbin/m5"
    [ -f "$work/cpt-$_n/hackback.machine" ] || check_failed "$_n: no hackback.machine"
    hasnt "$con" LOOKALIKE-AFTER-BOOT-RAN "$_n: the image's after-boot flow ran"
    has "$con" "hack-back: m5 is /sbin/m5" "$_n: .bashrc did not pick the injected m5"
    if [ "$_i" = dropin ] || [ "$_i" = unit ]; then
        has "$o" "m5 exit  *(from /usr/local/bin/gem5-bridge)" "$_n: no boot-time gem5-bridge exit"
        has "$o" "boot marker 1 " "$_n: the boot marker was not counted"
    fi
}

# restore NAME WANT_STATUS MARKER NOT_MARKER ARGS...
restore() {
    _n=$1 _w=$2 _m=$3 _not=$4
    shift 4
    run "$_n" "$_w" "$@" || return 0
    has "$con" "$_m" "$_n: marker $_m missing"
    hasnt "$con" "$_not" "$_n: unexpected marker $_not"
    has "$con" "hack-back: restore script exited with status $_w" "$_n: status $_w not reported"
    [ "$_w" = 0 ] || has "$work/$_n.out" "m5 fail $_w" "$_n: no m5 fail $_w"
}

# refused NAME WHAT RE ARGS...: hack_back.py with ARGS must refuse, before
# gem5 builds anything: exit 2; the refusal RE (its whole message) exactly
# once and no other refusal; no machine started.  Each is its own check,
# whatever the others found.
refused() {
    _n=$1 _what=$2 _re=$3
    shift 3
    run "$_n" 2 "$@" || :
    _o=$work/$_n.out
    _c=$(grep -c -- "$_re" "$_o" || :)
    [ "$_c" = 1 ] || check_failed "$_what: the refusal is in $_n.out ${_c:-no} times, want once: $_re"
    _c=$(grep -c -e 'hack-back: cannot restore' -e 'hack-back: refusing to restore' "$_o" || :)
    [ "$_c" = 1 ] || check_failed "$_what: ${_c:-no} refusals in $_n.out, want one"
    [ ! -e "$work/$_n/standin" ] || check_failed "$_what: a machine was started"
}

partuuid() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["partition"]["partuuid"])' "$1"
}

first=""
for i in $images; do
    d=$(image_dir "$i")
    img=$d      # what mount_image serves
    imodes=" $modes "
    [ "$i" != bionic ] || imodes=$(echo "$imodes" | sed 's/ export / /')
    case $imodes in *" mount "*)
        mount_image "$i-0" "m5=$m5" "$overlay" && true
        pu=$(partuuid "$work/mnt-$i-0/hack-back.json")
        checkpoint "$i-m-ckpt" "$i" "$pu" --image "$work/mnt-$i-0/hack-back"
        [ -f "$work/cpt-$i-m-ckpt/hackback.machine" ] || { unmount_all; mounts=""; continue; }
        mount_image "$i-a" "m5=$m5,restore=$work/restore-a.sh" "$overlay"
        restore "$i-m-a" 0 "$marker_a" "$marker_b" --image "$work/mnt-$i-a/hack-back" \
            --restore "$work/cpt-$i-m-ckpt"
        mount_image "$i-b" "m5=$m5,restore=$work/restore-b.sh" "$overlay"
        restore "$i-m-b" 3 "$marker_b" "$marker_a" --image "$work/mnt-$i-b/hack-back" \
            --restore "$work/cpt-$i-m-ckpt"
        if [ -z "$first" ]; then
            first=$i
            # The stand-in posing as gem5 v25 (exit handlers, hypercalls):
            # hack_back.py's own handler takes the guest's hypercall 2 and
            # the run goes on to the script's end.
            mount_image "$i-c" "m5=$m5,restore=$work/restore-c.sh" "$overlay"
            export HACKBACK_STANDIN_API=v25
            restore "$i-m-v25" 0 "$marker_c" "$marker_a" --image "$work/mnt-$i-c/hack-back" \
                --restore "$work/cpt-$i-m-ckpt" &&
                has "$work/$i-m-v25.out" "has exit handlers: hack_back.py handles hypercalls" \
                    "$i-m-v25: hack_back.py did not register v25 handlers" &&
                has "$work/$i-m-v25.out" "hack-back: hypercall 2 (after_boot started) at tick .*: continuing" \
                    "$i-m-v25: the guest's hypercall 2 did not reach hack_back.py's handler"
            unset HACKBACK_STANDIN_API
            # Wrong restores: one message, exit 2, no machine started.
            ck=$work/cpt-$i-m-ckpt
            refused "$i-wrong-cores" "wrong restore (--cores 2)" \
                "hack-back: cannot restore $ck on this machine: cores 1 at the checkpoint, 2 now\\. Use the checkpoint's" \
                --image "$work/mnt-$i-a/hack-back" --restore "$ck" --cores 2
            refused "$i-wrong-mem" "wrong restore (--mem 512MiB)" \
                "hack-back: cannot restore $ck on this machine: memory bytes 1073741824 at the checkpoint, 536870912 now\\. Use the checkpoint's" \
                --image "$work/mnt-$i-a/hack-back" --restore "$ck" --mem 512MiB
            refused "$i-wrong-switch" "wrong restore (--switch-cpu timing)" \
                "hack-back: cannot restore $ck on this machine: processor class SimpleProcessor at the checkpoint, SimpleSwitchableProcessor now (--switch-cpu decides the processor class)\\. Use the checkpoint's" \
                --image "$work/mnt-$i-a/hack-back" --restore "$ck" --switch-cpu timing
        else
            # Another image's layout under this checkpoint of the first image:
            # hackback_digest's refusal (the machine is the same).
            refused "$i-wrong-layout" "wrong layout ($i under $first's checkpoint)" \
                "hack-back: refusing to restore $work/cpt-$first-m-ckpt onto $work/mnt-$i-a/hack-back: the image's file system layout differs from the one the checkpoint was taken on (user\\.hackback\\.layout [0-9a-f]* != stored [0-9a-f]*)" \
                --image "$work/mnt-$i-a/hack-back" --restore "$work/cpt-$first-m-ckpt"
        fi
        unmount_all
        mounts="" ;;
    esac
    case $imodes in *" export "*)
        "$hackbackfs" --export-cow "$work/$i.cow" -o "m5=$m5" "$d/disk.img" "$overlay" >/dev/null ||
            { check_failed "$i: hackbackfs --export-cow failed"; continue; }
        pu=$(partuuid "$work/$i.cow.json")
        checkpoint "$i-x-ckpt" "$i" "$pu" --base "$d/disk.img" --cow "$work/$i.cow"
        [ -f "$work/cpt-$i-x-ckpt/hackback.machine" ] || continue
        restore "$i-x-a" 0 "$marker_a" "$marker_b" --base "$d/disk.img" \
            --restore "$work/cpt-$i-x-ckpt" --readfile "$work/restore-a.sh"
        restore "$i-x-b" 3 "$marker_b" "$marker_a" --base "$d/disk.img" \
            --restore "$work/cpt-$i-x-ckpt" --command "$(cat "$work/restore-b.sh")"
        rm -f "$work/$i.cow" ;;
    esac
    # Checkpoints hold the guest's memory (~300 MiB): keep only the first
    # image's mount-mode one, the wrong-layout checks restore it.
    rm -rf "$work"/cpt-"$i"-x-* "$work"/"$i"-*/standin
    [ "$i" = "$first" ] || rm -rf "$work/cpt-$i-m-ckpt"
done

say "total $(($(date +%s) - t0)) s"
finish
