# SPDX-License-Identifier: BSD-3-Clause
# tests/guest/common.sh -- what the guest tests share.  Source it first; it
# sources tests/lib/common.sh (say, fail, skip, check_failed, finish, on_exit:
# a failed check is counted by check_failed and the test goes on).
#
#   need TOOL PACKAGE         skip unless TOOL is here (PACKAGE has it)
#   need_fuse                 skip unless a FUSE mount can be made and read
#   hackbackfs_arg "$@"       the first argument: hackbackfs (usage and exit 2
#                             without one); sets $hackbackfs and $cache
#   qemu_settings             timeout_s, accel, cpu from the environment; the
#                             guest's QEMU for $arch (HACKBACK_GUEST_ARCH:
#                             amd64, arm64, riscv64): qemu_sys, qemu_pkg,
#                             machine, disk_if, console
#   guest_qemu ARGS...        that QEMU (at most timeout_s seconds) with the
#                             machine, CPU, kernel, initrd and command line
#                             every run shares, then ARGS
#   guest_image CACHE         build or reuse the cached image: sets $img
#   make_work NAME            a fresh work dir in $work
#   write_restore_scripts     $work/restore-{a,b}.sh and $marker_a/$marker_b
#   mount_image N OPTS OVLS   hackbackfs -o OPTS $img/disk.img OVLS $work/mnt-N
#   xa KEY N                  user.hackback.KEY of $work/mnt-N/hack-back
#   unmount_all               fusermount3 -u every mount point in $mounts
#   finish_work               remove $work, or keep it on failure / KEEP=1
#   trap_cleanup              unmount_all and finish_work at exit
#   boot DISK LOG [EXPECT SEND]  boot a raw image under QEMU (after guest_image)
#   check LOG SCRIPT|- WANT NOT...  the hack-back sequence in a boot's log
#   run NAME WANT ARGS...     contrib/gem5/hack_back.py under the gem5 stand-in
#   has / hasnt FILE RE MSG   a check on a file's lines
#   isa_steps HACKBACKFS      the arm64 and riscv64 tests

# Under `make check' (no argument, top_builddir set) the program under test
# is the build tree's; the image cache is then next to it in
# tests/guest/cache unless HACKBACK_GUEST_CACHE says otherwise.
[ $# -gt 0 ] || [ -z "${top_builddir:-}" ] || set -- "$top_builddir/hackbackfs"

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
. "$srcdir/tests/lib/common.sh"
overlay=$srcdir/overlays/hack-back
PATH=$PATH:/usr/sbin:/sbin
mounts=""
arch=${HACKBACK_GUEST_ARCH:-amd64}

need() { command -v "$1" >/dev/null 2>&1 || skip "$1 not found (package $2)"; }

need_fuse() {
    need getfattr attr
    need fusermount3 fuse3
    [ -e /dev/fuse ] || skip "/dev/fuse missing"
}

# hackbackfs_arg "$@": no argument or -h/--help: the script's leading
# comment, exit 2.  Else $1 is the program under test: $hackbackfs, and the
# image cache $cache (HACKBACK_GUEST_CACHE, else tests/guest/cache next to it).
hackbackfs_arg() {
    case ${1:-} in
        '' | -h | --help) sed -n '2,/^[^#]/{/^#/p}' "$0" | grep -v SPDX-License; exit 2 ;;
    esac
    hackbackfs=$(readlink -f "$1")
    [ -x "$hackbackfs" ] || { say "not an executable: $1"; exit 1; }
    cache=${HACKBACK_GUEST_CACHE:-$(dirname "$hackbackfs")/tests/guest/cache}
}

