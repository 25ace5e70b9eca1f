# SPDX-License-Identifier: BSD-3-Clause
# ~/.bashrc for root in a hack-back guest image (installed by hackbackfs from
# overlays/hack-back; it replaces the image's own /root/.bashrc).
#
# Part 1: ordinary interactive defaults.
# Part 2: the hack-back sequence, run once per boot, on the serial console only:
#   m5 checkpoint  ->  (gem5 restores here)  ->  fetch the restore script
#   (m5 readfile, else the restore slot)  ->  run it  ->  m5 exit

# Non-interactive shells (scp, bash -c, scripts) get nothing from this file.
case $- in
    *i*) ;;
    *) return 0 2>/dev/null || exit 0 ;;
esac

# ---------------------------------------------------------------- part 1 ----
# The distribution's stock root .bashrc, if the image has it (Debian and
# Ubuntu ship it in base-files), then a local hook for per-image additions.
if [ -r /usr/share/base-files/dot.bashrc ]; then
    . /usr/share/base-files/dot.bashrc
fi
if [ -r /root/.bashrc.local ]; then
    . /root/.bashrc.local
fi

umask 022
HISTCONTROL=ignoreboth
HISTSIZE=1000
shopt -s checkwinsize histappend 2>/dev/null
export PATH="${PATH:-/usr/bin:/bin}"
case ":$PATH:" in *:/sbin:*) ;; *) PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin" ;; esac
[ -n "${PS1:-}" ] && PS1='\u@\h:\w\$ '
alias ls='ls --color=auto' ll='ls -l' la='ls -A'

# ---------------------------------------------------------------- part 2 ----
HACKBACK_SLOT=/var/lib/hack-back/restore.slot
HACKBACK_SLOT_SIZE=1048576
HACKBACK_SLOT_HDR=64

hack_back_say() { printf 'hack-back: %s\n' "$*"; }

# Which m5, and how it is called. The m5 installed by `hackbackfs -o m5=PATH`
# lands at /sbin/m5 (/usr/sbin/m5 on merged-usr images) and is called by that
# absolute path: gem5-resources' 22.04/24.04 images put /usr/local/bin/m5 (a
# symlink to their own gem5-bridge) ahead of it on PATH. Without it, PATH's m5,
# else the image's gem5-bridge.
# Call type: on aarch64 the m5 ops go through the address gem5's ArmBoard maps
# them at (the magic instruction does not work under KVM); x86 builds of m5
# default to their address call type already, RISC-V has only the instruction.
# /etc/hack-back/m5-args (one line, e.g. "--addr 0x10010000" or empty) replaces
# the ISA's default.
hack_back_m5_setup() {
    HACKBACK_M5=""
    for _m in /sbin/m5 /usr/sbin/m5; do
        if [ -x "$_m" ] && [ ! -d "$_m" ]; then HACKBACK_M5=$_m; break; fi
    done
    [ -n "$HACKBACK_M5" ] || HACKBACK_M5=$(command -v m5 2>/dev/null) ||
        HACKBACK_M5=$(command -v gem5-bridge 2>/dev/null) || HACKBACK_M5=""
    if [ -r /etc/hack-back/m5-args ]; then
        read -r HACKBACK_M5_ARGS </etc/hack-back/m5-args || :
    else
        case $(uname -m) in
            aarch64 | arm64) HACKBACK_M5_ARGS="--addr 0x10010000" ;;
            *) HACKBACK_M5_ARGS="" ;;
        esac
    fi
}

hack_back_m5() {
    [ -n "${HACKBACK_M5:-}" ] || return 127
    # shellcheck disable=SC2086  # the arguments are words on purpose
    "$HACKBACK_M5" ${HACKBACK_M5_ARGS:-} "$@"
}

