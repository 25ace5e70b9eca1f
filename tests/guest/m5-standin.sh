#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# m5 stand-in for booting a hack-back image under QEMU instead of gem5.
# Installed as /sbin/m5 (hackbackfs -o m5=PATH). It prints what gem5's m5 would
# have been asked to do, so a test can follow the sequence on the serial log:
#   checkpoint  -> prints "m5-standin: checkpoint" and returns at once (as gem5
#                  does after a restore). If /etc/m5-standin.wait-checkpoint
#                  exists (tests/guest/restore.sh: QEMU migration stands in for
#                  the checkpoint), it first reads the restore slot through the
#                  page cache (so the cache holds the slot as it is now), prints
#                  that read's SHA-256 and the marker M5-STANDIN-CHECKPOINT-WAIT,
#                  and blocks until the host types a line on the console (its
#                  stdin: ttyS0, ttyAMA0; sent after the restore). Then it
#                  prints the slot's SHA-256 read both ways, page cache and
#                  O_DIRECT. A line containing "cached" arms the control:
#                  readfile then returns the slot's script read through the
#                  page cache (no O_DIRECT).
#   readfile    -> prints nothing (no system.readfile), exit 0; for tests of
#                  the readfile path, the contents of /etc/m5-standin.readfile
#                  if that file exists
#   exit        -> prints "m5-standin: exit" and the marker M5-STANDIN-EXIT,
#                  then powers the machine off (QEMU -no-reboot then ends)
#   anything else -> prints its arguments, exit 0
# gem5's m5 options come first (--addr ADDR on aarch64, --inst, ...): skip them.
while :; do
    case ${1:-} in
        --addr) shift; case ${1:-} in [0-9]*) shift ;; esac ;;
        --*) shift ;;
        *) break ;;
    esac
done
cmd=${1:-}
case $cmd in
    readfile)
        [ -r /etc/m5-standin.readfile ] && cat /etc/m5-standin.readfile
        if [ -e /run/m5-standin.readfile-cached ]; then
            # The control of restore.sh: the slot's script as a plain read
            # (page cache) sees it: header line "hackback-restore-slot 1 LEN".
            len=$(head -n 1 /var/lib/hack-back/restore.slot | cut -d ' ' -f 3)
            tail -c +65 /var/lib/hack-back/restore.slot | head -c "$len"
        fi
        exit 0 ;;
    checkpoint)
        echo "m5-standin: $*"
        [ -e /etc/m5-standin.wait-checkpoint ] || exit 0
        slot=/var/lib/hack-back/restore.slot
        echo "m5-standin: slot before checkpoint, page cache: $(sha256sum <"$slot" | cut -c1-64)"
        echo "M5-STANDIN-CHECKPOINT-WAIT"
        con=/dev/ttyS0
        [ ! -t 0 ] || con=$(tty)
        read -r line <"$con"
        echo "m5-standin: host says: $line"
        echo "m5-standin: slot after restore, page cache: $(sha256sum <"$slot" | cut -c1-64)"
        echo "m5-standin: slot after restore, O_DIRECT: $(dd if="$slot" iflag=direct bs=1048576 count=1 status=none | sha256sum | cut -c1-64)"
        case $line in *cached*) : >/run/m5-standin.readfile-cached ;; esac
        exit 0 ;;
    exit)
        echo "m5-standin: $*"
        echo "M5-STANDIN-EXIT"
        sync
        # Poweroff without the service manager's help: quick and it works from
        # any state. sysrq as the fallback if poweroff is missing.
        poweroff -f 2>/dev/null || { echo 1 >/proc/sys/kernel/sysrq; echo o >/proc/sysrq-trigger; }
        sleep 30
        exit 1 ;;
    *)
        echo "m5-standin: $*"
        exit 0 ;;
esac