# The machines stand in for gem5's X86Board, ArmBoard and RiscvBoard: the
# disk on IDE (/dev/sda) or virtio-blk (/dev/vda), console ttyS0 or ttyAMA0.
# arm64 under TCG: pauth-impdef, the same pointer authentication with a
# cheap hash instead of QARMA (QEMU's advice for emulation speed).
# no_timer_check: on a loaded host a TCG x86 guest can fail the kernel's
# IO-APIC timer check and panic ("IO-APIC + timer doesn't work"), which says
# nothing about the image.  On a loaded host udev can take longer than
# systemd's 90 s to announce the console; serial-getty@ then fails on its
# device and nobody logs in: systemd.default_device_timeout_sec (systemd
# >= 254; bookworm's 252 ignores it and was seen to time out) and
# systemd.default_timeout_start_sec, for older ones (not verified).
qemu_settings() {
    timeout_s=${HACKBACK_GUEST_TIMEOUT:-240}
    accel=${HACKBACK_QEMU_ACCEL:-tcg}
    qemu_fw="" kargs="systemd.default_device_timeout_sec=600 systemd.default_timeout_start_sec=600"
    case $arch in
        amd64) qemu_sys=qemu-system-x86_64 qemu_pkg=qemu-system-x86 machine=pc
               disk_if=ide console=ttyS0 cpu=max kargs="$kargs no_timer_check" ;;
        arm64) qemu_sys=qemu-system-aarch64 qemu_pkg=qemu-system-arm machine=virt
               disk_if=virtio console=ttyAMA0 cpu=max,pauth-impdef=on ;;
        riscv64) qemu_sys=qemu-system-riscv64 qemu_pkg=qemu-system-misc machine=virt
                 disk_if=virtio console=ttyS0 cpu=rv64 qemu_fw="-bios default" ;;
        *) say "unknown HACKBACK_GUEST_ARCH '$arch' (amd64, arm64 or riscv64)"; exit 2 ;;
    esac
    case $accel in kvm*) cpu=host ;; esac
    cpu=${HACKBACK_QEMU_CPU:-$cpu}
}

guest_qemu() {
    # shellcheck disable=SC2086  # qemu_fw: none or two words
    timeout "$timeout_s" "$qemu_sys" -machine "$machine,accel=$accel" -cpu "$cpu" $qemu_fw -smp 2 -m 1024 \
        -nodefaults -display none -no-reboot \
        -kernel "$img/vmlinuz" -initrd "$img/initrd.img" \
        -append "$(cat "$img/cmdline") $kargs" "$@"
}

guest_image() {
    _t0=$(date +%s)
    _rc=0
    img=$(HACKBACK_GUEST_ARCH=$arch "$here/build-image.sh" "$1") || _rc=$?
    [ "$_rc" = 0 ] || exit "$_rc"
    say "guest image: $img ($(($(date +%s) - _t0)) s)"
}

make_work() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/hackback-$1.XXXXXX")
}

# Two restore scripts.  The markers are computed by the guest, so the literal
# marker never appears in the script text (an echo of the script is no pass).
# Each also prints the SHA-256 of the file it runs from: the guest must have
# recovered the script byte for byte.  B has no #! line and trailing blank
# lines: it runs with /bin/sh, and its bytes must survive.
write_restore_scripts() {
    cat >"$work/restore-a.sh" <<'EOF_A'
#!/bin/sh
echo "HACKBACK-RESTORE-MARKER-$((6 * 7))-alpha"
echo "script-sha256: $(sha256sum <"$0")"
EOF_A
    printf '%s\n' 'echo "HACKBACK-RESTORE-MARKER-$((6 * 9))-beta"' \
        'echo "script-sha256: $(sha256sum <"$0")"' '' '' >"$work/restore-b.sh"
    marker_a=HACKBACK-RESTORE-MARKER-42-alpha
    marker_b=HACKBACK-RESTORE-MARKER-54-beta
}

mount_image() {
    _m=$work/mnt-$1
    mkdir "$_m"
    "$hackbackfs" -o "$2" "$img/disk.img" "$3" "$_m" 2>"$work/hackbackfs-$1.err" || {
        cat "$work/hackbackfs-$1.err" >&2
        fail "hackbackfs mount $1 failed"
    }
    mounts="$mounts $_m"
    [ -e "$_m/hack-back" ] || fail "$_m/hack-back did not appear"
}

