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

hack_back_m5() {
    # m5 lives at /sbin/m5 in these images; take PATH's choice first.
    if command -v m5 >/dev/null 2>&1; then
        m5 "$@"
    elif [ -x /sbin/m5 ]; then
        /sbin/m5 "$@"
    else
        return 127
    fi
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
    hack_back_say "m5 exit"
    hack_back_m5 exit
}

# Once per boot, on the serial console only. HACKBACK_ACTIVE keeps shells
# started by the restore script (or by you) from re-running this; the marker in
# /run (tmpfs, so it lives exactly one boot and is part of a checkpoint) keeps a
# respawned autologin from taking a second checkpoint.
if [ -z "${HACKBACK_ACTIVE:-}" ] && [ ! -e /run/hack-back.started ] &&
   [ "$(tty 2>/dev/null)" = /dev/ttyS0 ]; then
    export HACKBACK_ACTIVE=1
    : >/run/hack-back.started 2>/dev/null
    hack_back_main
fi
