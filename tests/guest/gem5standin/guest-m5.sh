#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# m5 for a guest of the gem5 stand-in (tests/guest/gem5standin): each m5 op is
# one request line on the virtio-serial port org.gem5standin.m5, answered by
# the stand-in's m5.simulate(): "OK" when the simulation goes on (after an
# exit event: once hack_back.py's handler let it), "DATA LEN" + LEN bytes for
# readfile. Installed with `hackbackfs -o m5=` (/sbin/m5) and, in the
# look-alike images, as /usr/local/bin/gem5-bridge. The request names $0 and
# the options this m5 was called with, so the stand-in logs which m5 made each
# call and how (the tests check the call type per ISA: --addr on arm64):
#   M5 PATH [OPTION...] OP [ARGS...]
name=org.gem5standin.m5
# gem5's m5 options (--addr ADDR on aarch64, --inst, --semi ...) come first.
opts=""
while :; do
    case ${1:-} in
        --addr) opts="$opts $1"; shift
                case ${1:-} in [0-9]*) opts="$opts $1"; shift ;; esac ;;
        --*) opts="$opts $1"; shift ;;
        *) break ;;
    esac
done
op=${1:-}
[ -n "$op" ] || { echo "usage: m5 [--addr ADDR] OP [ARGS]" >&2; exit 1; }
shift

find_port() {
    for _d in /sys/class/virtio-ports/vport*; do
        [ -r "$_d/name" ] && [ "$(cat "$_d/name")" = "$name" ] &&
            { echo "/dev/${_d##*/}"; return 0; }
    done
    return 1
}
# gem5_init.sh-style callers run before udev: mount sysfs, load the driver.
[ -d /sys/class ] || mount -t sysfs sysfs /sys 2>/dev/null
port=$(find_port) || {
    modprobe virtio_console 2>/dev/null
    i=0
    until port=$(find_port) || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done
}
[ -n "$port" ] || { echo "m5 (gem5 stand-in): no virtio port $name" >&2; exit 1; }
i=0
until [ -c "$port" ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i + 1)); done

exec 3<>"$port"
printf 'M5 %s%s %s %s\n' "$0" "$opts" "$op" "$*" >&3
read -r kind len <&3 || exit 1
case $kind in
    OK) exit 0 ;;
    DATA) [ "$len" -gt 0 ] && head -c "$len" <&3; exit 0 ;;
    *) echo "m5 (gem5 stand-in): unexpected reply '$kind'" >&2; exit 1 ;;
esac