xa() {
    getfattr --absolute-names -n "user.hackback.$1" --only-values "$work/mnt-$2/hack-back" || true
}

unmount_all() {
    for _m in $mounts; do
        fusermount3 -u "$_m" 2>/dev/null || fusermount3 -uz "$_m" 2>/dev/null || true
    done
}

# Unmount and finish the work dir at exit, also on a signal.
trap_cleanup() {
    on_exit 'unmount_all; finish_work'
}

finish_work() {
    if [ "$failures" = 0 ] && [ "${HACKBACK_GUEST_KEEP:-0}" != 1 ]; then
        rm -rf "$work"
    else
        say "work dir kept: $work"
    fi
}

# boot DISK LOG [EXPECT SEND]: boot the raw image, serial console to LOG, until
# the guest powers off (m5 exit) or the timeout. With EXPECT, type SEND on the
# serial console once EXPECT has appeared in the log.
dead=0
boot() {
    if [ "$dead" = 1 ]; then
        check_failed "$(basename "$2" .log): not booted, an earlier guest never reached its kernel"
        : >"$2"
        return 0
    fi
    bs=$(date +%s)
    brc=0
    feeder=""
    if [ -n "${3:-}" ]; then
        mkfifo "$2.in"
        (
            i=0
            while ! grep -q "$3" "$2" 2>/dev/null && [ $i -lt "$timeout_s" ]; do
                sleep 1; i=$((i + 1))
            done
            sleep 2
            printf '%s\n' "$4"
            exec sleep "$timeout_s"     # keep the console's input open
        ) >"$2.in" &
        feeder=$!
        exec 8<"$2.in"
    else
        exec 8</dev/null
    fi
    guest_qemu -monitor none \
        -chardev stdio,id=ser0,signal=off -serial chardev:ser0 \
        -drive file="$1",format=raw,if="$disk_if",snapshot=on \
        <&8 >"$2" 2>"$2.qemu" || brc=$?
    exec 8<&-
    if [ -n "$feeder" ]; then
        kill "$feeder" 2>/dev/null || true
        wait "$feeder" 2>/dev/null || true
    fi
    be=$(date +%s)
    say "boot of $(basename "$2" .log): $((be - bs)) s, qemu exit $brc"
    if [ "$brc" = 124 ]; then
        check_failed "$(basename "$2"): timed out after $timeout_s s"
        # Not even a kernel message: QEMU itself is broken here, stop wasting time.
        grep -q 'Linux version' "$2" || dead=1
    fi
    [ "$brc" = 0 ] || [ "$brc" = 124 ] || { cat "$2.qemu" >&2; check_failed "qemu exited $brc"; }
    return 0
}

# check LOG SCRIPT|- WANT_MARKER NOT_MARKER...
check() {
    log=$1 script=$2 want=$3
    shift 3
    n=$(basename "$log" .log)
    before=$failures
    if [ "$script" != - ]; then
        sum=$(sha256sum <"$script" | cut -c1-64)
        grep -q "script-sha256: $sum" "$log" || check_failed "$n: the guest's copy of the script differs (want sha256 $sum)"
    fi
    grep -q 'hack-back: taking the checkpoint' "$log" || check_failed "$n: .bashrc did not run on $console"
    grep -q 'm5-standin: checkpoint' "$log" || check_failed "$n: no m5 checkpoint"
    grep -q 'hack-back: resumed after the checkpoint' "$log" || check_failed "$n: did not resume"
    grep -q "$want" "$log" || check_failed "$n: marker $want missing"
    for not in "$@"; do
        ! grep -q "$not" "$log" || check_failed "$n: unexpected marker $not"
    done
    grep -q 'M5-STANDIN-EXIT' "$log" || check_failed "$n: no m5 exit"
    if [ "$failures" != "$before" ]; then
        say "--- last lines of $log ---"
        tail -n 40 "$log" | tr -d '\r' >&2
    else
        say "$n: ok (checkpoint, $want, m5 exit)"
    fi
}

