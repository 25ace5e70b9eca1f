# tests/guest/common.sh -- what boot.sh and restore.sh share.  Source it
# after setting prog (the script's name, for messages) and, for the QEMU
# settings, hackbackfs (or cache through HACKBACK_GUEST_CACHE).
#
#   say/skip/fail/need        messages; skip exits 77; fail counts in $failed
#   qemu_settings             timeout_s, accel, cpu from the environment
#   guest_image CACHE         build or reuse the cached image: sets $img
#   make_work NAME            a fresh work dir in $work
#   write_restore_scripts     $work/restore-{a,b}.sh and $marker_a/$marker_b
#   mount_image N OPTS OVLS   hackbackfs -o OPTS $img/disk.img OVLS $work/mnt-N
#   xa KEY N                  user.hackback.KEY of $work/mnt-N/hack-back
#   unmount_all               fusermount3 -u every mount point in $mounts
#   finish_work               remove $work, or keep it on failure / KEEP=1

here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
overlay=$srcdir/overlays/hack-back
PATH=$PATH:/usr/sbin:/sbin
failed=0
mounts=""

say() { printf '%s: %s\n' "$prog" "$*" >&2; }
skip() { say "SKIP: $*"; exit 77; }
fail() { say "FAIL: $*"; failed=$((failed + 1)); }
need() { command -v "$1" >/dev/null 2>&1 || skip "$1 not found (package $2)"; }

qemu_settings() {
    timeout_s=${HACKBACK_GUEST_TIMEOUT:-240}
    accel=${HACKBACK_QEMU_ACCEL:-tcg}
    case $accel in kvm*) cpu=host ;; *) cpu=max ;; esac
    cpu=${HACKBACK_QEMU_CPU:-$cpu}
}

guest_image() {
    _t0=$(date +%s)
    _rc=0
    img=$("$here/build-image.sh" "$1") || _rc=$?
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
        exit 1
    }
    mounts="$mounts $_m"
    [ -e "$_m/hack-back" ] || { fail "$_m/hack-back did not appear"; exit 1; }
}

xa() {
    getfattr --absolute-names -n "user.hackback.$1" --only-values "$work/mnt-$2/hack-back" || true
}

unmount_all() {
    for _m in $mounts; do
        fusermount3 -u "$_m" 2>/dev/null || fusermount3 -uz "$_m" 2>/dev/null || true
    done
}

finish_work() {
    if [ "$failed" = 0 ] && [ "${HACKBACK_GUEST_KEEP:-0}" != 1 ]; then
        rm -rf "$work"
    else
        say "work dir kept: $work"
    fi
}