# Copy the script out of the restore slot into $1, byte for byte.
# The slot is read with O_DIRECT: after a checkpoint restore the guest's page
# cache may still hold the slot as it was when the checkpoint was taken.
# Returns 0 with a non-empty $1 when there is a script, 1 when the slot is
# empty, 2 when the slot is missing or malformed (message on stderr).
hack_back_read_slot() {
    local _out=$1 _raw=$1.slot _hdr _magic _ver _len _rest
    if [ ! -e "$HACKBACK_SLOT" ]; then
        hack_back_say "no restore slot at $HACKBACK_SLOT" >&2
        return 2
    fi
    if ! dd if="$HACKBACK_SLOT" of="$_raw" iflag=direct bs=$HACKBACK_SLOT_SIZE count=1 \
            status=none; then
        hack_back_say "cannot read $HACKBACK_SLOT with O_DIRECT" >&2
        rm -f "$_raw"
        return 2
    fi
    # Header: "hackback-restore-slot 1 LENGTH", space-padded to 63 bytes, '\n'.
    _hdr=$(head -c "$HACKBACK_SLOT_HDR" "$_raw" | tr -d '\000')
    read -r _magic _ver _len _rest <<EOF_HDR
$_hdr
EOF_HDR
    if [ "${_magic:-}" != hackback-restore-slot ] || [ "${_ver:-}" != 1 ] || [ -n "${_rest:-}" ]; then
        hack_back_say "restore slot has no valid header (got: $(printf %.40s "$_hdr"))" >&2
        rm -f "$_raw"
        return 2
    fi
    case $_len in
        '' | *[!0-9]*)
            hack_back_say "restore slot header has a bad length: '$_len'" >&2
            rm -f "$_raw"
            return 2 ;;
    esac
    if [ "$_len" -gt $((HACKBACK_SLOT_SIZE - HACKBACK_SLOT_HDR)) ]; then
        hack_back_say "restore slot length $_len exceeds the slot" >&2
        rm -f "$_raw"
        return 2
    fi
    # Exactly LENGTH bytes after the header (NULs, trailing newlines and all).
    tail -c +$((HACKBACK_SLOT_HDR + 1)) "$_raw" | head -c "$_len" >"$_out"
    rm -f "$_raw"
    [ "$_len" -gt 0 ] || return 1
    return 0
}

hack_back_main() {
    local _dir _script _src _rc
    hack_back_m5_setup
    hack_back_say "m5 is ${HACKBACK_M5:-missing}${HACKBACK_M5_ARGS:+ $HACKBACK_M5_ARGS}"
    hack_back_say "taking the checkpoint (m5 checkpoint)"
    if ! hack_back_m5 checkpoint; then
        hack_back_say "m5 checkpoint failed or m5 is missing; not running a restore script"
        return 1
    fi
    hack_back_say "resumed after the checkpoint"

    _dir=$(mktemp -d /tmp/hack-back.XXXXXX) || return 1
    _script=$_dir/restore-script
    _src=""
    if hack_back_m5 readfile >"$_script" 2>/dev/null && [ -s "$_script" ]; then
        _src="m5 readfile"
    elif hack_back_read_slot "$_script"; then
        _src="restore slot $HACKBACK_SLOT"
    fi

    if [ -z "$_src" ]; then
        hack_back_say "NO RESTORE SCRIPT: m5 readfile returned nothing and the restore slot is empty."
        hack_back_say "Dropping to a shell; 'm5 exit' runs when you leave it."
        rm -rf "$_dir"
        trap 'hack_back_m5 exit' EXIT
        return 0
    fi

    chmod 0755 "$_script"
    hack_back_say "running the restore script from $_src ($(wc -c <"$_script") bytes)"
    if [ "$(head -c 2 "$_script")" = '#!' ]; then
        "$_script"
    else
        /bin/sh "$_script"
    fi
    _rc=$?
    hack_back_say "restore script exited with status $_rc"
    rm -rf "$_dir"
    # The status reaches gem5's caller: `m5 fail STATUS` ends the simulation
    # with that code (hack_back.py exits with it), `m5 exit` with 0. Should
    # fail return (an m5 that continues), exit all the same.
    if [ "$_rc" != 0 ]; then
        hack_back_say "m5 fail $_rc"
        hack_back_m5 fail "$_rc"
    fi
    hack_back_say "m5 exit"
    hack_back_m5 exit
}

# Once per boot, on a serial console only (ttyS0 on x86 and RISC-V, ttyAMA0 on
# Arm, hvc0 on virtio consoles). HACKBACK_ACTIVE keeps shells started by the
# restore script (or by you) from re-running this; the marker in /run (tmpfs, so
# it lives exactly one boot and is part of a checkpoint) keeps a respawned
# autologin, or a second serial console, from taking a second checkpoint.
hack_back_on_serial() {
    case $(tty 2>/dev/null) in
        /dev/ttyS[0-9]* | /dev/ttyAMA[0-9]* | /dev/hvc[0-9]*) return 0 ;;
    esac
    return 1
}

if [ -z "${HACKBACK_ACTIVE:-}" ] && [ ! -e /run/hack-back.started ] && hack_back_on_serial; then
    export HACKBACK_ACTIVE=1
    : >/run/hack-back.started 2>/dev/null
    hack_back_main
fi