# run NAME WANT ARGS...: contrib/gem5/hack_back.py under the gem5 stand-in
# with --kernel $kernel, $run_args (words) and ARGS; its output in
# $work/NAME.out, the guest's console in $con ($work/NAME/$con_file).  An
# exit status other than WANT is a failed check (and returns 1).
gem5="python3 -B $here/gem5standin/gem5-standin"
hb=$srcdir/contrib/gem5/hack_back.py
run() {
    _n=$1 _want=$2
    shift 2
    _s=$(date +%s)
    _rc=0
    # shellcheck disable=SC2086  # $gem5 and $run_args: lists of words
    HACKBACK_STANDIN_TIMEOUT=${HACKBACK_GUEST_TIMEOUT:-900} $gem5 -d "$work/$_n" "$hb" \
        --kernel "$kernel" $run_args "$@" >"$work/$_n.out" 2>&1 || _rc=$?
    say "$_n: $(($(date +%s) - _s)) s, exit $_rc"
    con=$work/$_n/$con_file
    if [ "$_rc" != "$_want" ]; then
        check_failed "$_n: hack_back.py exited $_rc, want $_want"
        tail -n 30 "$work/$_n.out" >&2
        [ -f "$con" ] && tail -n 30 "$con" | tr -d '\r' >&2
        return 1
    fi
    return 0
}

# has FILE RE MSG / hasnt FILE RE MSG: RE is (is not) in FILE, else MSG is
# a failed check (and returns 1).
has() { grep -q -- "$2" "$1" || { check_failed "$3"; return 1; }; }
hasnt() { ! grep -q -- "$2" "$1" || { check_failed "$3"; return 1; }; }

# isa_steps "$@": the hack-back workflow on a foreign-ISA guest under
# QEMU TCG, for $arch (arm64.sh, riscv64.sh): standin-isa.sh
# (contrib/gem5/hack_back.py --board arm|riscv under the gem5 stand-in,
# mount mode: checkpoint on image A, restore onto A, restore onto B, B's
# script runs and its status reaches hack_back.py) and then export.sh (the
# export mode's materialized image boots).  One image build (cached) serves
# both.  Exits: 0 pass, 1 fail, 77 skip (standin-isa.sh skipped).
#
# standin-isa.sh takes the place restore.sh (QEMU migration driven directly,
# with the guest page-cache trap and its control run) had here: the same
# checkpoint on A / restore onto B / B's script runs / slot-not-in-the-layer
# assertions, through the real run script, in the same CI time; the trap is
# ISA-independent and restore.sh keeps it on amd64.
# HACKBACK_GUEST_RESTORE=1 runs restore.sh as well; HACKBACK_GUEST_EXPORT=0
# leaves export.sh out.
isa_steps() {
    hackbackfs_arg "$@"
    HACKBACK_GUEST_ARCH=$arch HACKBACK_GUEST_CACHE=$cache
    export HACKBACK_GUEST_ARCH HACKBACK_GUEST_CACHE
    _isa_step standin-isa.sh
    [ "$rc" = 0 ] || exit "$rc"
    if [ "${HACKBACK_GUEST_RESTORE:-0}" = 1 ]; then
        _isa_step restore.sh
        [ "$rc" = 0 ] || exit 1
    fi
    [ "${HACKBACK_GUEST_EXPORT:-1}" != 0 ] || exit 0
    _isa_step export.sh
    [ "$rc" != 77 ] || rc=1     # the image was there a moment ago
    exit "$rc"
}

# _isa_step SCRIPT: run it on $hackbackfs, report its time, status in rc.
_isa_step() {
    _t=$(date +%s)
    rc=0
    sh "$here/$1" "$hackbackfs" || rc=$?
    say "$arch $1: exit $rc, $(($(date +%s) - _t)) s"
}
